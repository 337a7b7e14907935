#!/bin/bash
# Builds berth's fuzz targets with libFuzzer's coverage instrumentation (stable rustc:
# SanitizerCoverage through -C passes/llvm-args, no nightly, no sanitizer runtime) and
# runs each for SECONDS (default 20), starting from the corpus kept in fuzz/corpus/<target>.
# New inputs go to a scratch directory; with MERGE=1 those that add coverage are merged
# into fuzz/corpus. A crash fails the run (exit 1) and leaves the input in fuzz/artifacts/.
#
# usage: [MERGE=1] fuzz/run.sh [SECONDS [TARGET...]]   (make fuzz-smoke: 20 s each; make fuzz: 600 s, merged)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-20}; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config process state seccomp seccomp_cache mount_options cli)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target}
export RUSTFLAGS="--cfg fuzzing -C passes=sancov-module -C llvm-args=-sanitizer-coverage-level=4 \
 -C llvm-args=-sanitizer-coverage-inline-8bit-counters -C llvm-args=-sanitizer-coverage-pc-table \
 -C llvm-args=-sanitizer-coverage-trace-compares -C debug-assertions -C overflow-checks"
# --target: RUSTFLAGS then apply to the targets only, not to build scripts and proc-macros
# (which would need libFuzzer's symbols).
triple=$(rustc -vV | sed -n 's/^host: //p')
(cd "$here" && cargo build --release --quiet --bins --target "$triple")
mkdir -p "$here/artifacts"
scratch=$(mktemp -d /tmp/berth-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
fail=0
for t in "${targets[@]}"; do
  bin=$CARGO_TARGET_DIR/$triple/release/$t
  mkdir -p "$here/corpus/$t" "$scratch/$t"
  log=$scratch/$t.log
  if "$bin" -max_total_time="$secs" -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
       -artifact_prefix="$here/artifacts/$t-" "$scratch/$t" "$here/corpus/$t" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz $t: ${runs:-?} runs in ${secs}s, 0 crashes (corpus: $(ls "$here/corpus/$t" | wc -l) kept, $(ls "$scratch/$t" | wc -l) new)"
    if [ -n "${MERGE:-}" ]; then "$bin" -merge=1 "$here/corpus/$t" "$scratch/$t" >/dev/null 2>&1; fi
  else
    echo "fuzz $t: CRASH (input in fuzz/artifacts/)"; tail -40 "$log"; fail=1
  fi
done
exit $fail
