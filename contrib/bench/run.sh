#!/usr/bin/env bash
# make bench: runs every contrib/bench/bench-*.sh and the Go benchmarks, then
# writes results/latest.jsonl, results/latest.md (the table the README shows)
# and results/latest.svg (a chart of the side-by-side comparisons).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
export RAPIDO_BENCH_OUT=$here/results/latest.jsonl
: "${RAPIDO_BIN:=$PWD/bin/git-rapido}" "${GO:=go}"
export RAPIDO_BIN
mkdir -p "$here/results"
: >"$RAPIDO_BENCH_OUT"

# Go benchmarks that compare in-process work with the tool it replaces.
"$GO" test -run '^$' -bench . -benchtime 1s -count 5 ./trailers/... ./vmrun/... 2>&1 |
	tee "$here/results/go-bench.txt" | grep -E '^(Benchmark|ok|FAIL)' || true
# go_median NAME: the median ns/op of benchmark NAME over its -count runs.
go_median() {
	awk -v n="$1" '$1 ~ "^"n"(-[0-9]+)?$" { print $3 }' "$here/results/go-bench.txt" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] / 1e9 }'
}
source "$here/lib.sh"
inproc=$(go_median BenchmarkAddInProcess) spawn=$(go_median BenchmarkAddSpawnGit)
if [ -n "$inproc" ] && [ -n "$spawn" ]; then
	jq -cn --argjson o "$inproc" --argjson r "$spawn" '{bench: "trailers-inproc",
		description: "add one trailer: in-process engine (Go benchmark)", reference: "spawning git interpret-trailers",
		ours_median_s: $o, ref_median_s: $r, runs: 5, speedup: ($r / $o), scope: "inproc"}' >>"$RAPIDO_BENCH_OUT"
fi
cut=$(go_median BenchmarkCutBoot)
[ -n "$cut" ] && bench_value cut-inproc "cut the boot image in process (Go benchmark, median of 5)" \
	"$(echo "$cut * 1000" | bc -l | xargs printf %.1f)" ms "plan + ELF closure + reproducible cpio write"

for s in "$here"/bench-*.sh; do
	[ -x "$s" ] || continue
	echo "== $(basename "$s")" >&2
	"$s" || echo "bench: $(basename "$s") failed" >&2
done

bench_value make-bench "make bench: wall time of this run" "$(((SECONDS + 30) / 60))" min \
	"every script above$(grep -q '"kernel-cold-build"' "$RAPIDO_BENCH_OUT" && echo ", including the cold kernel build")"
"$here/report.sh" "$RAPIDO_BENCH_OUT"
"$here/update-readme.sh"
