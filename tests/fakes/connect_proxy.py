"""An HTTPS proxy of the kind nodes sit behind: it answers CONNECT only, and relays the TLS
bytes to the requested host and port (without reading them).

Every CONNECT is logged (fakehttp), with its target in `path` and its headers, so a test can
see which calls took the proxy and that the proxy's own credentials (`Proxy-Authorization`)
were sent. With the `require_auth=USER:PASSWORD` option a CONNECT without those Basic
credentials gets 407, as an authenticating proxy answers.
"""

import base64

from fakehttp import Tunnel, json_reply, serve


def route(req):
    if req.method != "CONNECT":
        return json_reply(405, {"error": "this proxy only tunnels (CONNECT)"})
    wanted = serve.options.get("require_auth")
    if wanted:
        expected = "Basic " + base64.b64encode(wanted.encode()).decode()
        if req.headers.get("proxy-authorization") != expected:
            return 407, {"Proxy-Authenticate": 'Basic realm="proxy"'}, b""
    host, _, port = req.path.rpartition(":")
    return Tunnel((host.strip("[]"), int(port)))


if __name__ == "__main__":
    serve(route)
