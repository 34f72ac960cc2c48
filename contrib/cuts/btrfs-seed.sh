# btrfs-seed: seed device A, sprout B, update on B, fall back to A.
set -eu
. /rapido/lib/zram.sh
fail() {
	echo "btrfs-seed: FAILED: $*"
	exit 1
}
seed=$(zram_dev 256M)
sprout=$(zram_dev 256M)
mnt=/mnt/ab
mkdir -p "$mnt"

# A: the released system, then frozen as a seed.
mkfs.btrfs -q -f "$seed"
mount -t btrfs "$seed" "$mnt"
echo "release 1" >"$mnt/release"
dd if=/dev/urandom of="$mnt/payload" bs=64k count=16 2>/dev/null
old=$(cat "$mnt/release" "$mnt/payload" | sha256sum)
umount "$mnt"
btrfstune -S 1 "$seed"
seedsum=$(sha256sum <"$seed")
echo "btrfs-seed: seed $seed sealed"

# A seed mounts read-only: nothing can be written to it.
mount -t btrfs "$seed" "$mnt"
if echo x 2>/dev/null >"$mnt/written-to-seed"; then
	fail "the seed accepted a write"
fi

# B: the sprout takes every write from now on.
btrfs device add -f "$sprout" "$mnt" >/dev/null
mount -o remount,rw "$mnt"
echo "release 2" >"$mnt/release"
dd if=/dev/urandom of="$mnt/update" bs=64k count=16 2>/dev/null
new=$(cat "$mnt/release" "$mnt/update" | sha256sum)
sync
umount "$mnt"
echo "btrfs-seed: update written to the sprout $sprout"

# The seed device is untouched by the update.
echo 3 >/proc/sys/vm/drop_caches
[ "$(sha256sum <"$seed")" = "$seedsum" ] || fail "the seed device changed"

# Remount B (it needs A, found by scanning): the update is there.
btrfs device scan "$seed" "$sprout" >/dev/null
mount -t btrfs "$sprout" "$mnt"
[ "$(cat "$mnt/release" "$mnt/update" | sha256sum)" = "$new" ] || fail "the sprout lost the update"
[ -e "$mnt/payload" ] || fail "the sprout does not see the seed's files"
umount "$mnt"

# Fall back to A: the seed alone shows the old release, not the update.
mount -t btrfs -o ro "$seed" "$mnt"
[ "$(cat "$mnt/release" "$mnt/payload" | sha256sum)" = "$old" ] || fail "the seed does not show the old content"
[ ! -e "$mnt/update" ] || fail "the seed shows the update"
umount "$mnt"
[ "$(sha256sum <"$seed")" = "$seedsum" ] || fail "the seed device changed after the fallback mount"
echo "btrfs-seed: seed unchanged, update on the sprout, fallback shows release 1"
