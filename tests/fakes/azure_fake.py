"""Local fakes of the three Azure endpoints an ACR pull needs, speaking their real wire formats.

One process serves the roles its requests ask for, chosen by the Host header:
- IMDS (`169.254.169.254`, plain HTTP): `GET /metadata/identity/oauth2/token?api-version=…
  &resource=…[&client_id=…|&msi_res_id=…]` with header `Metadata: true`; answers like IMDS
  (`expires_on` as a string of epoch seconds). Without the header: 400, as IMDS does.
- Entra ID v2 (`login.microsoftonline.com`, TLS): `POST /{tenant}/oauth2/v2.0/token`, form
  `client_id`, `scope`, `grant_type=client_credentials` and either `client_secret` or
  `client_assertion` + `client_assertion_type`.
- ACR login server (any other host, TLS): `GET /v2/` → 401 with a Bearer challenge;
  `POST /oauth2/exchange` (form `grant_type=access_token`, `service`, `tenant`,
  `access_token`) → `{"refresh_token": …}`.

Options (`--set KEY=VALUE`):
  access_token   the Entra/IMDS access token to issue (default: a random string)
  refresh_token  the ACR refresh token to issue (required for a successful exchange)
  challenge      quoted (default) | unquoted | none (200, no challenge) | foreign (realm elsewhere)
  exchange       ok (default) | 401 | 403
  entra          ok (default) | 400 (AADSTS error)
The exchange also answers 401 when the access token it gets is not the one this fake issued.
Error answers quote the credential they were sent (client secret or assertion, access token), as
a careless or hostile server may: the binary must never repeat it.
Every request is logged (see fakehttp.py) so tests assert exactly what the binary sent.
"""

import secrets
import time

from fakehttp import json_reply, serve

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def opt(name, default=None):
    return serve.options.get(name, default)


def access_token():
    if "access_token" not in serve.options:
        serve.options["access_token"] = secrets.token_urlsafe(32)
    return serve.options["access_token"]


def imds(req):
    if req.path != "/metadata/identity/oauth2/token":
        return json_reply(404, {"error": "not_found"})
    if req.headers.get("metadata") != "true":
        return json_reply(400, {"error": "invalid_request", "error_description": "Required metadata header not specified"})
    now = int(time.time())
    return json_reply(200, {
        "access_token": access_token(),
        "client_id": req.query.get("client_id", "system-assigned-client-id"),
        "expires_in": "86399",
        "expires_on": str(now + 86399),
        "ext_expires_in": "86399",
        "not_before": str(now),
        "resource": req.query.get("resource", ""),
        "token_type": "Bearer",
    })


def entra(req):
    parts = req.path.strip("/").split("/")
    if req.method != "POST" or len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"]:
        return json_reply(404, {"error": "not_found"})
    if opt("entra") == "400":
        return json_reply(400, {
            "error": "unauthorized_client",
            "error_description": "AADSTS700016: Application with identifier '%s' was not found in the directory '%s'. Credential: %s"
            % (req.form.get("client_id", ""), parts[0],
               req.form.get("client_assertion") or req.form.get("client_secret", "")),
            "error_codes": [700016],
        })
    return json_reply(200, {
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": access_token(),
    })


def acr(req, host):
    service = host.split(":")[0]
    if req.path == "/v2/" and req.method == "GET":
        mode = opt("challenge", "quoted")
        if mode == "none":
            return json_reply(200, {})
        realm = "https://%s/oauth2/token" % service
        if mode == "foreign":
            realm = "https://login.microsoftonline.com/oauth2/token"
        if mode == "unquoted":
            header = "bearer service=%s, realm=%s" % (service, realm)
        else:
            header = 'Bearer realm="%s",service="%s"' % (realm, service)
        return json_reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required", "detail": None}]},
                          {"WWW-Authenticate": header})
    if req.path == "/oauth2/exchange" and req.method == "POST":
        mode = opt("exchange", "ok")
        if mode in ("401", "403") or req.form.get("access_token") != access_token():
            status = 403 if mode == "403" else 401
            return json_reply(status, {"errors": [{"code": "UNAUTHORIZED", "message": "identity is not authorized for %s (token %s)"
                                                   % (service, req.form.get("access_token", ""))}]})
        return json_reply(200, {"refresh_token": opt("refresh_token", "")})
    return json_reply(404, {"errors": [{"code": "NOT_FOUND"}]})


def route(req):
    host = req.headers.get("host", "")
    name = host.split(":")[0]
    if name == "169.254.169.254":
        return imds(req)
    if name.startswith("login."):
        return entra(req)
    return acr(req, host)


if __name__ == "__main__":
    serve(route)
