# usb-gadget: configfs mass-storage gadget on dummy_udc, read back via sd.
set -eu
. /rapido/lib/zram.sh
backing=$(zram_dev 16M)
mkdir -p /sys/kernel/config
grep -q " /sys/kernel/config " /proc/mounts || mount -t configfs none /sys/kernel/config
udc=$(ls /sys/class/udc | head -n1)
[ -n "$udc" ] || { echo "usb-gadget: no UDC in /sys/class/udc (dummy_hcd missing?)"; exit 1; }
before=$(ls /sys/block)
g=/sys/kernel/config/usb_gadget/rapido
mkdir "$g"
echo 0x1d6b >"$g/idVendor"   # Linux Foundation
echo 0x0104 >"$g/idProduct"  # Multifunction Composite Gadget
mkdir "$g/strings/0x409"
echo rapido >"$g/strings/0x409/manufacturer"
echo "rapido usb-gadget" >"$g/strings/0x409/product"
echo RAPIDO0001 >"$g/strings/0x409/serialnumber"
mkdir "$g/functions/mass_storage.0"
echo "$backing" >"$g/functions/mass_storage.0/lun.0/file"
mkdir "$g/configs/c.1"
ln -s "$g/functions/mass_storage.0" "$g/configs/c.1/"
echo "$udc" >"$g/UDC"
echo "usb-gadget: gadget bound to $udc, backed by $backing"
# usb-storage waits delay_use (1 s) before scanning; give it time under TCG.
disk=
i=0
while [ -z "$disk" ] && [ $i -lt 300 ]; do
	for b in /sys/block/sd*; do
		[ -e "$b" ] || continue
		n=${b##*/}
		echo "$before" | grep -qx "$n" && continue
		[ -b "/dev/$n" ] && [ "$(cat "$b/size")" != 0 ] && disk=$n
	done
	[ -n "$disk" ] || sleep 0.1
	i=$((i + 1))
done
[ -n "$disk" ] || { echo "usb-gadget: no new SCSI disk appeared"; dmesg | tail -n 20; exit 1; }
echo "usb-gadget: the gadget is /dev/$disk ($(cat /sys/block/$disk/device/vendor) $(cat /sys/block/$disk/device/model))"
dd if=/dev/urandom of=/tmp/pattern bs=64k count=64 2>/dev/null
want=$(sha256sum </tmp/pattern)
dd if=/tmp/pattern of="/dev/$disk" bs=64k conv=fsync 2>/dev/null
echo 3 >/proc/sys/vm/drop_caches
got_usb=$(dd if="/dev/$disk" bs=64k count=64 2>/dev/null | sha256sum)
got_zram=$(dd if="$backing" bs=64k count=64 2>/dev/null | sha256sum)
[ "$got_usb" = "$want" ] || { echo "usb-gadget: data read through USB differs"; exit 1; }
[ "$got_zram" = "$want" ] || { echo "usb-gadget: the backing zram device does not hold the data"; exit 1; }
echo "" >"$g/UDC"
echo "usb-gadget: 4 MiB written through USB read back identically (disk and backing device)"
