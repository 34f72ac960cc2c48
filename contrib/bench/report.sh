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
		"| \(.description) | \(t(.ours_median_s))\(sd(.ours_stddev_s)) | \(.reference): \(t(.ref_median_s))\(sd(.ref_stddev_s)) | \(.speedup*100|round/100)×\(if .ratio == "total" then " (whole loop: \(.ours_total_s*10|round/10) s vs \(.ref_total_s*10|round/10) s)" else "" end) |"' "$in"
	echo
	echo "| measurement | value | note |"
	echo "|---|---|---|"
	jq -r 'select(.value != null) | "| \(.description) | \(.value) \(.unit) | \(.note) |"' "$in"
} >"$base.md"

# A horizontal bar chart of the ratios on a log2 axis centred on 1x: a
# speed-up is a green bar to the right of the 1x line, a slowdown a red bar
# to its left. Whiskers show the spread: the two sides' standard deviations
# carried into the ratio. Only whole-process comparisons are drawn; the Go
# benchmarks that time work in process (scope "inproc") stay in the table.
jq -r 'select(.speedup != null and (.scope // "") != "inproc" and (.bench | endswith("-inproc") | not)) |
	# A whole-loop ratio has no spread of its own: the per-step spread is
	# the steps differing in kind, so it gets no whiskers.
	(if .ratio == "total" then 0 else 1 end) as $w |
	[.speedup, .description, (.ours_median_s // 0), ((.ours_stddev_s // 0) * $w), (.ref_median_s // 0), ((.ref_stddev_s // 0) * $w)] | @tsv' "$in" |
	awk -F'\t' -v title="git rapido against each reference: ratio of medians, or of whole-loop times for a series (log scale; right of 1x: faster)" '
	function l2(x) { return log(x) / log(2) }
	function esc(t) { gsub(/&/, "\\&amp;", t); gsub(/</, "\\&lt;", t); return t }
	function x(v) { return left + (l2(v) - lmin) / (lmax - lmin) * plotw }
	# wrap(text, i): splits text into lines of at most wrapw characters.
	function wrap(t, i,   w, n, k, line) {
		n = split(t, w, " "); nl[i] = 0; line = ""
		for (k = 1; k <= n; k++) {
			if (line != "" && length(line) + 1 + length(w[k]) > wrapw) { lines[i, ++nl[i]] = line; line = w[k] }
			else line = (line == "" ? w[k] : line " " w[k])
		}
		lines[i, ++nl[i]] = line
	}
	{
		n++; s[n] = $1; d[n] = $2
		rel = 0
		if ($3 > 0 && $5 > 0) rel = sqrt(($4 / $3) ^ 2 + ($6 / $5) ^ 2)
		lo[n] = s[n] / (1 + rel); hi[n] = s[n] * (1 + rel)
	}
	END {
		wrapw = 44; cw = 6.6; lh = 15
		maxc = 0
		for (i = 1; i <= n; i++) { wrap(d[i], i); for (k = 1; k <= nl[i]; k++) if (length(lines[i, k]) > maxc) maxc = length(lines[i, k]) }
		left = int(maxc * cw) + 20; plotw = 420; w = left + plotw + 70
		lmin = -1; lmax = 1
		for (i = 1; i <= n; i++) { if (l2(lo[i]) < lmin) lmin = l2(lo[i]); if (l2(hi[i]) > lmax) lmax = l2(hi[i]) }
		lmin = int(lmin) - (lmin < int(lmin) ? 1 : 0); lmax = int(lmax) + (lmax > int(lmax) ? 1 : 0)
		top = 40; y = top
		for (i = 1; i <= n; i++) { rowy[i] = y; rowh[i] = (nl[i] > 1 ? nl[i] * lh + 8 : 26); y += rowh[i] }
		h = y + 40
		printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", w, h
		printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
		printf "<text x=\"10\" y=\"20\" font-size=\"14\">%s</text>\n", title
		for (e = lmin; e <= lmax; e++) {
			gx = x(2 ^ e)
			printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", gx, top, gx, y
			lab = e >= 0 ? sprintf("%dx", 2 ^ e) : sprintf("1/%dx", 2 ^ -e)
			printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#444\">%s</text>\n", gx, y + 16, lab
		}
		one = x(1)
		for (i = 1; i <= n; i++) {
			yy = rowy[i]; bh = rowh[i]
			for (k = 1; k <= nl[i]; k++)
				printf "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", left - 8, yy + (bh - nl[i] * lh) / 2 + k * lh - 3, esc(lines[i, k])
			bx = x(s[i]); x0 = (bx < one ? bx : one); bw = (bx < one ? one - bx : bx - one); if (bw < 1) bw = 1
			col = s[i] >= 1 ? "#3a7d44" : "#b33"
			printf "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n", x0, yy + 5, bw, bh - 10, col
			if (hi[i] > lo[i] * 1.001) {
				cy = yy + bh / 2
				printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#222\"/>\n", x(lo[i]), cy, x(hi[i]), cy
				printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#222\"/>\n", x(lo[i]), cy - 4, x(lo[i]), cy + 4
				printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#222\"/>\n", x(hi[i]), cy - 4, x(hi[i]), cy + 4
			}
			# The value stands right of the outer end of the bar (a speed-up)
			# or right of the 1x line (a slowdown), clear of the labels.
			tx = (s[i] >= 1 ? (x(hi[i]) > bx ? x(hi[i]) : bx) : one) + 4
			printf "<text x=\"%.1f\" y=\"%d\">%.2fx</text>\n", tx, yy + bh / 2 + 4, s[i]
		}
		printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#444\"/>\n", one, top, one, y
		printf "</svg>\n"
	}' >"$base.svg"
echo "bench: wrote $base.md and $base.svg" >&2
cat "$base.md"
