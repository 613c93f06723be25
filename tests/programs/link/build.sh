#!/bin/sh
# Rebuilds the committed .wasm files of the linking corpus from their
# sources. Needs wabt (wat2wasm), clang-19 with the wasi sysroot,
# binaryen (wasm-split, Debian's version 108), emcc (for one side module)
# and a built wasabi (for the
# profile of the profile-guided split; $WASABI, else target/debug/wasabi).
# Run from anywhere.
set -eu
cd "$(dirname "$0")"

for wat in byname/*.wat byname/lib/*.wat cycle/*.wat dioxus/*.wat errors/*.wat escape/*.wat pgo/*.wat; do
  wat2wasm --enable-all "$wat" -o "${wat%.wat}.wasm"
done

# A hand-written side module: its dylink.0 section (memory info: all zero).
printf '\000\017\010dylink.0\001\004\000\000\000\000' >> errors/trapping_side.wasm
# Two side modules that need each other (memory info, then
# WASM_DYLINK_NEEDED naming the other).
printf '\000\037\010dylink.0\001\004\000\000\000\000\002\016\001\014cycle_b.wasm' >> errors/cycle_a.wasm
printf '\000\037\010dylink.0\001\004\000\000\000\000\002\016\001\014cycle_a.wasm' >> errors/cycle_b.wasm

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
# A side module that needs side.wasm: linking against it records the need.
clang-19 --target=wasm32-wasi --sysroot=/usr -O2 -fPIC -fvisibility=default \
  -c dylink/side2.c -o "$tmp/side2.o"
wasm-ld-19 --experimental-pic -shared --unresolved-symbols=import-dynamic \
  "$tmp/side2.o" dylink/side.wasm -o dylink/side2.wasm
clang-19 --target=wasm32-wasi --sysroot=/usr -O2 -c dylink/main.c -o "$tmp/main.o"
clang-19 --target=wasm32-wasi --sysroot=/usr -nostartfiles \
  /usr/lib/wasm32-wasi/crt1-reactor.o "$tmp/main.o" -o dylink/main.wasm \
  -Wl,--no-entry -Wl,--export=_initialize -Wl,--import-undefined \
  -Wl,--export-table -Wl,--growable-table \
  -Wl,--export=printf -Wl,--export=iprintf -Wl,--export=__stack_pointer
# The same side module from Emscripten (its optimiser calls iprintf, which
# the main module exports too).
emcc -O2 -sSIDE_MODULE=1 dylink/side.c -o dylink/side_emcc.wasm
