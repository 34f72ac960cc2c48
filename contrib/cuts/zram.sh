# zram.sh — sourced by the block-device cuts: zram_dev SIZE prints the path
# of a fresh zram device of SIZE (e.g. 256M). The first call uses the zram0
# the driver creates at boot; later calls ask zram-control for another.

# e2fsprogs and others look for mounted file systems in /etc/mtab.
[ -e /etc/mtab ] || { mkdir -p /etc && ln -s /proc/self/mounts /etc/mtab; }
zram_dev() {
	if [ -e /sys/block/zram0 ] && [ "$(cat /sys/block/zram0/disksize)" = 0 ]; then
		n=0
	else
		n=$(cat /sys/class/zram-control/hot_add) || return 1
	fi
	echo "$1" >"/sys/block/zram$n/disksize" || return 1
	# devtmpfs creates the node asynchronously.
	i=0
	while [ ! -b "/dev/zram$n" ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	echo "/dev/zram$n"
}

# mkfs_for FS DEV makes a file system quietly, whatever the tool's flags.
mkfs_for() {
	case $1 in
	ext2 | ext3 | ext4) "mkfs.$1" -q -F "$2" ;;
	xfs) mkfs.xfs -q -f "$2" ;;
	btrfs) mkfs.btrfs -q -f "$2" ;;
	*) "mkfs.$1" "$2" ;;
	esac
}

# fsck_for FS DEV checks a file system read-only.
fsck_for() {
	case $1 in
	ext2 | ext3 | ext4) e2fsck -f -n "$2" ;;
	xfs) xfs_repair -n "$2" ;;
	btrfs) btrfs check --readonly "$2" ;;
	*) "fsck.$1" -n "$2" ;;
	esac
}
