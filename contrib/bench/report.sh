#!/usr/bin/env bash
# report.sh RESULTS.jsonl: writes RESULTS.md (a Markdown table) and
# RESULTS.svg (speed-ups of git rapido over each reference, log scale).
set -euo pipefail
in=$1
base=${in%.jsonl}
command -v jq >/dev/null || { echo "report: jq is missing" >&2; exit 1; }

machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(date -u +%Y-%m-%d)"
{
	echo "Measured on: $machine. Reproduce with \`make bench\`."
	echo
	echo "| benchmark | git rapido (median ± sd) | reference (median ± sd) | ratio |"
	echo "|---|---|---|---|"
	jq -r 'select(.speedup != null) |
		def t(s): if s == 0 then "0" elif s < 0.001 then "\(s*1e6*10|round/10) µs" elif s < 1 then "\(s*1000*10|round/10) ms" else "\(s*100|round/100) s" end;
		def sd(s): if s == null then "" else " ± \(t(s))" end;
		"| \(.description) | \(t(.ours_median_s))\(sd(.ours_stddev_s)) | \(.reference): \(t(.ref_median_s))\(sd(.ref_stddev_s)) | \(.speedup*100|round/100)× |"' "$in"
	echo
	echo "| measurement | value | note |"
	echo "|---|---|---|"
	jq -r 'select(.value != null) | "| \(.description) | \(.value) \(.unit) | \(.note) |"' "$in"
} >"$base.md"

# A horizontal bar chart of speed-ups on a log2 axis, in plain SVG.
jq -r 'select(.speedup != null) | "\(.speedup)\t\(.description)"' "$in" |
	awk -F'\t' -v title="git rapido speed-up over the reference (log scale; 1x = same speed)" '
	{ s[NR] = $1; d[NR] = $2 }
	END {
		n = NR; w = 900; bh = 26; top = 40; left = 330; plotw = w - left - 60
		max = 1; for (i = 1; i <= n; i++) if (s[i] > max) max = s[i]
		lmax = log(max) / log(2); if (lmax < 1) lmax = 1
		h = top + n * bh + 30
		printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", w, h
		printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
		printf "<text x=\"10\" y=\"20\" font-size=\"14\">%s</text>\n", title
		for (i = 1; i <= n; i++) {
			y = top + (i - 1) * bh
			v = s[i] > 1 ? log(s[i]) / log(2) : 0
			bw = plotw * v / lmax; if (bw < 1) bw = 1
			col = s[i] >= 1 ? "#3a7d44" : "#b33"
			gsub(/&/, "\\&amp;", d[i]); gsub(/</, "\\&lt;", d[i])
			printf "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", left - 8, y + 16, d[i]
			printf "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n", left, y + 4, bw, bh - 8, col
			printf "<text x=\"%.1f\" y=\"%d\">%.2fx</text>\n", left + bw + 4, y + 16, s[i]
		}
		printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#444\"/>\n", left, top, left, top + n * bh
		printf "</svg>\n"
	}' >"$base.svg"
echo "bench: wrote $base.md and $base.svg" >&2
cat "$base.md"
