#!/usr/bin/env bash
# Bisect on the real kernel: the 12-commit fixture series (commit 4 does not
# compile, commit 8 regresses /proc/version). Records the builds used against
# log2 of the range, the wall time of the first (uncached) bisect, and the
# fully cached repeat against it.
source "$(dirname "$0")/lib.sh"
need make qemu-system-x86_64
kernel_setup
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; cd "$KCLONE" && git checkout -q -f --detach v6.1' EXIT
cd "$KCLONE"
"$REPO_ROOT/contrib/kernel/make-series.sh" bisect
git checkout -q --detach v6.1
git update-ref -d refs/notes/rapido 2>/dev/null || true
bisect=("$RAPIDO_BIN" bisect --json bisect v6.1 -- sh -c 'grep -q "^Linux version" /proc/version')

start=$(date +%s.%N)
"${bisect[@]}" >"$tmp/first.json"
first=$(echo "$(date +%s.%N) - $start" | bc)
builds=$(jq .builds "$tmp/first.json")
n=$(git rev-list --count v6.1..bisect)
log2=$(awk -v n="$n" 'BEGIN { l = log(n) / log(2); printf "%d", (l == int(l)) ? l : int(l) + 1 }')
bench_value bisect-builds "bisect of $n commits: builds used" "$builds" builds \
	"ceil(log2 $n) = $log2; culprit $(jq -r '.subject' "$tmp/first.json"); uncached bisect took $(printf %.0f "$first") s"

cached=$(printf '%q ' "${bisect[@]}")
bench_time bisect-cached "repeat bisect, every step from the verdict cache" 3 "$cached >/dev/null" \
	"the first, uncached bisect took $(printf %.1f "$first") s"
