"""A fake of the three AWS endpoints an ECR pull can need, speaking their real wire formats, for
runs that use the real host names (scripts/bench.sh; see fakehttp.py for the command line).

The path and method choose the role:
- EC2 instance metadata, IMDSv2 (`169.254.169.254`, plain HTTP): `PUT /latest/api/token` with
  `x-aws-ec2-metadata-token-ttl-seconds` answers a session token and echoes the TTL header (the
  Rust SDK refuses a token without it); `GET /latest/meta-data/iam/security-credentials/` (the
  role name) and `GET .../ROLE` (its temporary credentials, access key `aws_node_key_id`) need
  a token this fake issued in `x-aws-ec2-metadata-token`, else 401 as IMDSv2 does;
- STS `AssumeRoleWithWebIdentity` (AWS Query: form POST, XML answer): credentials with access
  key `aws_pod_key_id`; `aws_web_identity_token`, when set, must be the token sent;
- ECR `GetAuthorizationToken` (AWS JSON 1.1, `X-Amz-Target`; ECR Public too): the token
  base64("AWS:" + password), where the password depends on who signed the call (SigV4
  `Credential=` of the Authorization header): `aws_node_password` for `aws_node_key_id`,
  `aws_pod_password` for `aws_pod_key_id`; any other signer gets UnrecognizedClientException.
  So an answer proves which identity chain the binary went through. Signatures are not checked.

Options (`--set KEY=VALUE`): aws_role, aws_node_key_id, aws_pod_key_id, aws_node_password,
aws_pod_password, aws_web_identity_token, aws_expires_in (ECR token life, default 43200 s),
aws_credentials_life (IMDS/STS credentials, default 21600 s); for failure tests: imds_fail (the
first N token calls fail), imds_fail_status (their status, default 503), imds_token_delay
(seconds before a token answer). The secrets it hands out are random unless set, so that a test
can look for them in the binary's output: imds_token (the IMDSv2 session token),
aws_node_secret_key and aws_node_session_token (IMDS credentials), aws_pod_secret_key and
aws_pod_session_token (STS credentials).
"""

import datetime
import secrets
import threading
import time
from xml.sax.saxutils import escape

from aws_ecr_fake import authorization_reply
from fakehttp import json_reply, serve

TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "x-aws-ec2-metadata-token"
CREDENTIALS_PATH = "/latest/meta-data/iam/security-credentials/"
AMZ_JSON = {"Content-Type": "application/x-amz-json-1.1"}

_imds_tokens = set()
_lock = threading.Lock()


def opt(name, default=None):
    return serve.options.get(name, default)


def text_reply(status, text, headers=None):
    h = {"Content-Type": "text/plain"}
    h.update(headers or {})
    return status, h, text.encode()


def expiration():
    life = int(opt("aws_credentials_life", "21600"))
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=life)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


_token_calls = [0]


def imds(req):
    """IMDSv2: session tokens, the role name and its credentials."""
    if req.path == "/latest/api/token":
        ttl = req.headers.get(TTL_HEADER)
        if req.method != "PUT" or not ttl:
            return text_reply(400, "Bad Request")
        with _lock:
            _token_calls[0] += 1
            call = _token_calls[0]
        if call <= int(opt("imds_fail", "0")):
            return text_reply(int(opt("imds_fail_status", "503")), "Service Unavailable")
        time.sleep(float(opt("imds_token_delay", "0")))
        token = opt("imds_token") or secrets.token_urlsafe(32)
        with _lock:
            _imds_tokens.add(token)
        return text_reply(200, token, {TTL_HEADER: ttl})
    with _lock:
        known = req.headers.get(TOKEN_HEADER) in _imds_tokens
    if not known:
        return text_reply(401, "Unauthorized")
    role = opt("aws_role", "bench-node-role")
    if req.path == CREDENTIALS_PATH:
        return text_reply(200, role)
    if req.path == CREDENTIALS_PATH + role:
        return json_reply(200, {
            "Code": "Success",
            "LastUpdated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Type": "AWS-HMAC",
            "AccessKeyId": opt("aws_node_key_id", "ASIANODE"),
            "SecretAccessKey": opt("aws_node_secret_key") or secrets.token_urlsafe(30),
            "Token": opt("aws_node_session_token") or secrets.token_urlsafe(60),
            "Expiration": expiration(),
        })
    return text_reply(404, "Not Found")


def sts(req):
    """AssumeRoleWithWebIdentity in the AWS Query protocol."""
    form = req.form
    if form.get("Action") != "AssumeRoleWithWebIdentity":
        return sts_error(400, "InvalidAction", "unsupported action %r" % form.get("Action"))
    expected = opt("aws_web_identity_token")
    if not form.get("WebIdentityToken") or (expected and form["WebIdentityToken"] != expected):
        return sts_error(400, "InvalidIdentityToken", "the web identity token is not valid")
    arn = form.get("RoleArn", "")
    session = form.get("RoleSessionName", "")
    parts = arn.split(":")
    account = parts[4] if len(parts) > 5 else "123456789012"
    role = arn.rsplit("/", 1)[-1]
    body = f"""<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:bench:puller</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::{escape(account)}:assumed-role/{escape(role)}/{escape(session)}</Arn>
      <AssumedRoleId>AROABENCHROLE:{escape(session)}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>{escape(opt("aws_pod_session_token") or secrets.token_urlsafe(60))}</SessionToken>
      <SecretAccessKey>{escape(opt("aws_pod_secret_key") or secrets.token_urlsafe(30))}</SecretAccessKey>
      <Expiration>{expiration()}</Expiration>
      <AccessKeyId>{escape(opt("aws_pod_key_id", "ASIAPOD"))}</AccessKeyId>
    </Credentials>
    <Provider>arn:aws:iam::{escape(account)}:oidc-provider/bench</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>{secrets.token_hex(16)}</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
"""
    return 200, {"Content-Type": "text/xml"}, body.encode()


def sts_error(status, code, message):
    body = f"""<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message></Error>
  <RequestId>{secrets.token_hex(16)}</RequestId>
</ErrorResponse>
"""
    return status, {"Content-Type": "text/xml"}, body.encode()


def signer(req):
    """The access key id of a SigV4 Authorization header, or None."""
    auth = req.headers.get("authorization", "")
    marker = "Credential="
    if marker not in auth:
        return None
    return auth.split(marker, 1)[1].split("/", 1)[0]


def ecr(req):
    key = signer(req)
    passwords = {
        opt("aws_node_key_id", "ASIANODE"): opt("aws_node_password"),
        opt("aws_pod_key_id", "ASIAPOD"): opt("aws_pod_password"),
    }
    password = passwords.get(key)
    if password is None:
        return json_reply(400, {
            "__type": "UnrecognizedClientException",
            "message": "The security token included in the request is invalid.",
        }, AMZ_JSON)
    status, body = authorization_reply(
        req.headers.get("x-amz-target", ""), password, float(opt("aws_expires_in", "43200"))
    )
    return json_reply(status, body, AMZ_JSON)


def route(req):
    if req.path.startswith("/latest/"):
        return imds(req)
    if req.method == "POST" and req.headers.get("x-amz-target"):
        return ecr(req)
    if req.method == "POST" and "Action" in req.form:
        return sts(req)
    return json_reply(404, {"message": "not found", "path": req.path})


if __name__ == "__main__":
    serve(route)
