#!/usr/bin/env bash
# Start-up benchmark of the release binary (kubelet execs it once per image pull, so process
# start to answer is the product). Prints a markdown table to paste into the README.
#
#   scripts/bench.sh                 # RUNS=300 WARMUP=20 by default
#   RUNS=50 scripts/bench.sh
#
# Cases, each with a piped request like kubelet's:
#   (a) floor: `cat` copying a saved response to stdout (process start + a small read/write);
#   (b) a host nothing claims (registry.example.com/app), no flags: answers "auth":{};
#   (c) --docker-config serving a matching host (127.0.0.1:5000/test/app);
#   (d) `check IMAGE --offline --docker-config ...` (skipped if it fails).
# Times come from `hyperfine -N --input` where hyperfine has --input (>= 1.16; Debian 12 has
# 1.15), else from an equivalent posix_spawn loop in Python; max RSS from /usr/bin/time -f %M.
# Everything is measured with no network but loopback (scripts/loopback-only.sh). Raw
# hyperfine JSON and the table go to target/bench/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${RUNS:-300}
WARMUP=${WARMUP:-20}
target_dir=${CARGO_TARGET_DIR:-target}
[[ "$target_dir" == /* ]] || target_dir="$(pwd)/$target_dir"
bin="$target_dir/release/cloud-credential-provider"
out_dir="$target_dir/bench"

if [ -z "${CCP_BENCH_INNER:-}" ]; then
	echo "==> cargo build --release"
	cargo build --release
	export CCP_BENCH_INNER=1
	exec bash scripts/loopback-only.sh bash "$0" "$@"
fi

command -v python3 >/dev/null 2>&1 || {
	echo "bench.sh: python3 is needed for the table (scripts/install-test-deps.sh)" >&2
	exit 1
}
[ -x "$bin" ] || {
	echo "bench.sh: no $bin" >&2
	exit 1
}
mkdir -p "$out_dir"
rm -f "$out_dir"/*.json "$out_dir"/*.rss "$out_dir"/*.label
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

api=credentialprovider.kubelet.k8s.io/v1
printf '{"kind":"CredentialProviderRequest","apiVersion":"%s","image":"registry.example.com/app"}\n' "$api" >"$work/req-unclaimed.json"
printf '{"kind":"CredentialProviderRequest","apiVersion":"%s","image":"127.0.0.1:5000/test/app"}\n' "$api" >"$work/req-file.json"
password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
(
	umask 077
	printf '{"auths":{"127.0.0.1:5000":{"auth":"%s"}}}\n' "$(printf 'bench:%s' "$password" | base64 -w0)" >"$work/config.json"
)
printf '{"kind":"CredentialProviderResponse","apiVersion":"%s","cacheKeyType":"Registry","cacheDuration":"5m0s","auth":{"127.0.0.1:5000":{"username":"u","password":"p"}}}\n' "$api" >"$work/response.json"

ids=(a b c d)
declare -A label=(
	[a]="cat (floor)"
	[b]="unclaimed host, no flags"
	[c]="--docker-config, matching host"
	[d]="check --offline"
)
declare -A input=(
	[a]="$work/response.json"
	[b]="$work/req-unclaimed.json"
	[c]="$work/req-file.json"
	[d]=/dev/null
)
# Sets argv to the command of case $1.
argv_of() {
	case $1 in
	a) argv=(cat) ;;
	b) argv=("$bin") ;;
	c) argv=("$bin" --docker-config "$work/config.json") ;;
	d) argv=("$bin" check 127.0.0.1:5000/test/app --offline --docker-config "$work/config.json") ;;
	esac
}

# Each case must work before it is timed.
echo "==> sanity"
kept=()
for id in "${ids[@]}"; do
	argv_of "$id"
	if answer=$("${argv[@]}" <"${input[$id]}" 2>"$work/stderr"); then
		printf '(%s) %s: %s\n' "$id" "${label[$id]}" "$(printf '%s' "$answer" | head -c 300 | sed "s/$password/***/g" | tr '\n' ' ')"
		kept+=("$id")
	elif [ "$id" = d ]; then
		echo "(d) skipped: check failed: $(head -n 2 "$work/stderr" | head -c 300)"
	else
		echo "bench.sh: ($id) ${label[$id]} failed: $(cat "$work/stderr")" >&2
		exit 1
	fi
done
grep -q '"auth":{}' <<<"$("$bin" <"$work/req-unclaimed.json")" || {
	echo "bench.sh: (b) did not answer \"auth\":{}" >&2
	exit 1
}
grep -q -- "$password" <<<"$("$bin" --docker-config "$work/config.json" <"$work/req-file.json")" || {
	echo "bench.sh: (c) did not serve the config's credentials" >&2
	exit 1
}

# hyperfine -N needs --input (hyperfine >= 1.16) to feed a request on stdin. Without it, a
# small Python harness does the same job: posix_spawn with stdin from the file, output to
# /dev/null, wait4; cases interleaved run by run so drift hits all of them alike.
mode=spawn
if command -v hyperfine >/dev/null 2>&1 && hyperfine --help | grep -q -- '--input'; then
	mode=hyperfine
fi

echo "==> timing: $mode, $WARMUP warm-up + $RUNS runs per case"
: >"$work/cases.tsv"
for id in "${kept[@]}"; do
	argv_of "$id"
	echo "${label[$id]}" >"$out_dir/$id.label"
	if [ "$mode" = hyperfine ]; then
		hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" --input "${input[$id]}" \
			--command-name "($id) ${label[$id]}" --export-json "$out_dir/$id.json" \
			"$(printf '%q ' "${argv[@]}")"
	else
		argv[0]=$(command -v "${argv[0]}")
		(
			IFS=$'\t'
			echo "$id	${input[$id]}	${argv[*]}"
		) >>"$work/cases.tsv"
	fi
done
if [ "$mode" = spawn ]; then
	python3 - "$work/cases.tsv" "$out_dir" "$WARMUP" "$RUNS" <<'PY'
import json, os, statistics, sys, time

cases_file, out, warmup, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cases = []
for line in open(cases_file):
    cid, stdin_path, *argv = line.rstrip("\n").split("\t")
    cases.append((cid, stdin_path, argv))

def once(stdin_path, argv):
    fd_in = os.open(stdin_path, os.O_RDONLY)
    fd_null = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, fd_in, 0), (os.POSIX_SPAWN_DUP2, fd_null, 1),
               (os.POSIX_SPAWN_DUP2, fd_null, 2)]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status, _ = os.wait4(pid, 0)
    t1 = time.perf_counter_ns()
    os.close(fd_in)
    os.close(fd_null)
    if status != 0:
        sys.exit(f"bench: {argv} exited with status {status}")
    return (t1 - t0) / 1e9

times = {cid: [] for cid, _, _ in cases}
for i in range(warmup + runs):
    for cid, stdin_path, argv in cases:
        t = once(stdin_path, argv)
        if i >= warmup:
            times[cid].append(t)
for cid, _, argv in cases:
    ms = [t * 1000 for t in times[cid]]
    print(f"({cid}) {' '.join(os.path.basename(a) for a in argv[:2])}...: "
          f"mean {statistics.mean(ms):.3f} ms, median {statistics.median(ms):.3f} ms")
    with open(os.path.join(out, cid + ".json"), "w") as f:
        json.dump({"results": [{"command": " ".join(argv), "times": times[cid]}]}, f)
PY
fi

echo "==> max RSS: /usr/bin/time -f %M, worst of 5"
for id in "${kept[@]}"; do
	argv_of "$id"
	rss=0
	if [ -x /usr/bin/time ]; then
		for _ in 1 2 3 4 5; do
			/usr/bin/time -f %M -o "$work/rss" "${argv[@]}" <"${input[$id]}" >/dev/null 2>&1
			r=$(tail -n1 "$work/rss")
			[ "$r" -gt "$rss" ] && rss=$r
		done
	fi
	echo "$rss" >"$out_dir/$id.rss"
done

size=$(stat -c %s "$bin")
python3 - "$out_dir" "$mode" "$RUNS" "$size" <<'PY' | tee "$out_dir/bench.md"
import json, os, statistics, sys

out, mode, runs, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = []
for cid in "abcd":
    label_file = os.path.join(out, cid + ".label")
    if not os.path.exists(label_file):
        continue
    label = open(label_file).read().strip()
    rss = int(open(os.path.join(out, cid + ".rss")).read().strip() or 0)
    times = json.load(open(os.path.join(out, cid + ".json")))["results"][0]["times"]
    ms = [t * 1000 for t in times]
    rows.append((cid, label, statistics.mean(ms), statistics.median(ms), statistics.pstdev(ms), min(ms), rss))

floor = rows[0][2:4] if rows and rows[0][0] == "a" else None
how = {
    "hyperfine": "hyperfine -N --input (request from a file, output to /dev/null)",
    "spawn": "posix_spawn + wait4 from Python, request from a file, output to /dev/null, cases interleaved",
}[mode]
print()
print("| case | mean (ms) | median (ms) | σ (ms) | min (ms) | mean / floor | median / floor | max RSS (KiB) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for cid, label, mean, median, sd, lo, rss in rows:
    r_mean = f"{mean / floor[0]:.2f}" if floor else "–"
    r_median = f"{median / floor[1]:.2f}" if floor else "–"
    print(f"| ({cid}) {label} | {mean:.2f} | {median:.2f} | {sd:.2f} | {lo:.2f} | {r_mean} | {r_median} | {rss or '–'} |")
print()
print(f"Release binary: {size} bytes ({size / 1048576:.1f} MiB). {runs} runs per case, {how};")
print(f"max RSS: /usr/bin/time -f %M, worst of 5. Machine: {os.cpu_count()} CPUs, {os.uname().release}.")
PY
echo
echo "raw results: $out_dir/"
