#!/usr/bin/env python3
"""A fake of the two ECR token APIs, for what moto cannot do.

moto has no ECR Public (it answers HTTP 500) and its private-ECR tokens always expire in 2015.
This fake speaks AWS JSON 1.1 on 127.0.0.1 and answers

  X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken  (private ECR)
  X-Amz-Target: SpencerFrontendService.GetAuthorizationToken                  (ECR Public)

with the token base64("AWS:" + $ECR_FAKE_PASSWORD), expiring $ECR_FAKE_EXPIRES_IN seconds from
the moment of the request. Signatures are not checked (neither does moto). Any other target gets
the JSON 1.1 error UnknownOperationException.

With ECR_FAKE_RATE (calls per second) and ECR_FAKE_BURST set, it throttles as the real API does
(a token bucket: 20/s and a burst of 200 per account and region for GetAuthorizationToken):
a call finding the bucket empty gets HTTP 400 `ThrottlingException`. GET /stats answers
{"calls": n, "throttled": m} so a test can count what the clients sent.

The password comes from the environment, not the command line, so it never shows in `ps`.
It prints "PORT <n>" on stdout once listening, and exits when stdin reaches end of file, so it
never outlives the test process that started it (even one that crashed).
"""

import base64
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PRIVATE_TARGET = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
PUBLIC_TARGET = "SpencerFrontendService.GetAuthorizationToken"


def authorization_reply(target, password, expires_in):
    """(status, JSON body) of a GetAuthorizationToken call with X-Amz-Target `target`: the token
    base64("AWS:" + password), expiring `expires_in` seconds from now (also used by aws_fake.py)."""
    token = base64.b64encode(f"AWS:{password}".encode()).decode()
    data = {"authorizationToken": token, "expiresAt": time.time() + expires_in}
    if target == PRIVATE_TARGET:
        data["proxyEndpoint"] = "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"
        return 200, {"authorizationData": [data]}
    if target == PUBLIC_TARGET:
        return 200, {"authorizationData": data}
    return 400, {"__type": "UnknownOperationException", "message": f"unknown target {target!r}"}


class Bucket:
    """A token bucket: `rate` tokens a second, at most `burst` stored; thread-safe."""

    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.tokens, self.at = burst, time.monotonic()
        self.lock = threading.Lock()
        self.calls = self.throttled = 0

    def take(self):
        with self.lock:
            self.calls += 1
            if self.rate is None:
                return True
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            self.throttled += 1
            return False


BUCKET = Bucket(
    float(os.environ["ECR_FAKE_RATE"]) if os.environ.get("ECR_FAKE_RATE") else None,
    float(os.environ.get("ECR_FAKE_BURST", "1")),
)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the tests read stdout for the port
        pass

    def do_GET(self):
        if self.path != "/stats":
            self.reply(404, {"message": "not found"})
            return
        with BUCKET.lock:
            self.reply(200, {"calls": BUCKET.calls, "throttled": BUCKET.throttled})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        target = self.headers.get("X-Amz-Target", "")
        if not BUCKET.take():
            self.reply(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
            return
        self.reply(
            *authorization_reply(
                target,
                os.environ["ECR_FAKE_PASSWORD"],
                float(os.environ.get("ECR_FAKE_EXPIRES_IN", "43200")),
            )
        )

    def reply(self, status, body):
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
        self.end_headers()
        self.wfile.write(payload)


class Server(ThreadingHTTPServer):
    # A node group's burst of connections must not overflow the listen backlog (default 5).
    request_queue_size = 1024


def main():
    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    sys.stdin.read()  # until the test closes our stdin (or exits)
    server.shutdown()


if __name__ == "__main__":
    main()
