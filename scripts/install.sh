#!/usr/bin/env bash
# Install cloud-credential-provider into a kubelet credential-provider bin dir.
#
#   scripts/install.sh [--bin-dir DIR] [--binary PATH] [--drop-in-names] [--config FILE]
#
#   --bin-dir DIR     kubelet's --image-credential-provider-bin-dir
#                     (default /usr/local/libexec/kubelet-credential-provider)
#   --binary PATH     install this binary instead of building `cargo build --release`
#   --drop-in-names   also install the names of the plugins it replaces (ecr-credential-provider,
#                     acr-credential-provider, auth-provider-gcp) as symlinks, so an EKS, AKS or
#                     GKE node's existing kubelet config works unchanged
#   --config FILE     check this kubelet CredentialProviderConfig with validate-config first
#                     (the install is refused when kubelet would refuse to start)
#
# The binary is copied atomically (temp file + rename), mode 0755, so a kubelet exec'ing the old
# one during the install never sees a half-written file.
set -euo pipefail

bin_dir=/usr/local/libexec/kubelet-credential-provider
binary=
drop_in=0
config=
while [ "$#" -gt 0 ]; do
	case "$1" in
	--bin-dir) bin_dir=$2; shift 2 ;;
	--binary) binary=$2; shift 2 ;;
	--drop-in-names) drop_in=1; shift ;;
	--config) config=$2; shift 2 ;;
	-h | --help) sed -n '2,17p' "$0"; exit 0 ;;
	*) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "$binary" ]; then
	echo "==> cargo build --release"
	cargo build --release
	binary=${CARGO_TARGET_DIR:-target}/release/cloud-credential-provider
fi
[ -x "$binary" ] || { echo "install.sh: $binary is not an executable" >&2; exit 1; }

if [ -n "$config" ]; then
	echo "==> validate-config $config"
	"$binary" validate-config "$config"
fi

mkdir -p "$bin_dir"
tmp="$bin_dir/.cloud-credential-provider.$$"
cp "$binary" "$tmp"
chmod 0755 "$tmp"
mv -f "$tmp" "$bin_dir/cloud-credential-provider"
echo "installed $bin_dir/cloud-credential-provider ($("$bin_dir/cloud-credential-provider" --version))"

if [ "$drop_in" = 1 ]; then
	for name in ecr-credential-provider acr-credential-provider auth-provider-gcp; do
		ln -sfn cloud-credential-provider "$bin_dir/$name"
		echo "linked   $bin_dir/$name -> cloud-credential-provider"
	done
fi
