//! `/etc/resolv.conf` and `/etc/hosts`, read as glibc reads them: the settings and the pinned
//! addresses every lookup starts from. Text in, values out; the files themselves are read once,
//! by `Resolver::system`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

/// glibc's MAXNS: further `nameserver` lines are ignored.
const MAX_NAMESERVERS: usize = 3;
/// glibc's caps on `ndots`, `timeout` (seconds) and `attempts` (RES_MAXNDOTS, RES_MAXRETRANS,
/// RES_MAXRETRY).
const MAX_NDOTS: u32 = 15;
const MAX_TIMEOUT_SECS: u64 = 30;
const MAX_ATTEMPTS: u32 = 5;

/// The resolver settings of `/etc/resolv.conf`, with the nameservers as socket addresses so a
/// test can point them at a fake on a random port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    /// Servers asked in order (or rotated), at most three like glibc.
    pub nameservers: Vec<SocketAddr>,
    /// Domains appended to names with fewer than `ndots` dots, without trailing dots.
    pub search: Vec<String>,
    /// A name with at least this many dots is tried as is before the search list.
    pub ndots: u8,
    /// How long one try waits for one server's replies.
    pub timeout: Duration,
    /// Rounds over the whole server list.
    pub attempts: u8,
    /// Start each query at the next server instead of the first.
    pub rotate: bool,
}

impl Default for ResolvConf {
    /// glibc's settings when `/etc/resolv.conf` is missing.
    fn default() -> Self {
        ResolvConf {
            nameservers: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 53))],
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
            rotate: false,
        }
    }
}

impl ResolvConf {
    /// Parses the text of a resolv.conf alone (no environment, no hostname).
    #[cfg(test)]
    pub fn parse(text: &str) -> ResolvConf {
        ResolvConf::from_sources(Some(text), None, None, None)
    }

    /// Builds the settings as glibc's `res_init` does: the file (`None` when missing or
    /// unreadable), then `LOCALDOMAIN` (replaces the search list), then `RES_OPTIONS` (overrides
    /// `options`); with no search list left, the domain of `hostname` (the part after its
    /// first dot); with no nameserver, 127.0.0.1.
    pub fn from_sources(
        file: Option<&str>,
        localdomain: Option<&str>,
        res_options: Option<&str>,
        hostname: Option<&str>,
    ) -> ResolvConf {
        let mut conf = ResolvConf {
            nameservers: Vec::new(),
            ..ResolvConf::default()
        };
        for line in file.unwrap_or("").lines() {
            let line = line.trim_start();
            if line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    let server = words.next().and_then(parse_nameserver);
                    if let Some(server) = server {
                        if conf.nameservers.len() < MAX_NAMESERVERS {
                            conf.nameservers.push(server);
                        }
                    }
                }
                // glibc ignores a `domain` or `search` line with nothing after it.
                Some("domain") => {
                    if let Some(domain) = words.next() {
                        conf.search = normalize_domains(std::iter::once(domain));
                    }
                }
                Some("search") => {
                    let domains: Vec<&str> = words.collect();
                    if !domains.is_empty() {
                        conf.search = normalize_domains(domains.into_iter());
                    }
                }
                Some("options") => conf.apply_options(words),
                _ => {}
            }
        }
        if let Some(domains) = localdomain {
            conf.search = normalize_domains(domains.split_whitespace());
        }
        if let Some(options) = res_options {
            conf.apply_options(options.split_whitespace());
        }
        if conf.search.is_empty() {
            let domain = hostname
                .and_then(|h| h.trim().split_once('.'))
                .map(|(_, d)| d);
            conf.search = normalize_domains(domain.into_iter());
        }
        if conf.nameservers.is_empty() {
            conf.nameservers = ResolvConf::default().nameservers;
        }
        conf
    }

    /// `ndots:N`, `timeout:N`, `attempts:N` (capped as glibc caps them) and `rotate`; other
    /// options (`edns0`, `single-request`, `trust-ad`, ...) change nothing here and are skipped.
    fn apply_options<'a>(&mut self, words: impl Iterator<Item = &'a str>) {
        for word in words {
            let number = |prefix: &str| word.strip_prefix(prefix)?.parse::<u32>().ok();
            if let Some(n) = number("ndots:") {
                // Cannot truncate: capped at 15 first.
                self.ndots = n.min(MAX_NDOTS) as u8;
            } else if let Some(n) = number("timeout:") {
                // glibc waits at least one second however small the setting.
                self.timeout = Duration::from_secs(u64::from(n).clamp(1, MAX_TIMEOUT_SECS));
            } else if let Some(n) = number("attempts:") {
                // glibc makes no try at all with attempts:0; one try is what was meant.
                self.attempts = n.clamp(1, MAX_ATTEMPTS) as u8;
            } else if word == "rotate" {
                self.rotate = true;
            }
        }
    }
}

/// A `nameserver` address on port 53. An IPv6 scope is kept only when numeric (`%2`): naming
/// an interface (`%eth0`) would need `if_nametoindex`, so such a line is skipped.
fn parse_nameserver(word: &str) -> Option<SocketAddr> {
    if let Ok(ip) = word.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    let (ip, scope) = word.split_once('%')?;
    let ip = ip.parse::<Ipv6Addr>().ok()?;
    let scope = scope.parse::<u32>().ok()?;
    Some(SocketAddr::V6(SocketAddrV6::new(ip, 53, 0, scope)))
}

/// Search domains without their trailing dot; the root (`.`) adds nothing and is dropped.
fn normalize_domains<'a>(domains: impl Iterator<Item = &'a str>) -> Vec<String> {
    domains
        .map(|d| d.trim_end_matches('.'))
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect()
}

/// The entries of an `/etc/hosts` file, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostsFile {
    /// (lower-case name without trailing dot, address), one per name on each line.
    entries: Vec<(String, IpAddr)>,
}

impl HostsFile {
    /// Parses `ADDRESS NAME [ALIAS...]` lines; `#` starts a comment. Lines whose address does
    /// not parse (including scoped IPv6 such as `fe80::1%eth0`) are skipped, as glibc does.
    pub fn parse(text: &str) -> HostsFile {
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = line.split_once('#').map_or(line, |(before, _)| before);
            let mut words = line.split_whitespace();
            let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) else {
                continue;
            };
            for name in words {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if !name.is_empty() {
                    entries.push((name, ip));
                }
            }
        }
        HostsFile { entries }
    }

    /// Every address of `name` (any case, trailing dot ignored), in file order, without
    /// repeats; empty when the file does not name it.
    pub fn lookup(&self, name: &str) -> Vec<IpAddr> {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        let mut found = Vec::new();
        for (entry, ip) in &self.entries {
            if *entry == name && !found.contains(ip) {
                found.push(*ip);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolver::test_server::ip;

    // ---- /etc/hosts ----

    #[test]
    fn hosts_file_lines_names_aliases_and_comments() {
        let hosts = HostsFile::parse(
            "# a comment line\n\
             127.0.0.1\tlocalhost localhost.localdomain\n\
             ::1 localhost ip6-localhost # trailing comment names-nothing\n\
             10.0.0.5   Registry.Corp.Example.  registry mirror   \n\
             fe80::1%eth0 scoped.example\n\
             not-an-ip bogus.example\n\
             10.0.0.6 registry\n\
             10.0.0.5 registry\n\
             #10.0.0.7 registry\n\
             \n\
             10.0.0.8\n",
        );
        assert_eq!(hosts.lookup("localhost"), vec![ip("127.0.0.1"), ip("::1")]);
        assert_eq!(hosts.lookup("ip6-localhost"), vec![ip("::1")]);
        assert_eq!(hosts.lookup("localhost.localdomain"), vec![ip("127.0.0.1")]);
        // Case-insensitive both ways, trailing dots ignored on both sides, file order, no repeats.
        assert_eq!(
            hosts.lookup("REGISTRY"),
            vec![ip("10.0.0.5"), ip("10.0.0.6")]
        );
        assert_eq!(hosts.lookup("registry.corp.example."), vec![ip("10.0.0.5")]);
        assert_eq!(hosts.lookup("mirror"), vec![ip("10.0.0.5")]);
        assert_eq!(hosts.lookup("names-nothing"), Vec::<IpAddr>::new());
        assert_eq!(hosts.lookup("scoped.example"), Vec::<IpAddr>::new());
        assert_eq!(hosts.lookup("bogus.example"), Vec::<IpAddr>::new());
        assert_eq!(hosts.lookup("registry.corp"), Vec::<IpAddr>::new());
        assert_eq!(
            HostsFile::parse("").lookup("localhost"),
            Vec::<IpAddr>::new()
        );
    }

    // ---- /etc/resolv.conf ----

    #[test]
    fn resolv_conf_full_file() {
        let conf = ResolvConf::parse(
            "# generated\n\
             ; also a comment\n\
             nameserver 10.0.0.2\n\
             nameserver fd00::53 # the v6 one\n\
             nameserver fe80::1%2\n\
             nameserver 10.0.0.4\n\
             domain ignored.example\n\
             search corp.example. svc.example\n\
             options ndots:3 timeout:2 attempts:4 rotate edns0 trust-ad\n\
             sortlist 10.0.0.0/8\n",
        );
        assert_eq!(
            conf,
            ResolvConf {
                nameservers: vec![
                    "10.0.0.2:53".parse().expect("addr"),
                    "[fd00::53]:53".parse().expect("addr"),
                    SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().expect("ip"), 53, 0, 2)),
                ],
                search: vec!["corp.example".into(), "svc.example".into()],
                ndots: 3,
                timeout: Duration::from_secs(2),
                attempts: 4,
                rotate: true,
            }
        );
    }

    #[test]
    fn resolv_conf_defaults_and_odd_lines() {
        let defaults = ResolvConf {
            nameservers: vec!["127.0.0.1:53".parse().expect("addr")],
            search: vec![],
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
            rotate: false,
        };
        assert_eq!(ResolvConf::default(), defaults);
        assert_eq!(ResolvConf::from_sources(None, None, None, None), defaults);
        assert_eq!(ResolvConf::parse(""), defaults);
        // Unparseable servers and scoped-by-name IPv6 are skipped; empty search/domain lines
        // change nothing; out-of-range options are capped as glibc caps them.
        let conf = ResolvConf::parse(
            "nameserver\nnameserver dns.example\nnameserver fe80::1%eth0\n\
             search a.example\nsearch\ndomain\n\
             options ndots:40 timeout:0 attempts:0 ndots:x timeout:-1\n",
        );
        assert_eq!(conf.nameservers, defaults.nameservers);
        assert_eq!(conf.search, vec!["a.example".to_string()]);
        assert_eq!(
            (conf.ndots, conf.timeout, conf.attempts),
            (15, Duration::from_secs(1), 1)
        );
        let conf = ResolvConf::parse("options timeout:99 attempts:9\n");
        assert_eq!((conf.timeout, conf.attempts), (Duration::from_secs(30), 5));
    }

    #[test]
    fn resolv_conf_last_of_search_and_domain_wins() {
        let conf = ResolvConf::parse("search a.example b.example\ndomain c.example\n");
        assert_eq!(conf.search, vec!["c.example".to_string()]);
        let conf = ResolvConf::parse("domain c.example\nsearch a.example b.example\n");
        assert_eq!(
            conf.search,
            vec!["a.example".to_string(), "b.example".to_string()]
        );
        let conf = ResolvConf::parse("search .\n");
        assert_eq!(conf.search, Vec::<String>::new());
    }

    #[test]
    fn resolv_conf_environment_and_hostname() {
        let file = "search file.example\noptions ndots:2 timeout:3\nnameserver 10.0.0.2\n";
        // LOCALDOMAIN replaces the file's list; RES_OPTIONS overrides the file's options.
        let conf = ResolvConf::from_sources(
            Some(file),
            Some("env1.example  env2.example"),
            Some("ndots:4 attempts:3 rotate"),
            Some("node1.host.example"),
        );
        assert_eq!(
            conf.search,
            vec!["env1.example".to_string(), "env2.example".to_string()]
        );
        assert_eq!(
            (conf.ndots, conf.timeout, conf.attempts, conf.rotate),
            (4, Duration::from_secs(3), 3, true)
        );
        assert_eq!(
            conf.nameservers,
            vec!["10.0.0.2:53".parse::<SocketAddr>().expect("addr")]
        );
        // The hostname's domain is the search list only when nothing else gave one.
        let conf = ResolvConf::from_sources(Some(file), None, None, Some("node1.host.example\n"));
        assert_eq!(conf.search, vec!["file.example".to_string()]);
        let conf = ResolvConf::from_sources(
            Some("nameserver 10.0.0.2\n"),
            None,
            None,
            Some("node1.host.example\n"),
        );
        assert_eq!(conf.search, vec!["host.example".to_string()]);
        let conf = ResolvConf::from_sources(Some(file), Some(""), None, Some("node1.host.example"));
        assert_eq!(conf.search, vec!["host.example".to_string()]);
        let conf = ResolvConf::from_sources(None, None, None, Some("node1"));
        assert_eq!(conf.search, Vec::<String>::new());
    }
}
