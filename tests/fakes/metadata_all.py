"""The three clouds' instance metadata services in one process, for 169.254.169.254:80, where
they all live on a real node (scripts/bench.sh; see fakehttp.py for the command line).

The path chooses the fake, whose route function is reused as it is:
- `/latest/...`: AWS IMDSv2 (aws_fake.py);
- `/metadata/identity/...`: Azure IMDS managed-identity tokens (azure_fake.py);
- `/computeMetadata/...`: the GCE metadata server (google_fake.py), reached by the binary
  as `metadata.google.internal`.
`--set` options are those of the three fakes (their names do not overlap).
"""

import aws_fake
import azure_fake
import google_fake
from fakehttp import json_reply, serve


def route(req):
    if req.path.startswith("/latest/"):
        return aws_fake.imds(req)
    if req.path.startswith("/metadata/identity/"):
        return azure_fake.imds(req)
    if req.path.startswith(google_fake.MD):
        return google_fake.metadata(req)
    return json_reply(404, {"error": "not found", "path": req.path})


if __name__ == "__main__":
    serve(route)
