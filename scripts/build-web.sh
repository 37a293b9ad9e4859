#!/usr/bin/env bash
# Builds the browser app: the library for wasm32 (WebGPU + CPU backends), optimised with wasm-opt, and its
# JS bindings with wasm-bindgen into pkg/. Installs what is missing: the wasm32 target and the wasm-bindgen
# CLI (the exact version in Cargo.lock) from crates.io, and, as root on Debian, binaryen (wasm-opt).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-unknown-unknown >/dev/null
version=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! wasm-bindgen --version 2>/dev/null | grep -q " $version"; then
  echo "installing wasm-bindgen-cli $version (once)…"
  cargo install wasm-bindgen-cli --version "$version"
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_WASM:-target/wasm}"
cargo build --lib --release --target wasm32-unknown-unknown
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/cdetr.wasm"

# wasm-opt (Debian's binaryen) must run before wasm-bindgen (see shared/BROWSER.md).
if ! command -v wasm-opt >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing binaryen (wasm-opt) from Debian's packages (once)…"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binaryen >/dev/null; } || true
fi
# CDETR_WASM_NAMES=1 keeps the function names (for CPU profiles, e.g. scripts/bench-web/profile-cpu.mjs).
names=${CDETR_WASM_NAMES:-0}
if command -v wasm-opt >/dev/null; then
  echo "optimising with $(wasm-opt --version)…"
  if [ "$names" = 1 ]; then strip=-g; else strip=--strip-debug; fi
  wasm-opt -O2 "$strip" --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue --enable-simd \
    "$wasm" -o "$CARGO_TARGET_DIR/cdetr.opt.wasm"
  wasm="$CARGO_TARGET_DIR/cdetr.opt.wasm"
else
  echo "wasm-opt not found (Debian package binaryen): shipping the unoptimised module"
fi

mkdir -p pkg
rm -f pkg/cdetr.js pkg/cdetr_bg.wasm pkg/cdetr.wasm
keep=()
if [ "$names" = 1 ]; then keep=(--keep-debug); fi
wasm-bindgen --target web --no-typescript "${keep[@]}" --out-name cdetr --out-dir pkg "$wasm"
# Precompressed siblings for `cdetr serve` (sent when the browser accepts the encoding).
rm -f pkg/cdetr.js.gz pkg/cdetr_bg.wasm.gz pkg/cdetr.js.br pkg/cdetr_bg.wasm.br
gzip -9 -k -f pkg/cdetr_bg.wasm pkg/cdetr.js
if command -v brotli >/dev/null; then
  brotli -q 11 -k -f pkg/cdetr_bg.wasm pkg/cdetr.js
fi
raw=$(stat -c %s pkg/cdetr_bg.wasm)
gz=$(stat -c %s pkg/cdetr_bg.wasm.gz)
echo "pkg/cdetr_bg.wasm: $((raw / 1024)) KiB, $((gz / 1024)) KiB gzipped"
