#!/usr/bin/env bash
# Image cut: git rapido's Go cutter vs dracut (Debian dracut-core), both
# producing an uncompressed image with the same programs: busybox and git
# rapido's static /init. dracut adds its minimal "base" module, the least it
# can build; the image sizes are recorded next to the times.
source "$(dirname "$0")/lib.sh"
need dracut
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" # outside any git repository: a manifest without kmod lines needs no kernel tree
bb=$(command -v busybox)
bench_pair cut-vs-dracut "cut the default test image (busybox + /init)" 5 \
	"$RAPIDO_BIN cut --cut boot -o $tmp/rapido.img" \
	"dracut" \
	"dracut --quiet --force --no-kernel --no-hostonly --no-hostonly-cmdline --no-early-microcode --no-compress --reproducible --modules base --install '$bb $RAPIDO_BIN' $tmp/dracut.img"
bench_value cut-size-rapido "image size, git rapido (boot cut)" "$(stat -c %s "$tmp/rapido.img")" bytes \
	"$(cpio -it <"$tmp/rapido.img" 2>/dev/null | wc -l) entries"
bench_value cut-size-dracut "image size, dracut (base module)" "$(stat -c %s "$tmp/dracut.img")" bytes \
	"$(cpio -it <"$tmp/dracut.img" 2>/dev/null | wc -l) entries"
