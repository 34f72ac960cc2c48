#!/usr/bin/env bash
# Skipped builds on the real kernel (the real tier's work clone): a
# docs-only commit on top of the last build, built by git rapido (which
# finds that no input of the built kernel changed and runs no make) vs raw
# make with the command line git rapido would run, in the same build
# directory, where it is a no-op. Both sides in one hyperfine invocation.
source "$(dirname "$0")/lib.sh"
need make
kernel_setup
trap 'cd "$KCLONE" && git checkout -q -f --detach v6.1 && git branch -q -D rapido-bench-skip 2>/dev/null || true' EXIT
cd "$KCLONE"

# v6.1 is built (kernel_setup) and recorded; a docs-only commit on top.
git checkout -q -f -B rapido-bench-skip v6.1
printf '\nA docs-only change for make bench.\n' >>Documentation/process/howto.rst
GIT_AUTHOR_DATE="1700000000 +0000" GIT_COMMITTER_DATE="1700000000 +0000" \
	git -c user.name=Bench -c user.email=bench@example.org commit -q -a -m "docs: a change for make bench"
out=$("$RAPIDO_BIN" build 2>&1 >/dev/null)
case $out in
*"build skipped: no kernel input changed"*) ;;
*) echo "bench: the docs-only commit was not skipped:" >&2; echo "$out" >&2; exit 1 ;;
esac

# The command line git rapido runs, exactly: RAW_MAKE's -s would change
# kbuild's recorded command for bzImage (its output redirection), and make
# would rebuild bzImage once after each side.
cmd=()
for a in "${RAW_MAKE[@]}"; do [ "$a" = -s ] || cmd+=("$a"); done
raw=$(printf '%q ' "${cmd[@]}")
echo "bench: raw side: $raw" >&2
BENCH_WARMUP=1 bench_pair build-skip-docs "docs-only commit: build phase (skipped) vs make's no-op" 5 \
	"sh -c '$(printf %q "$RAPIDO_BIN") build >/dev/null 2>&1'" "raw make (no-op)" "sh -c '$raw >/dev/null'"

# The measured runs must all have been skips: one more says so.
out=$("$RAPIDO_BIN" build 2>&1 >/dev/null)
case $out in
*"build skipped: no kernel input changed"*) ;;
*) echo "bench: after the runs, the docs-only commit was not skipped (raw make changed the build directory?):" >&2
	echo "$out" >&2; exit 1 ;;
esac

# The same skip as a test sees it: the issue's "build phase" is the build
# step of a run, which --timings and verdict.json report. Inside `git rapido
# test` the worktree was already read for the verdict's key, so the build
# phase is the skip's own work: the record, the key, the diff. Each run is
# forced past the verdict cache and boots, and its build phase is read from
# its verdict.json; the reference is raw make's no-op median measured just
# above, in the same run.
if selected build-skip-docs-phase; then
	need jq
	raw_row=$(grep '"bench":"build-skip-docs"' "$RAPIDO_BENCH_OUT" | tail -1)
	[ -n "$raw_row" ] || { echo "bench: build-skip-docs-phase needs build-skip-docs in the same run" >&2; exit 1; }
	phases=()
	for i in 1 2 3 4 5 6 7; do
		out=$("$RAPIDO_BIN" test --force --no-trailer -- true 2>&1 >/dev/null) || { echo "$out" >&2; exit 1; }
		case $out in
		*"build skipped: no kernel input changed"*) ;;
		*) echo "bench: test's build was not skipped:" >&2; echo "$out" >&2; exit 1 ;;
		esac
		dir=$(printf '%s\n' "$out" | sed -n 's/^rapido: logs in //p' | tail -1)
		phases+=("$(jq '.timings.build / 1e9' "$dir/verdict.json")")
	done
	printf '%s\n' "${phases[@]}" | jq -s -c --argjson raw "$raw_row" '
		sort as $p | ($p | length) as $n | ($p[($n / 2 | floor)]) as $med |
		{bench: "build-skip-docs-phase", description: "docs-only commit: the build phase of git rapido test (its timings), skipped, vs make'"'"'s no-op",
		 reference: "raw make (no-op), the row above", ours_median_s: $med,
		 ours_stddev_s: (($p | map(. - ($p | add / $n) | . * .) | add / $n) | sqrt),
		 ref_median_s: $raw.ref_median_s, ref_stddev_s: $raw.ref_stddev_s, runs: $n,
		 speedup: ($raw.ref_median_s / $med)}' >>"$RAPIDO_BENCH_OUT"
fi
