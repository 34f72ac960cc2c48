# fstests-local: set up TEST_DEV and SCRATCH_DEV on zram and run ./check.
set -eu
. /rapido/lib/zram.sh
fs=${RAPIDO_FSTESTS_FS:-ext4}
size=${RAPIDO_FSTESTS_SIZE:-1G}
if [ ! -x /fstests/check ]; then
	echo "fstests-local: /fstests/check missing: is rapido.fstests.src an fstests checkout?"
	exit 1
fi
test_dev=$(zram_dev "$size")
scratch_dev=$(zram_dev "$size")
mkfs_for "$fs" "$test_dev"
mkdir -p /mnt/test /mnt/scratch
# fstests runs some tests as these users and groups.
grep -q '^fsgqa:' /etc/passwd 2>/dev/null || {
	mkdir -p /etc
	cat >>/etc/passwd <<'PW'
root:x:0:0:root:/root:/bin/sh
fsgqa:x:1000:1000:fsgqa:/home/fsgqa:/bin/sh
fsgqa2:x:1001:1001:fsgqa2:/home/fsgqa2:/bin/sh
123456-fsgqa:x:1002:1002::/home/123456-fsgqa:/bin/sh
daemon:x:2:2:daemon:/:/bin/false
nobody:x:65534:65534:nobody:/:/bin/false
PW
	cat >>/etc/group <<'GR'
root:x:0:
fsgqa:x:1000:
fsgqa2:x:1001:
123456-fsgqa:x:1002:
daemon:x:2:
nogroup:x:65534:
GR
}
mkdir -p /fstests/configs
cat >"/fstests/configs/$(hostname).config" <<CF
FSTYP=$fs
TEST_DEV=$test_dev
TEST_DIR=/mnt/test
SCRATCH_DEV=$scratch_dev
SCRATCH_MNT=/mnt/scratch
CF
cd /fstests
echo "fstests-local: $fs, TEST_DEV=$test_dev SCRATCH_DEV=$scratch_dev: ./check ${RAPIDO_FSTESTS_TESTS:--g quick}"
# shellcheck disable=SC2086 # the test list is words on purpose
exec ./check ${RAPIDO_FSTESTS_TESTS:--g quick}
