# kselftest: unpack the tests the host built and run them; fail on "not ok".
set -u
mkdir -p /kselftest
cd /kselftest
cpio -id </dev/vda 2>/dev/null
[ -x run_kselftest.sh ] || { echo "kselftest: no run_kselftest.sh on /dev/vda"; exit 1; }
./run_kselftest.sh >/tmp/kselftest.log 2>&1
rc=$?
cat /tmp/kselftest.log
failed=$(grep '^not ok' /tmp/kselftest.log | grep -v '# SKIP' | sed 's/^not ok [0-9]* //')
total=$(grep -c '^\(not \)\{0,1\}ok ' /tmp/kselftest.log)
if [ -n "$failed" ]; then
	echo "kselftest: FAILED:"
	echo "$failed" | sed 's/^/kselftest:   /'
	exit 1
fi
echo "kselftest: all $total tests passed (run_kselftest.sh exit $rc)"
