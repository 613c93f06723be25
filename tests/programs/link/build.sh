#!/bin/sh
# Rebuilds the committed .wasm files of the linking corpus from their
# sources. Needs wabt (wat2wasm), clang-19 with the wasi sysroot,
# binaryen (wasm-split, Debian's version 108) and a built wasabi (for the
# profile of the profile-guided split; $WASABI, else target/debug/wasabi).
# Run from anywhere.
set -eu
cd "$(dirname "$0")"

for wat in byname/*.wat byname/lib/*.wat cycle/*.wat dioxus/*.wat errors/*.wat escape/*.wat pgo/*.wat; do
  wat2wasm --enable-all "$wat" -o "${wat%.wat}.wasm"
done

# binaryen wasm-split: the whole program, then a primary (app.wasm) whose
# placeholders load the secondary (app.deferred.wasm) on first call.
# clang runs wasm-opt itself when it optimises at link time (dropping the
# name section wasm-split needs), so compile and link in two steps.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
clang-19 --target=wasm32-wasi --sysroot=/usr -O2 -c split/app.c -o "$tmp/app.o"
clang-19 --target=wasm32-wasi --sysroot=/usr "$tmp/app.o" -o "$tmp/whole.wasm"
wasm-split "$tmp/whole.wasm" --split-funcs=report,checksum \
  -o1 split/app.wasm -o2 split/app.deferred.wasm

# Profile-guided: instrument the whole program, run it under wasabi (the
# driver imports it by path and writes its profile to pgo/app.prof after
# `_start`; run without arguments, so report and checksum are never
# called), then split with that profile: everything the run did not call
# goes to the secondary.
WASABI=${WASABI:-$(pwd)/../../../target/debug/wasabi}
wasm-split --instrument "$tmp/whole.wasm" -o pgo/instrumented.wasm
(cd pgo && "$WASABI" run --no-cache --dir . profile_driver.wasm > /dev/null)
wasm-split "$tmp/whole.wasm" --profile=pgo/app.prof \
  -o1 pgo/app.wasm -o2 pgo/app.deferred.wasm

# Dynamic linking: a side module (dylink.0) and a main module (a WASI
# reactor exporting what side modules import) that dlopens it.
clang-19 --target=wasm32-wasi --sysroot=/usr -O2 -fPIC -fvisibility=default \
  -c dylink/side.c -o "$tmp/side.o"
wasm-ld-19 --experimental-pic -shared --unresolved-symbols=import-dynamic \
  "$tmp/side.o" -o dylink/side.wasm
clang-19 --target=wasm32-wasi --sysroot=/usr -O2 -c dylink/main.c -o "$tmp/main.o"
clang-19 --target=wasm32-wasi --sysroot=/usr -nostartfiles \
  /usr/lib/wasm32-wasi/crt1-reactor.o "$tmp/main.o" -o dylink/main.wasm \
  -Wl,--no-entry -Wl,--export=_initialize -Wl,--import-undefined \
  -Wl,--export-table -Wl,--growable-table \
  -Wl,--export=printf -Wl,--export=__stack_pointer
