"""Writes a throwaway CA and one server certificate for the given host names / IPs.

usage: make_certs.py OUTDIR NAME [NAME...]
writes OUTDIR/ca.pem (trust this via SSL_CERT_FILE), OUTDIR/server.pem, OUTDIR/server.key
"""

import os
import sys

import trustme


def main():
    out, names = sys.argv[1], sys.argv[2:]
    ca = trustme.CA()
    leaf = ca.issue_cert(*names)
    ca.cert_pem.write_to_path(os.path.join(out, "ca.pem"))
    leaf.private_key_pem.write_to_path(os.path.join(out, "server.key"))
    with open(os.path.join(out, "server.pem"), "wb") as f:
        for blob in leaf.cert_chain_pems:
            f.write(blob.bytes())


if __name__ == "__main__":
    main()
