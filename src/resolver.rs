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

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

/// glibc's MAXNS: further `nameserver` lines are ignored.
const MAX_NAMESERVERS: usize = 3;
/// glibc's caps on `ndots`, `timeout` (seconds) and `attempts` (RES_MAXNDOTS, RES_MAXRETRANS,
/// RES_MAXRETRY).
const MAX_NDOTS: u32 = 15;
const MAX_TIMEOUT_SECS: u64 = 30;
const MAX_ATTEMPTS: u32 = 5;
/// Without EDNS a server sends at most 512 bytes over UDP; 4096 leaves room for servers that
/// send more anyway. A longer datagram is cut by the kernel and then fails to parse.
const UDP_REPLY_MAX: usize = 4096;
/// CNAME hops followed inside one answer; real chains have two or three.
const MAX_CNAME_HOPS: usize = 16;
/// Compression pointers followed while reading one name: a loop fails instead of spinning.
const MAX_POINTER_JUMPS: usize = 64;

const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;

const RCODE_NOERROR: u8 = 0;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NXDOMAIN: u8 = 3;
const RCODE_REFUSED: u8 = 5;

const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;

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
            let read = |path: &str| std::fs::read_to_string(path).ok();
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

    /// The settings in use (for diagnostics).
    pub fn conf(&self) -> &ResolvConf {
        &self.conf
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

/// A conclusive answer for one query type.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// NOERROR: the addresses of the query's type (empty: NODATA).
    Addrs(Vec<IpAddr>),
    NxDomain,
}

/// Why one server gave no conclusive answer for one query type.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    NoReply,
    ServFail,
    Refused,
    Rcode(u8),
    Malformed(&'static str),
    Io(String),
}

impl Failure {
    /// Whether the server answered (as opposed to never being heard from).
    fn is_answer(&self) -> bool {
        matches!(
            self,
            Failure::ServFail | Failure::Refused | Failure::Rcode(_) | Failure::Malformed(_)
        )
    }

    fn io(error: &io::Error) -> Failure {
        match error.kind() {
            // On a connected UDP socket this is the ICMP port-unreachable of a host with no
            // server on port 53: fail over at once instead of waiting out the timeout.
            io::ErrorKind::ConnectionRefused => Failure::Io("connection refused".to_string()),
            _ => Failure::Io(error.to_string()),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NoReply => f.write_str("no reply"),
            Failure::ServFail => f.write_str("SERVFAIL"),
            Failure::Refused => f.write_str("REFUSED"),
            Failure::Rcode(code) => write!(f, "rcode {code}"),
            Failure::Malformed(why) => write!(f, "malformed reply: {why}"),
            Failure::Io(why) => f.write_str(why),
        }
    }
}

/// The outcome of one query over UDP, before a truncated reply is retried over TCP.
enum Outcome {
    Done(Result<Answer, Failure>),
    Truncated,
}

/// One try at `server` for the query types `qtypes` of `qname`: all sent at once over one UDP
/// socket, then one result per type, in the order of `qtypes`. A truncated reply is asked
/// again over TCP with a timeout of its own.
async fn exchange(
    server: SocketAddr,
    qname: &str,
    qtypes: &[u16],
    timeout: Duration,
) -> Vec<Result<Answer, Failure>> {
    let outcomes = udp_exchange(server, qname, qtypes, timeout).await;
    let mut results = Vec::with_capacity(qtypes.len());
    for (&qtype, outcome) in qtypes.iter().zip(outcomes) {
        results.push(match outcome {
            Outcome::Done(result) => result,
            Outcome::Truncated => tcp_exchange(server, qname, qtype, timeout).await,
        });
    }
    results
}

/// Sends one query per type from a fresh socket with an OS-chosen port and waits up to
/// `timeout` for the replies. The socket is connected to `server`, so the kernel drops
/// datagrams from any other address; a datagram with an unknown id or another question is
/// skipped and the wait goes on, so a stray or forged packet cannot end the try.
async fn udp_exchange(
    server: SocketAddr,
    qname: &str,
    qtypes: &[u16],
    timeout: Duration,
) -> Vec<Outcome> {
    let all = |failure: Failure| {
        qtypes
            .iter()
            .map(|_| Outcome::Done(Err(failure.clone())))
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + timeout;
    let local = match server {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = match UdpSocket::bind(local).await {
        Ok(socket) => socket,
        Err(e) => return all(Failure::io(&e)),
    };
    if let Err(e) = socket.connect(server).await {
        return all(Failure::io(&e));
    }
    let ids = distinct_ids(qtypes.len());
    for (&id, &qtype) in ids.iter().zip(qtypes) {
        if let Err(e) = socket.send(&build_query(id, qname, qtype)).await {
            return all(Failure::io(&e));
        }
    }

    let mut outcomes: Vec<Option<Outcome>> = qtypes.iter().map(|_| None).collect();
    let mut buf = vec![0u8; UDP_REPLY_MAX];
    while outcomes.iter().any(Option::is_none) {
        let len = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            Err(_elapsed) => break,
            Ok(Ok(len)) => len,
            Ok(Err(e)) => {
                let failure = Failure::io(&e);
                for outcome in outcomes.iter_mut().filter(|o| o.is_none()) {
                    *outcome = Some(Outcome::Done(Err(failure.clone())));
                }
                break;
            }
        };
        let reply = &buf[..len];
        let Some(i) = (0..qtypes.len())
            .find(|&i| outcomes[i].is_none() && reply.get(..2) == Some(&ids[i].to_be_bytes()[..]))
        else {
            continue;
        };
        outcomes[i] = match parse_reply(reply, ids[i], qname, qtypes[i]) {
            Ok(None) => continue,
            Ok(Some(reply)) if reply.truncated => Some(Outcome::Truncated),
            Ok(Some(reply)) => Some(Outcome::Done(reply.into_answer())),
            Err(why) => Some(Outcome::Done(Err(Failure::Malformed(why)))),
        };
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::Done(Err(Failure::NoReply))))
        .collect()
}

/// One query over TCP (2-byte length prefix each way), within `timeout` from connect to the
/// last byte. The reply is at most 65535 bytes by construction of the prefix.
async fn tcp_exchange(
    server: SocketAddr,
    qname: &str,
    qtype: u16,
    timeout: Duration,
) -> Result<Answer, Failure> {
    let id = random_id();
    let query = build_query(id, qname, qtype);
    let talk = async {
        let stream = TcpStream::connect(server).await?;
        let mut framed = Vec::with_capacity(2 + query.len());
        // Cannot truncate: a query is a 12-byte header, a name of at most 255 bytes and 4.
        framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
        framed.extend_from_slice(&query);
        write_all(&stream, &framed).await?;
        let mut prefix = [0u8; 2];
        read_exact(&stream, &mut prefix).await?;
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        read_exact(&stream, &mut reply).await?;
        Ok::<_, io::Error>(reply)
    };
    let reply = match tokio::time::timeout(timeout, talk).await {
        Err(_elapsed) => return Err(Failure::NoReply),
        Ok(Err(e)) => return Err(Failure::io(&e)),
        Ok(Ok(reply)) => reply,
    };
    match parse_reply(&reply, id, qname, qtype) {
        // TC over TCP would mean the answer did not fit 64 KiB: use what arrived.
        Ok(Some(reply)) => reply.into_answer(),
        Ok(None) => Err(Failure::Malformed("TCP reply to another query")),
        Err(why) => Err(Failure::Malformed(why)),
    }
}

// Plain readiness loops: tokio's read/write helpers need its `io-util` feature, which this
// crate does not ask for.
async fn write_all(stream: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        stream.writable().await?;
        match stream.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn read_exact(stream: &TcpStream, buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        stream.readable().await?;
        match stream.try_read(&mut buf[filled..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before the whole reply",
                ))
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A query id that an off-path attacker cannot guess: SipHash of a counter under
/// `RandomState`'s keys, which come from the OS's randomness.
fn random_id() -> u16 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Truncation is the point: any 16 bits of the hash are as random as the others.
    RandomState::new().hash_one(n) as u16
}

/// `n` random ids, all different, so replies on one socket map to one query each.
fn distinct_ids(n: usize) -> Vec<u16> {
    let mut ids = Vec::with_capacity(n);
    while ids.len() < n {
        let id = random_id();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// A standard query with recursion desired, one question, class IN. `qname` has passed
/// [`check_name`], so every label fits its length byte.
fn build_query(id: u16, qname: &str, qtype: u16) -> Vec<u8> {
    let mut msg = Vec::with_capacity(12 + qname.len() + 6);
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&FLAG_RD.to_be_bytes());
    msg.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // 1 question, no other records
    for label in qname.split('.') {
        msg.push(label.len() as u8); // at most 63 (check_name)
        msg.extend_from_slice(label.as_bytes());
    }
    msg.push(0);
    msg.extend_from_slice(&qtype.to_be_bytes());
    msg.extend_from_slice(&CLASS_IN.to_be_bytes());
    msg
}

/// A reply that matched the query.
#[derive(Debug, PartialEq, Eq)]
struct Reply {
    truncated: bool,
    rcode: u8,
    /// Addresses of the query's type owned by the query name or the end of its CNAME chain.
    addrs: Vec<IpAddr>,
}

impl Reply {
    fn into_answer(self) -> Result<Answer, Failure> {
        match self.rcode {
            RCODE_NOERROR => Ok(Answer::Addrs(self.addrs)),
            RCODE_NXDOMAIN => Ok(Answer::NxDomain),
            RCODE_SERVFAIL => Err(Failure::ServFail),
            RCODE_REFUSED => Err(Failure::Refused),
            other => Err(Failure::Rcode(other)),
        }
    }
}

fn be16(msg: &[u8], at: usize) -> Result<u16, &'static str> {
    match msg.get(at..at + 2) {
        Some(&[hi, lo]) => Ok(u16::from_be_bytes([hi, lo])),
        _ => Err("message cut short"),
    }
}

/// Reads `msg` as the reply to query `id` for `qname`/`qtype`. `Ok(None)`: not a reply to that
/// query (another id, not a response, another question), to be ignored. `Err`: the reply to
/// it, but unreadable.
fn parse_reply(
    msg: &[u8],
    id: u16,
    qname: &str,
    qtype: u16,
) -> Result<Option<Reply>, &'static str> {
    if msg.len() < 12 {
        return Err("shorter than a DNS header");
    }
    let flags = be16(msg, 2)?;
    if be16(msg, 0)? != id || flags & FLAG_QR == 0 {
        return Ok(None);
    }
    let truncated = flags & FLAG_TC != 0;
    // Cannot truncate: masked to 4 bits.
    let rcode = (flags & 0x000F) as u8;
    let (qdcount, ancount) = (be16(msg, 4)?, be16(msg, 6)?);
    if qdcount == 0 {
        // Some servers leave the question out of an error reply. An error only sends us to the
        // next server, so it is taken; a NOERROR or NXDOMAIN must show what it answers.
        return Ok(match rcode {
            RCODE_NOERROR | RCODE_NXDOMAIN => None,
            _ => Some(Reply {
                truncated,
                rcode,
                addrs: Vec::new(),
            }),
        });
    }
    if qdcount != 1 {
        return Ok(None);
    }
    let (name, mut pos) = read_name(msg, 12)?;
    let (rtype, rclass) = (be16(msg, pos)?, be16(msg, pos + 2)?);
    pos += 4;
    let qname = qname.to_ascii_lowercase();
    if name != qname || rtype != qtype || rclass != CLASS_IN {
        return Ok(None);
    }
    if truncated || rcode != RCODE_NOERROR {
        return Ok(Some(Reply {
            truncated,
            rcode,
            addrs: Vec::new(),
        }));
    }

    let mut cnames: Vec<(String, String)> = Vec::new();
    let mut records: Vec<(String, IpAddr)> = Vec::new();
    for _ in 0..ancount {
        let (owner, at) = read_name(msg, pos)?;
        let rtype = be16(msg, at)?;
        let rclass = be16(msg, at + 2)?;
        let rdlength = usize::from(be16(msg, at + 8)?);
        let start = at + 10;
        let rdata = msg
            .get(start..start + rdlength)
            .ok_or("record data past the end")?;
        pos = start + rdlength;
        if rclass != CLASS_IN {
            continue;
        }
        match rtype {
            TYPE_A if rtype == qtype => {
                let octets: [u8; 4] = rdata.try_into().map_err(|_| "A record not 4 bytes")?;
                records.push((owner, IpAddr::from(octets)));
            }
            TYPE_AAAA if rtype == qtype => {
                let octets: [u8; 16] = rdata.try_into().map_err(|_| "AAAA record not 16 bytes")?;
                records.push((owner, IpAddr::from(octets)));
            }
            TYPE_CNAME => {
                let (target, end) = read_name(msg, start)?;
                if end != pos {
                    return Err("CNAME data length does not match its name");
                }
                cnames.push((owner, target));
            }
            _ => {}
        }
    }

    // Follow the chain from the query name; a loop is a broken answer.
    let mut end = qname.clone();
    let mut hops = 0;
    while let Some((_, target)) = cnames.iter().find(|(owner, _)| *owner == end) {
        hops += 1;
        if hops > MAX_CNAME_HOPS {
            return Err("CNAME chain too long or looping");
        }
        end = target.clone();
    }
    let addrs = records
        .into_iter()
        .filter(|(owner, _)| *owner == qname || *owner == end)
        .map(|(_, ip)| ip)
        .collect();
    Ok(Some(Reply {
        truncated,
        rcode,
        addrs,
    }))
}

/// Reads a possibly compressed name at `pos`: the name in lower case without trailing dot, and
/// where the record goes on. Bytes outside printable ASCII, dots and backslashes inside a label
/// come out as `\DDD`, so such a name never equals one we asked for. Out-of-bounds reads,
/// pointer loops and names over 255 bytes are errors.
fn read_name(msg: &[u8], mut pos: usize) -> Result<(String, usize), &'static str> {
    let mut name = String::new();
    let mut wire_len = 0;
    let mut after: Option<usize> = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(pos).ok_or("name past the end")?;
        match len & 0xC0 {
            0x00 if len == 0 => {
                pos += 1;
                break;
            }
            0x00 => {
                let len = usize::from(len);
                let label = msg.get(pos + 1..pos + 1 + len).ok_or("name past the end")?;
                wire_len += len + 1;
                if wire_len > 255 {
                    return Err("name longer than 255 bytes");
                }
                if !name.is_empty() {
                    name.push('.');
                }
                for &b in label {
                    if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                        name.push(char::from(b.to_ascii_lowercase()));
                    } else {
                        name.push_str(&format!("\\{b:03}"));
                    }
                }
                pos += 1 + len;
            }
            0xC0 => {
                let low = *msg.get(pos + 1).ok_or("name past the end")?;
                after.get_or_insert(pos + 2);
                jumps += 1;
                if jumps > MAX_POINTER_JUMPS {
                    return Err("compression pointers loop");
                }
                pos = (usize::from(len & 0x3F) << 8) | usize::from(low);
            }
            _ => return Err("unknown label type"),
        }
    }
    Ok((name, after.unwrap_or(pos)))
}

/// `10.0.0.1`, `::1` or `[::1]`.
fn ip_literal(name: &str) -> Option<IpAddr> {
    if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    name.parse().ok()
}

/// Whether `name` (no trailing dot) can go into a query: 1–63-byte labels, 253 bytes in all,
/// printable ASCII without backslash (so a name never needs escaping).
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name.len() > 253 {
        return Err("longer than 253 bytes");
    }
    if !name.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
        return Err("a character that is not printable ASCII");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("an empty label");
        }
        if label.len() > 63 {
            return Err("a label longer than 63 bytes");
        }
    }
    Ok(())
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
    use super::*;
    use std::net::{TcpListener, UdpSocket as StdUdpSocket};
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};
    use std::thread;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn conf(servers: &[SocketAddr], search: &[&str], timeout_ms: u64, attempts: u8) -> ResolvConf {
        ResolvConf {
            nameservers: servers.to_vec(),
            search: search.iter().map(|s| s.to_string()).collect(),
            ndots: 1,
            timeout: Duration::from_millis(timeout_ms),
            attempts,
            rotate: false,
        }
    }

    fn resolver(
        servers: &[SocketAddr],
        search: &[&str],
        timeout_ms: u64,
        attempts: u8,
    ) -> Resolver {
        Resolver::new(
            conf(servers, search, timeout_ms, attempts),
            HostsFile::default(),
        )
    }

    /// A local port with nothing listening on it (bound, then released).
    fn closed_port() -> SocketAddr {
        let socket = StdUdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.local_addr().expect("local addr")
    }

    // ---- A fake DNS server: UDP and TCP on the same 127.0.0.1 port, answering from a table ----

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Mode {
        Answer,
        ServFail,
        Silent,
        /// UDP replies carry TC and no records; TCP answers in full.
        TruncateUdp,
        /// First a reply with another id (and decoy addresses), then the real one.
        WrongIdFirst,
        /// First a reply with the right id to another question, then the real one.
        WrongQuestionFirst,
        /// First the decoy from another socket (another source port), then the real one.
        ForeignSourceFirst,
        /// NOERROR whose answer's owner name is a compression pointer to itself.
        PointerLoop,
        /// Answers A, never AAAA (as some middleboxes do).
        DropAaaa,
    }

    #[derive(Clone, Copy, Debug)]
    enum Rec {
        A(Ipv4Addr),
        Aaaa(Ipv6Addr),
        Cname(&'static str),
        /// A record of another type: makes the name exist without addresses (NODATA).
        Txt,
    }

    const DECOY_V4: Ipv4Addr = Ipv4Addr::new(6, 6, 6, 6);
    const DECOY_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 6);

    #[derive(Clone, Debug, PartialEq)]
    struct Seen {
        proto: &'static str,
        name: String,
        qtype: u16,
        rd: bool,
    }

    struct Fake {
        addr: SocketAddr,
        seen: Arc<Mutex<Vec<Seen>>>,
        stop: Arc<AtomicBool>,
        threads: Vec<thread::JoinHandle<()>>,
    }

    type Table = Arc<Vec<(&'static str, Rec)>>;

    impl Fake {
        fn start(mode: Mode, table: &[(&'static str, Rec)]) -> Fake {
            let (udp, tcp) = (0..20)
                .find_map(|_| {
                    let udp = StdUdpSocket::bind("127.0.0.1:0").ok()?;
                    let tcp = TcpListener::bind(udp.local_addr().ok()?).ok()?;
                    Some((udp, tcp))
                })
                .expect("a UDP and TCP port pair");
            let addr = udp.local_addr().expect("local addr");
            udp.set_read_timeout(Some(Duration::from_millis(10)))
                .expect("read timeout");
            tcp.set_nonblocking(true).expect("nonblocking");
            let seen = Arc::new(Mutex::new(Vec::new()));
            let stop = Arc::new(AtomicBool::new(false));
            let table: Table = Arc::new(table.to_vec());
            let udp_thread = {
                let (seen, stop, table) = (seen.clone(), stop.clone(), table.clone());
                thread::spawn(move || serve_udp(udp, mode, &table, &seen, &stop))
            };
            let tcp_thread = {
                let (seen, stop, table) = (seen.clone(), stop.clone(), table.clone());
                thread::spawn(move || serve_tcp(tcp, mode, &table, &seen, &stop))
            };
            Fake {
                addr,
                seen,
                stop,
                threads: vec![udp_thread, tcp_thread],
            }
        }

        fn seen(&self) -> Vec<Seen> {
            self.seen.lock().expect("lock").clone()
        }

        fn names(&self) -> Vec<String> {
            self.seen().into_iter().map(|s| s.name).collect()
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
        }
    }

    fn serve_udp(
        socket: StdUdpSocket,
        mode: Mode,
        table: &Table,
        seen: &Mutex<Vec<Seen>>,
        stop: &AtomicBool,
    ) {
        let mut buf = [0u8; 512];
        while !stop.load(Ordering::SeqCst) {
            let Ok((len, client)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let Some((id, rd, name, qtype)) = parse_query(&buf[..len]) else {
                continue;
            };
            seen.lock().expect("lock").push(Seen {
                proto: "udp",
                name: name.clone(),
                qtype,
                rd,
            });
            let decoys = decoys(qtype, &name);
            match mode {
                Mode::Silent => continue,
                Mode::DropAaaa if qtype == TYPE_AAAA => continue,
                Mode::WrongIdFirst => {
                    let decoy = message(id.wrapping_add(1), &name, qtype, 0, false, &decoys);
                    let _ = socket.send_to(&decoy, client);
                }
                Mode::WrongQuestionFirst => {
                    let decoy = message(id, "decoy.test", qtype, 0, false, &decoys);
                    let _ = socket.send_to(&decoy, client);
                }
                Mode::ForeignSourceFirst => {
                    let other = StdUdpSocket::bind("127.0.0.1:0").expect("bind");
                    let _ = other.send_to(&message(id, &name, qtype, 0, false, &decoys), client);
                }
                _ => {}
            }
            let reply = match mode {
                Mode::TruncateUdp => message(id, &name, qtype, 0, true, &[]),
                _ => reply_for(mode, table, id, &name, qtype),
            };
            let _ = socket.send_to(&reply, client);
        }
    }

    fn serve_tcp(
        listener: TcpListener,
        mode: Mode,
        table: &Table,
        seen: &Mutex<Vec<Seen>>,
        stop: &AtomicBool,
    ) {
        use std::io::{Read, Write};
        while !stop.load(Ordering::SeqCst) {
            let Ok((mut stream, _)) = listener.accept() else {
                thread::sleep(Duration::from_millis(5));
                continue;
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut prefix = [0u8; 2];
            if stream.read_exact(&mut prefix).is_err() {
                continue;
            }
            let mut query = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
            if stream.read_exact(&mut query).is_err() {
                continue;
            }
            let Some((id, rd, name, qtype)) = parse_query(&query) else {
                continue;
            };
            seen.lock().expect("lock").push(Seen {
                proto: "tcp",
                name: name.clone(),
                qtype,
                rd,
            });
            if mode == Mode::Silent {
                continue;
            }
            let reply = reply_for(mode, table, id, &name, qtype);
            let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            let _ = stream.write_all(&framed);
        }
    }

    fn decoys(qtype: u16, name: &str) -> Vec<(String, Rec)> {
        let rec = if qtype == TYPE_AAAA {
            Rec::Aaaa(DECOY_V6)
        } else {
            Rec::A(DECOY_V4)
        };
        vec![(name.to_string(), rec)]
    }

    /// The fake's own reading of a query: id, RD, name (uncompressed, as sent), type.
    fn parse_query(msg: &[u8]) -> Option<(u16, bool, String, u16)> {
        let id = u16::from_be_bytes([msg[0], msg[1]]);
        let rd = msg.get(2)? & 0x01 != 0;
        let mut pos = 12;
        let mut labels = Vec::new();
        loop {
            let len = usize::from(*msg.get(pos)?);
            if len == 0 {
                break;
            }
            labels.push(String::from_utf8(msg.get(pos + 1..pos + 1 + len)?.to_vec()).ok()?);
            pos += 1 + len;
        }
        let qtype = u16::from_be_bytes([*msg.get(pos + 1)?, *msg.get(pos + 2)?]);
        Some((id, rd, labels.join("."), qtype))
    }

    /// What a recursive server would answer from `table`: CNAMEs from the name on, then the
    /// records of the asked type at the end of the chain; NXDOMAIN for a name not in the table.
    fn reply_for(mode: Mode, table: &Table, id: u16, qname: &str, qtype: u16) -> Vec<u8> {
        match mode {
            Mode::ServFail => return message(id, qname, qtype, RCODE_SERVFAIL, false, &[]),
            Mode::PointerLoop => {
                let mut msg = message(id, qname, qtype, 0, false, &[]);
                msg[7] = 1; // one answer
                let here = msg.len();
                msg.extend_from_slice(&[0xC0 | (here >> 8) as u8, here as u8]);
                msg.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
                return msg;
            }
            _ => {}
        }
        let is = |n: &str, m: &str| n.eq_ignore_ascii_case(m);
        if !table.iter().any(|(n, _)| is(n, qname)) {
            return message(id, qname, qtype, RCODE_NXDOMAIN, false, &[]);
        }
        let mut answers = Vec::new();
        let mut name = qname.to_string();
        while let Some((_, Rec::Cname(target))) = table
            .iter()
            .find(|(n, r)| is(n, &name) && matches!(r, Rec::Cname(_)))
        {
            answers.push((name.clone(), Rec::Cname(target)));
            name = target.to_string();
        }
        for (n, rec) in table.iter() {
            let wanted = match rec {
                Rec::A(_) => qtype == TYPE_A,
                Rec::Aaaa(_) => qtype == TYPE_AAAA,
                _ => false,
            };
            if wanted && is(n, &name) {
                answers.push((name.clone(), *rec));
            }
        }
        message(id, qname, qtype, RCODE_NOERROR, false, &answers)
    }

    /// A reply message, compressed as servers do: an owner name already written (the question,
    /// a CNAME target) becomes a pointer to it.
    fn message(
        id: u16,
        qname: &str,
        qtype: u16,
        rcode: u8,
        tc: bool,
        answers: &[(String, Rec)],
    ) -> Vec<u8> {
        let flags = FLAG_QR | FLAG_RD | 0x0080 | if tc { FLAG_TC } else { 0 } | u16::from(rcode);
        let mut msg = id.to_be_bytes().to_vec();
        msg.extend_from_slice(&flags.to_be_bytes());
        msg.extend_from_slice(&[0, 1]);
        msg.extend_from_slice(&(answers.len() as u16).to_be_bytes());
        msg.extend_from_slice(&[0, 0, 0, 0]);
        let mut written: Vec<(String, usize)> = Vec::new();
        let put_name = |msg: &mut Vec<u8>, name: &str, written: &mut Vec<(String, usize)>| {
            if let Some((_, at)) = written.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                msg.extend_from_slice(&[0xC0 | (*at >> 8) as u8, *at as u8]);
                return;
            }
            written.push((name.to_string(), msg.len()));
            for label in name.split('.') {
                msg.push(label.len() as u8);
                msg.extend_from_slice(label.as_bytes());
            }
            msg.push(0);
        };
        put_name(&mut msg, qname, &mut written);
        msg.extend_from_slice(&qtype.to_be_bytes());
        msg.extend_from_slice(&CLASS_IN.to_be_bytes());
        for (owner, rec) in answers {
            put_name(&mut msg, owner, &mut written);
            let rtype = match rec {
                Rec::A(_) => TYPE_A,
                Rec::Aaaa(_) => TYPE_AAAA,
                Rec::Cname(_) => TYPE_CNAME,
                Rec::Txt => 16,
            };
            msg.extend_from_slice(&rtype.to_be_bytes());
            msg.extend_from_slice(&CLASS_IN.to_be_bytes());
            msg.extend_from_slice(&60u32.to_be_bytes());
            let rdlength_at = msg.len();
            msg.extend_from_slice(&[0, 0]);
            match rec {
                Rec::A(ip) => msg.extend_from_slice(&ip.octets()),
                Rec::Aaaa(ip) => msg.extend_from_slice(&ip.octets()),
                Rec::Cname(target) => put_name(&mut msg, target, &mut written),
                Rec::Txt => msg.extend_from_slice(b"\x02hi"),
            }
            let rdlength = (msg.len() - rdlength_at - 2) as u16;
            msg[rdlength_at..rdlength_at + 2].copy_from_slice(&rdlength.to_be_bytes());
        }
        msg
    }

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
    fn silent_server_times_out_then_the_next_answers() {
        let silent = Fake::start(Mode::Silent, &[]);
        let good = Fake::start(
            Mode::Answer,
            &[("x.test", Rec::A(Ipv4Addr::new(10, 7, 0, 1)))],
        );
        let r = resolver(&[silent.addr, good.addr], &[], 200, 1);
        let started = std::time::Instant::now();
        assert_eq!(block_on(r.lookup("x.test")), Ok(vec![ip("10.7.0.1")]));
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_secs(2),
            "{took:?}"
        );
        assert_eq!(silent.names(), ["x.test", "x.test"]);
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
    fn refused_port_fails_over_without_waiting() {
        let closed = closed_port();
        let good = Fake::start(
            Mode::Answer,
            &[("x.test", Rec::A(Ipv4Addr::new(10, 8, 0, 1)))],
        );
        let r = resolver(&[closed, good.addr], &[], 5000, 1);
        let started = std::time::Instant::now();
        assert_eq!(block_on(r.lookup("x.test")), Ok(vec![ip("10.8.0.1")]));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );

        let r = resolver(&[closed], &[], 5000, 1);
        let err = block_on(r.lookup("x.test")).expect_err("refused");
        assert_eq!(
            err.to_string(),
            format!(
                r#"DNS: no answer for "x.test" from {closed} (connection refused) within 1 attempt(s) of 5s"#
            )
        );
    }

    #[test]
    fn truncated_udp_reply_is_asked_again_over_tcp() {
        let fake = Fake::start(
            Mode::TruncateUdp,
            &[
                ("big.test", Rec::A(Ipv4Addr::new(10, 9, 0, 1))),
                ("big.test", Rec::Aaaa("fd00::9".parse().expect("ip"))),
            ],
        );
        let r = resolver(&[fake.addr], &[], 1000, 1);
        assert_eq!(
            block_on(r.lookup("big.test")),
            Ok(vec![ip("10.9.0.1"), ip("fd00::9")])
        );
        let mut seen: Vec<(&str, u16)> = fake.seen().iter().map(|s| (s.proto, s.qtype)).collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("tcp", TYPE_A),
                ("tcp", TYPE_AAAA),
                ("udp", TYPE_A),
                ("udp", TYPE_AAAA)
            ]
        );
    }

    #[test]
    fn stray_replies_are_ignored_and_the_real_one_taken() {
        for mode in [
            Mode::WrongIdFirst,
            Mode::WrongQuestionFirst,
            Mode::ForeignSourceFirst,
        ] {
            let fake = Fake::start(
                mode,
                &[
                    ("x.test", Rec::A(Ipv4Addr::new(10, 10, 0, 1))),
                    ("x.test", Rec::Aaaa("fd00::10".parse().expect("ip"))),
                ],
            );
            let r = resolver(&[fake.addr], &[], 1000, 1);
            assert_eq!(
                block_on(r.lookup("x.test")),
                Ok(vec![ip("10.10.0.1"), ip("fd00::10")]),
                "{mode:?}"
            );
        }
    }

    #[test]
    fn malformed_reply_fails_that_server_only() {
        let bad = Fake::start(Mode::PointerLoop, &[]);
        let good = Fake::start(
            Mode::Answer,
            &[("x.test", Rec::A(Ipv4Addr::new(10, 11, 0, 1)))],
        );
        let r = resolver(&[bad.addr, good.addr], &[], 300, 1);
        assert_eq!(block_on(r.lookup("x.test")), Ok(vec![ip("10.11.0.1")]));
        let r = resolver(&[bad.addr], &[], 300, 1);
        let err = block_on(r.lookup("x.test")).expect_err("malformed");
        assert_eq!(
            err.to_string(),
            format!(
                r#"DNS: no answer for "x.test" from {} (malformed reply: compression pointers loop) within 1 attempt(s) of 300ms"#,
                bad.addr
            )
        );
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

    // ---- the parser on hand-made messages ----

    #[test]
    fn parser_keeps_only_the_chain_and_the_asked_type() {
        let answers = [
            ("www.test".to_string(), Rec::Cname("cdn.test")),
            ("cdn.test".to_string(), Rec::A(Ipv4Addr::new(10, 13, 0, 1))),
            (
                "cdn.test".to_string(),
                Rec::Aaaa("fd00::13".parse().expect("ip")),
            ),
            ("evil.test".to_string(), Rec::A(DECOY_V4)),
        ];
        let msg = message(7, "WWW.test", TYPE_A, 0, false, &answers);
        let reply = parse_reply(&msg, 7, "www.TEST", TYPE_A)
            .expect("parses")
            .expect("ours");
        assert_eq!(reply.addrs, vec![ip("10.13.0.1")]);
        // Another id, another type, or a query rather than a reply: not ours.
        assert_eq!(parse_reply(&msg, 8, "www.test", TYPE_A), Ok(None));
        assert_eq!(parse_reply(&msg, 7, "www.test", TYPE_AAAA), Ok(None));
        assert_eq!(parse_reply(&msg, 7, "ww.test", TYPE_A), Ok(None));
        let mut query = msg.clone();
        query[2] &= 0x7F;
        assert_eq!(parse_reply(&query, 7, "www.test", TYPE_A), Ok(None));
        // An error reply without its question is taken; a NOERROR one is not.
        let mut bare = build_query(7, "x.test", TYPE_A)[..12].to_vec();
        bare[2] = 0x81;
        bare[3] = 0x85;
        bare[5] = 0;
        assert_eq!(
            parse_reply(&bare, 7, "x.test", TYPE_A)
                .expect("ok")
                .map(|r| r.rcode),
            Some(RCODE_REFUSED)
        );
        bare[3] = 0x80;
        assert_eq!(parse_reply(&bare, 7, "x.test", TYPE_A), Ok(None));
    }

    #[test]
    fn parser_rejects_broken_messages() {
        let good = message(
            7,
            "x.test",
            TYPE_A,
            0,
            false,
            &[("x.test".into(), Rec::A(Ipv4Addr::new(10, 0, 0, 1)))],
        );
        assert_eq!(
            parse_reply(&good[..11], 7, "x.test", TYPE_A),
            Err("shorter than a DNS header")
        );
        assert_eq!(
            parse_reply(&good[..good.len() - 1], 7, "x.test", TYPE_A),
            Err("record data past the end")
        );
        assert_eq!(
            parse_reply(&good[..19], 7, "x.test", TYPE_A),
            Err("name past the end")
        );
        // Answer owner pointing past the end.
        let mut far = good.clone();
        let owner = 12 + 8 + 4;
        far[owner..owner + 2].copy_from_slice(&[0xC0, 0xFF]);
        assert_eq!(
            parse_reply(&far, 7, "x.test", TYPE_A),
            Err("name past the end")
        );
        // Extended label type.
        let mut ext = good.clone();
        ext[owner] = 0x40;
        assert_eq!(
            parse_reply(&ext, 7, "x.test", TYPE_A),
            Err("unknown label type")
        );
        // An A record of 3 bytes.
        let mut short = good.clone();
        let rdlength = short.len() - 6;
        short[rdlength + 1] = 3;
        short.pop();
        assert_eq!(
            parse_reply(&short, 7, "x.test", TYPE_A),
            Err("A record not 4 bytes")
        );
        // A CNAME loop inside the answer.
        let looping = message(
            7,
            "x.test",
            TYPE_A,
            0,
            false,
            &[
                ("x.test".into(), Rec::Cname("y.test")),
                ("y.test".into(), Rec::Cname("x.test")),
            ],
        );
        assert_eq!(
            parse_reply(&looping, 7, "x.test", TYPE_A),
            Err("CNAME chain too long or looping")
        );
    }

    #[test]
    fn names_read_with_compression_and_escapes() {
        // "a.b" at 0, then "c" + pointer to 0 at 5, then a pointer to 5 at 9.
        let msg = [
            1, b'a', 1, b'B', 0, 1, b'c', 0xC0, 0, 0xC0, 5, 3, b'x', b'.', 0xFF, 0,
        ];
        assert_eq!(read_name(&msg, 0), Ok(("a.b".to_string(), 5)));
        assert_eq!(read_name(&msg, 5), Ok(("c.a.b".to_string(), 9)));
        assert_eq!(read_name(&msg, 9), Ok(("c.a.b".to_string(), 11)));
        assert_eq!(read_name(&msg, 11), Ok((r"x\046\255".to_string(), 16)));
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(0);
        assert_eq!(read_name(&long, 0), Err("name longer than 255 bytes"));
        assert_eq!(read_name(&[0xC0, 0], 0), Err("compression pointers loop"));
    }

    #[test]
    fn queries_ask_for_recursion_and_ids_vary() {
        let q = build_query(0xABCD, "Www.Example.com", TYPE_AAAA);
        let mut expected = vec![0xAB, 0xCD, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        expected.extend_from_slice(b"\x03Www\x07Example\x03com\x00\x00\x1c\x00\x01");
        assert_eq!(q, expected);
        let ids: Vec<u16> = (0..16).map(|_| random_id()).collect();
        assert!(ids.iter().any(|&id| id != ids[0]), "{ids:?}");
        let distinct = distinct_ids(2);
        assert_ne!(distinct[0], distinct[1]);
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
