# Shared helpers for the benchmark scripts in contrib/bench. Source it.
#
# Every comparison runs both sides in ONE hyperfine invocation on the same
# inputs, so they see the same machine state; hyperfine repeats each side and
# reports median and spread. Results are appended as JSON lines to
# $RAPIDO_BENCH_OUT (one object per comparison) for run.sh to tabulate.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/../.." && pwd)
: "${RAPIDO_BENCH_OUT:=$BENCH_DIR/results/latest.jsonl}"
: "${RAPIDO_BIN:=$REPO_ROOT/bin/git-rapido}"
mkdir -p "$(dirname "$RAPIDO_BENCH_OUT")"

need() {
	for c in "$@"; do
		command -v "$c" >/dev/null || { echo "bench: $c is missing (RAPIDO_DEPS_BENCH=1 contrib/install-deps.sh)" >&2; exit 1; }
	done
}

# bench_pair ID DESCRIPTION RUNS OURS_CMD REF_NAME REF_CMD [PREPARE_CMD]
# Times OURS_CMD against REF_CMD and records the medians and their ratio.
bench_pair() {
	local id=$1 desc=$2 runs=$3 ours=$4 refname=$5 ref=$6 prep=${7:-}
	need hyperfine jq
	local json
	json=$(mktemp)
	local args=(--style basic --runs "$runs" --export-json "$json" -N)
	[ -n "$prep" ] && args+=(--prepare "$prep")
	# -N: no intermediate shell, so shell start-up does not blur small numbers;
	# commands needing a shell must say "sh -c '...'" themselves.
	hyperfine "${args[@]}" -n "git rapido" "$ours" -n "$refname" "$ref" >&2
	jq -c --arg id "$id" --arg desc "$desc" --arg ref "$refname" '
		{bench: $id, description: $desc, reference: $ref,
		 ours_median_s: .results[0].median, ours_stddev_s: .results[0].stddev,
		 ref_median_s: .results[1].median, ref_stddev_s: .results[1].stddev,
		 runs: (.results[0].times | length),
		 speedup: (.results[1].median / .results[0].median)}' "$json" >>"$RAPIDO_BENCH_OUT"
	rm -f "$json"
}

# bench_value ID DESCRIPTION VALUE UNIT [NOTE]
# Records a single measured number (a count, a size, a throughput).
bench_value() {
	need jq
	jq -cn --arg id "$1" --arg desc "$2" --argjson v "$3" --arg unit "$4" --arg note "${5:-}" \
		'{bench: $id, description: $desc, value: $v, unit: $unit, note: $note}' >>"$RAPIDO_BENCH_OUT"
}
