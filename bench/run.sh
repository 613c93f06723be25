#!/usr/bin/env bash
# The one command: build everything that is out of date, then run the suite.
#   bench/run.sh                         # all programs, all engines, 3 reps
#   bench/run.sh --reps 5 --programs nbody,sha256 --engines native,wasmtime,wasabi
#   WASABI=/path/to/wasabi bench/run.sh  # default: <repo>/target/release/wasabi
# Results: bench/results/{results.md,results.json,chart.svg}
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$BENCH/build.sh"
exec python3 "$BENCH/run.py" "$@"
