#!/usr/bin/env bash
# make demo: the whole git rapido story on a real kernel, in one command.
#
#  1. prepare a kernel git repository from Debian's linux-source-6.1 (cached)
#  2. create a short patch series on top of it, with one real regression
#  3. git rapido rebase --test over it: passing commits get signed
#     Tested-by trailers, the rebase stops at the bad one; git rapido verify
#     checks the signatures; abort the rebase
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

signing() {
	# A throw-away Ed25519 key for the demo tester, trusted by this clone.
	keys=$(git rev-parse --path-format=absolute --git-path rapido-demo)
	rm -rf "$keys"
	mkdir -p "$keys"
	git rapido key generate --name "Demo Tester" --email tester@example.org --no-passphrase -o "$keys/tester.asc"
	git rapido key export --key "$keys/tester.asc" -o "$keys/tester.pub.asc"
	git config rapido.signingKey "$keys/tester.asc"
	git config rapido.trustedKeys "$keys/tester.pub.asc"
}
phase "generate a signing key for the demo tester" signing

rebase_rc=0
rebase_test() {
	git rapido rebase --test --no-edit v6.1 -- "${check[@]}" || rebase_rc=$?
	echo
	echo "the rebase stopped with exit $rebase_rc (1: a commit's test failed) at:"
	git log -1 --format='    %h %s' HEAD
	echo
	git log -1 --format=%B HEAD~1 | sed 's/^/    /'
	git branch -f demo-tested HEAD
	git rebase --abort
}
phase "git rapido rebase --test: signed Tested-by on passing commits, stop at the regression" rebase_test

verify_rc=0
verify() {
	git rapido verify v6.1..demo-tested || verify_rc=$?
	echo
	echo "the same check after changing the code of a tested commit:"
	git checkout -q --detach demo-tested~1
	echo '/* changed after testing */' >>fs/proc/cmdline.c
	git commit -q -a --amend --no-edit
	git rapido verify HEAD~1..HEAD || true
	git checkout -q -f demo
}
phase "git rapido verify: signed verdicts ok, and stale once the code changes" verify

bisect() {
	# The rebase already knows both endpoints' neighbours: with the
	# endpoint check off, every step is answered from the verdict cache.
	git rapido bisect --no-check-endpoints demo v6.1 -- "${check[@]}" | tee "$tmp/bisect.txt"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
phase "git rapido bisect: the culprit, steps answered from the verdict cache" bisect

log() { git rapido log v6.1..demo-tested; }
phase "git rapido log: verdicts and trailers of the series" log

printf '\n\033[1m== summary\033[0m\n'
echo "  rebase --test stopped with exit $rebase_rc at the regressing commit"
echo "  git rapido verify of the tested commits exited $verify_rc (0: every signed verdict ok)"
grep -E '^first bad commit|Fixes:' "$tmp/bisect.txt" | sed 's/^ */  /'
for i in "${!phase_names[@]}"; do
	printf "  %-85s %6.1f s\n" "${phase_names[$i]}" "${phase_secs[$i]}"
done
