#!/bin/sh
# Run by git rapido's /init in each VM. RAPIDO_VM, RAPIDO_IP, RAPIDO_GATEWAY
# and RAPIDO_PEERS come from the kernel command line the host set.
set -u
me="rapido$RAPIDO_VM"
echo "$me: $RAPIDO_IP, gateway $RAPIDO_GATEWAY, peers $RAPIDO_PEERS"

# The VMs boot together but not in lockstep: retry until a peer is up.
reach() {
	n=0
	until ping -c 1 -W 1 "$1" >/dev/null 2>&1; do
		n=$((n + 1))
		if [ $n -ge 60 ]; then
			echo "$me: no ping reply from $1"
			return 1
		fi
		sleep 0.5
	done
	echo "$me: ping $1 ok"
}

reach "$RAPIDO_GATEWAY" || exit 1
for p in $RAPIDO_PEERS; do
	reach "$p" || exit 1
done

reply=$(echo "hello from $me" | nc -w 10 "$RAPIDO_GATEWAY" 7777)
if [ "$reply" != "hello from $me" ]; then
	echo "$me: TCP echo via $RAPIDO_GATEWAY:7777 returned '$reply'"
	exit 1
fi
echo "$me: TCP echo via $RAPIDO_GATEWAY:7777 ok"

# Barrier: stay up until every peer has finished its own pings of us. A peer
# is finished when its port 7001 accepts, or when it no longer answers
# (it only shuts down after finishing; a crash is the host's to report).
# Its output must not hold the test's output pipe open after the script ends.
nc -ll -p 7001 -e true </dev/null >/dev/null 2>&1 &
for p in $RAPIDO_PEERS; do
	[ "$p" = "$RAPIDO_IP" ] && continue
	n=0
	# timeout: a peer that accepts and powers off before closing leaves
	# nc waiting for a FIN that never comes (nc -w bounds only the connect).
	until timeout 3 nc -w 1 "$p" 7001 </dev/null >/dev/null 2>&1 ||
		! timeout 3 ping -c 1 -W 1 "$p" >/dev/null 2>&1; do
		n=$((n + 1))
		[ $n -lt 120 ] || { echo "$me: $p never finished"; exit 1; }
		sleep 0.5
	done
done
echo "$me: network test passed"
