#!/usr/bin/env bash
# A range tested in job slots (git rapido test <range>, rebase --test --jobs).
#
# Model rows (sleeping stand-ins, not this machine: its two cores are too
# small for the big machines the feature is for): vmrun/series' Go
# benchmarks, each build 2 s and each boot+test 2 s, 8 commits, run serially
# (today's rebase --test), pipelined in one slot and over 4 slots, side by
# side in one run; and the scheduler's own overhead for 200 commits over 64
# slots.
#
# Real row (this machine): a 6-commit series whose test takes 20 s in the
# guest, "rebase --test --jobs 3" against today's "rebase --test", verdict
# cache emptied before each side. Three slots although this machine has two
# CPUs: the guests' test is a sleep and each fixture commit rebuilds a
# handful of objects, so the machine is idle most of the time one slot would
# take (pipelining alone cannot hide a test that is longer than the build).
# The first run pays for making the slots (a kernel checkout each, seeded
# from the warm build): it is included.
source "$(dirname "$0")/lib.sh"
need jq bc

# model_metric NAME: the median of a ReportMetric of BenchmarkModel8Commits
# or BenchmarkSchedule200Over64 (from run.sh's go-bench.txt when it ran the
# benchmarks, else from a run of its own).
gobench=$BENCH_DIR/results/go-bench.txt
if ! grep -q BenchmarkModel8Commits "$gobench" 2>/dev/null && selected series-model-jobs1; then
	gobench=$(mktemp)
	(cd "$REPO_ROOT" && go test -run '^$' -bench 'Model8Commits|Schedule200Over64' -benchtime 1x -count 3 ./vmrun/series/) >"$gobench"
fi
model_metric() {
	[ -f "$gobench" ] || return 0
	awk -v m="$1" '/^Benchmark(Model8Commits|Schedule200Over64)/ { for (i = 1; i < NF; i++) if ($(i + 1) == m) print $i }' "$gobench" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
j1=$(model_metric jobs1/serial) j4=$(model_metric jobs4/serial) ov=$(model_metric overhead-s)
ser=$(model_metric serial-model-s)
[ -n "$j1" ] && bench_value series-model-jobs1 "model, 8 commits (build 2 s, boot+test 2 s): --jobs 1 pipelined / serial" \
	"$(printf %.3f "$j1")" ratio "target <= 0.6; serial $(printf %.1f "$ser") s; sleeping stand-ins (vmrun/series BenchmarkModel8Commits), not this machine"
[ -n "$j4" ] && bench_value series-model-jobs4 "model, 8 commits (build 2 s, boot+test 2 s): --jobs 4 / serial" \
	"$(printf %.3f "$j4")" ratio "target <= 0.3; never more than 4 makes or 4 QEMUs at once (checked); sleeping stand-ins"
[ -n "$ov" ] && bench_value series-model-overhead "model: scheduling 200 commits over 64 slots, overhead beyond the ideal" \
	"$(printf %.4f "$ov")" s "target < 1 s; vmrun/series BenchmarkSchedule200Over64"

# Our whole overhead, not only the scheduler's: 200 commits over 64 slots
# through the CLI with the hermetic tier's fake make and QEMU (instant
# builds and boots), so the wall time is git rapido's own work per commit:
# checkout, configure, cut, verdict, cache record. On this 2-core machine
# the 64 slots share two CPUs.
if selected series-cli-200x64; then
	fk=$(mktemp -d)
	(cd "$REPO_ROOT" && go test -c -o "$fk/rt" ./cmd/git-rapido/)
	for n in fake-make fake-qemu git-rapido; do ln -s "$fk/rt" "$fk/$n"; done
	(
		export PATH=$fk:$PATH HOME=$fk/home XDG_CONFIG_HOME=$fk/home/.config XDG_CACHE_HOME=$fk/home/.cache
		export GIT_CONFIG_NOSYSTEM=1 RAPIDO_MAKE=fake-make RAPIDO_QEMU=fake-qemu RAPIDO_INIT=$(command -v busybox)
		mkdir -p "$HOME" && cd "$fk" && git init -q repo && cd repo
		git config user.name T && git config user.email t@example.org && git config rapido.accel tcg
		echo pass >rapido-scenario && git add . && git commit -qm base
		for i in $(seq 200); do echo "pass $i" >rapido-scenario; git commit -qam "c$i"; done
		git rapido test --jobs 64 --keep-going HEAD~200..HEAD >/dev/null 2>&1 # makes the slots
		git update-ref -d refs/notes/rapido
		t0=$(date +%s.%N)
		git rapido test --jobs 64 --keep-going HEAD~200..HEAD >/dev/null 2>&1
		t=$(echo "$(date +%s.%N) - $t0" | bc)
		bench_value series-cli-200x64 "200 commits over 64 slots, fake make and QEMU: git rapido's own work (wall)" \
			"$(printf %.2f "$t")" s "slots made beforehand; $(nproc) CPUs shared by the 64 slots: this is CPU work per commit (checkout, configure, cut, record), not waiting"
	)
	rm -rf "$fk"
fi

# The real row.
selected series-real-6 || exit 0
need make qemu-system-x86_64 hyperfine
kernel_setup
cd "$KCLONE"
"$REPO_ROOT/contrib/kernel/make-series.sh" loop
six=$(git rev-parse loop~4)
git checkout -q --detach v6.1
trap 'cd "$KCLONE" && git rebase --abort 2>/dev/null; git checkout -q -f --detach v6.1; git branch -q -D series6 2>/dev/null; true' EXIT
prep="sh -c 'git rebase --abort 2>/dev/null; git checkout -q -f -B series6 $six && (git update-ref -d refs/notes/rapido 2>/dev/null; true)'"
test=(-- sh -c 'sleep 20')
jobs=3
bench_pair series-real-6 "6-commit series, test takes 20 s: rebase --test --jobs $jobs (range first, pipelined)" 1 \
	"$RAPIDO_BIN rebase --test --no-edit --jobs $jobs v6.1 ${test[*]@Q}" "today's rebase --test" \
	"$RAPIDO_BIN rebase --test --no-edit v6.1 ${test[*]@Q}" "$prep"
"$RAPIDO_BIN" test --remove-slots
