#!/usr/bin/env bash
# make demo: the whole git rapido story on a real kernel, in one command.
#
#  1. prepare a kernel git repository from Debian's linux-source-6.1 (cached)
#  2. create a short patch series on top of it, with one real regression
#  3. git rapido rebase --test over it: passing commits get Tested-by, the
#     rebase stops at the bad one; abort it
#  4. git rapido bisect finds the culprit
#  5. git rapido log shows the verdicts
# and ends with a summary of what happened and how long each part took.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/git-rapido
work=${RAPIDO_DEMO_DIR:-$cache/demo}

declare -a phase_names=() phase_secs=()
phase() { # phase NAME CMD...
	local name=$1 start end
	shift
	printf '\n\033[1m== %s\033[0m\n' "$name"
	start=$(date +%s.%N)
	"$@"
	end=$(date +%s.%N)
	phase_names+=("$name")
	phase_secs+=("$(echo "$end - $start" | bc)")
}

command -v git-rapido >/dev/null || { echo "demo: git-rapido is not on PATH (run 'make install')" >&2; exit 1; }

repo=$("$here/kernel/prepare-repo.sh")
echo "kernel repository: $repo"

series() {
	rm -rf "$work"
	git clone -q --shared "$repo" "$work"
	cd "$work"
	git config user.name "Demo Tester"
	git config user.email "tester@example.org"
	"$here/kernel/make-series.sh" demo
	git log --oneline v6.1..HEAD
}
phase "create a 4-commit series with one regression" series
cd "$work"

rebase_test() {
	set +e
	git rapido rebase --test --no-edit v6.1 -- sh -c 'test "$(cat /proc/sys/kernel/ostype)" = Linux'
	rc=$?
	set -e
	echo "rebase stopped with exit $rc (1 = a commit's test failed)"
	git rapido log v6.1..HEAD || true
	git rebase --abort 2>/dev/null || true
}
phase "git rapido rebase --test (stops at the regression)" rebase_test

bisect() {
	git rapido bisect HEAD v6.1 -- sh -c 'test "$(cat /proc/sys/kernel/ostype)" = Linux'
}
phase "git rapido bisect (culprit from the verdict cache where it can)" bisect

log() { git rapido log v6.1..HEAD; }
phase "git rapido log" log

printf '\n\033[1m== summary\033[0m\n'
for i in "${!phase_names[@]}"; do
	printf '  %-55s %6.1f s\n' "${phase_names[$i]}" "${phase_secs[$i]}"
done
