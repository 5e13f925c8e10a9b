#!/usr/bin/env python3
"""Timing harness of scripts/bench.sh; run by it inside the benchmark's network namespace.

bench.sh builds the namespace, the test CA and the fakes, and writes WORK/tokens.json (what
the fakes issue). This harness writes each case's inputs, checks every case once per binary
(right credentials in the answer, the fakes asked what the case is about), then times all
cases in interleaved rounds: round i runs every (case, binary) once, in a shuffled order, so
drift and noise hit all of them alike. One run = posix_spawn of the command itself (stdin
from the request file, stdout/stderr to /dev/null) + os.wait4: wall time from
perf_counter_ns around both, CPU time = ru_utime + ru_stime.

Max RSS comes from a few extra runs under /usr/bin/time -f %M instead: the ru_maxrss of a
posix_spawn child is never below this Python process's own peak RSS (~10-20 MiB), because
posix_spawn runs the child on the parent's memory until exec, and the kernel records that
memory's peak in the child's maxrss at exec. GNU time forks from a ~1 MiB process.
Writes OUT/bench.md (the table, also printed) and OUT/runs.json (every run).
"""

import argparse
import base64
import datetime
import gc
import hashlib
import json
import math
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import time

API = "credentialprovider.kubelet.k8s.io/v1"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
POD_TENANT = "11111111-2222-4333-8444-555555555555"
ACR_USER = "00000000-0000-0000-0000-000000000000"
ACR_HOST = "myacr.azurecr.io"
GKE_IDP = "https://container.googleapis.com/v1/projects/proj/locations/europe-west1/clusters/c1"
ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
ECR_ROLE = "arn:aws:iam::210987654321:role/ecr-pull"
FILE_HOST = "127.0.0.1:5000"
VAULT_HOST = "harbor.bench.example"
LOGS = ("metadata", "azure", "google", "aws")  # the fakes' request logs, WORK/logs/NAME.jsonl
SANITY_TIMEOUT = 60
TIME = "/usr/bin/time"  # GNU time, for max RSS
WORK = ""  # bench.sh's work directory (--work)


class Case:
    """One benchmark case. `argv(binary)` builds the command (binary None: not per binary);
    `expect` checks a run's stdout (returns a problem or None); `requests` lists what the fakes
    must have received in one run, as "log METHOD host path" (None: anything; []: nothing)."""

    def __init__(self, cid, label, exercises, argv, stdin, expect, requests=None,
                 per_binary=True, fill_cache=False):
        self.cid, self.label, self.exercises = cid, label, exercises
        self.argv, self.stdin, self.expect = argv, stdin, expect
        self.requests, self.per_binary, self.fill_cache = requests, per_binary, fill_cache


def write(path, text, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def request(image, token=None, annotations=None):
    req = {"kind": "CredentialProviderRequest", "apiVersion": API, "image": image}
    if token is not None:
        req["serviceAccountToken"] = token
        req["serviceAccountAnnotations"] = annotations or {}
    return json.dumps(req) + "\n"


def answer(stdout):
    try:
        return json.loads(stdout)
    except ValueError:
        return None


def expect_auth(keys, username, password):
    """A check that the answer holds exactly `keys`, each with these credentials."""

    def check(stdout):
        resp = answer(stdout)
        if not resp or resp.get("kind") != "CredentialProviderResponse":
            return "not a CredentialProviderResponse: %.200r" % stdout
        auth = resp.get("auth") or {}
        if sorted(auth) != sorted(keys):
            return "auth keys %s, expected %s" % (sorted(auth), sorted(keys))
        for key, entry in auth.items():
            if entry.get("username") != username or entry.get("password") != password:
                return "wrong credentials under %s (username %r)" % (key, entry.get("username"))
        return None

    return check


def expect_empty_auth(stdout):
    resp = answer(stdout)
    if not resp or resp.get("auth") != {}:
        return 'expected "auth":{}, got %.200r' % stdout
    return None


def define_cases(work, tokens):
    """All cases, in table order; writes their inputs under WORK/inputs."""
    d = os.path.join(work, "inputs")
    os.makedirs(d, exist_ok=True)
    p = lambda name: os.path.join(d, name)  # noqa: E731
    response = write(p("response.json"), json.dumps({
        "kind": "CredentialProviderResponse", "apiVersion": API, "cacheKeyType": "Registry",
        "cacheDuration": "5m0s", "auth": {FILE_HOST: {"username": "u", "password": "p"}},
    }) + "\n")
    with open(response, encoding="utf-8") as f:
        response_text = f.read()
    docker_auth = base64.b64encode(
        ("bench:" + tokens["docker_password"]).encode()).decode()
    docker_config = write(p("config.json"),
                          json.dumps({"auths": {FILE_HOST: {"auth": docker_auth}}}) + "\n", 0o600)
    azure_json = write(p("azure.json"), json.dumps({
        "cloud": "AzurePublicCloud", "tenantId": TENANT,
        "subscriptionId": "00000000-0000-0000-0000-000000000001",
        "aadClientId": "msi", "aadClientSecret": "msi", "useManagedIdentityExtension": True,
    }, indent=2) + "\n", 0o600)
    req = {
        "unclaimed": write(p("req-unclaimed.json"), request("registry.example.com/app")),
        "file": write(p("req-file.json"), request(FILE_HOST + "/test/app")),
        "acr": write(p("req-acr.json"), request(ACR_HOST + "/team/app")),
        "acr-pod": write(p("req-acr-pod.json"), request(ACR_HOST + "/team/app", tokens["acr_pod_token"], {
            "kubernetes.azure.com/acr-client-id": "a1b2c3d4-0000-4000-8000-00000000000a",
            "kubernetes.azure.com/acr-tenant-id": POD_TENANT,
        })),
        "gcr": write(p("req-gcr.json"), request("gcr.io/proj/app")),
        "ar-wi": write(p("req-ar-wi.json"), request(
            "europe-west1-docker.pkg.dev/proj/repo/app", tokens["gcp_pod_token"],
            {"iam.gke.io/enable-wi-image-pull": "true"})),
        "ecr": write(p("req-ecr.json"), request(ECR_HOST + "/team/app")),
        "ecr-pod": write(p("req-ecr-pod.json"), request(
            ECR_HOST + "/team/app", tokens["aws_pod_token"],
            {"eks.amazonaws.com/ecr-role-arn": ECR_ROLE})),
        "vault-pod": write(p("req-vault-pod.json"), request(
            VAULT_HOST + "/team/app", tokens["vault_pod_token"]), 0o600),
    }
    vault_rules = write(p("vault-rules.json"), json.dumps({"hostRules": [{
        "match": [VAULT_HOST], "backend": "vault",
        "vault": {"address": "https://vault.bench.example:8200", "podAuth": {"role": "bench-pull"},
                  "kv": {"mount": "secret", "path": "registry/bench"}},
    }]}) + "\n")

    def expect_text(want):
        return lambda stdout: None if stdout == want else "output %.200r" % stdout

    def expect_check(stdout):
        return None if docker_config in stdout else "check output does not name the docker config: %.300r" % stdout

    md, azure, google, aws = "metadata", "azure", "google", "aws"
    imds_azure = f"{md} GET 169.254.169.254 /metadata/identity/oauth2/token"
    acr_exchange = [f"{azure} GET {ACR_HOST} /v2/", f"{azure} POST {ACR_HOST} /oauth2/exchange"]
    gce = "/computeMetadata/v1/instance/service-accounts/default/"
    imds_aws = [
        f"{md} PUT 169.254.169.254 /latest/api/token",
        f"{md} GET 169.254.169.254 /latest/meta-data/iam/security-credentials/",
        f"{md} GET 169.254.169.254 /latest/meta-data/iam/security-credentials/{tokens['aws_role']}",
    ]
    ecr_call = f"{aws} POST api.ecr.us-east-1.amazonaws.com /"
    acr_auth = expect_auth([ACR_HOST], ACR_USER, tokens["acr_refresh_token"])
    gcr_auth = expect_auth(["gcr.io"], "_token", tokens["gcp_node_token"])
    return [
        Case("cat", "`cat` of a response (floor: process start)",
             "process start and a small read/write; every other row's floor",
             lambda b: ["/bin/cat"], response, expect_text(response_text), per_binary=False),
        Case("sh", "`sh -c 'exec cat FILE'`",
             "what a shell in front of the command costs (kubelet execs the plugin directly)",
             lambda b: ["/bin/sh", "-c", "exec cat " + shlex.quote(response)], os.devnull,
             expect_text(response_text), per_binary=False),
        Case("unclaimed", "unclaimed host, no flags",
             "start-up, request parsing, routing; answers \"auth\":{}",
             lambda b: [b], req["unclaimed"], expect_empty_auth, requests=[]),
        Case("docker-config", "`--docker-config`, matching host",
             "start-up plus reading a Docker config.json",
             lambda b: [b, "--docker-config", docker_config], req["file"],
             expect_auth([FILE_HOST], "bench", tokens["docker_password"]), requests=[]),
        Case("check-offline", "`check --offline`",
             "the dry-run command: routing and describe, no fetch",
             lambda b: [b, "check", FILE_HOST + "/test/app", "--offline", "--docker-config", docker_config],
             os.devnull, expect_check, requests=[]),
        Case("acr-mi", "ACR, managed identity (IMDS → exchange)",
             "Azure IMDS token (HTTP) → GET /v2/ challenge + POST /oauth2/exchange at the login server (TLS)",
             lambda b: [b, "--azure-config", azure_json], req["acr"], acr_auth,
             requests=[imds_azure] + acr_exchange),
        Case("acr-pod", "ACR, pod token (Entra → exchange)",
             "Entra client assertion with the pod's token at login.microsoftonline.com (TLS) → /v2/ + exchange (TLS)",
             lambda b: [b, "--azure-config", azure_json], req["acr-pod"], acr_auth,
             requests=[f"{azure} POST login.microsoftonline.com /{POD_TENANT}/oauth2/v2.0/token"] + acr_exchange),
        Case("gcr-md", "GCR, metadata server",
             "metadata.google.internal (HTTP): service-account email + token",
             lambda b: [b], req["gcr"], gcr_auth,
             requests=[f"{md} GET metadata.google.internal {gce}email",
                       f"{md} GET metadata.google.internal {gce}token"]),
        Case("ar-wi", "Artifact Registry, GKE workload identity (STS)",
             "pod token → STS token exchange at sts.googleapis.com (TLS)",
             lambda b: [b, "--identity-provider", GKE_IDP, "--project-id", "proj"], req["ar-wi"],
             expect_auth(["europe-west1-docker.pkg.dev"], "_token", tokens["gcp_sts_token"]),
             requests=[f"{google} POST sts.googleapis.com /v1/token"]),
        Case("ecr-node", "ECR, node role (IMDSv2 → ECR)",
             "the SDK's credential chain down to IMDSv2 (HTTP: token, role, credentials) → "
             "GetAuthorizationToken at api.ecr.us-east-1.amazonaws.com (TLS, SigV4)",
             lambda b: [b], req["ecr"], expect_auth([ECR_HOST], "AWS", tokens["aws_node_password"]),
             requests=imds_aws + [ecr_call]),
        Case("ecr-pod", "ECR, pod token (STS → ECR)",
             "AssumeRoleWithWebIdentity at sts.us-east-1.amazonaws.com (TLS) → GetAuthorizationToken (TLS)",
             lambda b: [b], req["ecr-pod"], expect_auth([ECR_HOST], "AWS", tokens["aws_pod_password"]),
             requests=[f"{aws} POST sts.us-east-1.amazonaws.com /", ecr_call]),
        Case("vault-pod", "Vault (OpenBao), pod token (JWT login → KV v2 → revoke)",
             "JWT login with the pod's token, KV version 2 read, revoke-self at a real OpenBao (TLS)",
             lambda b: [b, "--config", vault_rules], req["vault-pod"],
             expect_auth([VAULT_HOST], "bench", tokens["vault_password"])),
        Case("cache-hit", "token-cache hit (GCR, `--cache-dir`)",
             "start-up + cache key (SHA-256 over args and environment) + reading the entry; no network",
             lambda b: [b, "--cache-dir", cache_dir(work, b)], req["gcr"], gcr_auth,
             requests=[], fill_cache=True),
    ]


def cache_dir(work, binary):
    """One cache directory per binary (entries are keyed on args and environment only)."""
    return os.path.join(work, "cache", hashlib.sha256(binary.encode()).hexdigest()[:12])


def log_lines():
    return {name: read_log(name) for name in LOGS}


def read_log(name):
    path = os.path.join(WORK, "logs", name + ".jsonl")
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def new_requests(before, after):
    out = []
    for name in LOGS:
        for r in after[name][len(before[name]):]:
            out.append(f"{name} {r['method']} {r['headers'].get('host', '').split(':')[0]} {r['path']}")
    return out


def run_captured(argv, stdin, env):
    with open(stdin, "rb") as f:
        return subprocess.run(argv, stdin=f, capture_output=True, env=env, timeout=SANITY_TIMEOUT,
                              check=False)


def sanity(case, binary, env):
    """Runs the case once; returns (problem or None, requests the run made)."""
    argv = case.argv(binary)
    try:
        if case.fill_cache:
            ran = run_captured(argv, case.stdin, env)
            if ran.returncode != 0:
                return "filling the cache failed: " + first_line(ran.stderr), []
        before = log_lines()
        ran = run_captured(argv, case.stdin, env)
        after = log_lines()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run: {e}", []
    seen = new_requests(before, after)
    if ran.returncode != 0:
        return f"exit {ran.returncode}: {first_line(ran.stderr)}", seen
    problem = case.expect(ran.stdout.decode("utf-8", "replace"))
    if problem:
        return problem, seen
    if case.requests is not None:
        missing = [r for r in case.requests if r not in seen]
        if missing:
            return "the fakes did not see %s (saw %s)" % (missing, seen or "nothing"), seen
        if not case.requests and seen:
            return "expected no request, the fakes saw %s" % seen, seen
    return None, seen


def first_line(data):
    text = data.decode("utf-8", "replace").strip()
    return (text.splitlines() or ["(no stderr)"])[0][:300]


def once(argv, stdin_path, env, fd_null):
    fd_in = os.open(stdin_path, os.O_RDONLY)
    actions = [(os.POSIX_SPAWN_DUP2, fd_in, 0), (os.POSIX_SPAWN_DUP2, fd_null, 1),
               (os.POSIX_SPAWN_DUP2, fd_null, 2)]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status, ru = os.wait4(pid, 0)
    t1 = time.perf_counter_ns()
    os.close(fd_in)
    cpu_us = round((ru.ru_utime + ru.ru_stime) * 1e6)
    return t1 - t0, cpu_us, os.waitstatus_to_exitcode(status)


def rss_once(argv, stdin_path, env, out_file):
    """Max RSS (KiB) of one run under GNU time, or None if the run failed."""
    with open(stdin_path, "rb") as f:
        ran = subprocess.run([TIME, "-f", "%M", "-o", out_file, *argv], stdin=f, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if ran.returncode != 0:
        return None
    with open(out_file, encoding="utf-8") as f:
        return int(f.read().split()[-1])


def percentile(values, q):
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def sh(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs{' (' + model + ')' if model else ''}, Linux {platform.release()}"


def main():
    global WORK
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bin", action="append", required=True, metavar="LABEL=PATH")
    ap.add_argument("--cases", default="")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--rss-runs", type=int, default=5, help="runs under /usr/bin/time per row")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--strict", action="store_true", help="a case failing its check is fatal")
    ap.add_argument("--command", default="scripts/bench.sh", help="shown in the report")
    ap.add_argument("--prepare", action="store_true",
                    help="only write the inputs and WORK/inputs/cases.sh (every command as a shell line)")
    args = ap.parse_args()
    if args.runs < 1 or args.warmup < 0 or args.rss_runs < 0:
        sys.exit("bench: RUNS must be at least 1, WARMUP and RSS_RUNS at least 0")
    WORK = args.work
    with open(os.path.join(WORK, "tokens.json"), encoding="utf-8") as f:
        tokens = json.load(f)
    cases = define_cases(WORK, tokens)
    if args.cases:
        wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
        unknown = sorted(set(wanted) - {c.cid for c in cases})
        if unknown:
            sys.exit("bench: unknown case(s) %s; cases: %s" % (", ".join(unknown), ", ".join(c.cid for c in cases)))
        cases = [c for c in cases if c.cid == "cat" or c.cid in wanted]  # the floor always runs
    bins = []
    for spec in args.bin:
        label, _, path = spec.partition("=")
        if not label or not path:
            sys.exit(f"bench: --bin wants LABEL=PATH, got {spec!r}")
        path = os.path.abspath(path)
        if not os.access(path, os.X_OK):
            sys.exit(f"bench: {path} is not an executable file")
        bins.append((label, path))
    if len({l for l, _ in bins}) != len(bins):
        sys.exit("bench: --bin labels must differ")

    home = os.path.join(WORK, "home")  # empty: no profiles, no gcloud ADC file
    os.makedirs(home, exist_ok=True)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "SSL_CERT_FILE": os.path.join(WORK, "certs", "trust.pem"),
        "AWS_CONFIG_FILE": os.path.join(home, ".aws", "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, ".aws", "credentials"),
    }

    if args.prepare:
        write_commands(os.path.join(WORK, "inputs", "cases.sh"), cases, bins, env)
        return

    # --- sanity: every (case, binary) once, with its answer and the fakes' logs checked
    print("==> sanity: each case once, answer and fake requests checked")
    entries, notes, per_run = [], [], {}
    failed_strict = False
    for case in cases:
        targets = [(label, path) for label, path in bins] if case.per_binary else [("–", None)]
        for label, path in targets:
            problem, seen = sanity(case, path, env)
            name = case.cid if not case.per_binary else f"{case.cid} [{label}]"
            if problem:
                notes.append(f"{case.cid} skipped for {label}: {problem}")
                print(f"  SKIP {name}: {problem}")
                failed_strict = failed_strict or args.strict
                continue
            print(f"  ok   {name}: " + ("; ".join(seen) if seen else "no request to the fakes"))
            entries.append((case, label, case.argv(path)))
            per_run[(case.cid, label)] = seen
    if failed_strict:
        sys.exit("bench: a case failed its check (details above)")
    if not entries:
        sys.exit("bench: nothing left to time")

    # --- timing
    rounds = args.warmup + args.runs
    print(f"==> timing: {len(entries)} commands × ({args.warmup} warm-up + {args.runs}) rounds, interleaved")
    runs = {(c.cid, l): [] for c, l, _ in entries}
    failures = {}
    rng = random.Random(args.seed)
    fd_null = os.open(os.devnull, os.O_WRONLY)
    before = {name: len(read_log(name)) for name in LOGS}
    order = list(entries)
    gc.disable()
    started = time.monotonic()
    for i in range(rounds):
        rng.shuffle(order)
        for case, label, argv in order:
            wall, cpu, code = once(argv, case.stdin, env, fd_null)
            if code != 0:
                failures[(case.cid, label)] = failures.get((case.cid, label), 0) + 1
            if i >= args.warmup:
                runs[(case.cid, label)].append((wall, cpu, code))
        if sys.stdout.isatty():
            print(f"\r  round {i + 1}/{rounds}", end="", flush=True)
    gc.enable()
    elapsed = time.monotonic() - started
    if sys.stdout.isatty():
        print()
    os.close(fd_null)
    print(f"  {elapsed:.0f} s")

    rss = {(c.cid, l): [] for c, l, _ in entries}
    rss_runs = args.rss_runs if os.access(TIME, os.X_OK) else 0
    if rss_runs:
        print(f"==> max RSS: {rss_runs} more runs per row under {TIME} -f %M")
        out_file = os.path.join(WORK, "rss.txt")
        for _ in range(rss_runs):
            for case, label, argv in entries:
                kib = rss_once(argv, case.stdin, env, out_file)
                if kib is None:
                    failures[(case.cid, label)] = failures.get((case.cid, label), 0) + 1
                else:
                    rss[(case.cid, label)].append(kib)
    else:
        notes.append(f"no {TIME}: max RSS not measured")

    # Every timed run must have done what its sanity run did (no retries, every cache hit).
    after = {name: len(read_log(name)) for name in LOGS}
    want = {name: 0 for name in LOGS}
    for seen in per_run.values():
        for r in seen:
            want[r.split(" ", 1)[0]] += rounds + rss_runs
    got = {name: after[name] - before[name] for name in LOGS}
    if got != want:
        notes.append(f"fake requests during timing {got}, expected {want}: some runs did other work")
    for (cid, label), n in sorted(failures.items()):
        notes.append(f"{cid} [{label}]: {n} run(s) exited non-zero")

    report(args, cases, bins, entries, runs, rss, notes, elapsed)
    if failures:
        sys.exit("bench: some timed runs failed (see the notes)")


def write_commands(path, cases, bins, env):
    """Every command as a shell line, for investigating a case by hand (bench.sh --shell)."""
    lines = ["# The benchmark's commands, each with the exact environment and input it is timed with."]
    envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    for case in cases:
        for label, path_ in (bins if case.per_binary else [("–", None)]):
            argv = " ".join(shlex.quote(a) for a in case.argv(path_))
            fill = " (its first run fills the cache)" if case.fill_cache else ""
            lines += [f"# {case.cid} [{label}]: {case.label}{fill}",
                      f"env -i {envs} {argv} < {shlex.quote(case.stdin)}"]
    write(path, "\n".join(lines) + "\n")


def report(args, cases, bins, entries, runs, rss, notes, elapsed):
    os.makedirs(args.out, exist_ok=True)
    stats = {}
    for case, label, _ in entries:
        rs = runs[(case.cid, label)]
        walls = [r[0] / 1e6 for r in rs]
        stats[(case.cid, label)] = {
            "median": statistics.median(walls), "p95": percentile(walls, 0.95),
            "cpu": statistics.median(r[1] / 1e3 for r in rs),
            "rss": max(rss[(case.cid, label)], default="–"),
        }
    floor = stats.get(("cat", "–"), {}).get("median")
    multi = len(bins) > 1
    first = bins[0][0]
    head = "| case | binary | median (ms) | p95 (ms) | CPU median (ms) | max RSS (KiB) | median / `cat` |"
    rule = "|---|---|---:|---:|---:|---:|---:|"
    if multi:
        head += f" median / {first} |"
        rule += "---:|"
    lines = [head, rule]
    for case in cases:
        for case_, label, _ in entries:
            if case_ is not case:
                continue
            s = stats[(case.cid, label)]
            ratio = f"{s['median'] / floor:.2f}" if floor else "–"
            row = (f"| {case.label} | {label} | {s['median']:.2f} | {s['p95']:.2f} | {s['cpu']:.2f} "
                   f"| {s['rss']} | {ratio} |")
            if multi:
                base = stats.get((case.cid, first))
                row += f" {s['median'] / base['median']:.2f} |" if base and case.per_binary else " – |"
            lines.append(row)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = sh(["git", "rev-parse", "--short=12", "HEAD"]) or "unknown"
    if sh(["git", "status", "--porcelain", "--untracked-files=no"]):
        commit += " (with uncommitted changes)"
    out = [
        f"Measured {now} with `{args.command}` at commit {commit}; {machine()}.",
        "",
        *lines,
        "",
    ]
    for label, path in bins:
        size = os.path.getsize(path)
        version = sh([path, "--version"]).splitlines()
        out.append(f"- `{label}`: {path_for_report(path)}, {size} bytes ({size / 1048576:.1f} MiB), "
                   f"`--version`: {version[0] if version else '(none)'}")
    out += [
        "",
        f"{args.runs} runs per row after {args.warmup} warm-up rounds, all rows interleaved (each round "
        "runs every row once, in a shuffled order); run time of the whole timing phase "
        f"{elapsed:.0f} s. Each run: `posix_spawn` of the command itself from one Python process "
        "inside a private network namespace (only `lo`), request on stdin from a file, "
        "stdout/stderr to `/dev/null`, `wait4`: wall = spawn to reaped, CPU = user + system "
        f"time of the process. Max RSS: worst of {args.rss_runs} more runs under `/usr/bin/time -f %M` "
        "(`ru_maxrss` of a `posix_spawn` child includes the spawning Python's own peak). "
        "Cloud rows talk to the project's Python fakes "
        "(tests/fakes/) under the real host names over TLS (a throwaway CA appended to the "
        "system bundle in `SSL_CERT_FILE`), so their wall time includes the fakes' own latency.",
    ]
    if notes:
        out += ["", "Notes:", *[f"- {n}" for n in notes]]
    out += ["", "Cases:", *[f"- {c.label}: {c.exercises}" for c in cases]]
    text = "\n".join(out) + "\n"
    print()
    print(text, end="")
    with open(os.path.join(args.out, "bench.md"), "w", encoding="utf-8") as f:
        f.write(text)
    raw = {
        "date": now, "command": args.command, "commit": commit, "machine": machine(),
        "runs": args.runs, "warmup": args.warmup, "seed": args.seed,
        "binaries": [{"label": l, "path": path_for_report(p), "size": os.path.getsize(p)} for l, p in bins],
        "notes": notes,
        "fields": ["wall_ns", "cpu_us", "exit_code"],
        "results": [
            {"case": c.cid, "label": c.label, "binary": l, "runs": runs[(c.cid, l)],
             "max_rss_kib": rss[(c.cid, l)]}
            for c, l, _ in entries
        ],
    }
    with open(os.path.join(args.out, "runs.json"), "w", encoding="utf-8") as f:
        json.dump(raw, f)


def path_for_report(path):
    """Paths inside the repository are shown relative to it."""
    root = os.getcwd()
    rel = os.path.relpath(path, root)
    return rel if not rel.startswith("..") else path


if __name__ == "__main__":
    main()
