"""Writes a throwaway CA and one server certificate for the given host names / IPs.

usage: make_certs.py [--common-name CN] OUTDIR NAME [NAME...]
writes OUTDIR/ca.pem (trust this via SSL_CERT_FILE), OUTDIR/server.pem, OUTDIR/server.key
The leaf serves as a TLS client certificate too (trustme adds both key usages); --common-name
gives it the subject CN that some servers take a client's name from (Vault's cert auth).
"""

import os
import sys

import trustme


def main():
    args = sys.argv[1:]
    common_name = None
    if args[:1] == ["--common-name"]:
        common_name, args = args[1], args[2:]
    out, names = args[0], args[1:]
    ca = trustme.CA()
    leaf = ca.issue_cert(*names, common_name=common_name)
    ca.cert_pem.write_to_path(os.path.join(out, "ca.pem"))
    leaf.private_key_pem.write_to_path(os.path.join(out, "server.key"))
    with open(os.path.join(out, "server.pem"), "wb") as f:
        for blob in leaf.cert_chain_pems:
            f.write(blob.bytes())


if __name__ == "__main__":
    main()
