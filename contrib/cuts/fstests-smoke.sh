# fstests-smoke: mkfs, mount, write+fsync, remount, read back, umount, fsck.
set -eu
. /rapido/lib/zram.sh
fs=${RAPIDO_FSTESTS_FS:-ext4}
dev=$(zram_dev 256M)
echo "fstests-smoke: $fs on $dev"
mkfs_for "$fs" "$dev"
mkdir -p /mnt/test
mount -t "$fs" "$dev" /mnt/test
dd if=/dev/urandom of=/tmp/pattern bs=64k count=64 2>/dev/null
dd if=/tmp/pattern of=/mnt/test/file bs=64k conv=fsync 2>/dev/null
want=$(sha256sum </tmp/pattern)
umount /mnt/test
# A fresh mount reads from the device, not from this mount's page cache.
echo 3 >/proc/sys/vm/drop_caches
mount -t "$fs" "$dev" /mnt/test
got=$(sha256sum </mnt/test/file)
if [ "$got" != "$want" ]; then
	echo "fstests-smoke: read back differs from what was written"
	exit 1
fi
umount /mnt/test
fsck_for "$fs" "$dev"
echo "fstests-smoke: $fs passed (4 MiB written, read back identical, fsck clean)"
