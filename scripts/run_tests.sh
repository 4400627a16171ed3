#!/usr/bin/env bash
# Runs each Check suite binary, prints its summary line, and ends with one
# "N passed, N failed" line; exits non-zero when any check failed or a suite crashed.
set -u
build=$1; bindir=$2; shift 2
mkdir -p "$build/tmp"
export DDPM_TEST_TMP="$build/tmp" DDPM_BIN="$bindir"
passed=0; failed=0; crashed=0
for t in "$@"; do
  name=$(basename "$t")
  out=$("$t" 2>&1); rc=$?
  summary=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: ' | tail -n1)
  if [ -z "$summary" ]; then
    printf '%s\n' "$out" | tail -n 20
    echo "$name: crashed (exit $rc) before Check printed a summary"
    crashed=$((crashed + 1)); failed=$((failed + 1)); continue
  fi
  n=$(sed -E 's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/' <<<"$summary")
  read -r nc nf ne <<<"$n"
  bad=$((nf + ne))
  passed=$((passed + nc - bad)); failed=$((failed + bad))
  if [ $bad -gt 0 ] || [ $rc -ne 0 ]; then
    printf '%s\n' "$out" | grep -vE '^Running suite' | grep -E ':[EF]:|Failures|Errors' | head -n 40
  fi
  echo "$name: $summary"
  if [ $bad -eq 0 ] && [ $rc -ne 0 ]; then failed=$((failed + 1)); fi
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
