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
# The demo must not depend on (or change) the user's git configuration.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

# The same persistent work clone as the real test tier: one cold kernel build
# (5-10 minutes on two cores) serves both, and later demos rebuild only what
# the series changes.
phase "prepare the kernel repository (Debian linux-source-6.1)" \
	sh -c "'$here/kernel/prepare-repo.sh'"
work=$("$here/kernel/work-clone.sh" real-tier)
cd "$work"
echo "work clone: $work"

# What the VM checks: /proc/version starts with "Linux version", which the
# series' third commit breaks.
check=(sh -c 'grep -q "^Linux version" /proc/version')

series() {
	git config user.name "Demo Tester"
	git config user.email "tester@example.org"
	"$here/kernel/make-series.sh" demo
	# Start from an empty verdict cache, so every step below really builds
	# and boots.
	git update-ref -d refs/notes/rapido 2>/dev/null || true
	git log --oneline v6.1..demo
}
phase "create a 4-commit series with one regression" series

build() { git rapido build; }
phase "build the kernel at the series' base (warm: seconds; cold: minutes)" build

rebase_rc=0
rebase_test() {
	git rapido rebase --test --no-edit v6.1 -- "${check[@]}" || rebase_rc=$?
	echo
	echo "the rebase stopped with exit $rebase_rc (1: a commit's test failed) at:"
	git log -1 --format='    %h %s' HEAD
	git rapido log v6.1..HEAD
	git rebase --abort
}
phase "git rapido rebase --test: passing commits get Tested-by, the rebase stops at the regression" rebase_test

bisect() {
	git rapido bisect demo v6.1 -- "${check[@]}" | tee "$tmp/bisect.txt"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
phase "git rapido bisect: the culprit, steps answered from the verdict cache" bisect

log() { git rapido log v6.1..demo; }
phase "git rapido log: verdicts of the (untagged, original) series" log

printf '\n\033[1m== summary\033[0m\n'
echo "  rebase --test stopped with exit $rebase_rc at the regressing commit"
grep -E '^first bad commit|Fixes:' "$tmp/bisect.txt" | sed 's/^ */  /'
for i in "${!phase_names[@]}"; do
	printf '  %-95s %6.1f s\n' "${phase_names[$i]}" "${phase_secs[$i]}"
done
