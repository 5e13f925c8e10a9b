"""A fake of the Google endpoints the gcr backend talks to, speaking their wire formats.

One process serves whichever of these the request's path names (run it once on :80 for the
metadata server and once with TLS on :443 for the HTTPS APIs, or once on a loopback port):

- GCE metadata server, /computeMetadata/v1/...: refuses requests without
  `Metadata-Flavor: Google` (403, as the real server does) and stamps that header on answers;
  default service account `token` and `email`, instance attributes `google-dockercfg` and
  `google-dockercfg-url`;
- STS, POST /v1/token (JSON body, RFC 8693 token exchange);
- IAM Credentials, POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken (requires
  `Authorization: Bearer <the STS token this fake issued>`);
- OAuth 2.0 token endpoint for service-account keys, POST /token (JWT-bearer grant; the
  assertion's RS256 signature is verified against the key file the test generated);
- gcloud's user-credential refresh, POST /token with grant_type=refresh_token (form);
- GET /dockercfg: the `.dockercfg` for the dockercfg-url flow.

Error answers quote the credential they were sent (the pod's token, the federated token, the
key's assertion), as a careless or hostile server may: the binary must never repeat it.

Options (`--set KEY=VALUE`): token, expires_in, email, dockercfg_file, dockercfg_url,
dockercfg_url may contain {self} (this fake's host:port),
metadata_status (forced status of the token/email paths), metadata_fail=N:STATUS (the first N
requests to the token/email paths get STATUS, with `Retry-After: 1` when STATUS is 429), sts_token, sts_expires_in,
sts_status, iam_token, iam_expires_in, iam_status, oauth_token, key_file, adc_token, hang (comma list of:
metadata, sts, iam, oauth: never answer those), token_delay_ms (answer metadata token requests
after that long), hang_first_tokens (never answer the first N metadata token requests; the
later ones are answered).
"""

import base64
import datetime
import itertools
import json
import threading
import time

from fakehttp import json_reply, serve

MD = "/computeMetadata/v1/"
# Requests failed so far under metadata_fail (the server is threaded).
FAILED = [0]
FAILED_LOCK = threading.Lock()
FLAVOR = {"Metadata-Flavor": "Google"}
# Metadata token requests so far (next() on a count is atomic under the GIL).
TOKEN_REQUESTS = itertools.count()


def opt(name, default=None):
    return serve.options.get(name, default)


def hangs(what):
    return what in opt("hang", "").split(",")


def text_reply(status, text, headers=None):
    h = {"Content-Type": "text/plain"}
    h.update(headers or {})
    return status, h, text.encode()


def metadata(req):
    if hangs("metadata"):
        return None
    if req.headers.get("metadata-flavor") != "Google":
        return text_reply(403, "Missing Metadata-Flavor:Google header.", FLAVOR)
    path = req.path[len(MD):]
    forced = opt("metadata_status")
    if path.startswith("instance/service-accounts/default/") and forced:
        return text_reply(int(forced), "forced", FLAVOR)
    if path.startswith("instance/service-accounts/default/") and opt("metadata_fail"):
        count, status = opt("metadata_fail").split(":")
        with FAILED_LOCK:
            FAILED[0] += 1
            failing = FAILED[0] <= int(count)
        if failing:
            headers = dict(FLAVOR)
            if status == "429":
                headers["Retry-After"] = "1"
            return text_reply(int(status), "failing on purpose", headers)
    if path == "instance/service-accounts/default/token":
        if next(TOKEN_REQUESTS) < int(opt("hang_first_tokens", "0")):
            return None
        time.sleep(int(opt("token_delay_ms", "0")) / 1000)
        return json_reply(
            200,
            {
                "access_token": opt("token"),
                "expires_in": int(opt("expires_in", "3599")),
                "token_type": "Bearer",
            },
            FLAVOR,
        )
    if path == "instance/service-accounts/default/email":
        return text_reply(200, opt("email", "node@proj.iam.gserviceaccount.com"), FLAVOR)
    if path == "instance/attributes/google-dockercfg" and opt("dockercfg_file"):
        with open(opt("dockercfg_file"), encoding="utf-8") as f:
            return text_reply(200, f.read(), FLAVOR)
    if path == "instance/attributes/google-dockercfg-url" and opt("dockercfg_url"):
        # "{self}" stands for this fake's own host:port, unknown until it listens.
        url = opt("dockercfg_url").replace("{self}", req.headers.get("host", ""))
        return text_reply(200, url, FLAVOR)
    return text_reply(404, "Not Found", FLAVOR)


def sts(req):
    if hangs("sts"):
        return None
    if opt("sts_status"):
        return json_reply(
            int(opt("sts_status")),
            {"error": "invalid_grant",
             "error_description": "The audience does not match for subject_token %s."
             % ((req.json or {}).get("subject_token", ""),)},
        )
    return json_reply(
        200,
        {
            "access_token": opt("sts_token"),
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": int(opt("sts_expires_in", "3600")),
        },
    )


def iam(req):
    if hangs("iam"):
        return None
    if opt("iam_status"):
        return json_reply(
            int(opt("iam_status")),
            {"error": {"code": int(opt("iam_status")),
                       "message": "Permission 'iam.serviceAccounts.getAccessToken' denied to %s"
                       % req.headers.get("authorization", ""),
                       "status": "PERMISSION_DENIED"}},
        )
    if req.headers.get("authorization") != "Bearer " + (opt("sts_token") or ""):
        return json_reply(
            401,
            {"error": {"code": 401, "message": "Request had invalid authentication credentials.",
                       "status": "UNAUTHENTICATED"}},
        )
    expire = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
        seconds=int(opt("iam_expires_in", "3600"))
    )
    return json_reply(
        200,
        {
            "accessToken": opt("iam_token"),
            "expireTime": expire.strftime("%Y-%m-%dT%H:%M:%S.%f000Z"),
        },
    )


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_assertion(assertion):
    """Checks the RS256 signature and claims; returns an error string or None."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    with open(opt("key_file"), encoding="utf-8") as f:
        key = json.load(f)
    private = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
    try:
        head, claims, sig = assertion.split(".")
        private.public_key().verify(
            b64url(sig), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except Exception as e:  # noqa: BLE001 - any failure is a bad assertion
        return f"bad signature: {e!r}"
    header, body = json.loads(b64url(head)), json.loads(b64url(claims))
    if header.get("alg") != "RS256" or header.get("kid") != key["private_key_id"]:
        return f"bad header {header}"
    if body.get("iss") != key["client_email"] or body.get("aud") != key["token_uri"]:
        return f"bad claims {body}"
    if body.get("exp", 0) - body.get("iat", 0) != 3600:
        return f"bad lifetime {body}"
    return None


def oauth(req):
    if hangs("oauth"):
        return None
    if req.form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return json_reply(400, {"error": "unsupported_grant_type"})
    assertion = req.form.get("assertion", "")
    problem = verify_assertion(assertion)
    if problem:
        return json_reply(400, {"error": "invalid_grant",
                                "error_description": "%s in assertion %s" % (problem, assertion)})
    return json_reply(
        200, {"access_token": opt("oauth_token"), "expires_in": 3599, "token_type": "Bearer"}
    )


def adc(req):
    body = req.form
    if body.get("grant_type") != "refresh_token" or not body.get("refresh_token"):
        return json_reply(400, {"error": "invalid_request"})
    return json_reply(
        200, {"access_token": opt("adc_token"), "expires_in": 3599, "token_type": "Bearer"}
    )


def route(req):
    if req.path.startswith(MD):
        return metadata(req)
    if req.method == "POST" and req.path == "/v1/token":
        return sts(req)
    if req.method == "POST" and req.path.endswith(":generateAccessToken"):
        return iam(req)
    if req.method == "POST" and req.path == "/token":
        # oauth2.googleapis.com/token: gcloud user credentials or a key file's assertion.
        return adc(req) if req.form.get("grant_type") == "refresh_token" else oauth(req)
    if req.path == "/dockercfg" and opt("dockercfg_file"):
        with open(opt("dockercfg_file"), encoding="utf-8") as f:
            return text_reply(200, f.read())
    return json_reply(404, {"error": "not found", "path": req.path})


if __name__ == "__main__":
    serve(route)
