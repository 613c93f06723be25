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
cargo test --workspace
