#!/usr/bin/env bash
# Installs what building and testing wasabi needs on Debian 12, idempotently:
# LLVM 19 (for the compiler), and a Rust toolchain if there is none.
# Used by examples/run.sh, tests/run.sh and .ci/run.
set -euo pipefail

packages=(llvm-19-dev libpolly-19-dev zlib1g-dev libzstd-dev libxml2-dev build-essential pkg-config curl ca-certificates)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] || {
    echo "setup: installing Rust with rustup"
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  }
  export PATH="$HOME/.cargo/bin:$PATH"
fi

# tests/run.sh checks formatting and lints; a minimal toolchain lacks both.
if ! cargo fmt --version >/dev/null 2>&1; then
  rustup component add rustfmt
fi
if ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add clippy
fi
