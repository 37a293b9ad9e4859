#!/usr/bin/env node
// The page's CPU fallback without a browser: loads pkg/ (the same wasm module the worker runs) in Node, whose
// V8 is Chromium's engine, detects one fixed 640×480 frame a few times with a checkpoint from disk, and prints
// the median and the per-part profile. With --profile, also samples the CPU (node:inspector) and lists the
// functions with the most self time; function names need a module built with CDETR_WASM_NAMES=1
// scripts/build-web.sh (otherwise they read wasm-function[N]).
//
// With --train, times fine-tuning steps instead, as the page's training benchmark does (four generated 320×240
// shapes images, max size 512, batch 1, dropout 0.1): the backbone trained from layer2 (the default), then
// the fast mode, and prints both medians and their ratio; --profile then samples the timed steps of each.
// --no-augment trains both without augmentation, so both steps see the same size (the fast mode caches the
// largest training size; with augmentation the default step draws smaller ones on average).
//
//   node scripts/bench-web/profile-cpu.mjs --weights target/bench/r50 [--frames 5] [--pkg pkg] [--profile] [--train [--steps 3] [--no-augment]]

import fs from 'node:fs';
import inspector from 'node:inspector/promises';
import path from 'node:path';

const arg = (name, fallback) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : fallback; };
const PKG = path.resolve(arg('pkg', 'pkg'));
const WEIGHTS = path.resolve(arg('weights', 'target/bench/r50'));
const FRAMES = +arg('frames', '5');
const PROFILE = process.argv.includes('--profile');
const TRAIN = process.argv.includes('--train');
const STEPS = +arg('steps', '3');
const AUGMENT = !process.argv.includes('--no-augment');
const [WIDTH, HEIGHT] = [640, 480];

/** A fixed pseudo-random frame (its content does not change the work done). */
function frame() {
  const rgba = new Uint8Array(WIDTH * HEIGHT * 4);
  let state = 1;
  for (let i = 0; i < rgba.length; i++) { state = (state * 1103515245 + 12345) >>> 0; rgba[i] = state >>> 24; }
  return rgba;
}

/** Four 320×240 images with one to three filled rectangles each, two classes (the page's generated shapes). */
function shapes() {
  const [w, h] = [320, 240];
  const train = [];
  for (let i = 0; i < 4; i++) {
    const rgba = new Uint8Array(w * h * 4).fill(48);
    const boxes = [];
    for (let k = 0; k <= i % 3; k++) {
      const x0 = 20 + ((i * 71 + k * 113) % 200), y0 = 20 + ((i * 37 + k * 59) % 140);
      const x1 = x0 + 40 + (((i + k) * 13) % 60), y1 = y0 + 30 + (((i * 3 + k) * 11) % 50);
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) rgba.set(k % 2 ? [255, 183, 3, 255] : [230, 57, 70, 255], 4 * (y * w + x));
      boxes.push({ x0, y0, x1, y1, label: k % 2 });
    }
    train.push({ rgba, width: w, height: h, boxes });
  }
  return { classNames: ['red', 'yellow'], train, val: [] };
}

/** Median, min and max of a list of times. */
function summary(times) {
  const sorted = [...times].sort((a, b) => a - b);
  return { medianMs: sorted[sorted.length >> 1], minMs: sorted[0], maxMs: sorted[sorted.length - 1] };
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
async function startProfile() {
  if (!PROFILE) return null;
  const session = new inspector.Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return session;
}

const selfTimeLines = (cpu) => selfTimes(cpu, 25).map((f) => `${f.ms.toFixed(0).padStart(6)} ms ${(100 * f.share).toFixed(1).padStart(5)} %  ${f.name}`);

/** One warm-up and STEPS timed fine-tuning steps (profiled with --profile). */
async function trainSteps(fastMode) {
  const options = { lr: 1e-4, lrBackbone: 1e-5, batchSize: 1, maxSize: 512, augment: AUGMENT, freezeBackbone: false, fastMode, fastScales: 1, dropout: 0.1, seed: 0 };
  engine.startTraining(shapes(), options, undefined);
  await engine.trainStep();
  const session = await startProfile();
  const times = [];
  for (let i = 0; i < STEPS; i++) {
    const t = performance.now();
    await engine.trainStep();
    times.push(performance.now() - t);
  }
  const cpu = session ? (await session.post('Profiler.stop')).profile : null;
  return { ...summary(times), selfTime: cpu ? selfTimeLines(cpu) : undefined };
}

async function detectFrames() {
  const rgba = frame();
  const options = { threshold: 0.5, topK: 100, shortestEdge: HEIGHT, attention: false, profile: false };
  await engine.detect(rgba.slice(), WIDTH, HEIGHT, options); // warm-up: compiles the hot functions
  const session = await startProfile();
  const times = [];
  for (let i = 0; i < FRAMES; i++) {
    const t = performance.now();
    await engine.detect(rgba.slice(), WIDTH, HEIGHT, options);
    times.push(performance.now() - t);
  }
  const profiled = await engine.detect(rgba.slice(), WIDTH, HEIGHT, { ...options, profile: true });
  const cpu = session ? (await session.post('Profiler.stop')).profile : null;
  return {
    frames: FRAMES, ...summary(times),
    profile: profiled.profile.map((p) => `${p.name} ${p.ms.toFixed(0)} ms`).join(' · '),
    selfTime: cpu ? selfTimeLines(cpu) : undefined,
  };
}

let result;
if (TRAIN) {
  const full = await trainSteps(false);
  const fast = await trainSteps(true);
  result = { node: process.version, steps: STEPS, maxSize: 512, batchSize: 1, augment: AUGMENT, defaultStep: full, fastStep: fast, fastSpeedup: full.medianMs / fast.medianMs };
} else {
  result = { node: process.version, ...(await detectFrames()) };
}
console.log(JSON.stringify(result, null, 1));
