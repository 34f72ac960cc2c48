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
	selected "$id" || return 0
	need hyperfine jq
	local json
	json=$(mktemp)
	local args=(--style basic --runs "$runs" --export-json "$json" -N)
	[ -n "$prep" ] && args+=(--prepare "$prep")
	# BENCH_WARMUP=1: one unmeasured run of each side first, so neither side
	# pays for state the other one left (a cold page cache, a relink).
	[ "${BENCH_WARMUP:-0}" -gt 0 ] && args+=(--warmup "$BENCH_WARMUP")
	# -N: no intermediate shell, so shell start-up does not blur small numbers;
	# commands needing a shell must say "sh -c '...'" themselves.
	hyperfine "${args[@]}" -n "git rapido" "$ours" -n "$refname" "$ref" >&2
	# BENCH_RATIO=total: each run is one step of a whole (a commit of a
	# series) and the steps differ in kind, so the ratio that answers "how
	# much faster is the whole" is that of the sums, not of the medians.
	jq -c --arg id "$id" --arg desc "$desc" --arg ref "$refname" --arg ratio "${BENCH_RATIO:-median}" '
		{bench: $id, description: $desc, reference: $ref,
		 ours_median_s: .results[0].median, ours_stddev_s: .results[0].stddev,
		 ref_median_s: .results[1].median, ref_stddev_s: .results[1].stddev,
		 runs: (.results[0].times | length),
		 ours_total_s: (.results[0].times | add), ref_total_s: (.results[1].times | add), ratio: $ratio} |
		.speedup = (if $ratio == "total" then .ref_total_s / .ours_total_s else .ref_median_s / .ours_median_s end)' "$json" >>"$RAPIDO_BENCH_OUT"
	rm -f "$json"
}

# selected ID: whether RAPIDO_BENCH_ONLY (an extended regexp of benchmark
# ids; default all) asks for ID, to re-run part of a suite.
selected() {
	[[ -z "${RAPIDO_BENCH_ONLY:-}" || $1 =~ ^(${RAPIDO_BENCH_ONLY})$ ]]
}

# bench_value ID DESCRIPTION VALUE UNIT [NOTE]
# Records a single measured number (a count, a size, a throughput).
bench_value() {
	selected "$1" || return 0
	need jq
	jq -cn --arg id "$1" --arg desc "$2" --argjson v "$3" --arg unit "$4" --arg note "${5:-}" \
		'{bench: $id, description: $desc, value: $v, unit: $unit, note: $note}' >>"$RAPIDO_BENCH_OUT"
}

# kernel_setup: the real-kernel benchmarks share the real tier's persistent
# work clone (one cold kernel build serves tests, demo and benchmarks) and
# set, for the raw side of each comparison, the exact make and QEMU command
# lines git rapido runs:
#   KCLONE      the kernel work clone (checked out at v6.1, clean)
#   KBUILD      its build directory
#   RAW_MAKE    make ... as git rapido's build runs it (array)
# The user's global git config is kept out so both sides see the same
# settings.
kernel_setup() {
	export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
	KCLONE=$("$REPO_ROOT/contrib/kernel/work-clone.sh" real-tier)
	KBUILD=$(cd "$KCLONE" && git rev-parse --path-format=absolute --git-path rapido/build)
	export PATH=$(dirname "$RAPIDO_BIN"):$PATH
	# Warm up: configure and build v6.1 once, so every measurement below
	# starts from a built tree. On a fresh machine this is the cold build;
	# record how long it took, since it is part of what make bench costs.
	local cold=0 t0=$SECONDS
	[ -e "$KBUILD/vmlinux" ] || cold=1
	(cd "$KCLONE" && "$RAPIDO_BIN" build >/dev/null)
	[ "$cold" = 1 ] && bench_value kernel-cold-build "cold kernel build (tinyconfig + git rapido's fragments, v6.1)" \
		"$((SECONDS - t0))" s "once per machine; its build directory persists under \$XDG_CACHE_HOME/git-rapido (default ~/.cache)"
	local targets=(bzImage)
	grep -q '^CONFIG_MODULES=y' "$KBUILD/.config" && targets+=(modules)
	local cc=()
	command -v ccache >/dev/null && cc=("CC=ccache gcc")
	RAW_MAKE=(make -s -C "$KCLONE" O="$KBUILD" -j"$(nproc)" "${cc[@]}" "${targets[@]}")
}

# raw_qemu_cmd IMAGE LOGDIR -- TEST...: prints the QEMU command line git
# rapido would run for TEST (from "git rapido run --dry-run"), with the
# image and log paths filled in, as one shell-quoted line.
raw_qemu_cmd() {
	local image=$1 logdir=$2
	shift 3
	(cd "$KCLONE" && "$RAPIDO_BIN" run --dry-run --accel tcg -- "$@") |
		sed -e "s|/[^ ',:=]*/images/<digest>.cpio|$image|" -e "s|/[^ ',:=]*/<run>/|$logdir/|g"
}

# bench_time ID DESCRIPTION RUNS CMD [NOTE]: times one command (median and
# spread over RUNS) where the reference is not a command but a number
# recorded next to it.
bench_time() {
	selected "$1" || return 0
	need hyperfine jq
	local json
	json=$(mktemp)
	hyperfine --style basic --runs "$3" --export-json "$json" -n "git rapido" "$4" >&2
	jq -c --arg id "$1" --arg desc "$2" --arg note "${5:-}" '
		{bench: $id, description: $desc, value: (.results[0].median * 1000 | round / 1000), unit: "s",
		 note: ("± \(.results[0].stddev * 1000 | round / 1000) s over \(.results[0].times | length) runs" + (if $note == "" then "" else "; " + $note end))}' \
		"$json" >>"$RAPIDO_BENCH_OUT"
	rm -f "$json"
}
