//! The DNS message format (RFC 1035), as much as an A/AAAA stub resolver needs: queries out,
//! replies in, compressed names, unguessable query ids. Plain functions on bytes, with no
//! socket in sight, so the parser is tested on hand-made messages.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// CNAME hops followed inside one answer; real chains have two or three.
const MAX_CNAME_HOPS: usize = 16;
/// Compression pointers followed while reading one name: a loop fails instead of spinning.
const MAX_POINTER_JUMPS: usize = 64;

pub(super) const TYPE_A: u16 = 1;
pub(super) const TYPE_CNAME: u16 = 5;
pub(super) const TYPE_AAAA: u16 = 28;
pub(super) const CLASS_IN: u16 = 1;

pub(super) const RCODE_NOERROR: u8 = 0;
pub(super) const RCODE_SERVFAIL: u8 = 2;
pub(super) const RCODE_NXDOMAIN: u8 = 3;
pub(super) const RCODE_REFUSED: u8 = 5;

pub(super) const FLAG_QR: u16 = 0x8000;
pub(super) const FLAG_TC: u16 = 0x0200;
pub(super) const FLAG_RD: u16 = 0x0100;

/// A query id that an off-path attacker cannot guess: SipHash of a counter under
/// `RandomState`'s keys, which come from the OS's randomness.
pub(super) fn random_id() -> u16 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Truncation is the point: any 16 bits of the hash are as random as the others.
    RandomState::new().hash_one(n) as u16
}

/// `n` random ids, all different, so replies on one socket map to one query each.
pub(super) fn distinct_ids(n: usize) -> Vec<u16> {
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
pub(super) fn build_query(id: u16, qname: &str, qtype: u16) -> Vec<u8> {
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
pub(super) struct Reply {
    pub(super) truncated: bool,
    pub(super) rcode: u8,
    /// Addresses of the query's type owned by the query name or the end of its CNAME chain.
    pub(super) addrs: Vec<IpAddr>,
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
pub(super) fn parse_reply(
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

/// Whether `name` (no trailing dot) can go into a query: 1–63-byte labels, 253 bytes in all,
/// printable ASCII without backslash (so a name never needs escaping).
pub(super) fn check_name(name: &str) -> Result<(), &'static str> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolver::test_server::{ip, message, Rec, DECOY_V4};
    use std::net::Ipv4Addr;

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
}

/// Properties of the parser on generated messages: every reply the resolver can be sent, valid
/// or not, is read without panicking, and a well-formed one reads back exactly.
#[cfg(test)]
mod properties {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;
    use proptest::test_runner::Config;

    use super::*;
    use crate::resolver::test_server::{message, Rec};

    fn config(cases: u32) -> Config {
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        }
    }

    /// A name `check_name` accepts: 1-4 labels of printable ASCII without `.` and `\`.
    fn name() -> impl Strategy<Value = String> {
        prop::collection::vec("[!-\\-/-\\[\\]-~]{1,12}", 1..5).prop_map(|l| l.join("."))
    }

    /// An answer record: owned by the query name (`true`) or another one, of type A or AAAA.
    fn answer() -> impl Strategy<Value = (bool, Rec)> {
        (
            any::<bool>(),
            prop_oneof![
                any::<[u8; 4]>().prop_map(|o| Rec::A(Ipv4Addr::from(o))),
                any::<[u8; 16]>().prop_map(|o| Rec::Aaaa(Ipv6Addr::from(o))),
            ],
        )
    }

    proptest! {
        #![proptest_config(config(1024))]

        #[test]
        fn any_bytes_are_read_without_panic(
            mut msg in prop::collection::vec(any::<u8>(), 0..300),
            id in any::<u16>(),
            ipv6 in any::<bool>(),
        ) {
            let qtype = if ipv6 { TYPE_AAAA } else { TYPE_A };
            let _ = parse_reply(&msg, id, "x.test", qtype);
            for pos in 0..msg.len().min(24) {
                let _ = read_name(&msg, pos);
            }
            // The same bytes as a response to this query, so the parser reads on.
            if msg.len() >= 12 {
                msg[..2].copy_from_slice(&id.to_be_bytes());
                msg[2] |= 0x80;
                msg[3] &= 0xF0;
                let _ = parse_reply(&msg, id, "x.test", qtype);
            }
        }

        #[test]
        fn a_reply_reads_back_and_any_corruption_of_it_is_survived(
            qname in name(),
            other in name(),
            answers in prop::collection::vec(answer(), 0..6),
            ipv6 in any::<bool>(),
            id in any::<u16>(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
        ) {
            prop_assume!(!qname.eq_ignore_ascii_case(&other));
            let qtype = if ipv6 { TYPE_AAAA } else { TYPE_A };
            let records: Vec<(String, Rec)> = answers
                .iter()
                .map(|(own, rec)| (if *own { qname.to_ascii_uppercase() } else { other.clone() }, *rec))
                .collect();
            let msg = message(id, &qname, qtype, RCODE_NOERROR, false, &records);
            let want: Vec<IpAddr> = answers
                .iter()
                .filter(|(own, _)| *own)
                .filter_map(|(_, rec)| match rec {
                    Rec::A(ip) if !ipv6 => Some(IpAddr::from(*ip)),
                    Rec::Aaaa(ip) if ipv6 => Some(IpAddr::from(*ip)),
                    _ => None,
                })
                .collect();
            let reply = parse_reply(&msg, id, &qname, qtype);
            prop_assert_eq!(
                reply,
                Ok(Some(Reply { truncated: false, rcode: RCODE_NOERROR, addrs: want }))
            );
            let mut broken = msg.clone();
            for (at, byte) in &flips {
                let i = at.index(broken.len());
                broken[i] = *byte;
            }
            let _ = parse_reply(&broken, id, &qname, qtype);
            let _ = parse_reply(&msg[..cut.index(msg.len())], id, &qname, qtype);
        }

        #[test]
        fn a_query_name_reads_back_lower_case(name in name(), id in any::<u16>()) {
            prop_assert_eq!(check_name(&name), Ok(()));
            let query = build_query(id, &name, TYPE_A);
            prop_assert_eq!(read_name(&query, 12), Ok((name.to_ascii_lowercase(), query.len() - 4)));
        }
    }
}
