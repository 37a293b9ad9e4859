#!/usr/bin/env node
// The browser half of scripts/bench_peers.sh: in one Chromium (Debian's /usr/bin/chromium, headless), the
// cdetr page's benchmark mode (`?bench`, the model picked from disk) against onnxruntime-web running the ONNX
// export of the same checkpoint, on the CPU (wasm: onnxruntime-web with 1 and 2 threads, which needs
// cross-origin isolation; the page's CPU fallback) and, with --webgpu, on WebGPU (SwiftShader unless the
// machine has a GPU). Prints one JSON object.
//
// With --train, also the page's fine-tuning step on the CPU fallback at max size 512, batch 1, on its
// generated shapes: the backbone trained from layer2 (the default) against the fast mode.
//
//   node scripts/bench-web/run.mjs --weights target/bench/r50 --onnx target/bench/r50.onnx [--frames 5] [--webgpu] [--train]

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const arg = (name, fallback) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : fallback; };
const WEIGHTS = path.resolve(arg('weights', 'target/bench/r50'));
const ONNX = path.resolve(arg('onnx', 'target/bench/r50.onnx'));
const FRAMES = +arg('frames', '5');
const WEBGPU = process.argv.includes('--webgpu');
const TRAIN = process.argv.includes('--train');
const BIN = path.resolve(ROOT, process.env.CDETR_BIN || 'target/release/cdetr');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const [WIDTH, HEIGHT] = [640, 480];
const log = (...a) => console.error('[bench-web]', ...a);

const TYPES = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream' };

/** onnxruntime-web's files, the ONNX model and the ORT page, cross-origin isolated (threads need it). */
function ortServer() {
  const dist = path.join(HERE, 'node_modules/onnxruntime-web/dist');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    let file = null;
    if (url.pathname === '/ort.html') file = path.join(HERE, 'ort.html');
    else if (url.pathname.startsWith('/ort/')) file = path.join(dist, path.basename(url.pathname));
    else if (url.pathname === '/model.onnx') file = ONNX;
    if (!file || !fs.existsSync(file)) { res.writeHead(404).end(); return; }
    res.writeHead(200, {
      'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Content-Length': fs.statSync(file).size,
      'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Resource-Policy': 'same-origin',
    });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() })));
}

function pageServer() {
  const child = spawn(BIN, ['serve', '--port', '0', '--root', ROOT], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => { out += d; const m = out.match(/http:\/\/127\.0\.0\.1:\d+\//); if (m) resolve({ url: m[0], close: () => child.kill('SIGTERM') }); });
    child.on('exit', (code) => reject(new Error(`cdetr serve exited (${code}): ${out}`)));
  });
}

async function browser(webgpu) {
  const args = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}

async function ort(b, server, ep, threads, warmup, runs) {
  const page = await b.newPage();
  try {
    await page.goto(`${server.url}/ort.html`);
    await page.waitForFunction(() => window.ortReady, null, { timeout: 60_000 });
    log(`onnxruntime-web ${ep}, ${threads} thread(s): ${warmup} warm-up + ${runs} runs`);
    const r = await page.evaluate((o) => window.runOrt(o), { model: '/model.onnx', ep, threads, width: WIDTH, height: HEIGHT, warmup, runs });
    if (ep === 'wasm' && threads > 1 && !r.crossOriginIsolated) throw new Error('the ORT page is not cross-origin isolated: no threads');
    return summarise({ runtime: `onnxruntime-web ${r.version || ''}`.trim(), ep, threads, createMs: r.createMs, times: r.times });
  } finally {
    await page.close();
  }
}

async function cdetrPage(b, server, backend, warmup, frames) {
  const page = await b.newPage();
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  try {
    await page.goto(`${server.url}?bench&frames=${frames}&size=${HEIGHT}&warmup=${warmup}`);
    await page.waitForFunction(() => window.cdetrApp && window.cdetrApp.ready, null, { timeout: 120_000 });
    await page.evaluate(() => window.cdetrApp.ready);
    log(`cdetr page (${backend}): loading the checkpoint, ${warmup} warm-up + ${frames} frames`);
    const t0 = Date.now();
    await page.setInputFiles('#model-file', [path.join(WEIGHTS, 'model.safetensors'), path.join(WEIGHTS, 'config.json')]);
    const done = await page.evaluate(() => (cdetrApp.bench.detect ? cdetrApp.bench : cdetrApp.waitForEvent('bench-done', 3_600_000)));
    const d = done.detect;
    if (!d) throw new Error('the page reported no benchmark');
    if (d.backend !== backend) throw new Error(`the page ran on ${d.backend}, not ${backend}`);
    return { ...summarise({ runtime: 'cdetr page', ep: backend, threads: 1, times: d.perFrameMs }), input: d.input, netMs: d.netMs, preMs: d.preMs, postMs: d.postMs, profile: d.profile, loadAndRunS: (Date.now() - t0) / 1000 };
  } finally {
    await page.close();
  }
}

async function cdetrTrain(b, server, fast, steps) {
  const page = await b.newPage();
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  try {
    await page.goto(`${server.url}?bench&frames=1&size=${HEIGHT}&warmup=0&trainSteps=${steps}&maxSize=512&batch=1&fast=${fast ? 1 : 0}`);
    await page.waitForFunction(() => window.cdetrApp && window.cdetrApp.ready, null, { timeout: 120_000 });
    await page.evaluate(() => window.cdetrApp.ready);
    log(`cdetr page (cpu): fine-tuning steps, ${fast ? 'fast mode' : 'backbone trained from layer2'}`);
    await page.setInputFiles('#model-file', [path.join(WEIGHTS, 'model.safetensors'), path.join(WEIGHTS, 'config.json')]);
    const done = await page.evaluate(() => (cdetrApp.bench.train ? cdetrApp.bench : cdetrApp.waitForEvent('bench-done', 3_600_000)));
    const t = done.train;
    if (!t) throw new Error('the page reported no training benchmark');
    return { ...summarise({ runtime: 'cdetr page', ep: 'cpu', threads: 1, times: t.perStepMs }), kind: 'train', fastMode: !!t.fastMode, maxSize: t.maxSize, batchSize: t.batchSize };
  } finally {
    await page.close();
  }
}

function summarise(r) {
  const sorted = [...r.times].sort((a, b) => a - b);
  return { ...r, medianMs: sorted[Math.floor((sorted.length - 1) / 2)] / 2 + sorted[Math.ceil((sorted.length - 1) / 2)] / 2, minMs: sorted[0], maxMs: sorted.at(-1) };
}

const ortSrv = await ortServer();
const pageSrv = await pageServer();
const result = { date: new Date().toISOString(), width: WIDTH, height: HEIGHT, frames: FRAMES, chromium: null, runs: [] };
try {
  const cpu = await browser(false);
  result.chromium = cpu.version();
  try {
    result.runs.push(await ort(cpu, ortSrv, 'wasm', 1, 1, FRAMES));
    result.runs.push(await ort(cpu, ortSrv, 'wasm', 2, 1, FRAMES));
    result.runs.push(await cdetrPage(cpu, pageSrv, 'cpu', 1, FRAMES));
    if (TRAIN) {
      result.runs.push(await cdetrTrain(cpu, pageSrv, false, 2));
      result.runs.push(await cdetrTrain(cpu, pageSrv, true, 3));
    }
  } finally {
    await cpu.close();
  }
  if (WEBGPU) {
    const gpu = await browser(true);
    try {
      result.runs.push(await ort(gpu, ortSrv, 'webgpu', 1, 1, 1));
      result.runs.push(await cdetrPage(gpu, pageSrv, 'webgpu', 1, 1));
    } finally {
      await gpu.close();
    }
  }
} finally {
  ortSrv.close();
  pageSrv.close();
}
console.log(JSON.stringify(result, null, 2));
