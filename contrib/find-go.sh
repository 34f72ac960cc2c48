#!/bin/sh
# find-go.sh: prints the first go that is at least the version go.mod asks
# for — on PATH, in /usr/local/go, or in ~/.local/go (where
# contrib/install-deps.sh puts the official toolchain when Debian's is
# older) — else plain "go", so make's error names it.
here=$(cd "$(dirname "$0")/.." && pwd)
need=$(awk '$1 == "go" { print $2; exit }' "$here/go.mod")
for g in "$(command -v go 2>/dev/null)" /usr/local/go/bin/go "$HOME/.local/go/bin/go"; do
	[ -n "$g" ] && [ -x "$g" ] || continue
	v=$("$g" env GOVERSION 2>/dev/null | sed 's/^go//')
	[ -n "$v" ] || continue
	if [ "$(printf '%s\n%s\n' "$need" "$v" | sort -V | head -n1)" = "$need" ]; then
		echo "$g"
		exit 0
	fi
done
echo go
