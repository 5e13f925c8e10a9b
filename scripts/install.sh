#!/usr/bin/env bash
# Install cloud-credential-provider into a kubelet credential-provider bin dir.
#
#   scripts/install.sh [--bin-dir DIR] [--binary PATH | --features LIST] [--drop-in-names]
#                      [--config FILE [--config-dest PATH]] [--dry-run]
#
#   --bin-dir DIR     kubelet's --image-credential-provider-bin-dir
#                     (default /usr/local/libexec/kubelet-credential-provider)
#   --binary PATH     install this binary instead of building `cargo build --release`
#   --features LIST   build only these clouds (comma list of aws, azure, gcp, vault; "" for none): a
#                     smaller binary for a node image that ships one cloud
#   --drop-in-names   also install the names of the plugins it replaces (ecr-credential-provider,
#                     acr-credential-provider, auth-provider-gcp) as symlinks, so an EKS, AKS or
#                     GKE node's existing kubelet config works unchanged
#   --config FILE     check this kubelet CredentialProviderConfig with validate-config first
#                     (the install is refused when kubelet would refuse to start)
#   --config-dest PATH  with --config: also install FILE there (the path kubelet's
#                     --image-credential-provider-config names), written atomically
#   --dry-run         say what would change, change nothing
#
# The work is done by the binary itself (`cloud-credential-provider install`, the same code the
# DaemonSet in deploy/ runs): the binary is copied atomically (temp file, fsync, mode 0755,
# rename), so a kubelet exec'ing the old one during the install never sees a half-written file;
# files already in place are left alone.
set -euo pipefail

bin_dir=/usr/local/libexec/kubelet-credential-provider
binary=
drop_in=0
config=
config_dest=
dry_run=
features=default
while [ "$#" -gt 0 ]; do
	case "$1" in
	--bin-dir) bin_dir=$2; shift 2 ;;
	--binary) binary=$2; shift 2 ;;
	--drop-in-names) drop_in=1; shift ;;
	--features) features=$2; shift 2 ;;
	--config) config=$2; shift 2 ;;
	--config-dest) config_dest=$2; shift 2 ;;
	--dry-run) dry_run=--dry-run; shift ;;
	-h | --help) sed -n '2,24p' "$0"; exit 0 ;;
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

args=(install --bin-dir "$bin_dir")
[ "$drop_in" = 0 ] || args+=(--drop-in-names)
[ -z "$dry_run" ] || args+=(--dry-run)
if [ -n "$config_dest" ]; then
	[ -n "$config" ] || { echo "install.sh: --config-dest needs --config" >&2; exit 2; }
	args+=(--config "$config" --config-dest "$config_dest")
elif [ -n "$config" ]; then
	# Checked only (the node's config is managed elsewhere): install refuses to go on otherwise.
	echo "==> validate-config $config"
	"$binary" validate-config "$config"
fi
"$binary" "${args[@]}"
