// The module worker that owns the WebAssembly engine (src/web.rs).
//
// Protocol (see engine.js for the page side):
//   page → worker  {id, type, payload}                 one request; `payload` is a plain object
//   worker → page  {id, ok: true, result}             the request's answer (structured clone; big
//                                                      buffers are transferred, never copied)
//                  {id, ok: false, error: {message, name, fatal}}
//                  {event: 'fatal', message}          the module trapped (Rust panic, out of memory,
//                                                      lost device…): this worker is unusable, the page
//                                                      terminates it and starts a new one on the CPU.
// Requests run strictly one after another (wasm-bindgen forbids re-entrant calls on one object), in the
// order they arrive.
//
// Frames arrive as transferred RGBA ArrayBuffers and go back, transferred again, with their detections
// (`result.rgba`), so the page keeps exactly the pixels that were analysed without a copy.

let wasm = null;
/** An answer whose buffers are transferred instead of copied. */
class Transfer {
  constructor(result, buffers) { this.result = result; this.buffers = buffers; }
}
let engine = null;
let dead = false;
let chain = Promise.resolve();

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

function isFatal(err) {
  if (err instanceof WebAssembly.RuntimeError) return true;
  const m = String(err && err.message || err);
  return /device (was )?lost|DeviceLost|unreachable executed|memory access out of bounds|recursive use of an object/i.test(m);
}

const handlers = {
  async init({ preferGpu }) {
    const t0 = performance.now();
    wasm = await import('/pkg/cdetr.js');
    await wasm.default();
    engine = await wasm.Engine.create(!!preferGpu);
    // Burn asks for the adapter's own limits; the engine checks each detection and fine-tuning setting
    // against the largest storage buffer before it starts.
    let bufferLimit = null;
    if (engine.backend === 'webgpu') {
      const adapter = await navigator.gpu?.requestAdapter();
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
    return new Transfer(result, [rgba]);
  },

  async attention({ query }) {
    const a = await engine.attention(query);
    // DETR has no spatial/content split: those maps are null.
    return new Transfer(a, [a.spatial, a.content, a.combined].filter(Boolean).map((m) => m.buffer));
  },

  async parseDataset({ files, images }) {
    if (!wasm) throw new Error('the engine is not started');
    return wasm.parseDataset(files, images);
  },

  async startTraining({ dataset, options, start }) {
    for (const split of ['train', 'val']) for (const s of dataset[split] || []) s.rgba = new Uint8Array(s.rgba);
    // `start`: other starting weights {weights, config, name} (a saved fine-tuned model); the detection
    // model stays as it is.
    if (start) start = { ...start, weights: new Uint8Array(start.weights) };
    return engine.startTraining(dataset, options, start ?? null);
  },

  async trainStep() {
    const t0 = performance.now();
    const m = await engine.trainStep();
    m.stepMs = performance.now() - t0;
    return m;
  },

  async evaluate() { return engine.evaluate(); },
  async useTrainedModel() { return engine.useTrainedModel(); },

  async exportModel() {
    const out = await engine.exportModel();
    return new Transfer(out, [out.safetensors.buffer]);
  },

  async snapshotTraining() {
    const s = await engine.snapshotTraining();
    return new Transfer(s, [s.model.buffer, s.optimizer.buffer]);
  },

  async restoreTraining({ model, optimizer }) {
    return engine.restoreTraining(new Uint8Array(model), new Uint8Array(optimizer));
  },

  // Test hook: makes this worker fail the way a trapped module does (an uncaught WebAssembly.RuntimeError).
  async simulateCrash() {
    setTimeout(() => { throw new WebAssembly.RuntimeError('unreachable (simulated crash for testing)'); }, 0);
    return new Promise(() => {}); // never settles, like a trapped async call
  },
};

async function handle({ id, type, payload }) {
  if (dead) {
    self.postMessage({ id, ok: false, error: { message: 'the engine has crashed and is restarting', name: 'EngineDead', fatal: true } });
    return;
  }
  const fn = handlers[type];
  if (!fn) {
    self.postMessage({ id, ok: false, error: { message: `unknown request ${type}`, name: 'TypeError', fatal: false } });
    return;
  }
  if (type !== 'init' && type !== 'parseDataset' && !engine) {
    self.postMessage({ id, ok: false, error: { message: 'the engine is not started', name: 'Error', fatal: false } });
    return;
  }
  try {
    const out = await fn(payload || {});
    if (out instanceof Transfer) self.postMessage({ id, ok: true, result: out.result }, out.buffers);
    else self.postMessage({ id, ok: true, result: out });
  } catch (err) {
    const fatal = isFatal(err);
    const message = err && err.message ? err.message : String(err);
    self.postMessage({ id, ok: false, error: { message, name: (err && err.name) || 'Error', fatal } });
    if (fatal) postFatal(message);
  }
}

self.onmessage = (e) => {
  chain = chain.then(() => handle(e.data));
};
