#!/usr/bin/env bash
# Passes "go test -v" output through and keeps its exit status meaningful in a
# pipeline: fails when any test failed or when the real tier ran no test.
set -o pipefail
out=$(mktemp)
trap 'rm -f "$out"' EXIT
tee "$out"
pass=$(grep -c '^    --- PASS\|^--- PASS' "$out" || true)
fail=$(grep -c '^    --- FAIL\|^--- FAIL' "$out" || true)
skip=$(grep -c '^    --- SKIP\|^--- SKIP' "$out" || true)
echo "real tier: $pass passed, $fail failed, $skip skipped"
if grep -q '^FAIL' "$out" || [ "$fail" -gt 0 ]; then exit 1; fi
if [ "$pass" -eq 0 ]; then echo "real tier: no test ran" >&2; exit 1; fi
