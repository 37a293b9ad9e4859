#!/usr/bin/env bash
# Builds the web app (wasm + bindings into pkg/) and serves www/ + pkg/ on 127.0.0.1 (default port 8080;
# pass e.g. `--port 9000`). Open the printed address in a browser with WebGPU (Chrome, Edge; others use
# the CPU fallback).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build-web.sh
exec cargo run --bin cdetr -- serve "$@"
