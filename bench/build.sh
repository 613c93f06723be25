#!/usr/bin/env bash
# Idempotent build of the benchmark programs:
#   bench/build/wasm/<prog>.wasm    (wasm32-wasi / wasm32-wasip1)
#   bench/build/native/<prog>       (host, clang-19 -O2 / cargo --release)
# and of the peers' Python venv (bench/.venv with wasmtime).
# Installs missing tools (apt-get, rustup) when it can.  Rebuilds only what is
# out of date; FORCE=1 rebuilds everything.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="$BENCH/build"
C_SRC="$BENCH/programs/c"
RUST_SRC="$BENCH/programs/rust"
CC="${CC_BENCH:-clang-19}"
CFLAGS_COMMON="-O2"
WASM_FLAGS="--target=wasm32-wasi --sysroot=/usr $CFLAGS_COMMON"
NATIVE_FLAGS="$CFLAGS_COMMON"
# the SIMD programs (programs/c/simd_*.c): wasm SIMD, and natively the same
# 128-bit width through SSE4.1 (simd_portable.h maps one to the other)
SIMD_WASM_FLAGS="-msimd128"
SIMD_NATIVE_FLAGS="-msse4.1"
FORCE="${FORCE:-0}"

log() { echo "[build] $*" >&2; }

# ---------------------------------------------------------------- tools
need_apt=()
command -v clang-19 >/dev/null || need_apt+=(clang-19)
command -v wasm-ld-19 >/dev/null || need_apt+=(lld-19)
[ -e /usr/include/wasm32-wasi/stdio.h ] || need_apt+=(wasi-libc)
ls /usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 || need_apt+=(libclang-rt-19-dev-wasm32)
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
command -v node >/dev/null || log "node not found: the node engine will show n/a (apt-get install nodejs to add it)"
[ -x /usr/bin/time ] || need_apt+=(time)
if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing: ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if command -v rustup >/dev/null; then
    rustup target list --installed | grep -qx wasm32-wasip1 || { log "rustup target add wasm32-wasip1"; rustup target add wasm32-wasip1; }
fi

mkdir -p "$BUILD/wasm" "$BUILD/native" "$BUILD/gen"

# ---------------------------------------------------------------- python venv
VENV="$BENCH/.venv"
if ! "$VENV/bin/python" -c 'import wasmtime' >/dev/null 2>&1 \
   || ! cmp -s "$BENCH/requirements.txt" "$VENV/.requirements.stamp"; then
    log "creating venv $VENV"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$VENV"; }
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$BENCH/requirements.txt"
    cp "$BENCH/requirements.txt" "$VENV/.requirements.stamp"
fi

# ---------------------------------------------------------------- C programs
# a flags stamp: changing compiler flags rebuilds everything
STAMP="$BUILD/.cflags"
FLAGS_NOW="$CC|$WASM_FLAGS|$NATIVE_FLAGS|$SIMD_WASM_FLAGS|$SIMD_NATIVE_FLAGS|$($CC --version | head -1)"
if [ "$FORCE" = 1 ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$FLAGS_NOW" ]; then
    rm -f "$BUILD"/wasm/*.wasm "$BUILD"/native/*
fi
echo "$FLAGS_NOW" > "$STAMP"

# generated source: many small functions
GEN="$BUILD/gen/manyfuncs.c"
if [ ! -e "$GEN" ] || [ "$C_SRC/gen_manyfuncs.py" -nt "$GEN" ]; then
    log "generating $GEN"
    python3 "$C_SRC/gen_manyfuncs.py" "$GEN.tmp" && mv "$GEN.tmp" "$GEN"
fi

build_c() {  # name source [dependency]
    local name="$1" src="$2" dep="${3:-$2}" wflags="" nflags=""
    case "$name" in simd_*) wflags="$SIMD_WASM_FLAGS"; nflags="$SIMD_NATIVE_FLAGS" ;; esac
    if [ ! -e "$BUILD/wasm/$name.wasm" ] || [ "$src" -nt "$BUILD/wasm/$name.wasm" ] \
       || [ "$dep" -nt "$BUILD/wasm/$name.wasm" ]; then
        log "wasm   $name"
        $CC $WASM_FLAGS $wflags "$src" -o "$BUILD/wasm/$name.wasm"
    fi
    if [ ! -e "$BUILD/native/$name" ] || [ "$src" -nt "$BUILD/native/$name" ] \
       || [ "$dep" -nt "$BUILD/native/$name" ]; then
        log "native $name"
        $CC $NATIVE_FLAGS $nflags "$src" -o "$BUILD/native/$name" -lm
    fi
}

for src in "$C_SRC"/*.c; do
    name="$(basename "$src" .c)"
    if [ "$name" = probe ]; then name=_probe; fi
    case "$name" in
        simd_*) build_c "$name" "$src" "$C_SRC/simd_portable.h" ;;
        *) build_c "$name" "$src" ;;
    esac
done
build_c manyfuncs "$GEN"

# ---------------------------------------------------------------- Rust programs
if command -v cargo >/dev/null; then
    export CARGO_TARGET_DIR="$BUILD/rust-target"
    # its own [workspace] and Cargo.lock: never the main Wasabi workspace
    # simd_mandel uses core::arch::wasm32: only it gets +simd128, in its own
    # target dir (so the flag never rebuilds the others); natively it uses SSE2.
    (cd "$RUST_SRC" && cargo build -q --release --locked --target wasm32-wasip1 --workspace --exclude simd_mandel \
        && CARGO_TARGET_DIR="$BUILD/rust-target-simd128" RUSTFLAGS="-C target-feature=+simd128" \
           cargo build -q --release --locked --target wasm32-wasip1 -p simd_mandel \
        && cargo build -q --release --locked)
    for p in regex_bench json_bench simd_mandel; do
        wdir="$CARGO_TARGET_DIR"
        [ "$p" = simd_mandel ] && wdir="$BUILD/rust-target-simd128"
        cp -p "$wdir/wasm32-wasip1/release/$p.wasm" "$BUILD/wasm/$p.wasm"
        cp -p "$CARGO_TARGET_DIR/release/$p" "$BUILD/native/$p"
    done
else
    log "cargo not found: skipping the Rust programs"
fi

log "done: $(ls "$BUILD/wasm" | wc -l) wasm, $(ls "$BUILD/native" | wc -l) native"
