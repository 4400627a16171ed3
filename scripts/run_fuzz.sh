#!/usr/bin/env bash
# `make fuzz`: builds each fuzz target (tests/fuzz/fuzz_<name>.c) with clang's libFuzzer + ASan +
# UBSan in build-fuzz/ (the library too, without OpenMP) and runs it for FUZZ_SECONDS on a copy of
# its seed corpus. New interesting inputs go to build-fuzz/corpus/<name>/ (kept between runs, never
# written into the repository), crash inputs to build-fuzz/crashes/<name>/, logs to
# build-fuzz/logs/<name>.log. Targets run one after another (one core each).
#   usage: FUZZ_SECONDS=60 MAKE=make PKG_LIBS=... FUZZ_LIB_CFLAGS=... run_fuzz.sh NAME...
# Exit status: 0 when no target crashed, 1 when one did (or the toolchain is missing).
set -u
secs=${FUZZ_SECONDS:-60}
out=build-fuzz
make_cmd=${MAKE:-make}
lib_cflags=${FUZZ_LIB_CFLAGS:?run through make fuzz}
pkg_libs=${PKG_LIBS:-}
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

if [ $# -eq 0 ]; then echo "make fuzz: no targets (FUZZ_TARGETS is empty)"; exit 1; fi
for t in "$@"; do
  if [ ! -f "tests/fuzz/fuzz_$t.c" ]; then
    echo "make fuzz: unknown target '$t' (targets: $(ls tests/fuzz | sed -n 's/^fuzz_\(.*\)\.c$/\1/p' | tr '\n' ' '))"
    exit 1
  fi
done

cc=""
for c in clang clang-14; do command -v "$c" >/dev/null 2>&1 && { cc=$c; break; }; done
mkdir -p "$out/logs"
probe="$out/.toolchain_probe"
if [ -z "$cc" ] || ! printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
     'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
     'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return (int)(d && n > 99); }' |
     "$cc" -x c -fsanitize=fuzzer,address,undefined - -o "$probe" >/dev/null 2>&1; then
  echo "make fuzz: clang with libFuzzer is missing: make setup-dev (or apt-get install clang-14 libclang-rt-14-dev)"
  exit 1
fi
rm -f "$probe"

echo "make fuzz: building the library with $cc (libFuzzer coverage, ASan, UBSan) in $out/"
if ! "$make_cmd" --no-print-directory BUILD="$out" CC="$cc" BASE_CFLAGS="$lib_cflags" \
     OPT="-O1 -g $san -fsanitize=fuzzer-no-link" "$out/libddpm.a" > "$out/logs/build.log" 2>&1; then
  tail -n 20 "$out/logs/build.log"
  echo "make fuzz: library build failed (log: $out/logs/build.log)"
  exit 1
fi

crashed=0
summary=()
for t in "$@"; do
  bin="$out/fuzz_$t"
  # shellcheck disable=SC2086
  if ! "$cc" $lib_cflags -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION \
       -g -O1 $san -fsanitize=fuzzer \
       "tests/fuzz/fuzz_$t.c" "$out/libddpm.a" $pkg_libs -l:libgomp.so.1 -lm -o "$bin" > "$out/logs/build_$t.log" 2>&1; then
    cat "$out/logs/build_$t.log"
    echo "make fuzz: cannot build $bin"
    exit 1
  fi
  corpus="$out/corpus/$t" crashes="$out/crashes/$t" log="$out/logs/$t.log"
  mkdir -p "$corpus" "$crashes"
  cp -n "tests/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null
  before=$(find "$corpus" -type f | wc -l)
  stamp="$out/.stamp_$t"
  : > "$stamp"
  echo "make fuzz: $t for ${secs}s ..."
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "$corpus" > "$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  [ -n "$execs" ] || execs=$(grep -Eo '^#[0-9]+' "$log" | tail -n1 | tr -d '#')
  after=$(find "$corpus" -type f | wc -l)
  new=$(find "$crashes" -type f -newer "$stamp" | sort | tr '\n' ' ')
  rm -f "$stamp"
  if [ $rc -ne 0 ] || [ -n "$new" ]; then
    crashed=1
    grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|expectation violated|SUMMARY' "$log"
    summary+=("$(printf '%-14s %10s execs  corpus %4d -> %4d  CRASH: %s(log %s)' "$t" "${execs:-?}" "$before" "$after" "${new:-exit $rc }" "$log")")
  else
    summary+=("$(printf '%-14s %10s execs  corpus %4d -> %4d  no crash' "$t" "${execs:-?}" "$before" "$after")")
  fi
done

echo "make fuzz: ${secs}s per target"
printf '  %s\n' "${summary[@]}"
if [ $crashed -ne 0 ]; then
  echo "make fuzz: crash found; reproduce with build-fuzz/fuzz_<name> FILE, then copy FILE to tests/fuzz/corpus/<name>/regress_<bug> (docs/fuzzing.md)"
  exit 1
fi
echo "make fuzz: no crashes"
