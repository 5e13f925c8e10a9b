//! Sending one try to one server: the queries over UDP, a truncated reply asked again over
//! TCP, each within the per-try timeout; and the types that say what the server did. Which
//! server, how many rounds and when a name is settled are the resolver's loop.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

use super::wire::{
    build_query, distinct_ids, parse_reply, random_id, Reply, RCODE_NOERROR, RCODE_NXDOMAIN,
    RCODE_REFUSED, RCODE_SERVFAIL,
};

/// Without EDNS a server sends at most 512 bytes over UDP; 4096 leaves room for servers that
/// send more anyway. A longer datagram is cut by the kernel and then fails to parse.
const UDP_REPLY_MAX: usize = 4096;

/// A conclusive answer for one query type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Answer {
    /// NOERROR: the addresses of the query's type (empty: NODATA).
    Addrs(Vec<IpAddr>),
    NxDomain,
}

/// Why one server gave no conclusive answer for one query type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Failure {
    NoReply,
    ServFail,
    Refused,
    Rcode(u8),
    Malformed(&'static str),
    Io(String),
}

impl Failure {
    /// Whether the server answered (as opposed to never being heard from).
    pub(super) fn is_answer(&self) -> bool {
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

// The wire format only reads a reply's rcode; what it comes to for one try (an answer, or a
// failure that moves on to the next server) is said here, next to `Answer` and `Failure`.
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

/// The outcome of one query over UDP, before a truncated reply is retried over TCP.
enum Outcome {
    Done(Result<Answer, Failure>),
    Truncated,
}

/// One try at `server` for the query types `qtypes` of `qname`: all sent at once over one UDP
/// socket, then one result per type, in the order of `qtypes`. A truncated reply is asked
/// again over TCP with a timeout of its own.
pub(super) async fn exchange(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolver::test_server::{block_on, closed_port, ip, resolver, Fake, Mode, Rec};
    use crate::resolver::wire::{TYPE_A, TYPE_AAAA};

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
}
