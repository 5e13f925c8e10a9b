//! Name resolution for every HTTP client of the binary: `/etc/hosts`, then DNS, never NSS.
//!
//! The release binary is statically linked against glibc. A static glibc's `getaddrinfo` still
//! dlopens the NSS modules that the node's `/etc/nsswitch.conf` names (`resolve`, `myhostname`,
//! ...), and those were built for the node's glibc, not the copy linked in: loading them is
//! undefined behaviour. So, like Go's pure resolver, this module reads `/etc/hosts` and
//! `/etc/resolv.conf` itself and asks the nameservers over UDP (TCP when a reply is truncated).
//!
//! Where glibc and Go differ, this follows glibc: at most three nameservers, the last of
//! `search`/`domain` wins, `LOCALDOMAIN` and `RES_OPTIONS` override the file, the hostname's
//! domain is the search list when none is configured, and a search stops when no nameserver
//! answered at all (a name the servers never saw must not fall through to another candidate).

mod conf;
#[cfg(test)]
mod test_server;
mod transport;
mod wire;

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

pub use conf::{HostsFile, ResolvConf};
use transport::{exchange, Answer, Failure};
use wire::{check_name, TYPE_A, TYPE_AAAA};

/// A stub resolver: `/etc/hosts` first, then the nameservers of a [`ResolvConf`].
#[derive(Debug)]
pub struct Resolver {
    conf: ResolvConf,
    hosts: HostsFile,
    /// Where the next query starts in the server list when `rotate` is set.
    next_server: AtomicUsize,
}

impl Resolver {
    /// A resolver with the given settings and hosts entries; no I/O.
    pub fn new(conf: ResolvConf, hosts: HostsFile) -> Resolver {
        Resolver {
            conf,
            hosts,
            next_server: AtomicUsize::new(0),
        }
    }

    /// The node's resolver: `/etc/resolv.conf`, `/etc/hosts`, `LOCALDOMAIN`, `RES_OPTIONS` and
    /// the hostname, read once per process on first use. Never fails: missing or unreadable
    /// files mean glibc's defaults and no hosts entries.
    pub fn system() -> &'static Resolver {
        static SYSTEM: OnceLock<Resolver> = OnceLock::new();
        SYSTEM.get_or_init(|| {
            let read = |path: &str| crate::local_file::read_text(std::path::Path::new(path)).ok();
            let env = |name: &str| std::env::var(name).ok();
            // glibc takes the default search domain from gethostname(); on Linux that is
            // this file, and reading it needs no libc call.
            let conf = ResolvConf::from_sources(
                read("/etc/resolv.conf").as_deref(),
                env("LOCALDOMAIN").as_deref(),
                env("RES_OPTIONS").as_deref(),
                read("/proc/sys/kernel/hostname").as_deref(),
            );
            let hosts = HostsFile::parse(&read("/etc/hosts").unwrap_or_default());
            Resolver::new(conf, hosts)
        })
    }

    /// The addresses of `name`: an IP literal (`10.0.0.1`, `::1`, `[::1]`) as is; else the
    /// hosts file's entries (file order); else DNS, IPv4 addresses first, then IPv6.
    pub async fn lookup(&self, name: &str) -> Result<Vec<IpAddr>, ResolveError> {
        if let Some(ip) = ip_literal(name) {
            return Ok(vec![ip]);
        }
        let fail = |reason| Err(ResolveError::new(name, reason));
        let (bare, absolute) = match name.strip_suffix('.') {
            Some(bare) => (bare, true),
            None => (name, false),
        };
        if let Err(why) = check_name(bare) {
            return fail(Reason::InvalidName(why));
        }
        let from_hosts = self.hosts.lookup(bare);
        if !from_hosts.is_empty() {
            return Ok(from_hosts);
        }
        if self.conf.nameservers.is_empty() {
            return fail(Reason::NoNameserver);
        }

        let candidates = self.candidates(bare, absolute);
        let mut not_found: Option<(bool, SocketAddr)> = None;
        let mut failed: Option<(String, Vec<(SocketAddr, Failure)>)> = None;
        for candidate in &candidates {
            match self.query_name(candidate).await {
                NameResult::Found(addrs) => return Ok(addrs),
                NameResult::NxDomain(server) => {
                    // A NODATA seen earlier says more ("exists, but no address") than NXDOMAIN.
                    if !matches!(not_found, Some((true, _))) {
                        not_found = Some((false, server));
                    }
                }
                NameResult::NoData(server) => not_found = Some((true, server)),
                NameResult::Failed(failures) => {
                    let nobody_answered = !failures.iter().any(|(_, f)| f.is_answer());
                    failed = Some((candidate.clone(), failures));
                    // No server answered at all: the next candidate would wait just as long,
                    // and could find another host while the servers are unreachable.
                    if nobody_answered {
                        break;
                    }
                }
            }
        }
        // A candidate nobody could answer may exist: say that, rather than "not found".
        if let Some((queried, failures)) = failed {
            return fail(Reason::NoAnswer {
                queried: (queried != bare).then_some(queried),
                failures,
                attempts: self.conf.attempts,
                timeout: self.conf.timeout,
            });
        }
        // Every candidate ended NXDOMAIN or NODATA, so `not_found` is set; the fallback (the
        // list is not empty, checked above) only keeps this free of a panic path.
        let (nodata, server) = not_found.unwrap_or((false, self.conf.nameservers[0]));
        let tried = if candidates.len() == 1 && candidates[0] == bare {
            Vec::new()
        } else {
            candidates
        };
        fail(Reason::NotFound {
            nodata,
            server,
            tried,
        })
    }

    /// The names to query for `name` (no trailing dot), in order: an absolute name alone; a
    /// name with at least `ndots` dots as is, then with each search domain; a shorter one with
    /// each search domain, then as is. Candidates too long for DNS are dropped.
    fn candidates(&self, name: &str, absolute: bool) -> Vec<String> {
        if absolute {
            return vec![name.to_string()];
        }
        let as_is_first = name.matches('.').count() >= usize::from(self.conf.ndots);
        let mut names = Vec::new();
        if as_is_first {
            names.push(name.to_string());
        }
        for domain in &self.conf.search {
            let candidate = format!("{name}.{domain}");
            if check_name(&candidate).is_ok() {
                names.push(candidate);
            }
        }
        if !as_is_first {
            names.push(name.to_string());
        }
        names
    }

    /// Asks for A and AAAA of one candidate name: each server in turn (from a rotating start
    /// with `rotate`), `attempts` rounds, until both types have a conclusive answer, the name
    /// is NXDOMAIN, or one type has addresses (a server that drops AAAA queries must not
    /// cost every server's timeout when the A answer is in hand).
    async fn query_name(&self, qname: &str) -> NameResult {
        let servers = &self.conf.nameservers;
        let start = if self.conf.rotate {
            self.next_server.fetch_add(1, Ordering::Relaxed) % servers.len()
        } else {
            0
        };
        let mut answers: [Option<(Answer, SocketAddr)>; 2] = [None, None];
        let mut failures: Vec<(SocketAddr, Failure)> = Vec::new();
        let settled = |answers: &[Option<(Answer, SocketAddr)>; 2]| {
            answers.iter().all(Option::is_some)
                || answers.iter().flatten().any(|(a, _)| match a {
                    Answer::NxDomain => true,
                    Answer::Addrs(addrs) => !addrs.is_empty(),
                })
        };
        'rounds: for _ in 0..self.conf.attempts.max(1) {
            for i in 0..servers.len() {
                let server = servers[(start + i) % servers.len()];
                let wanted: Vec<u16> = [TYPE_A, TYPE_AAAA]
                    .into_iter()
                    .zip(&answers)
                    .filter(|(_, answer)| answer.is_none())
                    .map(|(qtype, _)| qtype)
                    .collect();
                let results = exchange(server, qname, &wanted, self.conf.timeout).await;
                for (qtype, result) in wanted.into_iter().zip(results) {
                    match result {
                        Ok(answer) => {
                            answers[usize::from(qtype == TYPE_AAAA)] = Some((answer, server))
                        }
                        Err(failure) => match failures.iter_mut().find(|(s, _)| *s == server) {
                            Some(entry) => entry.1 = failure,
                            None => failures.push((server, failure)),
                        },
                    }
                }
                if settled(&answers) {
                    break 'rounds;
                }
            }
        }

        let mut addrs: Vec<IpAddr> = Vec::new();
        for (answer, _) in answers.iter().flatten() {
            if let Answer::Addrs(found) = answer {
                for ip in found {
                    if !addrs.contains(ip) {
                        addrs.push(*ip);
                    }
                }
            }
        }
        if !addrs.is_empty() {
            return NameResult::Found(addrs);
        }
        if let Some((_, server)) = answers
            .iter()
            .flatten()
            .find(|(a, _)| matches!(a, Answer::NxDomain))
        {
            return NameResult::NxDomain(*server);
        }
        if let [Some(_), Some((_, server))] = &answers {
            return NameResult::NoData(*server);
        }
        // Servers in configuration order, so the message reads like resolv.conf.
        failures.sort_by_key(|(s, _)| servers.iter().position(|x| x == s));
        NameResult::Failed(failures)
    }
}

/// What one candidate name came to.
enum NameResult {
    Found(Vec<IpAddr>),
    NxDomain(SocketAddr),
    /// The name exists but has neither A nor AAAA records.
    NoData(SocketAddr),
    /// No conclusive answer: the last failure of each server tried.
    Failed(Vec<(SocketAddr, Failure)>),
}

/// Reads `msg` as the reply to the A (or, with `ipv6`, AAAA) query `id` for `name`, with the
/// parser every lookup applies to what a nameserver sends: `Ok(None)` when it is not that reply,
/// `Err` when it is but cannot be read, else the addresses it gives `name`.
///
/// Public only so that the fuzz targets in `fuzz/` reach the DNS wire parser from outside the
/// crate; lookups call the parser directly.
#[doc(hidden)]
pub fn parse_dns_reply(
    msg: &[u8],
    id: u16,
    name: &str,
    ipv6: bool,
) -> Result<Option<Vec<IpAddr>>, &'static str> {
    let qtype = if ipv6 { TYPE_AAAA } else { TYPE_A };
    wire::parse_reply(msg, id, name, qtype).map(|reply| reply.map(|r| r.addrs))
}

/// `10.0.0.1`, `::1` or `[::1]`.
fn ip_literal(name: &str) -> Option<IpAddr> {
    if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    name.parse().ok()
}

/// A lookup that found no address, as one line naming the host and what failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveError {
    host: String,
    reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Reason {
    InvalidName(&'static str),
    NoNameserver,
    /// NXDOMAIN (or NODATA when `nodata`) for every candidate; `tried` lists them when the
    /// search list made more than the name itself.
    NotFound {
        nodata: bool,
        server: SocketAddr,
        tried: Vec<String>,
    },
    /// No conclusive answer for `queried` (when it differs from the host).
    NoAnswer {
        queried: Option<String>,
        failures: Vec<(SocketAddr, Failure)>,
        attempts: u8,
        timeout: Duration,
    },
}

impl ResolveError {
    fn new(host: &str, reason: Reason) -> ResolveError {
        ResolveError {
            host: host.to_string(),
            reason,
        }
    }

    /// The name that was looked up.
    #[cfg(test)]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether DNS said the name has no address (NXDOMAIN or NODATA), as opposed to not
    /// answering: retrying soon will not help.
    pub fn is_not_found(&self) -> bool {
        matches!(self.reason, Reason::NotFound { .. })
    }
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `{:?}` quotes and escapes the names, so the message stays on one line.
        let host = &self.host;
        match &self.reason {
            Reason::InvalidName(why) => {
                write!(f, "cannot resolve {host:?}: not a DNS name ({why})")
            }
            Reason::NoNameserver => write!(f, "DNS: no nameserver to resolve {host:?}"),
            Reason::NotFound {
                nodata,
                server,
                tried,
            } => {
                let what = if *nodata {
                    "no A or AAAA record"
                } else {
                    "NXDOMAIN"
                };
                write!(f, "no address for {host:?}: {what} from {server}")?;
                if !tried.is_empty() {
                    let tried: Vec<String> = tried.iter().map(|t| format!("{t:?}")).collect();
                    write!(f, " (tried {})", tried.join(", "))?;
                }
                Ok(())
            }
            Reason::NoAnswer {
                queried,
                failures,
                attempts,
                timeout,
            } => {
                write!(f, "DNS: no answer for {host:?}")?;
                if let Some(queried) = queried {
                    write!(f, " (querying {queried:?})")?;
                }
                // Plain addresses when every server was silent; each one's failure otherwise.
                let all_silent = failures.iter().all(|(_, x)| *x == Failure::NoReply);
                let servers: Vec<String> = failures
                    .iter()
                    .map(|(server, failure)| {
                        if all_silent {
                            server.to_string()
                        } else {
                            format!("{server} ({failure})")
                        }
                    })
                    .collect();
                write!(
                    f,
                    " from {} within {attempts} attempt(s) of {}",
                    servers.join(", "),
                    show_duration(*timeout)
                )
            }
        }
    }
}

impl std::error::Error for ResolveError {}

/// `5s`, or `200ms` when not whole seconds.
fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::test_server::{block_on, closed_port, conf, ip, resolver, Fake, Mode, Rec, Seen};
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn candidates_follow_ndots_and_the_search_list() {
        let mut c = conf(&[], &["a.example", "b.example"], 100, 1);
        let r = Resolver::new(c.clone(), HostsFile::default());
        assert_eq!(
            r.candidates("host", false),
            ["host.a.example", "host.b.example", "host"]
        );
        assert_eq!(
            r.candidates("api.svc", false),
            ["api.svc", "api.svc.a.example", "api.svc.b.example"]
        );
        assert_eq!(r.candidates("host", true), ["host"]);
        c.ndots = 3;
        let r = Resolver::new(c.clone(), HostsFile::default());
        assert_eq!(
            r.candidates("a.b.c", false),
            ["a.b.c.a.example", "a.b.c.b.example", "a.b.c"]
        );
        assert_eq!(
            r.candidates("a.b.c.d", false),
            ["a.b.c.d", "a.b.c.d.a.example", "a.b.c.d.b.example"]
        );
        // A candidate too long for DNS is dropped; the name itself stays.
        let long = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(56)
        );
        assert_eq!(long.len(), 248);
        assert_eq!(r.candidates(&long, false), vec![long]);
    }

    // ---- lookups without the network ----

    #[test]
    fn ip_literals_need_no_server() {
        let r = resolver(&[], &[], 100, 1);
        assert_eq!(block_on(r.lookup("10.0.0.1")), Ok(vec![ip("10.0.0.1")]));
        assert_eq!(block_on(r.lookup("::1")), Ok(vec![ip("::1")]));
        assert_eq!(block_on(r.lookup("[fd00::1]")), Ok(vec![ip("fd00::1")]));
        let err = block_on(r.lookup("name.test")).expect_err("no server");
        assert_eq!(
            err.to_string(),
            r#"DNS: no nameserver to resolve "name.test""#
        );
        assert!(!err.is_not_found());
    }

    #[test]
    fn invalid_names_fail_before_any_query() {
        let r = resolver(&[closed_port()], &[], 100, 1);
        let cases = [
            (
                "a..b",
                r#"cannot resolve "a..b": not a DNS name (an empty label)"#,
            ),
            ("", r#"cannot resolve "": not a DNS name (empty name)"#),
            (".", r#"cannot resolve ".": not a DNS name (empty name)"#),
            (
                "a b",
                r#"cannot resolve "a b": not a DNS name (a character that is not printable ASCII)"#,
            ),
        ];
        for (name, text) in cases {
            assert_eq!(block_on(r.lookup(name)).expect_err(name).to_string(), text);
        }
        let long_label = format!("{}.test", "x".repeat(64));
        let err = block_on(r.lookup(&long_label)).expect_err("long label");
        assert!(
            err.to_string().ends_with("(a label longer than 63 bytes)"),
            "{err}"
        );
        let long_name = vec!["abcdefgh"; 30].join(".");
        let err = block_on(r.lookup(&long_name)).expect_err("long name");
        assert!(
            err.to_string().ends_with("(longer than 253 bytes)"),
            "{err}"
        );
    }

    #[test]
    fn hosts_file_answers_before_dns() {
        let fake = Fake::start(
            Mode::Answer,
            &[("pinned.test", Rec::A(Ipv4Addr::new(10, 5, 0, 5)))],
        );
        let hosts = HostsFile::parse("10.9.0.9 pinned.test\nfd00::9 Pinned.Test\n");
        let r = Resolver::new(conf(&[fake.addr], &[], 1000, 1), hosts);
        assert_eq!(
            block_on(r.lookup("PINNED.test.")),
            Ok(vec![ip("10.9.0.9"), ip("fd00::9")])
        );
        assert_eq!(fake.seen(), vec![]);
    }

    // ---- DNS against the fake ----

    #[test]
    fn a_and_aaaa_ipv4_first_without_repeats() {
        let fake = Fake::start(
            Mode::Answer,
            &[
                ("svc.test", Rec::Aaaa("fd00::1".parse().expect("ip"))),
                ("svc.test", Rec::A(Ipv4Addr::new(10, 1, 0, 1))),
                ("svc.test", Rec::A(Ipv4Addr::new(10, 1, 0, 2))),
                ("svc.test", Rec::A(Ipv4Addr::new(10, 1, 0, 1))),
            ],
        );
        let r = resolver(&[fake.addr], &["a.test"], 1000, 1);
        let got = block_on(r.lookup("SVC.Test"));
        assert_eq!(got, Ok(vec![ip("10.1.0.1"), ip("10.1.0.2"), ip("fd00::1")]));
        let mut seen = fake.seen();
        seen.sort_by_key(|s| s.qtype);
        let q = |qtype| Seen {
            proto: "udp",
            name: "SVC.Test".into(),
            qtype,
            rd: true,
        };
        assert_eq!(seen, vec![q(TYPE_A), q(TYPE_AAAA)]);
    }

    #[test]
    fn cname_chain_is_followed_to_its_addresses() {
        let fake = Fake::start(
            Mode::Answer,
            &[
                ("www.test", Rec::Cname("cdn.test")),
                ("cdn.test", Rec::Cname("edge.test")),
                ("edge.test", Rec::A(Ipv4Addr::new(10, 2, 0, 1))),
                ("edge.test", Rec::Aaaa("fd00::2".parse().expect("ip"))),
            ],
        );
        let r = resolver(&[fake.addr], &[], 1000, 1);
        assert_eq!(
            block_on(r.lookup("www.test")),
            Ok(vec![ip("10.2.0.1"), ip("fd00::2")])
        );
    }

    #[test]
    fn nxdomain_names_the_host_and_server() {
        let fake = Fake::start(
            Mode::Answer,
            &[("other.test", Rec::A(Ipv4Addr::new(10, 0, 0, 1)))],
        );
        let r = resolver(&[fake.addr], &[], 1000, 2);
        let err = block_on(r.lookup("missing.test")).expect_err("nxdomain");
        assert_eq!(
            err.to_string(),
            format!(
                r#"no address for "missing.test": NXDOMAIN from {}"#,
                fake.addr
            )
        );
        assert!(err.is_not_found());
        assert_eq!(err.host(), "missing.test");
        // NXDOMAIN is an answer: no second attempt.
        assert_eq!(fake.seen().len(), 2);

        let r = resolver(&[fake.addr], &["a.test", "b.test"], 1000, 1);
        let err = block_on(r.lookup("missing")).expect_err("nxdomain");
        assert_eq!(
            err.to_string(),
            format!(
                r#"no address for "missing": NXDOMAIN from {} (tried "missing.a.test", "missing.b.test", "missing")"#,
                fake.addr
            )
        );
    }

    #[test]
    fn search_list_is_tried_in_order() {
        let fake = Fake::start(
            Mode::Answer,
            &[
                ("host.b.test", Rec::A(Ipv4Addr::new(10, 3, 0, 1))),
                ("host", Rec::A(Ipv4Addr::new(10, 3, 0, 9))),
            ],
        );
        let r = resolver(&[fake.addr], &["a.test", "b.test"], 1000, 1);
        assert_eq!(block_on(r.lookup("host")), Ok(vec![ip("10.3.0.1")]));
        assert_eq!(
            fake.names(),
            ["host.a.test", "host.a.test", "host.b.test", "host.b.test"]
        );
        // An absolute name skips the search list.
        assert_eq!(block_on(r.lookup("host.")), Ok(vec![ip("10.3.0.9")]));
    }

    #[test]
    fn nodata_moves_to_the_next_candidate_and_outranks_nxdomain() {
        let fake = Fake::start(
            Mode::Answer,
            &[
                ("empty.a.test", Rec::Txt),
                ("empty", Rec::A(Ipv4Addr::new(10, 4, 0, 1))),
            ],
        );
        let r = resolver(&[fake.addr], &["a.test"], 1000, 1);
        assert_eq!(block_on(r.lookup("empty")), Ok(vec![ip("10.4.0.1")]));
        let err = block_on(r.lookup("empty.a.test")).expect_err("nodata");
        assert_eq!(
            err.to_string(),
            format!(
                r#"no address for "empty.a.test": no A or AAAA record from {} (tried "empty.a.test", "empty.a.test.a.test")"#,
                fake.addr
            )
        );
        assert!(err.is_not_found());
    }

    #[test]
    fn servfail_moves_to_the_next_server() {
        let bad = Fake::start(Mode::ServFail, &[]);
        let good = Fake::start(
            Mode::Answer,
            &[("x.test", Rec::A(Ipv4Addr::new(10, 6, 0, 1)))],
        );
        let r = resolver(&[bad.addr, good.addr], &[], 1000, 2);
        assert_eq!(block_on(r.lookup("x.test")), Ok(vec![ip("10.6.0.1")]));
        assert_eq!(bad.names(), ["x.test", "x.test"]);
        assert_eq!(good.names(), ["x.test", "x.test"]);
    }

    #[test]
    fn servfail_everywhere_is_an_error_and_the_search_goes_on() {
        let bad1 = Fake::start(Mode::ServFail, &[]);
        let bad2 = Fake::start(Mode::ServFail, &[]);
        let r = resolver(&[bad1.addr, bad2.addr], &[], 300, 2);
        let err = block_on(r.lookup("x.test")).expect_err("servfail");
        assert_eq!(
            err.to_string(),
            format!(
                r#"DNS: no answer for "x.test" from {} (SERVFAIL), {} (SERVFAIL) within 2 attempt(s) of 300ms"#,
                bad1.addr, bad2.addr
            )
        );
        assert!(!err.is_not_found());
        assert_eq!(bad1.seen().len(), 4);
        assert_eq!(bad2.seen().len(), 4);

        // As glibc: a SERVFAIL for one candidate does not stop the search.
        let r = resolver(&[bad1.addr], &["a.test"], 300, 1);
        let err = block_on(r.lookup("y")).expect_err("servfail");
        assert_eq!(
            err.to_string(),
            format!(
                r#"DNS: no answer for "y" from {} (SERVFAIL) within 1 attempt(s) of 300ms"#,
                bad1.addr
            )
        );
        assert_eq!(bad1.names()[4..], ["y.a.test", "y.a.test", "y", "y"]);
    }

    #[test]
    fn no_answer_from_anyone_stops_the_search() {
        let s1 = Fake::start(Mode::Silent, &[]);
        let s2 = Fake::start(Mode::Silent, &[]);
        let r = resolver(&[s1.addr, s2.addr], &["a.test"], 100, 2);
        let started = std::time::Instant::now();
        let err = block_on(r.lookup("x")).expect_err("silence");
        let took = started.elapsed();
        assert_eq!(
            err.to_string(),
            format!(
                r#"DNS: no answer for "x" (querying "x.a.test") from {}, {} within 2 attempt(s) of 100ms"#,
                s1.addr, s2.addr
            )
        );
        // 2 servers x 2 attempts x 100 ms, and never the second candidate "x".
        assert!(
            took >= Duration::from_millis(400) && took < Duration::from_secs(2),
            "{took:?}"
        );
        assert_eq!(s1.names(), ["x.a.test"; 4]);
        assert_eq!(s2.names(), ["x.a.test"; 4]);
    }

    #[test]
    fn an_a_answer_is_not_held_up_by_a_dropped_aaaa_query() {
        let fake = Fake::start(
            Mode::DropAaaa,
            &[
                ("x.test", Rec::A(Ipv4Addr::new(10, 14, 0, 1))),
                ("x.test", Rec::Aaaa("fd00::14".parse().expect("ip"))),
            ],
        );
        let r = resolver(&[fake.addr, closed_port()], &[], 300, 2);
        let started = std::time::Instant::now();
        assert_eq!(block_on(r.lookup("x.test")), Ok(vec![ip("10.14.0.1")]));
        let took = started.elapsed();
        // One try's wait for the AAAA reply, and no second round for it: 2 queries, not 3.
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(3),
            "{took:?}"
        );
        assert_eq!(fake.seen().len(), 2);
    }

    #[test]
    fn rotate_starts_each_query_at_the_next_server() {
        let table = [("x.test", Rec::A(Ipv4Addr::new(10, 12, 0, 1)))];
        let (f1, f2) = (
            Fake::start(Mode::Answer, &table),
            Fake::start(Mode::Answer, &table),
        );
        let mut c = conf(&[f1.addr, f2.addr], &[], 1000, 1);
        let r = Resolver::new(c.clone(), HostsFile::default());
        for _ in 0..2 {
            assert_eq!(block_on(r.lookup("x.test")), Ok(vec![ip("10.12.0.1")]));
        }
        assert_eq!((f1.seen().len(), f2.seen().len()), (4, 0));
        c.rotate = true;
        let r = Resolver::new(c, HostsFile::default());
        for _ in 0..2 {
            assert_eq!(block_on(r.lookup("x.test")), Ok(vec![ip("10.12.0.1")]));
        }
        assert_eq!((f1.seen().len(), f2.seen().len()), (6, 2));
    }

    #[test]
    fn durations_and_lookups_are_shown_and_sendable() {
        assert_eq!(show_duration(Duration::from_secs(5)), "5s");
        assert_eq!(show_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1500ms");
        // reqwest and the AWS SDK need a Send future: this fails to compile otherwise.
        fn sendable<T: Send + Sync + 'static>(_: &T) {}
        let lookup = Resolver::system().lookup("localhost");
        fn send_future<F: std::future::Future + Send>(_: &F) {}
        send_future(&lookup);
        sendable(Resolver::system());
    }
}
