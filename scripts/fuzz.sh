#!/usr/bin/env bash
# The cargo-fuzz targets in fuzz/: the multipart intake, the filename sanitiser, codename
# normalisation, the bundle manifest parser, the config parser and decryption of arbitrary
# bytes, and form definitions and answers.
#
#   bash scripts/fuzz.sh build                    # build every target, debug (what CI does)
#   bash scripts/fuzz.sh run [SECONDS] [TARGET…]  # run each for SECONDS (default 600)
#
# Each run starts from the committed seeds (fuzz/seeds/TARGET) and keeps its corpus in
# fuzz/corpus/TARGET (not committed). A crash is saved under fuzz/artifacts/TARGET and
# fails the run. A summary line per target gives executions and crashes.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-build}
seconds=${2:-600}
shift $(( $# > 2 ? 2 : $# ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(multipart filename codename manifest config decrypt forms)

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet
# cargo-fuzz passes the compiler nightly-only flags (sanitizer, coverage instrumentation).
# The machine has the stable toolchain only; RUSTC_BOOTSTRAP lets it accept them. This is
# for the fuzz build alone: sanduq itself is built and tested with plain stable.
export RUSTC_BOOTSTRAP=1

case "$mode" in
  build)
    # A debug build: CI only checks that every target compiles, and this is the faster build.
    cargo fuzz build --dev --fuzz-dir fuzz
    ;;
  run)
    cargo fuzz build --fuzz-dir fuzz
    status=0
    for t in "${targets[@]}"; do
      mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
      log="fuzz/artifacts/$t/last-run.log"
      if cargo fuzz run --fuzz-dir fuzz "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
          -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
          >"$log" 2>&1; then
        result="0 crashes"
      else
        result="CRASH (see $log and fuzz/artifacts/$t)"
        status=1
      fi
      execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
      rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
      corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
      printf '%-10s %s s: %s executions (%s/s), corpus %s inputs, %s\n' \
        "$t" "$seconds" "${execs:-?}" "${rate:-?}" "$corpus" "$result"
    done
    exit $status
    ;;
  *)
    echo "usage: $0 build | run [SECONDS] [TARGET...]" >&2
    exit 2
    ;;
esac
