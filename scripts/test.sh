#!/usr/bin/env bash
# Runs every test: the format and lint gate (rustfmt, clippy native and wasm32), the page's pure-JS unit
# tests (node --test tests/www/), the Rust unit and integration tests (on Burn's CPU backend), the wasm32
# build of the library, and the browser end-to-end tests in headless Chromium (WebGPU on SwiftShader and
# the CPU fallback). Installs what it needs from the package registries: the wasm32 target,
# wasm-bindgen-cli, playwright-core, and — as root on Debian — chromium and binaryen.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null || ! command -v wasm-opt >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium binaryen >/dev/null
  fi
fi
command -v chromium >/dev/null || { echo "chromium is needed for the browser tests (Debian: apt-get install chromium)"; exit 1; }

echo "== format and lint"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
rustup target add wasm32-unknown-unknown >/dev/null
CARGO_TARGET_DIR="${CARGO_TARGET_DIR_WASM:-target/wasm}" \
  cargo clippy --locked --lib --target wasm32-unknown-unknown -- -D warnings

echo "== page unit tests (node:test, no browser)"
node --test tests/www/

echo "== cargo test"
cargo test --locked

echo "== wasm build"
./scripts/build-web.sh

echo "== browser end-to-end tests"
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
node tests/e2e/run.mjs
