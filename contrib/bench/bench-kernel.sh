#!/usr/bin/env bash
# The kernel loop on the real kernel (Debian's linux-source-6.1, the real
# tier's work clone), each comparison against the raw commands git rapido
# wraps, run side by side in one hyperfine invocation:
#   - no-op rebuild: git rapido build vs raw make, nothing changed
#   - run overhead:  git rapido run vs raw make + QEMU, nothing changed
#   - cache hit:     git rapido test on a tested tree vs the same test uncached
#   - per-commit loop over 10 commits, one source file changed per commit:
#     git rapido test (cold cache) vs raw make + QEMU by hand, and the same
#     loop again with the verdict cache warm
#   - boot to verdict under TCG, split into kernel boot, init and test
source "$(dirname "$0")/lib.sh"
need make qemu-system-x86_64
kernel_setup
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; cd "$KCLONE" && git checkout -q -f --detach v6.1' EXIT
cd "$KCLONE"

test=(sh -c 'grep -q "^Linux version" /proc/version')
"$RAPIDO_BIN" cut -o "$tmp/image.cpio" -- "${test[@]}" >/dev/null
# Every side of every comparison is a small script run by bash, so both pay
# the same start-up and no quoting is lost on the way.
side() { # side NAME COMMAND...: writes $tmp/NAME.sh
	local name=$1
	shift
	{ echo "set -e"; echo "cd $(printf %q "$KCLONE")"; printf '%s\n' "$@"; } >"$tmp/$name.sh"
}
raw_make=$(printf '%q ' "${RAW_MAKE[@]}")
raw_qemu=$(raw_qemu_cmd "$tmp/image.cpio" "$tmp" -- "${test[@]}")
test_q=$(printf '%q ' "${test[@]}")
rapido=$(printf %q "$RAPIDO_BIN")
side ours-build "$rapido build >/dev/null 2>&1"
side raw-build "$raw_make >/dev/null"
side ours-run "$rapido run -- $test_q >/dev/null 2>&1"
side raw-run "$raw_make >/dev/null" "$raw_qemu"
side ours-test "$rapido test --no-trailer \"\$@\" -- $test_q >/dev/null 2>&1"
echo "bench: raw side: $(cat "$tmp/raw-run.sh")" >&2

BENCH_WARMUP=1 bench_pair noop-build "no-op rebuild (nothing changed)" 3 \
	"bash $tmp/ours-build.sh" "raw make" "bash $tmp/raw-build.sh"

BENCH_WARMUP=1 bench_pair run-overhead "build + cut + boot + verdict, nothing changed" 3 \
	"bash $tmp/ours-run.sh" "raw make + qemu" "bash $tmp/raw-run.sh"

# Boot to verdict, per phase, from git rapido's own timings (--timings
# prints them; verdict.json in the run's log directory keeps them).
if selected boot-tcg; then
	for i in 1 2 3 4 5; do
		"$RAPIDO_BIN" run -- "${test[@]}" 2>&1 | sed -n 's|^rapido: logs in ||p' | tail -1
	done >"$tmp/runs"
	jq -s 'def med(f): map(f) | sort | .[length/2|floor] / 1e9 * 1000 | round / 1000;
		{kernel: med(.timings.kernel_boot), init: med(.timings.init), test: med(.timings.test),
		 total: med(.timings.kernel_boot + .timings.init + .timings.test + .timings.shutdown)}' \
		$(sed 's|$|/verdict.json|' "$tmp/runs") >"$tmp/boot.json"
	bench_value boot-tcg "boot to verdict under TCG (median of 5)" "$(jq .total "$tmp/boot.json")" s \
		"kernel boot $(jq .kernel "$tmp/boot.json") s, init $(jq .init "$tmp/boot.json") s, test $(jq .test "$tmp/boot.json") s"
fi

# Cache hit: "run" records no verdict, "test" does; test once, then time
# the hit against the same test forced to run.
"$RAPIDO_BIN" test --no-trailer -- "${test[@]}" >/dev/null 2>&1
bench_pair cache-hit "git rapido test: verdict cached vs uncached (--force)" 5 \
	"bash $tmp/ours-test.sh" "uncached" "bash $tmp/ours-test.sh --force"

# Per-commit loop. Both sides check out each commit and build it in the same
# build directory (so each build is the same one-file incremental rebuild)
# with ccache passed through, so neither side profits from the other's
# compiles.
"$REPO_ROOT/contrib/kernel/make-series.sh" loop
git checkout -q --detach v6.1
commits=$(git rev-list --reverse v6.1..loop | tr '\n' ' ')
export CCACHE_DISABLE=1
side ours-loop "for c in $commits; do git checkout -q --detach \$c; bash $tmp/ours-test.sh \"\$@\"; done"
side raw-loop "for c in $commits; do git checkout -q --detach \$c; bash $tmp/raw-run.sh; done"
git update-ref -d refs/notes/rapido 2>/dev/null || true
bench_pair loop-10 "10-commit series, one file changed per commit (cold verdict cache)" 2 \
	"bash $tmp/ours-loop.sh --force" "raw make + qemu" "bash $tmp/raw-loop.sh" \
	"git -C $KCLONE checkout -q --detach v6.1"
# The same loop with the verdict cache warm; its reference is the cold loop
# just measured (the cold side is not run a third time: it is the slowest
# thing make bench does).
if selected loop-10-cached; then
	cold=$(tail -1 "$RAPIDO_BENCH_OUT" | jq .ours_median_s)
	json=$(mktemp)
	hyperfine --style basic --runs 3 --export-json "$json" --prepare "git -C $KCLONE checkout -q --detach v6.1" \
		-n "git rapido (cache warm)" "bash $tmp/ours-loop.sh" >&2
	jq -c --argjson cold "$cold" '{bench: "loop-10-cached", description: "10-commit series again, verdict cache warm",
		reference: "the same loop, cache cold (above)", ours_median_s: .results[0].median, ours_stddev_s: .results[0].stddev,
		ref_median_s: $cold, runs: (.results[0].times | length), speedup: ($cold / .results[0].median)}' "$json" >>"$RAPIDO_BENCH_OUT"
	rm -f "$json"
fi
