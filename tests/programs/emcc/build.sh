#!/usr/bin/env bash
# Rebuilds the Emscripten corpus: wasm/NAME.wasm with Debian's emscripten
# 3.1.6 in its default JS mode (the .js is thrown away: wasabi runs the
# .wasm alone), native/NAME with clang-19, and expected/NAME.stdout from
# the native builds, run as cases.txt says. Needs emcc, em++, clang-19.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p wasm native expected
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# NAME  compiler  flags (the emcc flags; native builds use -O1)
while read -r name cc flags; do
  src=src/$name.c; ncc=clang-19
  if [ "$cc" = em++ ]; then src=src/$name.cpp; ncc=clang++-19; fi
  # shellcheck disable=SC2086
  "$cc" $flags "$src" -o "$tmp/$name.js"
  cp "$tmp/$name.wasm" "wasm/$name.wasm"
  "$ncc" -O1 -w "$src" -o "native/$name"
done <<'LIST'
args_env emcc -O1
noargs emcc
fileio emcc
clocks emcc -O1
memgrow emcc -O1 -sALLOW_MEMORY_GROWTH
setjmp emcc -O1
exceptions em++ -O1 -fexceptions
iostreams em++
exit_atexit emcc -O1 -sEXIT_RUNTIME
abort emcc -O1
LIST

grep -v '^#' cases.txt | while IFS='|' read -r name args env stdin dir status; do
  scratch=""
  if [ "$dir" = 1 ]; then scratch=$(mktemp -d); fi
  # shellcheck disable=SC2086
  set -- ${args//\{dir\}/$scratch}
  input=/dev/null
  if [ "$stdin" != - ]; then input=inputs/$stdin; fi
  set +e
  # shellcheck disable=SC2086
  env -i TZ=CET-1CEST,M3.5.0,M10.5.0/3 $env "native/$name" "$@" <"$input" >"expected/$name.stdout" 2>/dev/null
  got=$?
  set -e
  want=$status; if [ "$status" = trap ]; then want=134; fi
  if [ "$got" != "$want" ]; then echo "$name: native exit status $got, cases.txt says $status" >&2; exit 1; fi
  if [ -n "$scratch" ]; then rm -rf "$scratch"; fi
  echo "$name: ok"
done
