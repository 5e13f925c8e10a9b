#!/usr/bin/env bash
# Build the cloud-credential-provider container image without a container daemon.
#
#   deploy/image/build.sh BINARY LAYOUT [TAG]
#
#   BINARY  the static binary (target/<host triple>/release/cloud-credential-provider)
#   LAYOUT  an OCI image layout directory to create or add to (umoci's format; skopeo copies
#           it anywhere: skopeo copy oci:LAYOUT:TAG docker://REGISTRY/cloud-credential-provider:TAG)
#   TAG     default: the binary's version (first line of --version)
#
# The image is FROM scratch: one layer holding /cloud-credential-provider (mode 0755, root) and
# nothing else: no shell, no libc, no CA bundle. It needs none: the binary is static, and in the
# DaemonSet it only copies files (install, sync-docker-config); kubelet runs the installed copy
# on the host, where the host's trust store and resolv.conf apply.
#
# Entrypoint /cloud-credential-provider, no cmd (the pod spec gives the command's arguments).
# User 0:0, because the DaemonSet writes into host directories owned by root
# (/usr/local/libexec/kubelet-credential-provider, /etc/kubernetes/credential-provider) and the
# files it writes must be owned by root: kubelet (root) runs the binary, and a Docker config
# owned by anyone else would let that user plant credentials. The pod drops every capability,
# so this root can write only where root's ordinary owner permissions allow, in the two mounted
# directories; everything else in the container is read-only.
set -euo pipefail

[ "$#" -ge 2 ] && [ "$#" -le 3 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
binary=$1
layout=$2
[ -x "$binary" ] || { echo "build.sh: $binary is not an executable" >&2; exit 1; }
tag=${3:-$("$binary" --version | sed -n '1s/^cloud-credential-provider //p')}
[ -n "$tag" ] || { echo "build.sh: no tag given and none from $binary --version" >&2; exit 1; }

# Unprivileged builds record root as the owner through --rootless.
rootless=()
[ "$(id -u)" -eq 0 ] || rootless=(--rootless)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# unpack + repack rather than `umoci insert`: umoci 0.4.7's insert writes a layer tar without
# the padding after the file and without the end-of-archive blocks (GNU tar: "Unexpected EOF in
# archive"), which a runtime's tar reader may refuse. repack writes a complete tar.
[ -e "$layout/index.json" ] || umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci unpack "${rootless[@]}" --image "$layout:$tag" "$work/bundle" >/dev/null
install -m 0755 "$binary" "$work/bundle/rootfs/cloud-credential-provider"
umoci repack --image "$layout:$tag" "$work/bundle"
umoci config --image "$layout:$tag" \
	--config.entrypoint /cloud-credential-provider \
	--clear config.cmd \
	--config.user 0:0 \
	--config.workingdir / \
	--config.label org.opencontainers.image.title=cloud-credential-provider \
	--config.label "org.opencontainers.image.version=$tag" \
	--history.created_by "deploy/image/build.sh"
# Drop the blobs the intermediate steps left behind.
umoci gc --layout "$layout"
echo "built $layout:$tag"
