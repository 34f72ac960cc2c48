#!/usr/bin/env bash
# Turns Debian's linux-source-6.1 tarball into a kernel git repository for the
# real-kernel test tier, the demo and the benchmarks. The repository is cached
# outside any clone of git rapido, so kernel builds inside it (under
# .git/rapido/) stay warm between runs.
#
# usage: contrib/kernel/prepare-repo.sh [DIR]
# prints the repository path on stdout; progress goes to stderr.
set -euo pipefail

cache=${XDG_CACHE_HOME:-$HOME/.cache}/git-rapido
dir=${1:-$cache/linux-6.1}
tarball=${RAPIDO_LINUX_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
stamp=$dir/.git/rapido-prepared

if [ -f "$stamp" ]; then
	echo "$dir"
	exit 0
fi
if [ ! -f "$tarball" ]; then
	echo "prepare-repo: $tarball not found; install it with: apt-get install linux-source-6.1" >&2
	exit 1
fi

# Build in a temporary sibling and rename at the end, so an interrupted run
# never leaves a half-made repository that looks ready.
mkdir -p "$(dirname "$dir")"
tmp=$(mktemp -d "$dir.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "prepare-repo: unpacking $tarball" >&2
tar -xJf "$tarball" -C "$tmp" --strip-components=1

cd "$tmp"
# Debian's .gitignore ends with a packaging rule that ignores everything at
# the top level; without dropping it "git add -A" adds nothing.
if [ -f .gitignore ]; then
	awk '/^# Debian/ {exit} {print}' .gitignore >.gitignore.new
	mv .gitignore.new .gitignore
	sed -i '/^\/\*$/d' .gitignore
fi

echo "prepare-repo: committing $(find . -type f | wc -l) files" >&2
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME="Linux 6.1" GIT_AUTHOR_EMAIL="linux@example.org" \
	GIT_COMMITTER_NAME="Linux 6.1" GIT_COMMITTER_EMAIL="linux@example.org" \
	GIT_AUTHOR_DATE="1670803200 +0000" GIT_COMMITTER_DATE="1670803200 +0000"
git -c init.defaultBranch=master init -q
git config user.name "Rapido Test"
git config user.email "rapido@example.org"
git config gc.auto 0
git add -A
git commit -q -m "Linux 6.1 (Debian linux-source-6.1)"
git tag v6.1
touch .git/rapido-prepared

cd /
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "$dir"
