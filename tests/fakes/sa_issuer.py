"""Plays a cluster's service-account issuer for the benchmark's Vault case: makes a P-256 key,
writes its public half (for Vault's `jwt_validation_pubkeys`) and one ES256 token shaped like
the ones kubelet requests for a pod.

usage: sa_issuer.py OUTDIR ISSUER NAMESPACE SERVICEACCOUNT AUDIENCE
writes OUTDIR/issuer.pem (public key) and OUTDIR/pod-token (valid for 2 hours)
"""

import base64
import json
import os
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    out, issuer, namespace, account, audience = sys.argv[1:6]
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with open(os.path.join(out, "issuer.pem"), "wb") as f:
        f.write(pem)
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": f"system:serviceaccount:{namespace}:{account}",
        "aud": [audience],
        "iat": now,
        "nbf": now,
        "exp": now + 7200,
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": account}},
    }
    header = {"alg": "ES256", "typ": "JWT"}
    signing_input = (
        b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    )
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    fd = os.open(os.path.join(out, "pod-token"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(signing_input + "." + b64url(signature))


if __name__ == "__main__":
    main()
