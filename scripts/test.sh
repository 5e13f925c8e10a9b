#!/usr/bin/env bash
# The test command:  scripts/test.sh [CARGO_TEST_ARGS...]
#
# 1. checks the test tools (installs them with scripts/install-test-deps.sh when root);
# 2. builds everything (`cargo build --all-targets`, `cargo test --no-run`) with network;
# 3. runs `cargo test --offline --no-fail-fast [ARGS] -- --include-ignored [TEST_ARGS]` with NO
#    network but loopback (scripts/loopback-only.sh), so no test can reach a real address. The
#    tests that need the tools above, root, or a loopback-only network are #[ignore]d, so that a
#    plain `cargo test` passes on any machine; here they run too;
# 4. runs the shell-level tests, tests/shell/*.sh (each gets CCP_BIN = the debug binary), the
#    same way.
# Exits non-zero when anything fails. Example: scripts/test.sh --test cli -- --nocapture
# (ARGS go to cargo, TEST_ARGS after `--` to the test binaries; `-- --ignored` runs only the
# ignored tests.)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PATH="$PATH:/usr/sbin:/sbin"

command -v cargo >/dev/null 2>&1 || {
	echo "test.sh: cargo not found (install Rust with rustup)" >&2
	exit 1
}

missing=()
for tool in docker-registry skopeo umoci htpasswd ip unshare; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# The Python fakes (moto, trustme) and OpenBao's bao live in .venv.
[ -x .venv/bin/python ] && [ -x .venv/bin/bao ] || missing+=(".venv")
if [ "${#missing[@]}" -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "==> missing ${missing[*]}: scripts/install-test-deps.sh"
		bash scripts/install-test-deps.sh
	else
		echo "test.sh: missing ${missing[*]}: run  sudo scripts/install-test-deps.sh" >&2
		exit 1
	fi
fi

echo "==> cargo build --all-targets"
cargo build --all-targets
echo "==> cargo test --no-run"
cargo test --no-run

# The caller's arguments with --include-ignored first among the test binaries' arguments
# (unless the caller chose --ignored or --include-ignored there).
cargo_args=()
test_args=()
seen_separator=0
for arg in "$@"; do
	if [ "$seen_separator" -eq 0 ] && [ "$arg" = -- ]; then
		seen_separator=1
	elif [ "$seen_separator" -eq 0 ]; then
		cargo_args+=("$arg")
	else
		test_args+=("$arg")
	fi
done
include_ignored=(--include-ignored)
for arg in ${test_args[@]+"${test_args[@]}"}; do
	case "$arg" in
	--ignored | --include-ignored) include_ignored=() ;;
	esac
done

failed=()
echo "==> cargo test (network: loopback only)"
bash scripts/loopback-only.sh cargo test --offline --no-fail-fast ${cargo_args[@]+"${cargo_args[@]}"} \
	-- ${include_ignored[@]+"${include_ignored[@]}"} ${test_args[@]+"${test_args[@]}"} ||
	failed+=("cargo test")

shopt -s nullglob
shell_tests=(tests/shell/*.sh)
if [ "${#shell_tests[@]}" -gt 0 ]; then
	echo "==> shell tests (network: loopback only)"
	target_dir=${CARGO_TARGET_DIR:-target}
	[[ "$target_dir" == /* ]] || target_dir="$(pwd)/$target_dir"
	# .cargo/config.toml builds for the host triple explicitly (static linking).
	host=$(rustc -vV | sed -n 's/^host: //p')
	CCP_BIN="$target_dir/$host/debug/cloud-credential-provider"
	export CCP_BIN
	passed=0
	for t in "${shell_tests[@]}"; do
		if bash scripts/loopback-only.sh bash "$t"; then
			echo "ok     $t"
			passed=$((passed + 1))
		else
			echo "FAILED $t"
			failed+=("$t")
		fi
	done
	echo "shell tests: $passed passed, $((${#shell_tests[@]} - passed)) failed"
fi

if [ "${#failed[@]}" -gt 0 ]; then
	echo "test.sh: FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "test.sh: all tests passed"
