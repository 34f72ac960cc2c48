#!/usr/bin/env bash
# Adding one trailer to a 4 KiB message: git rapido trailers vs
# git interpret-trailers, both as processes (the in-process engine is
# measured by the Go benchmark BenchmarkAdd* in trailers/).
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
	echo "subsys: a change"
	echo
	for i in $(seq 60); do echo "Body line $i of a longer explanation of the change, wrapped."; done
	echo
	echo "Signed-off-by: A U Thor <author@example.com>"
} >"$tmp/msg"
export GIT_CONFIG_NOSYSTEM=1 HOME=$tmp
bench_pair trailers-cli "add one trailer to a 4 KiB message (process)" 50 \
	"$RAPIDO_BIN trailers --trailer 'Tested-by: T <t@example.com>' $tmp/msg" \
	"git interpret-trailers" "git interpret-trailers --trailer 'Tested-by: T <t@example.com>' $tmp/msg"
