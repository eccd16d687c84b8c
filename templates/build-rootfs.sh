#!/bin/bash
# Builds what a template boots: a kernel and an ext4 root image, plus,
# for Debian's cloud kernel (recipe kernel=debian-cloud), an initramfs
# with the guest agent and the modules it needs to reach the root disk.
# thaw's own kernel (kernel=thaw, the default; build-kernel.sh) has its
# drivers built in and boots without one. Called by thawd during a bake:
#
#   build-rootfs.sh RECIPE_DIR OUT_DIR CACHE_DIR AGENT_BINARY DISK_MB
#
# The debootstrap tree and the kernel package are cached in CACHE_DIR,
# keyed by what determines them, so a re-bake downloads nothing.
# Every line printed is a progress message for the user.
set -euo pipefail

recipe_dir=$1 out=$2 cache=$3 agent=$4 disk_mb=$5
suite=bookworm mirror=http://deb.debian.org/debian variant=minbase packages="" modules=""
kernel=thaw kernel_package=linux-image-cloud-amd64
# shellcheck source=/dev/null
. "$recipe_dir/recipe.conf"
mirror=${THAW_DEBIAN_MIRROR:-$mirror}

mkdir -p "$cache"
# One build at a time per cache: two bakes must not debootstrap into
# the same tree.
exec 9>"$cache/.lock"
flock 9

say() { echo "$*"; }

rootfs_tree() {
	local key tree tmp log pid
	key=$(printf '%s|%s|%s|%s' "$suite" "$mirror" "$variant" "$packages" | sha256sum | cut -c1-16)
	tree="$cache/rootfs-$key"
	if [ -d "$tree" ]; then
		say "root file system: cached ($suite, packages: ${packages:-none})"
		echo "$tree" >"$out/.tree"
		return
	fi
	tmp="$tree.tmp"
	log="$cache/debootstrap-$key.log"
	rm -rf "$tmp"
	say "root file system: debootstrap $suite ($variant, packages: ${packages:-none}) from $mirror"
	debootstrap --variant="$variant" ${packages:+--include="$packages"} "$suite" "$tmp" "$mirror" >"$log" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		sleep 3
		say "debootstrap: $(tail -n 1 "$log" | cut -c1-100)"
	done
	if ! wait "$pid"; then
		say "debootstrap failed; last lines of $log:"
		tail -n 5 "$log"
		exit 1
	fi
	# Shrink: package caches and lists are not needed inside a sandbox.
	rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
	printf '127.0.0.1 localhost\n::1 localhost\n' >"$tmp/etc/hosts"
	echo thaw >"$tmp/etc/hostname"
	: >"$tmp/etc/machine-id"
	mv "$tmp" "$tree"
	say "root file system: $(du -sh "$tree" | cut -f1) installed"
	echo "$tree" >"$out/.tree"
}

kernel_tree() {
	local pkg dir tmp
	pkg=$(apt-cache depends "$kernel_package" 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[ -n "$pkg" ] || pkg=$kernel_package
	dir="$cache/kernel-$pkg"
	if [ ! -d "$dir" ]; then
		say "kernel: downloading $pkg"
		tmp="$dir.tmp"
		rm -rf "$tmp" && mkdir -p "$tmp"
		(cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1) || {
			say "kernel: cannot download $pkg (run apt-get update?)"
			exit 1
		}
		dpkg-deb -x "$tmp"/*.deb "$tmp/root"
		mkdir -p "$dir.new"
		mv "$tmp/root/boot" "$tmp/root/lib" "$dir.new/"
		rm -rf "$tmp"
		mv "$dir.new" "$dir"
	else
		say "kernel: cached ($pkg)"
	fi
	echo "$dir" >"$out/.kernel"
}

initramfs() {
	local kdir=$1 stage n=10 m ko
	stage=$(mktemp -d)
	mkdir -p "$stage"/{dev,proc,newroot,modules}
	install -m 0755 "$agent" "$stage/init"
	for m in $modules; do
		ko=$(find "$kdir"/lib/modules/*/kernel -name "$m.ko" -o -name "$m.ko.xz" | head -n 1)
		[ -n "$ko" ] || { say "initramfs: module $m not found in the kernel package"; exit 1; }
		case $ko in
		*.xz) xz -dc "$ko" >"$stage/modules/$n-$m.ko" ;;
		*) cp "$ko" "$stage/modules/$n-$m.ko" ;;
		esac
		n=$((n + 1))
	done
	(cd "$stage" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) | gzip -1 >"$out/initrd.img"
	rm -rf "$stage"
	say "initramfs: guest agent + $((n - 10)) modules"
}

rootfs_tree
tree=$(cat "$out/.tree")
rm -f "$out/.tree"
case $kernel in
thaw)
	"$(dirname "$0")/build-kernel.sh" "$out/vmlinuz" "$out/.kernel-id"
	;;
debian-cloud)
	kernel_tree
	kdir=$(cat "$out/.kernel")
	rm -f "$out/.kernel"
	cp "$kdir"/boot/vmlinuz-* "$out/vmlinuz"
	echo "debian-cloud $(basename "$kdir"/boot/vmlinuz-* | sed 's/^vmlinuz-//')" >"$out/.kernel-id"
	initramfs "$kdir"
	;;
*)
	say "unknown kernel \"$kernel\" (thaw or debian-cloud)"
	exit 1
	;;
esac
# The agent lives on the root disk: thaw's kernel starts it there as
# init; stage 1 in the cloud kernel's initramfs execs it from there once
# the disk is mounted.
install -m 0755 "$agent" "$tree/usr/sbin/thaw-agent"
# A user that is not root, for exec's "user": "user" (uid and gid 1000,
# home /home/user). Added to the cached tree once; every bake checks.
if ! grep -q '^user:' "$tree/etc/passwd"; then
	echo 'user:x:1000:1000:thaw user:/home/user:/bin/bash' >>"$tree/etc/passwd"
	grep -q '^user:' "$tree/etc/group" || echo 'user:x:1000:' >>"$tree/etc/group"
	if [ -f "$tree/etc/shadow" ]; then echo 'user:*:20000:0:99999:7:::' >>"$tree/etc/shadow"; fi
fi
mkdir -p "$tree/home/user"
chown 1000:1000 "$tree/home/user"
chmod 0750 "$tree/home/user"
# The recipe's own files (RECIPE/rootfs/...) go over the tree.
if [ -d "$recipe_dir/rootfs" ]; then
	cp -a "$recipe_dir/rootfs/." "$tree/"
	say "root files: $(find "$recipe_dir/rootfs/" -type f | wc -l) from the recipe"
fi
# The recipe's guest libraries (RECIPE/lib/NAME.c: small shims, libc
# only) are built here with the host's compiler into /usr/lib/thaw/NAME.so;
# no compiler goes into the image.
for src in "$recipe_dir"/lib/*.c; do
	[ -f "$src" ] || continue
	mkdir -p "$tree/usr/lib/thaw"
	gcc -shared -fPIC -O2 -Wall -Wextra -Werror -fno-stack-protector \
		-o "$tree/usr/lib/thaw/$(basename "$src" .c).so" "$src"
	say "guest library: /usr/lib/thaw/$(basename "$src" .c).so"
done
say "root image: ext4, ${disk_mb} MiB (sparse)"
# No lazy init: otherwise the guest kernel would zero inode tables in the
# background after boot, in every clone. Packed metadata: bitmaps and
# inode tables at the start of the image, in few extents, so that a
# reflink clone costs the same whatever the disk size.
truncate -s "${disk_mb}M" "$out/rootfs.img"
mkfs.ext4 -q -F -L thaw-root -E lazy_itable_init=0,lazy_journal_init=0,packed_meta_blocks=1 \
	-d "$tree" "$out/rootfs.img"
