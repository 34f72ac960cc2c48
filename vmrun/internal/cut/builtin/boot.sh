# boot: the kernel is up and /init runs; show what booted.
uname -a
test -r /proc/version
