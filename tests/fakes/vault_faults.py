"""A Vault address that misbehaves, for the failure paths of the `vault` backend.

--set mode=hang: accepts the connection and never answers; mode=5xx: every request gets
`500 {"errors": ["internal error"]}`; mode=sealed: `503 {"errors": ["Vault is sealed"]}`.
"""

from fakehttp import json_reply, serve


def route(req):
    mode = serve.options.get("mode", "5xx")
    if mode == "hang":
        return None
    if mode == "sealed":
        return json_reply(503, {"errors": ["Vault is sealed"]})
    return json_reply(500, {"errors": ["internal error"]})


if __name__ == "__main__":
    serve(route)
