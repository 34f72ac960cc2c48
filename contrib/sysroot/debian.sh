#!/usr/bin/env bash
# Makes a sysroot for a guest of another architecture from Debian's own
# packages for it, unpacked (never installed): the programs a cut's "bin"
# lines find there, with their loader and libraries. Point rapido.sysroot at
# the directory it prints.
#
# usage: contrib/sysroot/debian.sh ARCH [PACKAGE...]
#   ARCH is git rapido's name (arm64, x86_64); the packages default to
#   busybox-static, which is all the built-in cuts need.
# The sysroot is ${XDG_CACHE_HOME:-~/.cache}/git-rapido/sysroot-ARCH; it is
# made again only when the package list changes. The first run on a machine
# adds ARCH to dpkg's foreign architectures and updates apt's lists (root,
# or sudo).
set -euo pipefail

arch=${1:?usage: contrib/sysroot/debian.sh ARCH [PACKAGE...]}
shift
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(busybox-static)
case $arch in
arm64) deb=arm64 ;;
x86_64) deb=amd64 ;;
*) echo "sysroot: unknown architecture $arch (want arm64 or x86_64)" >&2; exit 1 ;;
esac

cache=${XDG_CACHE_HOME:-$HOME/.cache}/git-rapido
dir=$cache/sysroot-$arch
want="${pkgs[*]}"
if [ -f "$dir/.rapido-packages" ] && [ "$(cat "$dir/.rapido-packages")" = "$want" ]; then
	echo "$dir"
	exit 0
fi

sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
if [ "$deb" != "$(dpkg --print-architecture)" ] && ! dpkg --print-foreign-architectures | grep -qx "$deb"; then
	echo "sysroot: adding $deb to dpkg's architectures" >&2
	$sudo dpkg --add-architecture "$deb"
	$sudo apt-get update -qq >&2
fi

# Unpack into a temporary sibling and rename at the end, so an interrupted
# run never leaves a half-made sysroot that looks ready.
mkdir -p "$cache"
tmp=$(mktemp -d "$dir.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/debs" "$tmp/root"
chmod 0777 "$tmp/debs" # apt downloads as _apt when it can
sandbox=()
[ "$(id -u)" != 0 ] || sandbox=(-o APT::Sandbox::User=root) # root's home is not _apt's
(cd "$tmp/debs" && apt-get download -q "${sandbox[@]}" "${pkgs[@]/%/:$deb}" >&2)
for f in "$tmp"/debs/*.deb; do
	dpkg-deb -x "$f" "$tmp/root"
done
echo "$want" >"$tmp/root/.rapido-packages"
rm -rf "$dir"
mv "$tmp/root" "$dir"
echo "$dir"
