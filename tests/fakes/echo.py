"""A fake that answers every request with its own path as JSON (for the support self-test)."""

from fakehttp import json_reply, serve


def route(req):
    return json_reply(200, {"path": req.path, "host": req.headers.get("host")})


if __name__ == "__main__":
    serve(route)
