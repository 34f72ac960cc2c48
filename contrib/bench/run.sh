#!/usr/bin/env bash
# make bench: runs every contrib/bench/bench-*.sh and the Go benchmarks, then
# writes results/latest.jsonl, results/latest.md (the table the README shows)
# and results/latest.svg (a chart of the side-by-side comparisons).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
export RAPIDO_BENCH_OUT=$here/results/latest.jsonl
mkdir -p "$here/results"
: >"$RAPIDO_BENCH_OUT"

# Go benchmarks that compare in-process work with the tool it replaces.
go test -run '^$' -bench 'Bench' -benchtime 2s -count 5 ./trailers/ ./vmrun/... ./cmd/... 2>&1 |
	tee "$here/results/go-bench.txt" | grep -E '^(Benchmark|ok|FAIL)' || true

for s in "$here"/bench-*.sh; do
	[ -x "$s" ] || continue
	echo "== $(basename "$s")" >&2
	"$s" || echo "bench: $(basename "$s") failed" >&2
done

"$here/report.sh" "$RAPIDO_BENCH_OUT"
