#!/usr/bin/env bash
# git rapido verify over 1,000 signed commits (one git call for the range),
# side by side with the floor it cannot beat: git log printing the same
# messages. Target: >= 2,000 verdicts/s.
source "$(dirname "$0")/lib.sh"
N=${N:-1000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Build the generator before HOME moves, so Go uses the usual module cache.
(cd "$REPO_ROOT" && go build -o "$tmp/gensigned" ./contrib/bench/gensigned)
export GIT_CONFIG_NOSYSTEM=1 HOME=$tmp
git init -q "$tmp/repo"
"$tmp/gensigned" -n "$N" -pub "$tmp/pub.asc" | git -C "$tmp/repo" fast-import --quiet
git -C "$tmp/repo" config rapido.trustedKeys "$tmp/pub.asc"
# Sanity: every verdict must be ok, or the timing means nothing.
(cd "$tmp/repo" && "$RAPIDO_BIN" verify base..main | tail -1) | grep -q "^$N commits, $N verdicts: $N ok$" ||
	{ echo "bench-verify: verify did not say $N ok" >&2; exit 1; }
cd "$tmp/repo"
bench_pair verify-1000 "verify $N signed commits (verdicts/s = $N / median)" 10 \
	"$RAPIDO_BIN verify base..main" \
	"git log" "git log --format=%H%x20%T%n%B -z base..main"
jq -r --argjson n "$N" 'select(.bench=="verify-1000") |
	"verify: \(.ours_median_s*1000|floor) ms for \($n) verdicts = \($n/.ours_median_s|floor) verdicts/s (target 2000: \(($n/.ours_median_s/2000*100|floor)/100)x); git log floor \(.ref_median_s*1000|floor) ms"' \
	<(tail -1 "$RAPIDO_BENCH_OUT")
