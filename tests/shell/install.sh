#!/usr/bin/env bash
# scripts/install.sh into a scratch bin dir: the binary, the drop-in names, and a refused install
# when kubelet would refuse the config. CCP_BIN is the debug binary (scripts/test.sh sets it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${CCP_BIN:?set by scripts/test.sh}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

scripts/install.sh --bin-dir "$dir/bin" --binary "$CCP_BIN" --drop-in-names \
	--config provider-config/eks.yaml >/dev/null
[ -x "$dir/bin/cloud-credential-provider" ] || { echo "binary not installed"; exit 1; }
[ "$(stat -c %a "$dir/bin/cloud-credential-provider")" = 755 ] || { echo "wrong mode"; exit 1; }
request='{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"registry.example.com/app"}'
for name in ecr-credential-provider acr-credential-provider auth-provider-gcp; do
	[ "$(readlink "$dir/bin/$name")" = cloud-credential-provider ] || { echo "$name not linked"; exit 1; }
	out=$(echo "$request" | "$dir/bin/$name" get-credentials)
	case "$out" in
	*'"auth":{}'*) ;;
	*) echo "$name answered: $out"; exit 1 ;;
	esac
done

# --config-dest installs the config too; a second run changes nothing and says so.
out=$(scripts/install.sh --bin-dir "$dir/bin" --binary "$CCP_BIN" --drop-in-names \
	--config provider-config/eks.yaml --config-dest "$dir/etc/config.yaml")
cmp -s provider-config/eks.yaml "$dir/etc/config.yaml" || { echo "config not installed"; exit 1; }
case "$out" in
*installed* | *linked*) echo "second install rewrote the binary or links: $out"; exit 1 ;;
esac
[ "$(grep -c '^unchanged ' <<<"$out")" = 4 ] || { echo "expected 4 unchanged lines: $out"; exit 1; }
grep -q "^wrote $dir/etc/config.yaml\$" <<<"$out" || { echo "config not reported: $out"; exit 1; }

printf 'apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders: []\n' >"$dir/bad.yaml"
if scripts/install.sh --bin-dir "$dir/bin2" --binary "$CCP_BIN" --config "$dir/bad.yaml" >/dev/null 2>&1; then
	echo "install went ahead with a config kubelet refuses"
	exit 1
fi
[ ! -e "$dir/bin2/cloud-credential-provider" ] || { echo "refused install left a binary"; exit 1; }
if scripts/install.sh --bin-dir "$dir/bin3" --binary "$CCP_BIN" --config "$dir/bad.yaml" \
	--config-dest "$dir/etc3/config.yaml" >/dev/null 2>&1; then
	echo "install went ahead with a config kubelet refuses (--config-dest)"
	exit 1
fi
[ ! -e "$dir/bin3" ] && [ ! -e "$dir/etc3" ] || { echo "refused install left files"; exit 1; }
echo "install.sh: ok"
