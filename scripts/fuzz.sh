#!/usr/bin/env bash
# Fuzzes every parser of user input with cargo-fuzz (libFuzzer + AddressSanitizer; targets in fuzz/):
#   scripts/fuzz.sh SECONDS [TARGET...]
# runs each target (all of them by default) for SECONDS on fuzz/corpus/TARGET seeded from fuzz/seeds/TARGET,
# with the limits the README promises: no crash, no input taking over FUZZ_TIMEOUT seconds (default 10), no
# allocation or RSS above 2 GB. Prints the executions of each target; a finding's input is kept in
# fuzz/artifacts/TARGET/ and the script exits non-zero. Needs the nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`). FUZZ_TIMEOUT and FUZZ_RUNS (below) adjust the limits.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}"
shift
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo +nightly fuzz list); fi
timeout="${FUZZ_TIMEOUT:-10}"
# FUZZ_RUNS=N also stops each target after N executions (whichever comes first).
runs_flag=()
[ -z "${FUZZ_RUNS:-}" ] || runs_flag=(-runs="$FUZZ_RUNS")
# FUZZ_ARGS: more libFuzzer flags, e.g. FUZZ_ARGS=-max_len=4096.
read -r -a extra_flags <<<"${FUZZ_ARGS:-}"

cargo +nightly fuzz build >/dev/null 2>build.log || { cat build.log; exit 1; }
mkdir -p logs
failed=()
printf '%-12s %12s %10s  %s\n' target executions exec/s result
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  status=ok
  cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -timeout="$timeout" -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -print_final_stats=1 "${runs_flag[@]}" "${extra_flags[@]}" >"logs/$t.log" 2>&1 || status=FAILED
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "logs/$t.log" | tail -1)
  if [ "$status" != ok ]; then
    failed+=("$t")
    status="FAILED: $(grep -m1 -E 'ERROR: libFuzzer|panicked at|ERROR: AddressSanitizer' "logs/$t.log" || echo 'see the log')"
    status+=" (fuzz/logs/$t.log, input in fuzz/artifacts/$t/)"
  fi
  printf '%-12s %12s %10s  %s\n' "$t" "${runs:-?}" "${rate:-?}" "$status"
done
[ ${#failed[@]} -eq 0 ] || { echo "findings in: ${failed[*]}"; exit 1; }
