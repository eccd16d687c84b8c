#!/bin/bash
# Builds thaw's guest kernel (docs/guest-kernel.md): Debian's kernel
# source package, `make tinyconfig`, then templates/kernel/thaw.config
# merged over it with the kernel's own scripts/kconfig/merge_config.sh.
# Called by build-rootfs.sh during a bake:
#
#   build-kernel.sh OUT_KERNEL OUT_ID
#
# The result is cached machine-wide (THAW_KERNEL_CACHE, default
# /var/cache/thaw/kernel), keyed by the source package's version, the
# configuration fragment, the compiler and this script: every thawd on
# the machine, every data dir and every CI run reuse one build. A build
# takes minutes on two cores; it prints progress every 10 s, and its
# duration is recorded next to it (build-seconds).
#
# OUT_KERNEL gets the uncompressed vmlinux: QEMU starts it at its PVH
# entry point, so no decompressor runs at boot. OUT_ID gets one line
# naming it: "thaw <version> <config hash>".
set -euo pipefail

out_kernel=$1 out_id=$2
here=$(cd "$(dirname "$0")" && pwd)
fragment=$here/kernel/thaw.config
series=6.1
pkg=linux-source-$series
cache=${THAW_KERNEL_CACHE:-/var/cache/thaw/kernel}

say() { echo "kernel: $*"; }

for tool in make gcc flex bison bc; do
	command -v "$tool" >/dev/null || { say "$tool is missing (run make deps)"; exit 1; }
done
[ -e /usr/include/libelf.h ] || { say "libelf-dev is missing (run make deps)"; exit 1; }

mkdir -p "$cache"
# One build at a time on the machine: concurrent bakes (several thawds,
# several templates) wait for the first and then find it cached.
exec 8>"$cache/.lock"
flock 8

# The source: the installed package's tarball, or the package itself
# downloaded into the cache (apt-get download: nothing is installed).
tarball=/usr/src/$pkg.tar.xz
version=$(dpkg-query -W -f='${Status} ${Version}' "$pkg" 2>/dev/null |
	awk '$3 == "installed" { print $4 }')
if [ -z "$version" ] || [ ! -f "$tarball" ]; then
	version=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ { print $2 }')
	[ -n "$version" ] && [ "$version" != "(none)" ] ||
		{ say "no $pkg package is known to apt (run apt-get update)"; exit 1; }
	tarball=$cache/$pkg-$version.tar.xz
	if [ ! -f "$tarball" ]; then
		say "downloading $pkg $version"
		tmp=$(mktemp -d "$cache/download.XXXXXX")
		(cd "$tmp" && apt-get download "$pkg=$version" >/dev/null 2>&1) ||
			{ rm -rf "$tmp"; say "cannot download $pkg $version"; exit 1; }
		dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" "./usr/src/$pkg.tar.xz"
		mv "$tmp/usr/src/$pkg.tar.xz" "$tarball.tmp" && mv "$tarball.tmp" "$tarball"
		rm -rf "$tmp"
	fi
fi

key=$({ echo "$version"; cat "$fragment"; gcc --version | head -n 1; cat "$0"; } |
	sha256sum | cut -c1-16)
config_hash=$(sha256sum "$fragment" | cut -c1-8)
upstream=${version%%-*}
dir=$cache/thaw-$key
if [ -f "$dir/vmlinux" ]; then
	say "cached (thaw $upstream, config $config_hash, built in $(cat "$dir/build-seconds") s)"
else
	work=$cache/build-$key.tmp
	rm -rf "$work" "$dir.new"
	mkdir -p "$work"
	# The source tree and objects (about 1.5 GiB) never outlive the build.
	trap 'rm -rf "$work" "$dir.new"' EXIT
	started=$(date +%s)
	say "unpacking $pkg $version"
	tar -xJf "$tarball" -C "$work" --strip-components=1
	log=$work/build.log
	(
		cd "$work"
		make -s tinyconfig >"$log" 2>&1
		scripts/kconfig/merge_config.sh -m .config "$fragment" >>"$log" 2>&1
		make -s olddefconfig >>"$log" 2>&1
	)
	# The fragment is the whole truth: an option that did not survive the
	# merge (renamed, or missing a dependency) fails the build instead of
	# silently giving another kernel.
	bad=0
	while read -r line; do
		grep -qx "$line" "$work/.config" || { say "config: $line did not hold"; bad=1; }
	done < <(grep -E '^CONFIG_' "$fragment")
	while read -r _ opt _; do
		grep -q "^$opt=" "$work/.config" && { say "config: $opt is set, expected off"; bad=1; }
	done < <(grep -E '^# CONFIG_[A-Z0-9_]+ is not set' "$fragment")
	[ "$bad" -eq 0 ] || { say "the configuration fragment does not hold (see above)"; exit 1; }
	say "compiling $upstream on $(nproc) cores (minutes; the result is cached)"
	# KBUILD_BUILD_*: the same source and configuration give the same
	# image on every machine.
	make -C "$work" -j"$(nproc)" KBUILD_BUILD_USER=thaw KBUILD_BUILD_HOST=thaw \
		KBUILD_BUILD_TIMESTAMP="$version" vmlinux >>"$log" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		sleep 10
		say "compiling: $(grep -c '^  CC ' "$log" || true) files, $(($(date +%s) - started)) s"
	done
	if ! wait "$pid"; then
		say "compile failed; last lines of the log:"
		tail -n 15 "$log"
		exit 1
	fi
	mkdir -p "$dir.new"
	# Symbols are of no use to QEMU, which loads the segments.
	objcopy --strip-all "$work/vmlinux" "$dir.new/vmlinux"
	cp "$work/.config" "$dir.new/config"
	# The symbols of the stripped kernel, for profiling a guest's paths
	# (docs/guest-kernel.md, "Where a restore's time goes").
	cp "$work/System.map" "$dir.new/System.map"
	echo "$(($(date +%s) - started))" >"$dir.new/build-seconds"
	echo "thaw $upstream $config_hash" >"$dir.new/id"
	sync -f "$dir.new/vmlinux"
	mv "$dir.new" "$dir"
	rm -rf "$work"
	say "built thaw $upstream in $(cat "$dir/build-seconds") s, $(($(stat -c %s "$dir/vmlinux") / 1024)) KiB"
fi
cp "$dir/vmlinux" "$out_kernel"
cp "$dir/id" "$out_id"
