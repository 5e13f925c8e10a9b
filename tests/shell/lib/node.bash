# Sourced by the shell tests that play a node in a mount namespace (tests/shell/*.sh; this
# directory is not a test: scripts/test.sh runs tests/shell/*.sh only).

# node_test_start: the repository root as working directory; CCP_BIN required (scripts/test.sh
# sets it to the debug binary); a test that needs a mount namespace ends SKIPPED without root.
node_test_start() {
	cd "$(dirname "${BASH_SOURCE[0]}")/../../.." || exit 1
	: "${CCP_BIN:?set by scripts/test.sh}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIPPED: a mount namespace needs root"
		exit 0
	fi
}

# node_root ROOT [ro]: run inside a private mount namespace. ROOT gets the host's /usr, /bin,
# /sbin, /lib and /lib64 (bind mounts, read-only with `ro`; the merged-/usr links as links),
# /proc and /dev, so `chroot ROOT` runs the host's programs while everything else in ROOT is
# the test's.
node_root() {
	local root=$1 mode=${2:-rw} d
	for d in usr bin sbin lib lib64; do
		if [ -L "/$d" ]; then
			ln -s "$(readlink "/$d")" "$root/$d"
		elif [ -d "/$d" ]; then
			mkdir "$root/$d"
			mount --bind "/$d" "$root/$d"
			if [ "$mode" = ro ]; then
				mount -o remount,bind,ro "$root/$d"
			fi
		fi
	done
	mkdir -p "$root/proc" "$root/dev"
	mount -t proc proc "$root/proc"
	mount --bind /dev "$root/dev"
}
