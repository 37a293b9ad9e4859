#!/usr/bin/env bash
# Runs every test: the format and lint gate (rustfmt, clippy native and wasm32), the page's pure-JS unit
# tests (node --test tests/www/) and their type check (tsc), the Rust unit and integration tests (on Burn's CPU backend), a short
# fuzzing pass where nightly and cargo-fuzz are there (skipped with a message otherwise), the wasm32 build
# of the library, and the browser end-to-end tests in headless Chromium (WebGPU on SwiftShader and the CPU
# fallback). Installs what it needs from the package registries: the wasm32 target, wasm-bindgen-cli,
# playwright-core and typescript (npm), and — as root on Debian — chromium and binaryen.
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

echo "== page unit tests and type check (node:test; tsc on the // @ts-check modules; no browser)"
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
node --test tests/www/
tests/e2e/node_modules/.bin/tsc -p tests/www/tsconfig.json
tests/e2e/node_modules/.bin/tsc -p tests/www/tsconfig.worker.json

echo "== cargo test"
cargo test --locked

echo "== fuzzing (short pass)"
# Needs nightly and cargo-fuzz, and a built fuzz crate: its first build (nightly, AddressSanitizer, all of
# Burn) takes ~25 min on 2 cores, too long for CI, so a fresh clone skips it; CDETR_FUZZ_SECONDS=N forces
# the pass (N seconds per target), CDETR_FUZZ_SECONDS=0 skips it.
fuzz_secs="${CDETR_FUZZ_SECONDS:-}"
if [ "$fuzz_secs" = 0 ]; then
  echo "fuzzing skipped (CDETR_FUZZ_SECONDS=0)"
elif ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzzing skipped: no nightly toolchain (scripts/fuzz.sh SECONDS needs cargo +nightly and cargo-fuzz)"
elif ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzzing skipped: cargo-fuzz is not installed (cargo install cargo-fuzz --locked; then scripts/fuzz.sh SECONDS)"
elif [ -z "$fuzz_secs" ] && [ ! -d fuzz/target ]; then
  echo "fuzzing skipped: the fuzz crate is not built yet (~25 min the first time; CDETR_FUZZ_SECONDS=10 runs it)"
else
  ./scripts/fuzz.sh "${fuzz_secs:-10}"
fi

echo "== wasm build"
./scripts/build-web.sh

echo "== browser end-to-end tests"
node tests/e2e/run.mjs
