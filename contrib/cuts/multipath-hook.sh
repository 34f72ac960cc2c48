#!/bin/sh
# multipath host hook. "prepare": create the shared disk image before QEMU
# starts. "run": once the guest says I/O is running, remove the second path
# with QMP device_del, and delete the image (QEMU keeps it open).
set -eu
img=$RAPIDO_RUNDIR/multipath.img
case $1 in
prepare)
	truncate -s 64M "$img"
	;;
run)
	i=0
	until grep -q "multipath: io running" "$RAPIDO_CONSOLE" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 1200 ]; then
			echo "multipath-hook: the guest never started I/O"
			exit 1
		fi
		sleep 0.25
	done
	"$RAPIDO_GIT_RAPIDO" qmp device_del '{"id":"path1"}'
	echo "multipath-hook: path1 removed"
	rm -f "$img"
	;;
esac
