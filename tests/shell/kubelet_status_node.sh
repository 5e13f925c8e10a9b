#!/usr/bin/env bash
# kubelet-status on a kubeadm node played in a mount and PID namespace: a root holding the host's
# /usr, /bin and /lib (read-only bind mounts) with tmpfs where the node's files go (its kubelet
# unit, /usr/local), its own /etc and /var, chroot. A fake kubelet (a copy of bash named
# /usr/local/bin/kubelet running a sleep loop) carries the flags on its command line, and is the
# only kubelet in the namespace, so kubelet-status finds it without --kubelet-pid.
#
# 1. The node's view (--host-root /): wired; a config installed after kubelet started is not
#    what kubelet runs (restart); after a restart, wired again.
# 2. The pod's view: /host holds exactly the read-only bind mounts the base DaemonSet gives its
#    kubelet-status container (read from the rendered manifest), and the readiness probe's own
#    command line runs in a PID namespace of its own (no hostPID: no kubelet in sight): wired
#    from the files; not wired without the flags; unknown when they are in /etc/sysconfig, which
#    the base does not mount, and wired again with the mount components/sysconfig adds.
# CCP_BIN is the debug binary (scripts/test.sh sets it). Needs root (unshare, mount, chroot); the
# pod's view needs kubectl to render the manifest (without it, that part is SKIPPED, as in
# tests/deploy.rs).
set -euo pipefail
# shellcheck source=tests/shell/lib/node.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/node.bash"
node_test_start
PATH="$PATH:/usr/sbin:/sbin"
work=$(mktemp -d)
# --one-file-system: whatever happens, never follow a mount that might still be there.
trap 'rm -rf --one-file-system "$work"' EXIT
root=$work/root
mkdir "$root"

# The kubelet-status container of the base DaemonSet: its mounts and its probe's arguments.
: >"$work/pod.txt"
if command -v kubectl >/dev/null; then
	kubectl kustomize deploy/kustomize/base >"$work/rendered.yaml"
	.venv/bin/python - "$work/rendered.yaml" >"$work/pod.txt" <<'PY'
import sys
import yaml

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
pod = next(d for d in docs if d["kind"] == "DaemonSet")["spec"]["template"]["spec"]
volumes = {v["name"]: v for v in pod["volumes"]}
status = next(c for c in pod["containers"] if c["name"] == "kubelet-status")
for m in status["volumeMounts"]:
    assert m.get("readOnly") is True, m
    host = volumes[m["name"]]["hostPath"]
    print("mount", host["path"], m["mountPath"], host["type"])
print("probe", " ".join(status["readinessProbe"]["exec"]["command"][1:]))
PY
	grep -q "^mount /etc/default /host/etc/default Directory$" "$work/pod.txt" || { cat "$work/pod.txt"; exit 1; }
else
	echo "SKIPPED the pod's view: kubectl not installed (nothing to render deploy/kustomize/base with)"
fi

unshare --mount --pid --fork --mount-proc --propagation private \
	bash -euo pipefail -s "$root" "$CCP_BIN" "$(pwd)" "$work/pod.txt" <<'NS'
root=$1 bin=$2 repo=$3 pod=$4
. "$repo/tests/shell/lib/node.bash"
node_root "$root" ro
mkdir -p "$root/tmp" "$root/etc" "$root/var/lib/kubelet" "$root/opt/ccp" "$root/host"
# Over the read-only /usr, in this namespace only: the node's unit and /usr/local.
mount -t tmpfs -o mode=0755 tmpfs "$root/usr/local"
mount -t tmpfs -o mode=0755 tmpfs "$root/usr/lib/systemd/system"
cp "$bin" "$root/opt/ccp/ccp"
cp "$repo/provider-config/generic.yaml" "$repo/provider-config/eks.yaml" "$root/opt/ccp/"
cp "$pod" "$root/opt/ccp/pod.txt"

exec chroot "$root" /bin/bash -euo pipefail -c '
bindir=/usr/local/libexec/kubelet-credential-provider
config=/etc/kubernetes/credential-provider/config.yaml
flags="--image-credential-provider-bin-dir=$bindir --image-credential-provider-config=$config"
fail() { echo "$1"; echo "--- output:"; cat /tmp/out; exit 1; }
expect() { # expect CODE PATTERN...: the last run exited CODE and printed every pattern
	[ "$code" = "$1" ] || fail "exit $code, expected $1"
	shift
	for p in "$@"; do grep -qF -- "$p" /tmp/out || fail "missing: $p"; done
}
status() { code=0; /opt/ccp/ccp kubelet-status "$@" >/tmp/out 2>&1 || code=$?; }

# A kubeadm node: the packaged unit and drop-in, kubeadm-flags.env, the flags in /etc/default.
mkdir -p /usr/lib/systemd/system/kubelet.service.d /etc/systemd/system /etc/default /usr/local/bin
printf "[Service]\nExecStart=/usr/local/bin/kubelet\nRestart=always\n" >/usr/lib/systemd/system/kubelet.service
cat >/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf <<EOF
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/local/bin/kubelet \$KUBELET_KUBECONFIG_ARGS \$KUBELET_CONFIG_ARGS \$KUBELET_KUBEADM_ARGS \$KUBELET_EXTRA_ARGS
EOF
echo "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock\"" >/var/lib/kubelet/kubeadm-flags.env
echo "KUBELET_EXTRA_ARGS=\"$flags\"" >/etc/default/kubelet
printf "NAME=\"Debian GNU/Linux\"\nID=debian\n" >/etc/os-release
/opt/ccp/ccp install --bin-dir $bindir --config /opt/ccp/generic.yaml --config-dest $config >/dev/null
touch -d "1 hour ago" $config

# The kubelet: bash under that name, the flags as its arguments.
cp /bin/bash /usr/local/bin/kubelet
echo "while sleep 1; do :; done" >/opt/ccp/loop.sh
start_kubelet() {
	/usr/local/bin/kubelet /opt/ccp/loop.sh --config=/var/lib/kubelet/config.yaml $flags --v=2 &
	kubelet_pid=$!
	for _ in $(seq 50); do grep -q -- "--v=2" /proc/$kubelet_pid/cmdline 2>/dev/null && return; sleep 0.1; done
	echo "the fake kubelet did not start"; exit 1
}
start_kubelet

# 1. The node itself.
status --bin-dir $bindir --config-dest $config
expect 0 "distribution: kubeadm (/var/lib/kubelet/kubeadm-flags.env exists)" \
	"kubelet: process $kubelet_pid (/usr/local/bin/kubelet), started " \
	"flag: --image-credential-provider-config=$config (from /proc/$kubelet_pid/cmdline)" \
	"ok: kubelet started at " \
	"WIRED: kubelet runs this binary as provider \"cloud-credential-provider\""
echo "node view, running kubelet: $(tail -n1 /tmp/out)"
sleep 1.2
/opt/ccp/ccp install --bin-dir $bindir --drop-in-names --config /opt/ccp/eks.yaml --config-dest $config >/dev/null
status --bin-dir $bindir --config-dest $config
expect 1 "FAIL: $config changed at " ", after kubelet started at " \
	"fix (kubeadm): systemctl restart kubelet, so kubelet reads its config again"
echo "node view, config newer than kubelet: $(grep "^NOT WIRED" /tmp/out)"
kill $kubelet_pid; wait $kubelet_pid 2>/dev/null || true
start_kubelet
status --bin-dir $bindir --config-dest $config
expect 0 "WIRED: "
kill $kubelet_pid; wait $kubelet_pid 2>/dev/null || true

# 2. The pod: the base DaemonSet'"'"'s read-only mounts under /host, the probe'"'"'s command line,
# no kubelet process in sight.
[ -s /opt/ccp/pod.txt ] || exit 0
while read -r kind src dst type; do
	[ "$kind" = mount ] || continue
	if [ "$type" = File ]; then mkdir -p "$(dirname "$dst")"; : >"$dst"; else mkdir -p "$dst"; fi
	mount --bind "$src" "$dst"
	mount -o remount,bind,ro "$dst"
done </opt/ccp/pod.txt
read -r -a probe < <(sed -n "s/^probe //p" /opt/ccp/pod.txt)
probe() { code=0; unshare --pid --fork --mount-proc --propagation unchanged /opt/ccp/ccp "${probe[@]}" >/tmp/out 2>&1 || code=$?; }
probe
expect 0 "kubelet: no process visible" \
	"read: /usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf (read)" \
	"flag: --image-credential-provider-bin-dir=$bindir (from KUBELET_EXTRA_ARGS in /etc/default/kubelet)" \
	"ok: kubelet reads the config install wrote ($config)" "WIRED: "
echo "pod view, flags in /etc/default/kubelet: $(tail -n1 /tmp/out)"
touch /host/etc/default/probe-wrote-this 2>/dev/null && { echo "the pod view is writable"; exit 1; }

echo "KUBELET_EXTRA_ARGS=" >/etc/default/kubelet
probe
expect 1 "NOT WIRED: kubelet has no --image-credential-provider-config" \
	"fix (kubeadm): add --image-credential-provider-bin-dir=$bindir --image-credential-provider-config=$config to KUBELET_EXTRA_ARGS"
echo "pod view, no flags: $(grep "^NOT WIRED" /tmp/out)"

# An RPM-based node: the flags in /etc/sysconfig/kubelet, which the base does not mount.
rm /etc/default/kubelet
mkdir -p /etc/sysconfig
echo "KUBELET_EXTRA_ARGS=$flags" >/etc/sysconfig/kubelet
sed -i "s|EnvironmentFile=-/etc/default/kubelet|EnvironmentFile=-/etc/sysconfig/kubelet|" /usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf
probe
expect 1 "read: /etc/sysconfig/kubelet (not visible here)" \
	"UNKNOWN: kubelet'"'"'s flags are not visible here" \
	"fix (kubeadm): add deploy/kustomize/components/sysconfig"
echo "pod view, RPM node without the sysconfig mount: $(grep "^UNKNOWN" /tmp/out)"
mkdir -p /host/etc/sysconfig
mount --bind /etc/sysconfig /host/etc/sysconfig
mount -o remount,bind,ro /host/etc/sysconfig
probe
expect 0 "flag: --image-credential-provider-config=$config (from KUBELET_EXTRA_ARGS in /etc/sysconfig/kubelet)" "WIRED: "
echo "pod view, RPM node with components/sysconfig: $(tail -n1 /tmp/out)"
'
NS
echo "kubelet_status_node.sh: ok"
