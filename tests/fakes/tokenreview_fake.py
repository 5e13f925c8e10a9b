"""The one Kubernetes API call OpenBao's `kubernetes` auth method makes: a TokenReview.

OpenBao posts the login's service-account token to
`/apis/authentication.k8s.io/v1/tokenreviews`; this fake answers as an API server would for a
token it issued: authenticated, as `system:serviceaccount:NS:NAME` from the token's `sub`, when
the token is one of the `--set token=...` values it was given; not authenticated otherwise.
Every request is logged (fakehttp), so a test can see which token was reviewed.
"""

import base64
import json

from fakehttp import json_reply, serve


def claims(jwt):
    try:
        payload = jwt.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


def route(req):
    if req.method != "POST" or req.path != "/apis/authentication.k8s.io/v1/tokenreviews":
        return json_reply(404, {"kind": "Status", "status": "Failure", "code": 404})
    token = ((req.json or {}).get("spec") or {}).get("token", "")
    known = token and token == serve.options.get("token")
    status = {"authenticated": False, "error": "invalid bearer token"}
    if known:
        c = claims(token)
        k8s = c.get("kubernetes.io", {})
        status = {
            "authenticated": True,
            "user": {
                "username": c.get("sub", ""),
                "uid": k8s.get("serviceaccount", {}).get("uid", ""),
                "groups": ["system:serviceaccounts"],
            },
            "audiences": c.get("aud", []),
        }
    return json_reply(201, {
        "kind": "TokenReview",
        "apiVersion": "authentication.k8s.io/v1",
        "spec": {"token": "redacted"},
        "status": status,
    })


if __name__ == "__main__":
    serve(route)
