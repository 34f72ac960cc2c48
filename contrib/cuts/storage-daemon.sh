# storage-daemon: write, drop caches, read back, on each daemon's disk.
set -eu
fail() {
	echo "storage-daemon: FAILED: $*"
	exit 1
}
# disk SECTORS: the virtio disk of that size (the two disks differ in size;
# a vhost-user-blk disk has no serial to tell it by).
disk() {
	for b in /sys/block/vd*; do
		[ -e "$b" ] || continue
		[ "$(cat "$b/size")" = "$1" ] && { echo "/dev/${b##*/}"; return 0; }
	done
	return 1
}
dd if=/dev/urandom of=/tmp/pattern bs=64k count=64 2>/dev/null
want=$(sha256sum </tmp/pattern)
want=${want%% *}
for d in vdisk:131072 ndisk:65536; do
	name=${d%%:*}
	dev=$(disk "${d#*:}") || fail "$name: no virtio disk of ${d#*:} sectors in /sys/block"
	dd if=/tmp/pattern of="$dev" bs=64k conv=fsync 2>/dev/null || fail "$name: write to $dev"
	echo 3 >/proc/sys/vm/drop_caches
	got=$(dd if="$dev" bs=64k count=64 2>/dev/null | sha256sum)
	[ "${got%% *}" = "$want" ] || fail "$name: $dev read back differs from what was written"
	echo "storage-daemon: $name $dev 4 MiB read back, sha256 $want"
done
echo "storage-daemon: both disks passed"
