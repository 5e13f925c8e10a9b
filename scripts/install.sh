#!/usr/bin/env bash
# Install cloud-credential-provider into a kubelet credential-provider bin dir.
#
#   scripts/install.sh [--bin-dir DIR] [--binary PATH | --features LIST] [--drop-in-names]
#                      [--config FILE]
#
#   --bin-dir DIR     kubelet's --image-credential-provider-bin-dir
#                     (default /usr/local/libexec/kubelet-credential-provider)
#   --binary PATH     install this binary instead of building `cargo build --release`
#   --features LIST   build only these clouds (comma list of aws, azure, gcp; "" for none): a
#                     smaller binary for a node image that ships one cloud
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
features=default
while [ "$#" -gt 0 ]; do
	case "$1" in
	--bin-dir) bin_dir=$2; shift 2 ;;
	--binary) binary=$2; shift 2 ;;
	--drop-in-names) drop_in=1; shift ;;
	--features) features=$2; shift 2 ;;
	--config) config=$2; shift 2 ;;
	-h | --help) sed -n '2,19p' "$0"; exit 0 ;;
	*) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "$binary" ]; then
	feature_args=()
	[ "$features" = default ] || feature_args=(--no-default-features --features "$features")
	echo "==> cargo build --release ${feature_args[*]}"
	cargo build --release "${feature_args[@]}"
	# .cargo/config.toml builds for the host triple explicitly (static linking).
	host=$(rustc -vV | sed -n 's/^host: //p')
	binary=${CARGO_TARGET_DIR:-target}/$host/release/cloud-credential-provider
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
