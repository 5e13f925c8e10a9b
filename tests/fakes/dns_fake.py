#!/usr/bin/env python3
"""A fake DNS server for the integration tests that run in a private network namespace.

    dns_fake.py --bind ADDR --port N --ready FILE NAME=IP [NAME=IP ...]

Serves UDP and TCP (2-byte length prefix, several queries per connection) on ADDR:N from the
table given on the command line; a NAME given several times has several addresses:

- A / AAAA for a name in the table: its addresses of that family (TTL 60);
- any query for a name in the table with no record of that type: NOERROR, no answer (NODATA);
- any other name: NXDOMAIN;
- a UDP reply over 512 bytes (no EDNS here): TC set and no records, so the client asks over TCP;
- an unreadable query: FORMERR when its id can be read, else nothing; an opcode other than
  QUERY: NOTIMP.

Names match case-insensitively, a trailing dot ignored. Once both sockets listen, the port
(useful with --port 0) is written to FILE through a rename, so a reader never sees it half
written. Every readable query is logged to stdout as one JSON line:
{"proto", "client", "id", "rd", "name", "type", "rcode", "answers", "truncated"}.
Standard library only.
"""

import argparse
import ipaddress
import json
import os
import socket
import struct
import sys
import threading

TYPES = {1: "A", 28: "AAAA", 5: "CNAME", 15: "MX", 16: "TXT", 255: "ANY"}
RCODES = {0: "NOERROR", 1: "FORMERR", 3: "NXDOMAIN", 4: "NOTIMP"}
QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080

log_lock = threading.Lock()


def log(entry):
    with log_lock:
        sys.stdout.write(json.dumps(entry) + "\n")
        sys.stdout.flush()


def parse_table(pairs):
    table = {}
    for pair in pairs:
        name, sep, ip = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"dns_fake: expected NAME=IP, got {pair!r}")
        address = ipaddress.ip_address(ip)
        family = table.setdefault(name.rstrip(".").lower(), {1: [], 28: []})
        family[1 if address.version == 4 else 28].append(address)
    return table


def parse_query(msg):
    """(id, flags, question bytes, name, qtype) or raises ValueError."""
    if len(msg) < 12:
        raise ValueError("short header")
    qid, flags, qdcount = struct.unpack("!HHH", msg[:6])
    if qdcount != 1:
        raise ValueError("not one question")
    pos, labels = 12, []
    while True:
        if pos >= len(msg):
            raise ValueError("name past the end")
        length = msg[pos]
        if length == 0:
            pos += 1
            break
        if length & 0xC0:
            raise ValueError("compressed name in a query")
        labels.append(msg[pos + 1 : pos + 1 + length].decode("ascii", "replace"))
        pos += 1 + length
    if pos + 4 > len(msg):
        raise ValueError("question cut short")
    qtype, _qclass = struct.unpack("!HH", msg[pos : pos + 4])
    return qid, flags, msg[12 : pos + 4], ".".join(labels), qtype


def answer(table, msg, proto, client):
    """The reply bytes for one query message (None: drop it), logging the query."""
    try:
        qid, flags, question, name, qtype = parse_query(msg)
    except ValueError:
        if len(msg) < 2:
            return None
        qid = struct.unpack("!H", msg[:2])[0]
        return struct.pack("!HHHHHH", qid, QR | 1, 0, 0, 0, 0)

    records = []
    if (flags >> 11) & 0xF != 0:
        rcode = 4
    elif name.rstrip(".").lower() not in table:
        rcode = 3
    else:
        rcode = 0
        records = table[name.rstrip(".").lower()].get(qtype, [])
    body = b""
    for address in records:
        rdata = address.packed
        # Owner: a pointer to the question name at offset 12.
        body += struct.pack("!HHHIH", 0xC00C, qtype, 1, 60, len(rdata)) + rdata
    truncated = proto == "udp" and 12 + len(question) + len(body) > 512
    reply_flags = QR | AA | RA | (flags & RD) | rcode | (TC if truncated else 0)
    count = 0 if truncated else len(records)
    reply = struct.pack("!HHHHHH", qid, reply_flags, 1, count, 0, 0) + question
    if not truncated:
        reply += body
    log(
        {
            "proto": proto,
            "client": client,
            "id": qid,
            "rd": bool(flags & RD),
            "name": name,
            "type": TYPES.get(qtype, str(qtype)),
            "rcode": RCODES.get(rcode, str(rcode)),
            "answers": [] if truncated else [str(a) for a in records],
            "truncated": truncated,
        }
    )
    return reply


def peer(client):
    host = client[0]
    return f"[{host}]:{client[1]}" if ":" in host else f"{host}:{client[1]}"


def serve_udp(sock, table):
    while True:
        msg, client = sock.recvfrom(4096)
        reply = answer(table, msg, "udp", peer(client))
        if reply is not None:
            sock.sendto(reply, client)


def read_exactly(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve_tcp_connection(conn, client, table):
    with conn:
        conn.settimeout(10)
        try:
            while True:
                prefix = read_exactly(conn, 2)
                if prefix is None:
                    return
                msg = read_exactly(conn, struct.unpack("!H", prefix)[0])
                if msg is None:
                    return
                reply = answer(table, msg, "tcp", peer(client))
                if reply is None:
                    return
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return


def serve_tcp(listener, table):
    while True:
        conn, client = listener.accept()
        threading.Thread(target=serve_tcp_connection, args=(conn, client, table), daemon=True).start()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", required=True, help="address to listen on (IPv4 or IPv6)")
    parser.add_argument("--port", type=int, required=True, help="port (0: any free one)")
    parser.add_argument("--ready", required=True, help="file that receives the port once listening")
    parser.add_argument("records", nargs="+", metavar="NAME=IP")
    args = parser.parse_args()
    table = parse_table(args.records)

    family = socket.AF_INET6 if ipaddress.ip_address(args.bind).version == 6 else socket.AF_INET
    udp = socket.socket(family, socket.SOCK_DGRAM)
    udp.bind((args.bind, args.port))
    port = udp.getsockname()[1]
    tcp = socket.socket(family, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((args.bind, port))
    tcp.listen(16)

    threading.Thread(target=serve_udp, args=(udp, table), daemon=True).start()
    threading.Thread(target=serve_tcp, args=(tcp, table), daemon=True).start()
    partial = args.ready + ".tmp"
    with open(partial, "w") as f:
        f.write(f"{port}\n")
    os.replace(partial, args.ready)
    threading.Event().wait()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
