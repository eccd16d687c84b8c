#!/bin/bash
# Installs what thaw needs on Debian 12, and nothing when it is all there.
# Idempotent; safe to run before every build.
set -euo pipefail

packages=(
	# build; clang only checks (scripts/lint.sh)
	gcc make pkg-config clang
	# libraries (docs/architecture.md says why each one is there)
	libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libsqlite3-dev
	libssl-dev libmnl-dev libnftables-dev libcmocka-dev libfuse3-dev libpq-dev
	# running VMs and building templates
	qemu-system-x86 qemu-utils fuse3 debootstrap xfsprogs cpio gzip util-linux iproute2 procps nftables
	# thaw's guest kernel (templates/build-kernel.sh): its source and what
	# compiling it needs
	linux-source-6.1 flex bison bc libelf-dev
	# end-to-end tests (the fleet's tests start a private PostgreSQL)
	python3 python3-pytest python3-pip postgresql-15 postgresql-client-15
)

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: run as root (thaw creates namespaces, taps and loop mounts)" >&2
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# The S3 server the tests start (npm's s3rver) needs node and npm; a
# host with another node (e.g. NodeSource's, which carries npm) keeps it.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

# Templates download the kernel package with apt-get download: package
# lists must exist even when nothing is missing.
lists=$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' 2>/dev/null | head -n 1)
if [ ${#missing[@]} -gt 0 ] || [ -z "$lists" ]; then
	echo "install-deps: apt-get update"
	apt-get update -q >/dev/null
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# Kernel features thawd uses; built in on some kernels, modules on others.
for m in tun loop xfs; do
	modprobe "$m" 2>/dev/null || true
done
[ -e /dev/net/tun ] || { echo "install-deps: /dev/net/tun is missing" >&2; exit 1; }
echo "install-deps: ok"
