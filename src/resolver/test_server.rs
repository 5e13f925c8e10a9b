//! The resolver's tests' shared parts: an in-process fake DNS server (UDP and TCP on one
//! 127.0.0.1 port, answering from a table, misbehaving on request) and the shorthands for a
//! resolver pointed at it. Compiled in tests only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::wire::{
    CLASS_IN, FLAG_QR, FLAG_RD, FLAG_TC, RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_SERVFAIL, TYPE_A,
    TYPE_AAAA, TYPE_CNAME,
};
use super::{HostsFile, ResolvConf, Resolver};

pub(super) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

pub(super) fn conf(
    servers: &[SocketAddr],
    search: &[&str],
    timeout_ms: u64,
    attempts: u8,
) -> ResolvConf {
    ResolvConf {
        nameservers: servers.to_vec(),
        search: search.iter().map(|s| s.to_string()).collect(),
        ndots: 1,
        timeout: Duration::from_millis(timeout_ms),
        attempts,
        rotate: false,
    }
}

pub(super) fn resolver(
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
pub(super) fn closed_port() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("local addr")
}

// ---- A fake DNS server: UDP and TCP on the same 127.0.0.1 port, answering from a table ----

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Mode {
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
pub(super) enum Rec {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(&'static str),
    /// A record of another type: makes the name exist without addresses (NODATA).
    Txt,
}

pub(super) const DECOY_V4: Ipv4Addr = Ipv4Addr::new(6, 6, 6, 6);
const DECOY_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 6);

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Seen {
    pub(super) proto: &'static str,
    pub(super) name: String,
    pub(super) qtype: u16,
    pub(super) rd: bool,
}

pub(super) struct Fake {
    pub(super) addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

type Table = Arc<Vec<(&'static str, Rec)>>;

impl Fake {
    pub(super) fn start(mode: Mode, table: &[(&'static str, Rec)]) -> Fake {
        let (udp, tcp) = (0..20)
            .find_map(|_| {
                let udp = UdpSocket::bind("127.0.0.1:0").ok()?;
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

    pub(super) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    pub(super) fn names(&self) -> Vec<String> {
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
    socket: UdpSocket,
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
                let other = UdpSocket::bind("127.0.0.1:0").expect("bind");
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
pub(super) fn message(
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
