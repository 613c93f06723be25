#!/usr/bin/env bash
# Checks formatting and lints (clippy, warnings denied), then runs every
# test wasabi has: unit and doc tests, the embedding API, the WASI program
# corpus (output compared with native), and the official spec testsuite
# with its expected-failure list. Installs what it needs first (.ci/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --all-targets
# One closing line for the whole run: every test harness's counts summed
# (libtest's "test result" lines and the spec/corpus runners' own lines).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
awk '
  /^test result: /     { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;/) p += $(i-1); if ($i ~ /^failed;/) f += $(i-1) } }
  /^[0-9]+ passed, [0-9]+ failed$/ { p += $1; f += $3 }
  END { printf "all tests: %d passed, %d failed\n", p, f }
' "$log"
