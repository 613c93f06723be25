#!/usr/bin/env bash
# Builds wasabi (release) and runs the bundled examples: a WASI "hello"
# program written in C (run, then compiled ahead of time into a native
# executable), and a wat module invoked from the command line.
# Installs what it needs first (.ci/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

cargo build --release -p wasabi-cli
W=target/release/wasabi
echo "\$ wasabi run examples/hello.wasm -- from wasabi"
$W run examples/hello.wasm -- from wasabi
echo "\$ wasabi run --invoke fib examples/fib.wat 25"
$W run --invoke fib examples/fib.wat 25
echo "\$ wasabi run --invoke div examples/fib.wat 1 0   # traps, on purpose"
$W run --invoke div examples/fib.wat 1 0 || echo "(exit status $?)"
echo "\$ wasabi aot examples/hello.wasm -o target/hello && target/hello native"
$W aot examples/hello.wasm -o target/hello
target/hello native
