#!/usr/bin/env bash
# Run a command that can reach nothing but loopback.
#
#   scripts/loopback-only.sh COMMAND [ARG...]
#
# The command runs in a new network namespace that has only `lo` (brought up), so no test or
# benchmark can reach a real address (cloud metadata endpoints included) even if a cloud SDK
# wakes up. Where allowed it also gets a new PID namespace: whatever the command leaves
# running (a test registry after a crashed test, say) is killed when the command ends.
# Root uses `unshare -n`; other users get a user namespace as well (`unshare -rn`).
#
# Also exported: AWS_EC2_METADATA_DISABLED=true and GCE_METADATA_HOST=127.0.0.1:9 (nothing
# listens there); proxy variables are dropped, as no proxy is reachable inside.
# CCP_ALLOW_NETWORK=1 runs the command WITHOUT isolation where namespaces are forbidden.
set -euo pipefail

if [ "$#" -eq 0 ]; then
	echo "usage: $0 COMMAND [ARG...]" >&2
	exit 2
fi

PATH="$PATH:/usr/sbin:/sbin"
export AWS_EC2_METADATA_DISABLED=true
export GCE_METADATA_HOST=127.0.0.1:9
export GCE_METADATA_IP=127.0.0.1:9
unset http_proxy https_proxy all_proxy no_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY NO_PROXY

user_ns=()
if [ "$(id -u)" -ne 0 ]; then
	user_ns=(--map-root-user)
fi

# sh stays PID 1 of the new PID namespace (no exec), so Ctrl-C reaches the command itself.
inner='ip link set lo up || { echo "loopback-only: cannot bring up lo" >&2; exit 1; }; "$@"'
for ns in "--net --pid --kill-child" "--net"; do
	# shellcheck disable=SC2206 # word splitting of the flag list is intended
	flags=("${user_ns[@]}" $ns)
	if unshare "${flags[@]}" -- true 2>/dev/null; then
		exec unshare "${flags[@]}" -- sh -c "$inner" sh "$@"
	fi
done

if [ "${CCP_ALLOW_NETWORK:-}" = 1 ]; then
	echo "loopback-only: WARNING: cannot create a network namespace; running WITH network (CCP_ALLOW_NETWORK=1)" >&2
	exec "$@"
fi
echo "loopback-only: cannot create a network namespace (unshare -n / -rn refused)." >&2
echo "loopback-only: run as root, allow unprivileged user namespaces, or set CCP_ALLOW_NETWORK=1 to run unisolated." >&2
exit 1
