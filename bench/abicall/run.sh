#!/usr/bin/env bash
# Per-call cost of a function loaded with Wasabi's ABI (wasabi.h's
# wasabi_module_open + a function pointer), against a direct call and a
# local indirect call, under `wasabi run` and natively (dlopen).
#
#   bench/abicall/run.sh [N]          N calls per loop (default 2e8)
#   REBUILD=1 bench/abicall/run.sh    rebuild the wasm from the C sources
#   WASABI=/path/to/wasabi            default: <repo>/target/release/wasabi
#
# The wasm builds are committed (caller.wasm, callee.wasm); rebuilding them
# needs clang-19 and wasi-libc. The native builds go to a temp dir.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WASABI=${WASABI:-$ROOT/target/release/wasabi}
N=${1:-200000000}
CLANG=${CLANG:-clang-19}
INC="$ROOT/abi/guest"
if [ "${REBUILD:-0}" = 1 ] || [ ! -f "$HERE/caller.wasm" ]; then
  "$CLANG" --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--strip-debug -I"$INC" \
    -Wl,--export-table,--growable-table "$HERE/caller.c" -o "$HERE/caller.wasm"
  "$CLANG" --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--strip-debug -mexec-model=reactor \
    "$HERE/callee.c" -o "$HERE/callee.wasm"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "== wasabi run --mode regular ($WASABI)"
"$WASABI" run --mode regular --dir "$HERE" "$HERE/caller.wasm" "$HERE" "$N"
if command -v "$CLANG" >/dev/null; then
  "$CLANG" -O2 -shared -fPIC "$HERE/callee.c" -o "$tmp/callee.so"
  "$CLANG" -O2 -I"$INC" -rdynamic "$HERE/caller.c" -o "$tmp/caller"
  echo "== native (dlopen)"
  "$tmp/caller" "$tmp" "$N"
fi
