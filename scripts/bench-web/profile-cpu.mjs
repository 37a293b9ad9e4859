#!/usr/bin/env node
// The page's CPU fallback without a browser: loads pkg/ (the same wasm module the worker runs) in Node, whose
// V8 is Chromium's engine, detects one fixed 640×480 frame a few times with a checkpoint from disk, and prints
// the median and the per-part profile. With --profile, also samples the CPU (node:inspector) and lists the
// functions with the most self time; function names need a module built with CDETR_WASM_NAMES=1
// scripts/build-web.sh (otherwise they read wasm-function[N]).
//
//   node scripts/bench-web/profile-cpu.mjs --weights target/bench/r50 [--frames 5] [--pkg pkg] [--profile]

import fs from 'node:fs';
import inspector from 'node:inspector/promises';
import path from 'node:path';

const arg = (name, fallback) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : fallback; };
const PKG = path.resolve(arg('pkg', 'pkg'));
const WEIGHTS = path.resolve(arg('weights', 'target/bench/r50'));
const FRAMES = +arg('frames', '5');
const PROFILE = process.argv.includes('--profile');
const [WIDTH, HEIGHT] = [640, 480];

/** A fixed pseudo-random frame (its content does not change the work done). */
function frame() {
  const rgba = new Uint8Array(WIDTH * HEIGHT * 4);
  let state = 1;
  for (let i = 0; i < rgba.length; i++) { state = (state * 1103515245 + 12345) >>> 0; rgba[i] = state >>> 24; }
  return rgba;
}

/** Self time per function of a V8 CPU profile, largest first. */
function selfTimes(profile, top) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const perFunction = new Map();
  profile.samples.forEach((id, i) => {
    const { functionName, url } = byId.get(id).callFrame;
    const name = functionName || url || '(anonymous)';
    perFunction.set(name, (perFunction.get(name) || 0) + profile.timeDeltas[i] / 1e3);
  });
  const total = [...perFunction.values()].reduce((a, b) => a + b, 0);
  return [...perFunction].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, ms]) => ({ name, ms, share: ms / total }));
}

const wasm = await import(path.join(PKG, 'cdetr.js'));
await wasm.default({ module_or_path: fs.readFileSync(path.join(PKG, 'cdetr_bg.wasm')) });
const engine = await wasm.Engine.create(false);
engine.loadModel(fs.readFileSync(path.join(WEIGHTS, 'model.safetensors')), fs.readFileSync(path.join(WEIGHTS, 'config.json'), 'utf8'), path.basename(WEIGHTS));
const rgba = frame();
const options = { threshold: 0.5, topK: 100, shortestEdge: HEIGHT, attention: false, profile: false };
await engine.detect(rgba.slice(), WIDTH, HEIGHT, options); // warm-up: compiles the hot functions

const session = PROFILE ? new inspector.Session() : null;
if (session) { session.connect(); await session.post('Profiler.enable'); await session.post('Profiler.start'); }
const times = [];
for (let i = 0; i < FRAMES; i++) {
  const t = performance.now();
  await engine.detect(rgba.slice(), WIDTH, HEIGHT, options);
  times.push(performance.now() - t);
}
const profiled = await engine.detect(rgba.slice(), WIDTH, HEIGHT, { ...options, profile: true });
const cpu = session ? (await session.post('Profiler.stop')).profile : null;
times.sort((a, b) => a - b);
const result = {
  node: process.version, frames: FRAMES, medianMs: times[times.length >> 1], minMs: times[0], maxMs: times[times.length - 1],
  profile: profiled.profile.map((p) => `${p.name} ${p.ms.toFixed(0)} ms`).join(' · '),
  selfTime: cpu ? selfTimes(cpu, 25).map((f) => `${f.ms.toFixed(0).padStart(6)} ms ${(100 * f.share).toFixed(1).padStart(5)} %  ${f.name}`) : undefined,
};
console.log(JSON.stringify(result, null, 1));
