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
	zsh:zsh
	bsdutils:script
	e2fsprogs:/sbin/mkfs.ext4
	dmsetup:/sbin/dmsetup
	rsync:rsync
	icecc:/usr/sbin/iceccd
	openssh-server:/usr/sbin/sshd
	openssh-client:ssh
	util-linux:unshare
	b4:b4
	# also /usr/lib/qemu/virtiofsd on Debian 12 (shares over virtiofs)
	qemu-system-common:qemu-storage-daemon
	qemu-utils:qemu-io
	btrfs-progs:/sbin/mkfs.btrfs
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

# Go: go.mod names the version the build needs. Debian's golang-go is
# older, so an older or missing go is replaced by the official toolchain,
# fetched from the Go module proxy (the same zip "GOTOOLCHAIN" downloads)
# into /usr/local/go (root) or ~/.local/go, where the Makefile finds it.
here=$(cd "$(dirname "$0")/.." && pwd)
need_go=$(awk '$1 == "go" { print $2; exit }' "$here/go.mod")
go_version() { "$1" env GOVERSION 2>/dev/null | sed 's/^go//'; }
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }
have_go=
for g in "$(command -v go 2>/dev/null)" /usr/local/go/bin/go "$HOME/.local/go/bin/go"; do
	[ -n "$g" ] && [ -x "$g" ] || continue
	v=$(go_version "$g")
	if [ -n "$v" ] && version_ge "$v" "$need_go"; then
		have_go=$g
		break
	fi
done
if [ -z "$have_go" ]; then
	command -v curl >/dev/null 2>&1 || missing+=(curl)
	command -v unzip >/dev/null 2>&1 || missing+=(unzip)
fi

install_go() {
	[ -n "$have_go" ] && return 0
	local arch dest tmp url
	case "$(uname -m)" in
	x86_64) arch=amd64 ;;
	aarch64) arch=arm64 ;;
	*) echo "install-deps: no Go toolchain download for $(uname -m); install Go $need_go yourself" >&2; exit 1 ;;
	esac
	dest=${RAPIDO_GO_ROOT:-$([ "$(id -u)" = 0 ] && echo /usr/local/go || echo "$HOME/.local/go")}
	url="${GOPROXY_URL:-https://proxy.golang.org}/golang.org/toolchain/@v/v0.0.1-go$need_go.linux-$arch.zip"
	echo "install-deps: installing Go $need_go into $dest (from $url)" >&2
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	curl -fsSL -o "$tmp/go.zip" "$url"
	unzip -q "$tmp/go.zip" -d "$tmp/x"
	rm -rf "$dest.new"
	mkdir -p "$(dirname "$dest")"
	mv "$tmp/x/golang.org/toolchain@v0.0.1-go$need_go.linux-$arch" "$dest.new"
	rm -rf "$dest"
	mv "$dest.new" "$dest"
	echo "install-deps: Go $("$dest/bin/go" env GOVERSION) in $dest/bin (put it on PATH, or let make find it there)" >&2
}

if [ ${#missing[@]} -eq 0 ]; then
	install_go
	exit 0
fi

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
install_go
