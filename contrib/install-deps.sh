#!/usr/bin/env bash
# Installs, from Debian's packages, whatever git rapido's build, tests, demo
# and benchmarks need and this machine lacks. Safe to run again: it asks apt
# only for the packages that are missing.
set -euo pipefail

# package:probe — the probe is a command or a file whose presence means the
# package (or an equivalent) is already installed.
wanted=(
	git:git
	make:make
	gcc:gcc
	flex:flex
	bison:bison
	bc:bc
	cpio:cpio
	kmod:depmod
	ccache:ccache
	gnupg:gpg
	libelf-dev:/usr/include/libelf.h
	libssl-dev:/usr/include/openssl/ssl.h
	qemu-system-x86:qemu-system-x86_64
	qemu-system-arm:qemu-system-aarch64
	gcc-aarch64-linux-gnu:aarch64-linux-gnu-gcc
	busybox-static:/bin/busybox
	linux-source-6.1:/usr/src/linux-source-6.1.tar.xz
	iproute2:ip
	xz-utils:xz
	man-db:man
	e2fsprogs:/sbin/mkfs.ext4
	dmsetup:/sbin/dmsetup
	rsync:rsync
)
if [ "${RAPIDO_DEPS_BENCH:-}" = 1 ]; then
	wanted+=(dracut-core:/usr/bin/dracut hyperfine:hyperfine jq:jq)
fi

missing=()
for w in "${wanted[@]}"; do
	pkg=${w%%:*} probe=${w#*:}
	if [[ $probe == /* ]]; then
		[ -e "$probe" ] && continue
	else
		command -v "$probe" >/dev/null 2>&1 && continue
	fi
	missing+=("$pkg")
done

if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
	missing+=(golang-go)
fi

[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo=sudo
	else
		echo "install-deps: not root and no sudo; install these yourself: ${missing[*]}" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
