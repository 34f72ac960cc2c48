#!/usr/bin/env bash
# Prints the path of a persistent working clone of the prepared kernel
# repository, creating it on first use. Tests and the demo check fixture
# commits out in it; because its path never changes, its build directory
# (.git/rapido/build) stays warm between runs and every fixture is an
# incremental rebuild.
#
# usage: contrib/kernel/work-clone.sh NAME     (e.g. real-tier, demo)
set -euo pipefail
name=${1:?usage: work-clone.sh NAME}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/git-rapido
repo=$("$(dirname "$0")/prepare-repo.sh")
dir=$cache/work-$name
if [ ! -d "$dir/.git" ]; then
	rm -rf "$dir"
	git clone -q --shared "$repo" "$dir"
fi
cd "$dir"
git config user.name "Rapido Test"
git config user.email "rapido@example.org"
git config gc.auto 0
# Start every run from a clean v6.1 with no leftovers of an earlier run.
git rebase --abort >/dev/null 2>&1 || true
git bisect reset >/dev/null 2>&1 || true
git checkout -q -f --detach v6.1
git clean -q -fdx -e .rapido
echo "$dir"
