#!/bin/sh
# kselftest host hook. "prepare": build and install the kselftest targets
# of the tree under test (make kselftest-install, with the build's
# headers), and pack them as a cpio archive that QEMU attaches as a disk.
set -eu
[ "$1" = prepare ] || exit 0
targets=${RAPIDO_KSELFTEST_TARGETS:-sigaltstack size}
out=$RAPIDO_RUNDIR/kselftest
echo "kselftest-hook: building $targets"
# The build directory is git rapido's: take its lock as git rapido does.
flock "$RAPIDO_BUILDDIR/.rapido-lock" \
	make -s -C "$RAPIDO_SRCDIR" O="$RAPIDO_BUILDDIR" -j"$(nproc)" \
	TARGETS="$targets" KSFT_INSTALL_PATH="$out" kselftest-install
cd "$out"
find . | cpio -o -H newc --quiet >"$RAPIDO_RUNDIR/kselftest.img"
# A disk is whole sectors.
truncate -s %512 "$RAPIDO_RUNDIR/kselftest.img"
rm -rf "$out"
