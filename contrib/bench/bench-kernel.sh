#!/usr/bin/env bash
# The kernel loop on the real kernel (Debian's linux-source-6.1, the real
# tier's work clone), each comparison against the raw commands git rapido
# wraps, run side by side in one hyperfine invocation:
#   - no-op rebuild: git rapido build vs raw make, nothing changed
#   - run overhead:  git rapido run vs raw make + QEMU, nothing changed
#   - cache hit:     git rapido test on a tested tree vs the same test uncached
#   - run, nothing changed, vs a plain QEMU boot of the same kernel
#   - per-commit loop over 10 commits (8 source changes, 1 docs-only, 1 reword):
#     git rapido test (cold cache) vs raw make + QEMU by hand, and the same
#     loop again with the verdict cache warm, and the cold loop against the
#     loop typed by hand (make, then QEMU's defaults booting the bzImage)
#   - boot to verdict under TCG, split into firmware+decompression, kernel to
#     /init, init, test and shutdown, QEMU's defaults and the fast path
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

# git rapido run with nothing changed against the least a person would type
# to boot the same kernel: QEMU's defaults, the bzImage, and an initramfs of
# static busybox whose /init prints a marker and reboots (QEMU exits on
# -no-reboot). Nothing is built on that side: it is the floor.
mkdir -p "$tmp/plain/bin"
cp "$(command -v busybox)" "$tmp/plain/bin/busybox"
printf '#!/bin/busybox sh\n/bin/busybox echo rapido-plain-marker\n/bin/busybox reboot -f\n' >"$tmp/plain/init"
chmod +x "$tmp/plain/init"
(cd "$tmp/plain" && find . | cpio -o -H newc --quiet) >"$tmp/plain.cpio"
side plain-qemu "rm -f $tmp/plain.log" \
	"qemu-system-x86_64 -nodefaults -no-reboot -display none -accel tcg -m 512M -smp 1 -kernel $KBUILD/arch/x86/boot/bzImage -initrd $tmp/plain.cpio -append 'console=ttyS0 panic=-1 rdinit=/init quiet' -serial file:$tmp/plain.log" \
	"grep -q rapido-plain-marker $tmp/plain.log"
BENCH_WARMUP=1 bench_pair run-vs-plain-qemu "git rapido run, nothing changed, vs a plain QEMU boot of the same kernel" 5 \
	"bash $tmp/ours-run.sh" "qemu -kernel bzImage -initrd (busybox marker)" "bash $tmp/plain-qemu.sh"

# Boot to verdict, per phase, from git rapido's own timings (--timings
# prints them; verdict.json in the run's log directory keeps them): QEMU's
# start, firmware and decompression; the kernel to /init; /init to the
# test; the test; the shutdown. "before" is QEMU's default boot
# (rapido.fastBoot=off, the command line git rapido used before the fast
# path), "after" the fast path (the PVH vmlinux on microvm). TCG is measured
# everywhere; KVM where auto-detection finds guests make progress under it
# (not on hosts whose /dev/kvm hangs guests).
boot_phases() { # boot_phases ID DESCRIPTION ACCEL [FASTBOOT]
	selected "$1" || return 0
	for i in 1 2 3 4 5; do
		RAPIDO_FAST_BOOT=${4:-auto} "$RAPIDO_BIN" run --accel "$3" -- "${test[@]}" 2>&1 | sed -n 's|^rapido: logs in ||p' | tail -1
	done >"$tmp/runs"
	jq -s 'def med(f): map(f) | sort | .[length/2|floor] / 1e9 * 1000 | round / 1000;
		{firmware: med(.timings.firmware // 0), kernel: med(.timings.kernel_boot), init: med(.timings.init),
		 test: med(.timings.test), shutdown: med(.timings.shutdown),
		 total: med((.timings.firmware // 0) + .timings.kernel_boot + .timings.init + .timings.test + .timings.shutdown),
		 accel: (map(.accel) | unique | join(",")), boot: (map(.boot // "classic") | unique | join(","))}' \
		$(sed 's|$|/verdict.json|' "$tmp/runs") >"$tmp/boot.json"
	[ "$(jq -r .accel "$tmp/boot.json")" = "$3" ] || { echo "bench: $1 ran under $(jq -r .accel "$tmp/boot.json"), want $3" >&2; return 1; }
	bench_value "$1" "$2" "$(jq .total "$tmp/boot.json")" s \
		"$(jq -r '"\(.boot) boot: firmware+decompression \(.firmware) s, kernel to /init \(.kernel) s, init \(.init) s, test \(.test) s, shutdown \(.shutdown) s"' "$tmp/boot.json")"
	cp "$tmp/boot.json" "$tmp/$1.json"
}
boot_phases boot-tcg-before "boot to verdict under TCG, QEMU's defaults (before; median of 5)" tcg off
boot_phases boot-tcg "boot to verdict under TCG, fast boot (after; median of 5)" tcg auto
if selected boot-tcg && selected boot-tcg-before && [ -s "$tmp/boot-tcg.json" ] && [ -s "$tmp/boot-tcg-before.json" ]; then
	jq -cn --slurpfile a "$tmp/boot-tcg.json" --slurpfile b "$tmp/boot-tcg-before.json" '{bench: "boot-fast",
		description: "boot to verdict under TCG: fast boot vs QEMU'"'"'s defaults (median of 5)",
		reference: "QEMU'"'"'s defaults", ours_median_s: $a[0].total, ref_median_s: $b[0].total, runs: 5,
		speedup: ($b[0].total / $a[0].total)}' >>"$RAPIDO_BENCH_OUT"
fi
if selected boot-kvm; then
	auto=$("$RAPIDO_BIN" run --accel auto -- "${test[@]}" 2>&1 | sed -n 's|^rapido: logs in ||p' | tail -1)
	if [ "$(jq -r .accel "$auto/verdict.json")" = kvm ]; then
		boot_phases boot-kvm "boot to verdict under KVM (median of 5)" kvm
	elif [ ! -e /dev/kvm ]; then
		bench_value boot-kvm "boot to verdict under KVM" '"not measured"' "" "this host has no /dev/kvm"
	else
		why=$(jq -r --arg k "$(uname -r)" 'to_entries[] | select(.key | startswith($k + " ")) | .value.reason' \
			"${XDG_CACHE_HOME:-$HOME/.cache}/git-rapido/accel.json" 2>/dev/null | head -1) || true
		bench_value boot-kvm "boot to verdict under KVM" '"not measured"' "" \
			"auto-detection fell back to TCG: ${why:-/dev/kvm cannot be opened}"
	fi
fi

# Cache hit: "run" records no verdict, "test" does; test once, then time
# the hit against the same test forced to run.
"$RAPIDO_BIN" test --no-trailer -- "${test[@]}" >/dev/null 2>&1
bench_pair cache-hit "git rapido test: verdict cached vs uncached (--force)" 3 \
	"bash $tmp/ours-test.sh" "uncached" "bash $tmp/ours-test.sh --force"

# Per-commit loop over a 10-commit series: eight commits change one source
# file, one only the documentation, one only its message (its tree is its
# parent's). Each timed run is one commit: hyperfine's prepare step checks out
# the next commit (untimed) and the run builds and tests it, so median and
# spread are per commit, over the series, and each side walks the series once
# (the loop is the slowest thing make bench does). git rapido walks it forward
# (v6.1, then 1 … 10), the raw side walks it back (9 … 1, then v6.1): every
# step of both sides is the same one-file incremental rebuild in the same
# build directory. ccache is off, so neither side profits from the other's
# compiles.
"$REPO_ROOT/contrib/kernel/make-series.sh" loop
git checkout -q --detach v6.1
mapfile -t fwd < <(git rev-list --reverse v6.1..loop)
[ "${#fwd[@]}" -eq 10 ] || { echo "bench: loop series has ${#fwd[@]} commits, want 10" >&2; exit 1; }
back=()
for ((i = 8; i >= 0; i--)); do back+=("${fwd[i]}"); done
back+=(v6.1)
export CCACHE_DISABLE=1
# git rapido runs "test" as a user would, the verdict cache emptied first:
# the reword-only commit's tree is its parent's, tested the step before.
# step LIST...: a prepare script checking out LIST's next entry each time.
step() {
	local name=$1
	shift
	printf '%s\n' "$@" >"$tmp/$name.list"
	: >"$tmp/$name.at"
	side "$name" "c=\$(sed -n \"\$((\$(wc -l <$tmp/$name.at) + 1))p\" $tmp/$name.list)" \
		"test -n \"\$c\"" "echo >>$tmp/$name.at" "git checkout -q --detach \$c"
}
step loop-steps "${fwd[@]}" "${back[@]}"
git update-ref -d refs/notes/rapido 2>/dev/null || true
BENCH_RATIO=total bench_pair loop-10 "10-commit series (1 docs-only, 1 reword-only), cold verdict cache: time per commit; ratio of whole-loop times" 10 \
	"bash $tmp/ours-test.sh" "raw make + qemu" "bash $tmp/raw-run.sh" "bash $tmp/loop-steps.sh"
if selected loop-10; then
	[ "$(wc -l <"$tmp/loop-steps.at")" -eq 20 ] || { echo "bench: loop walked $(wc -l <"$tmp/loop-steps.at") steps, want 20" >&2; exit 1; }
	cold=$(tail -1 "$RAPIDO_BENCH_OUT")
fi
# The same series again with the verdict cache warm (each commit's tree was
# tested above); its reference is the cold per-commit time just measured.
if selected loop-10-cached; then
	[ -n "${cold:-}" ] || { echo "bench: loop-10-cached needs loop-10 in the same run" >&2; exit 1; }
	step cached-steps "${fwd[@]}"
	json=$(mktemp)
	hyperfine --style basic -N --runs 10 --export-json "$json" --prepare "bash $tmp/cached-steps.sh" \
		-n "git rapido (cache warm)" "bash $tmp/ours-test.sh" >&2
	jq -c --argjson cold "$cold" '{bench: "loop-10-cached", description: "10-commit series again, verdict cache warm: time per commit; ratio of whole-loop times",
		reference: "the same loop, cache cold (above)", ours_median_s: .results[0].median, ours_stddev_s: .results[0].stddev,
		ref_median_s: $cold.ours_median_s, ref_stddev_s: $cold.ours_stddev_s, runs: (.results[0].times | length),
		ours_total_s: (.results[0].times | add), ref_total_s: $cold.ours_total_s, ratio: "total",
		speedup: ($cold.ours_total_s / (.results[0].times | add))}' "$json" >>"$RAPIDO_BENCH_OUT"
	bench_value loop-10-total "10-commit series, whole loop (sum of the per-commit times)" \
		"$(jq -n --argjson c "$cold" '$c.ours_total_s * 10 | round / 10')" s \
		"raw make + qemu: $(jq -n --argjson c "$cold" '$c.ref_total_s * 10 | round / 10') s; git rapido with the verdict cache warm: $(jq '.results[0].times | add * 100 | round / 100' "$json") s"
	rm -f "$json"
fi
# The same cold loop against the loop a developer types by hand: the same
# make, then QEMU's defaults booting the bzImage with a busybox marker init
# (the plain-qemu side above) instead of the QEMU command line git rapido
# would run. The row above holds QEMU fixed, so it shows git rapido's own
# cost and gains; this one shows what a developer gains by switching.
if selected loop-10-plain; then
	git checkout -q --detach v6.1
	git update-ref -d refs/notes/rapido 2>/dev/null || true
	side raw-plain-run "$raw_make >/dev/null" "rm -f $tmp/plain.log" \
		"qemu-system-x86_64 -nodefaults -no-reboot -display none -accel tcg -m 512M -smp 1 -kernel $KBUILD/arch/x86/boot/bzImage -initrd $tmp/plain.cpio -append 'console=ttyS0 panic=-1 rdinit=/init quiet' -serial file:$tmp/plain.log" \
		"grep -q rapido-plain-marker $tmp/plain.log"
	step plain-steps "${fwd[@]}" "${back[@]}"
	BENCH_RATIO=total bench_pair loop-10-plain "10-commit series, cold verdict cache, vs the loop typed by hand (make, then QEMU's defaults): time per commit; ratio of whole-loop times" 10 \
		"bash $tmp/ours-test.sh" "raw make + plain qemu" "bash $tmp/raw-plain-run.sh" "bash $tmp/plain-steps.sh"
	[ "$(wc -l <"$tmp/plain-steps.at")" -eq 20 ] || { echo "bench: loop walked $(wc -l <"$tmp/plain-steps.at") steps, want 20" >&2; exit 1; }
fi
