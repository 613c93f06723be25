#!/usr/bin/env bash
# Build the WASI test-program corpus and regenerate its expectations.
#
#   tests/programs/build.sh            build everything + regenerate expected/
#   tests/programs/build.sh --no-expect  build only
#
# Outputs:
#   wasm/NAME.wasm      wasm32-wasi(p1) builds, CHECKED IN (CI without toolchains
#                       runs these as they are)
#   native/NAME         host builds (git-ignored), used to regenerate
#                       expected/NAME.stdout and expect_exit in cases.toml
# Idempotent: running it twice gives byte-identical outputs. On a fresh Debian 12
# (as root) it installs missing tools first.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
EXPECT=1
for a in "$@"; do
  case "$a" in
    --no-expect) EXPECT=0 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done

CLANG=${CLANG:-clang-19}
SYSROOT=${WASI_SYSROOT:-/usr}
export LC_ALL=C TZ=UTC SOURCE_DATE_EPOCH=0

# ---------------------------------------------------------------- tools
need_apt=()
command -v "$CLANG" >/dev/null 2>&1 || need_apt+=(clang-19)
command -v wasm-ld-19 >/dev/null 2>&1 || command -v wasm-ld >/dev/null 2>&1 || need_apt+=(lld-19)
[ -f "$SYSROOT/include/wasm32-wasi/stdio.h" ] || need_apt+=(wasi-libc)
ls /usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 \
  || need_apt+=(libclang-rt-19-dev-wasm32)
[ -f /usr/include/stdio.h ] || need_apt+=(libc6-dev)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing: ${need_apt[*]}"
  if [ "$(id -u)" != 0 ]; then echo "need root to apt-get install ${need_apt[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
python3 -c 'import tomllib' 2>/dev/null || { echo "python3 >= 3.11 needed (tomllib)" >&2; exit 1; }
[ -d "${CARGO_HOME:-$HOME/.cargo}/bin" ] && export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust with rustup (https://rustup.rs), then rerun" >&2; exit 1
fi
if command -v rustup >/dev/null 2>&1; then
  rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
fi

mkdir -p wasm native expected

# ---------------------------------------------------------------- C
WASM_CFLAGS=(--target=wasm32-wasi --sysroot="$SYSROOT" -O2 -Wall -Werror -Wl,--strip-debug)
NATIVE_CFLAGS=(-O2 -Wall -Werror)
echo "== C programs"
for src in c/*.c; do
  name=$(basename "$src" .c)
  # relative paths only: nothing host-specific ends up in the binaries
  extra=()
  # simd.c uses wasm_simd128.h (and is auto-vectorised); natively it is scalar.
  [ "$name" = simd ] && extra=(-msimd128)
  native_extra=()
  # abi_*.c use Wasabi's own ABI (abi/guest/wasabi.h): a growable exported
  # table for loaded functions; natively, plugins are dlopen()ed and resolve
  # their "env" imports against the program's symbols.
  case "$name" in abi_*)
    extra=(-I../../abi/guest -Wl,--export-table,--growable-table)
    native_extra=(-I../../abi/guest -rdynamic) ;;
  esac
  "$CLANG" "${WASM_CFLAGS[@]}" "${extra[@]}" "$src" -o "wasm/$name.wasm.tmp"
  mv -f "wasm/$name.wasm.tmp" "wasm/$name.wasm"
  "$CLANG" "${NATIVE_CFLAGS[@]}" "${native_extra[@]}" "$src" -o "native/$name" -lm
  echo "   $name"
done
# Plugins that corpus programs load at run time (cases' dir_modules): wasm
# reactors, and shared libraries natively.
for src in c/plugins/*.c; do
  name=$(basename "$src" .c)
  "$CLANG" "${WASM_CFLAGS[@]}" -mexec-model=reactor "$src" -o "wasm/$name.wasm.tmp"
  mv -f "wasm/$name.wasm.tmp" "wasm/$name.wasm"
  "$CLANG" "${NATIVE_CFLAGS[@]}" -shared -fPIC "$src" -o "native/$name.so"
  echo "   $name (plugin)"
done

# ---------------------------------------------------------------- Rust
echo "== Rust programs"
RS="$HERE/rust"
REG="${CARGO_HOME:-$HOME/.cargo}/registry/src"
# Keep host paths out of the wasm (panic locations etc.) for reproducibility.
REMAP="--remap-path-prefix=$REG=/cargo/registry/src --remap-path-prefix=$RS=/rust"
export CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS="$REMAP"
export CARGO_TARGET_DIR="$RS/target"
jobs=${CARGO_BUILD_JOBS:-2}
# rs_simd uses core::arch::wasm32 SIMD: only it is built with +simd128 (in its
# own target dir, so the flag never rebuilds the others); natively it is scalar.
SIMD_CRATES="rs_simd"
(cd "$RS" && cargo build --release --locked -j"$jobs" --target wasm32-wasip1 --workspace \
  $(for c in $SIMD_CRATES; do echo --exclude "$c"; done))
(cd "$RS" && CARGO_TARGET_DIR="$RS/target/simd128" \
  CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS="$REMAP -C target-feature=+simd128" \
  cargo build --release --locked -j"$jobs" --target wasm32-wasip1 $(for c in $SIMD_CRATES; do echo -p "$c"; done))
(cd "$RS" && cargo build --release --locked -j"$jobs" --workspace)
for m in $(sed -n 's/^members *= *\[\(.*\)\]/\1/p' "$RS/Cargo.toml" | tr -d '",'); do
  wdir="$CARGO_TARGET_DIR"
  case " $SIMD_CRATES " in *" $m "*) wdir="$RS/target/simd128" ;; esac
  cp -f "$wdir/wasm32-wasip1/release/$m.wasm" "wasm/$m.wasm"
  cp -f "$CARGO_TARGET_DIR/release/$m" "native/$m"
  echo "   $m"
done

# ---------------------------------------------------------------- expectations
if [ "$EXPECT" = 1 ]; then
  echo "== regenerating expectations from native runs"
  python3 gen_expected.py
fi
echo "== done"; ls -l wasm/
