#!/usr/bin/env bash
# `install` in a mount namespace that plays a node: a root holding the host's /usr, /bin and /lib
# (bind mounts), with tmpfs at the real paths the DaemonSet writes —
# /usr/local/libexec/kubelet-credential-provider and /etc/kubernetes — visible only inside the
# namespace. A kubelet stand-in execs the installed drop-in name in a loop while installs of two
# different binaries replace it: no exec may fail. Then a re-run must change nothing.
# CCP_BIN is the debug binary (scripts/test.sh sets it). Needs root (unshare -m, mount, chroot).
set -euo pipefail
# shellcheck source=tests/shell/lib/node.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/node.bash"
node_test_start
declare -A host_had
for p in /usr/local/libexec/kubelet-credential-provider /etc/kubernetes/credential-provider; do
	host_had[$p]=$([ -e "$p" ] && echo yes || echo no)
done
root=$(mktemp -d)
# --one-file-system: whatever happens, never follow a mount that might still be there.
trap 'rm -rf --one-file-system "$root"' EXIT

unshare --mount --propagation private bash -euo pipefail -s "$root" "$CCP_BIN" "$(pwd)" <<'NS'
root=$1 bin=$2 repo=$3
. "$repo/tests/shell/lib/node.bash"
node_root "$root"
mkdir -p "$root/tmp" "$root/etc/kubernetes" "$root/opt/ccp"
# Over the bound /usr/local, in this namespace only: the host's stays untouched.
mount -t tmpfs -o mode=0755 tmpfs "$root/usr/local"
mkdir -p "$root/usr/local/libexec/kubelet-credential-provider"
mount -t tmpfs -o mode=0755 tmpfs "$root/usr/local/libexec/kubelet-credential-provider"
mount -t tmpfs -o mode=0755 tmpfs "$root/etc/kubernetes"
cp "$bin" "$root/opt/ccp/a"
cp "$bin" "$root/opt/ccp/b"
printf 'other bytes' >>"$root/opt/ccp/b"
cp "$repo/provider-config/generic.yaml" "$root/opt/ccp/config.yaml"

exec chroot "$root" /bin/bash -euo pipefail -c '
bindir=/usr/local/libexec/kubelet-credential-provider
dest=/etc/kubernetes/credential-provider/config.yaml
args=(install --bin-dir "$bindir" --drop-in-names --config /opt/ccp/config.yaml --config-dest "$dest")
[ "$(stat -f -c %T "$bindir")" = tmpfs ] || { echo "bin dir is not the namespace tmpfs"; exit 1; }
/opt/ccp/a "${args[@]}" >/dev/null
(
	n=0 failed=0
	while [ ! -e /tmp/stop ]; do
		n=$((n + 1))
		"$bindir/ecr-credential-provider" --version >/dev/null 2>>/tmp/errors || failed=$((failed + 1))
	done
	echo "$n $failed" >/tmp/result
) &
for i in $(seq 1 10); do
	if [ $((i % 2)) -eq 1 ]; then src=b; else src=a; fi
	out=$(/opt/ccp/$src "${args[@]}")
	case "$out" in installed*) ;; *) echo "install $i did not replace the binary: $out"; exit 1 ;; esac
done
touch /tmp/stop
wait
read -r n failed </tmp/result
echo "10 installs raced by $n execs of $bindir/ecr-credential-provider: $failed failed"
if [ "$failed" -ne 0 ]; then sort /tmp/errors | uniq -c; exit 1; fi
[ "$n" -ge 10 ] || { echo "too few execs ($n) to call it a race"; exit 1; }
cmp -s /opt/ccp/config.yaml "$dest" || { echo "config not installed"; exit 1; }
again=$(/opt/ccp/a "${args[@]}")
[ "$(grep -c "^unchanged " <<<"$again")" = 5 ] || { echo "re-run changed something: $again"; exit 1; }
left=$(ls -A "$bindir" | grep "^\." || true)
[ -z "$left" ] || { echo "temporary files left: $left"; exit 1; }
'
NS
# The host saw none of it.
for p in /usr/local/libexec/kubelet-credential-provider /etc/kubernetes/credential-provider; do
	[ "${host_had[$p]}" = "$([ -e "$p" ] && echo yes || echo no)" ] || { echo "$p changed on the host"; exit 1; }
done
echo "install_host_namespace.sh: ok"
