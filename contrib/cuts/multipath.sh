# multipath: dm-multipath over two virtio-scsi paths; survive losing one.
set -eu
i=0
while [ "$(ls -d /sys/block/sd* 2>/dev/null | wc -l)" -lt 2 ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
set -- $(ls -d /sys/block/sd* 2>/dev/null)
[ $# -eq 2 ] || { echo "multipath: want 2 SCSI paths, found $#"; exit 1; }
a=$(cat "$1/dev") b=$(cat "$2/dev") sectors=$(cat "$1/size")
echo "multipath: paths ${1##*/} ($a) and ${2##*/} ($b), $sectors sectors"
# No udev in the VM: dmsetup creates the node itself.
export DM_DISABLE_UDEV=1
echo "0 $sectors multipath 0 0 1 1 round-robin 0 2 1 $a 1 $b 1" |
	dmsetup create --noudevsync mpath
dev=/dev/mapper/mpath
[ -b $dev ] || dev=/dev/dm-0
dmsetup status mpath
dd if=/dev/urandom of=/tmp/pattern bs=64k count=64 2>/dev/null
want=$(sha256sum </tmp/pattern)
echo "multipath: io running"
# Keep writing (each pass fsync'd, alternating paths) until the host has
# removed path1 and multipath has noticed, then write once more.
pass=0
until dmsetup status mpath | grep -q " F "; do
	pass=$((pass + 1))
	if [ $pass -gt 600 ]; then
		echo "multipath: no path failed (was one removed?)"
		dmsetup status mpath
		exit 1
	fi
	dd if=/tmp/pattern of=$dev bs=64k conv=fsync 2>/dev/null ||
		{ echo "multipath: write failed during failover (pass $pass)"; exit 1; }
done
survivor=$1
dmsetup status mpath | grep -q " $a F " && survivor=$2
echo "multipath: a path failed after $pass passes; writing on ${survivor##*/}"
dmsetup status mpath
dd if=/tmp/pattern of=$dev bs=64k conv=fsync 2>/dev/null ||
	{ echo "multipath: write failed after failover"; exit 1; }
echo 3 >/proc/sys/vm/drop_caches
got=$(dd if=$dev bs=64k count=64 2>/dev/null | sha256sum)
[ "$got" = "$want" ] || { echo "multipath: data read back differs"; exit 1; }
got=$(dd if="/dev/${survivor##*/}" bs=64k count=64 2>/dev/null | sha256sum)
[ "$got" = "$want" ] || { echo "multipath: data on the surviving path differs"; exit 1; }
dmsetup remove --noudevsync mpath
echo "multipath: I/O survived the failover ($pass passes, data identical)"
