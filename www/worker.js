// @ts-check
// The module worker that owns the WebAssembly engine (src/web.rs). The protocol — request names,
// payloads, results and the buffers moved each way — is the table in protocol.js; `handlers` below has
// one entry per request of that table.
//
// Requests run strictly one after another (wasm-bindgen forbids re-entrant calls on one object), in the
// order they arrive. Frames arrive as transferred RGBA ArrayBuffers and go back, transferred again, with
// their detections (`result.rgba`), so the page keeps exactly the pixels that were analysed without a copy.

import { REQUESTS, fatalKind, requestSpec, transferable } from './protocol.js';

/** @typedef {import('./protocol.js').Requests} Requests */
/** @typedef {import('./protocol.js').RequestName} RequestName */

/** @type {any} the wasm-bindgen module (pkg/cdetr.js) */
let wasm = null;
/** @type {any} its Engine */
let engine = null;
let dead = false;
let chain = Promise.resolve();

/** @param {unknown} message */
function postFatal(message) {
  if (dead) return;
  dead = true;
  self.postMessage({ event: 'fatal', message: String(message) });
}

// Rust panics go through console_error_panic_hook (console.error) right before the module traps; a trap
// inside an async call never settles its promise, so catch the panic message here.
const consoleError = console.error.bind(console);
console.error = (...args) => {
  consoleError(...args);
  const text = args.map(String).join(' ');
  if (/panicked at/.test(text)) postFatal(`the engine panicked: ${text.slice(0, 600)}`);
};
self.addEventListener('error', (e) => postFatal(`the engine crashed: ${e.message || e.error || 'unknown error'}`));
self.addEventListener('unhandledrejection', (e) => {
  const r = e.reason;
  if (r instanceof WebAssembly.RuntimeError || /unreachable|RuntimeError/.test(String(r))) postFatal(`the engine crashed: ${r}`);
});

/** @param {any} err */
function isFatal(err) {
  if (err instanceof WebAssembly.RuntimeError) return true;
  return fatalKind(String(err && err.message || err)) !== null;
}

/**
 * One handler per request; each returns the request's result.
 * @type {{[K in RequestName]: (payload: Requests[K]['payload']) => Promise<Requests[K]['result']>}}
 */
const handlers = {
  async init({ preferGpu }) {
    const t0 = performance.now();
    const module = '/pkg/cdetr.js'; // built by scripts/build-web.sh (no type declarations)
    wasm = await import(module);
    await wasm.default();
    engine = await wasm.Engine.create(!!preferGpu);
    // Burn asks for the adapter's own limits; the engine checks each detection and fine-tuning setting
    // against the largest storage buffer before it starts.
    let bufferLimit = null;
    if (engine.backend === 'webgpu') {
      const adapter = await /** @type {any} */ (navigator).gpu?.requestAdapter();
      if (adapter) bufferLimit = Math.min(adapter.limits.maxStorageBufferBindingSize, adapter.limits.maxBufferSize);
      if (bufferLimit) engine.setBufferLimit(bufferLimit);
    }
    return { backend: engine.backend, fallbackReason: engine.fallbackReason ?? null, bufferLimit, initMs: performance.now() - t0 };
  },

  async loadModel({ weights, config, name }) {
    return engine.loadModel(new Uint8Array(weights), config ?? undefined, name);
  },

  async detect({ frameId, rgba, width, height, options }) {
    const t0 = performance.now();
    const result = await engine.detect(new Uint8Array(rgba), width, height, options);
    result.frameId = frameId;
    result.workerMs = performance.now() - t0;
    result.rgba = rgba; // handed back (transferred) with the answer
    return result;
  },

  async attention({ query }) {
    // DETR has no spatial/content split: those maps are null.
    return engine.attention(query);
  },

  async parseDataset({ files, images }) {
    if (!wasm) throw new Error('the engine is not started');
    return wasm.parseDataset(files, images);
  },

  async startTraining({ dataset, options, start }) {
    const bytes = (/** @type {import('./protocol.js').Sample} */ s) => ({ ...s, rgba: new Uint8Array(s.rgba) });
    const data = { ...dataset, train: (dataset.train || []).map(bytes), val: (dataset.val || []).map(bytes) };
    // `start`: other starting weights {weights, config, name} (a saved fine-tuned model); the detection
    // model stays as it is.
    return engine.startTraining(data, options, start ? { ...start, weights: new Uint8Array(start.weights) } : null);
  },

  async trainStep() {
    const t0 = performance.now();
    const m = await engine.trainStep();
    m.stepMs = performance.now() - t0;
    return m;
  },

  async evaluate() { return engine.evaluate(); },
  async imageErrors(request) { return engine.imageErrors(request); },
  async useTrainedModel() { return engine.useTrainedModel(); },

  async exportModel() { return engine.exportModel(); },
  async snapshotTraining() { return engine.snapshotTraining(); },

  async restoreTraining({ model, optimizer }) {
    return engine.restoreTraining(new Uint8Array(model), new Uint8Array(optimizer));
  },

  // Test hook: makes this worker fail the way a trapped module does (an uncaught WebAssembly.RuntimeError).
  async simulateCrash() {
    setTimeout(() => { throw new WebAssembly.RuntimeError('unreachable (simulated crash for testing)'); }, 0);
    return new Promise(() => {}); // never settles, like a trapped async call
  },
};

/** @param {{id: number, type: string, payload: any}} message */
async function handle({ id, type, payload }) {
  if (dead) {
    self.postMessage({ id, ok: false, error: { message: 'the engine has crashed and is restarting', name: 'EngineDead', fatal: true } });
    return;
  }
  let spec;
  try {
    spec = requestSpec(type);
  } catch (e) {
    self.postMessage({ id, ok: false, error: { message: String(/** @type {Error} */ (e).message), name: 'TypeError', fatal: false } });
    return;
  }
  if (!spec.beforeEngine && !engine) {
    self.postMessage({ id, ok: false, error: { message: 'the engine is not started', name: 'Error', fatal: false } });
    return;
  }
  try {
    const fn = /** @type {(payload: any) => Promise<unknown>} */ (handlers[/** @type {RequestName} */ (type)]);
    const result = await fn(payload || {});
    self.postMessage({ id, ok: true, result }, transferable(spec.answer(result)));
  } catch (/** @type {any} */ err) {
    const fatal = isFatal(err);
    const message = err && err.message ? err.message : String(err);
    self.postMessage({ id, ok: false, error: { message, name: (err && err.name) || 'Error', fatal } });
    if (fatal) postFatal(message);
  }
}

// Every request of the table has its handler (a missing one would answer nothing).
for (const type of Object.keys(REQUESTS)) if (!(type in handlers)) throw new Error(`worker.js has no handler for ${type}`);

self.onmessage = (e) => {
  chain = chain.then(() => handle(e.data));
};
