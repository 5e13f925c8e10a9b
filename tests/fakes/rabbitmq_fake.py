"""The part of RabbitMQ's management API that OpenBao's `rabbitmq` secrets engine calls.

The engine is a real dynamic secrets engine: each read of `rabbitmq/creds/ROLE` creates a user
with a fresh password here and returns both under a lease; revoking the lease (or the token
that created it) deletes the user. This fake keeps the users in memory and logs every request
(fakehttp), so a test can see which credentials were issued and whether they were revoked.
Basic auth is required with the `user`/`password` options (the engine's connection config).

With the `htpasswd=FILE` option every user is also added to (and on delete removed from) that
htpasswd file, the one a test registry (`docker-registry`, which rereads it) authenticates
against: the engine then issues real registry credentials, which the tests pull with, and
revoking the lease really locks them out.
"""

import base64
import subprocess
import urllib.parse

from fakehttp import json_reply, serve

USERS = {}


def mirror(name, password):
    """Adds (password given) or removes `name` in the `htpasswd` option's file, if set."""
    path = serve.options.get("htpasswd")
    if not path:
        return
    if password is None:
        args, stdin = ["htpasswd", "-D", path, name], b""
    else:
        # -i: the password on stdin, never in the process list.
        args, stdin = ["htpasswd", "-B", "-i", path, name], password.encode()
    subprocess.run(args, input=stdin, check=True, capture_output=True)


def route(req):
    opts = serve.options
    expected = "Basic " + base64.b64encode(
        f"{opts.get('user', 'admin')}:{opts.get('password', '')}".encode()
    ).decode()
    if req.headers.get("authorization") != expected:
        return json_reply(401, {"error": "not_authorised", "reason": "Login failed"})
    parts = [urllib.parse.unquote(p) for p in req.path.split("/") if p]
    if parts == ["api", "users"] and req.method == "GET":
        return json_reply(200, [{"name": name, "tags": []} for name in USERS])
    if parts == ["api", "overview"]:
        return json_reply(200, {"management_version": "3.13.0", "rabbitmq_version": "3.13.0"})
    if len(parts) == 3 and parts[:2] == ["api", "users"]:
        name = parts[2]
        if req.method == "PUT":
            USERS[name] = (req.json or {}).get("password", "")
            mirror(name, USERS[name])
            return 201, {}, b""
        if req.method == "DELETE":
            if USERS.pop(name, None) is None:
                return json_reply(404, {"error": "Object Not Found", "reason": "Not Found"})
            mirror(name, None)
            return 204, {}, b""
        if req.method == "GET" and name in USERS:
            return json_reply(200, {"name": name, "tags": []})
        return json_reply(404, {"error": "Object Not Found", "reason": "Not Found"})
    if len(parts) == 4 and parts[1] in ("permissions", "topic-permissions") and req.method == "PUT":
        return 201, {}, b""
    return json_reply(404, {"error": "Object Not Found", "reason": "Not Found"})


if __name__ == "__main__":
    serve(route)
