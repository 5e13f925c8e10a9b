"""Shared plumbing for the local fakes of cloud endpoints used by the integration tests.

A fake is a function `route(req) -> (status, headers, body)`; `serve()` runs it as an HTTP or
HTTPS server (certificate from a throwaway CA, see make_certs.py) and appends every request it
received to a JSON-lines log, so a Rust test can assert exactly what the binary sent (form
fields, headers, paths). Fakes speak the real wire formats; nothing in the binary knows them.
"""

import argparse
import json
import select
import socket
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Request:
    """One received request, decoded the ways token endpoints use."""

    def __init__(self, method, target, headers, body):
        parsed = urllib.parse.urlsplit(target)
        self.method = method
        # CONNECT's target is `host:port` (authority form), not a path.
        self.path = target if method == "CONNECT" else parsed.path
        self.query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body.decode("utf-8", "replace")
        ctype = self.headers.get("content-type", "")
        self.form = (
            dict(urllib.parse.parse_qsl(self.body, keep_blank_values=True))
            if "application/x-www-form-urlencoded" in ctype
            else {}
        )
        try:
            self.json = json.loads(self.body) if "json" in ctype and self.body else None
        except ValueError:
            self.json = None

    def record(self):
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
            "form": self.form,
            "json": self.json,
        }


class Tunnel:
    """A route's answer to CONNECT: 200, then bytes relayed both ways to `address` (host, port)
    until either side closes, as an HTTPS proxy does."""

    def __init__(self, address):
        self.address = address


def relay(client, address):
    """Copies bytes between `client` and a new connection to `address` until one side closes."""
    with socket.create_connection(address, timeout=10) as upstream:
        upstream.settimeout(None)
        peers = {client: upstream, upstream: client}
        while True:
            readable, _, _ = select.select(list(peers), [], [], 60)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                peers[sock].sendall(data)


def json_reply(status, obj, headers=None):
    """A JSON response triple."""
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return status, h, json.dumps(obj).encode()


def serve(route, default_port=80):
    """Parses the common command line and serves `route` until killed.

    --bind ADDR (repeatable), --port N, --cert/--key for TLS, --log FILE (JSON lines),
    --ready FILE (written once listening), plus fake-specific options which `route` reads
    from the returned namespace via `serve.options`.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", action="append", default=[])
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--log")
    parser.add_argument("--ready")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE for the fake")
    args = parser.parse_args()
    serve.options = dict(kv.split("=", 1) for kv in args.set)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in one write at the end of each request (buffered wfile),
        # with Nagle off: separate small writes on a kept-alive connection would otherwise
        # meet the client's delayed ACK and stall every second response by ~40 ms.
        wbufsize = -1
        disable_nagle_algorithm = True

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = Request(self.command, self.path, self.headers, body)
            if args.log:
                with lock, open(args.log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(req.record()) + "\n")
            outcome = route(req)
            if outcome is None:  # hang: keep the connection open, never answer
                threading.Event().wait()
                return
            if isinstance(outcome, Tunnel):
                self.send_response(200)
                self.end_headers()
                self.wfile.flush()
                try:
                    relay(self.connection, outcome.address)
                except OSError:
                    pass
                self.close_connection = True
                return
            status, headers, payload = outcome
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_CONNECT = _handle

        def log_message(self, *_):
            pass

    servers = []
    for addr in args.bind or ["127.0.0.1"]:
        server = ThreadingHTTPServer((addr, args.port), Handler)
        server.daemon_threads = True
        if args.cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(args.cert, args.key)
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        servers.append(server)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    if args.ready:
        with open(args.ready, "w", encoding="utf-8") as f:
            f.write(str(servers[0].server_address[1]))
    sys.stdout.flush()
    servers[0].serve_forever()
