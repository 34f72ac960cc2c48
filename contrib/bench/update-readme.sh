#!/usr/bin/env bash
# update-readme.sh: puts the latest benchmark table (results/latest.md) and
# chart (results/latest.svg) into docs/performance.md, between
# the performance markers, so the README always shows what make bench measured.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
readme=$here/../../docs/performance.md
table=$here/results/latest.md
[ -s "$table" ] || { echo "update-readme: no $table (run make bench)" >&2; exit 1; }
awk -v table="$table" '
	/<!-- performance:begin -->/ {
		print
		print ""
		while ((getline l < table) > 0) print l
		print ""
		print "![git rapido speed-up over each reference](../contrib/bench/results/latest.svg)"
		print ""
		skip = 1
		next
	}
	/<!-- performance:end -->/ { skip = 0 }
	!skip
' "$readme" >"$readme.tmp"
mv "$readme.tmp" "$readme"
echo "bench: docs/performance.md updated" >&2
