// The page side of the worker protocol (worker.js): typed requests with their own timeouts, answers as
// promises, and crash detection. One EngineClient wraps one worker; `restart()` replaces a dead worker.

// When a request counts as slow (the page says so and offers a restart) and when it counts as hung
// (the worker is replaced: a trapped wasm call never settles). A big model's first frame on a software
// GPU (SwiftShader) takes minutes, so only the hard limit ends anything on its own.
const SLOW_MS = { init: 60_000, loadModel: 120_000, detect: 45_000, attention: 45_000, trainStep: 240_000, evaluate: 600_000, exportModel: 120_000, snapshotTraining: 120_000 };
const HUNG_MS = { evaluate: 3_600_000, trainStep: 1_800_000 };
const DEFAULT_SLOW_MS = 60_000;
const DEFAULT_HUNG_MS = 1_200_000;

export class EngineError extends Error {
  constructor(message, { name = 'EngineError', fatal = false, type = '' } = {}) {
    super(message);
    this.name = name;
    this.fatal = fatal;
    this.request = type;
  }
}

export class EngineClient {
  /** @param {{onFatal: (message: string) => void}} hooks */
  constructor(hooks) {
    this.hooks = hooks;
    this.worker = null;
    this.pending = new Map();
    this.nextId = 1;
    this.generation = 0;
    this.info = null; // {backend, fallbackReason, initMs}
    this.busy = 0;
  }

  /** Starts a fresh worker and its engine; resolves with {backend, fallbackReason, initMs}. */
  async start(preferGpu) {
    this.stop('restarting');
    const generation = ++this.generation;
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'cdetr-engine' });
    this.worker = worker;
    worker.onmessage = (e) => this.#onMessage(generation, e.data);
    worker.onerror = (e) => {
      e.preventDefault?.();
      this.#fatal(generation, `the engine worker failed: ${e.message || 'script error (is /pkg/cdetr.js built?)'}`);
    };
    worker.onmessageerror = () => this.#fatal(generation, 'a message from the engine could not be read');
    this.info = await this.call('init', { preferGpu });
    return this.info;
  }

  /** Terminates the worker; pending requests fail. */
  stop(reason = 'stopped') {
    if (!this.worker) return;
    this.worker.terminate();
    this.worker = null;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new EngineError(`the engine was ${reason}`, { name: 'EngineStopped', fatal: true, type: p.type }));
    }
    this.pending.clear();
  }

  /**
   * Sends one request. `transfer`: ArrayBuffers moved to the worker (they become unusable here).
   * Rejects with an EngineError (`fatal` when the worker is gone) or on its timeout.
   */
  call(type, payload = {}, { transfer = [], timeoutMs } = {}) {
    if (!this.worker) return Promise.reject(new EngineError('the engine is not running', { fatal: true, type }));
    const id = this.nextId++;
    const generation = this.generation;
    const limit = timeoutMs ?? HUNG_MS[type] ?? DEFAULT_HUNG_MS;
    const slow = Math.min(limit, SLOW_MS[type] ?? DEFAULT_SLOW_MS);
    this.busy++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.has(id)) return;
        this.pending.delete(id);
        this.busy--;
        reject(new EngineError(`${type} did not answer within ${Math.round(limit / 1000)} s`, { name: 'TimeoutError', fatal: true, type }));
        this.#fatal(generation, `the engine stopped answering (${type} took longer than ${Math.round(limit / 1000)} s)`);
      }, limit);
      const slowTimer = slow < limit ? setTimeout(() => {
        if (this.pending.has(id)) this.hooks.onSlow?.(type, slow);
      }, slow) : null;
      const settle = () => { clearTimeout(slowTimer); this.busy--; this.hooks.onSettled?.(type); };
      this.pending.set(id, {
        type,
        timer,
        resolve: (v) => { settle(); resolve(v); },
        reject: (e) => { settle(); reject(e); },
      });
      this.worker.postMessage({ id, type, payload }, transfer);
    });
  }

  #onMessage(generation, msg) {
    if (generation !== this.generation) return;
    if (msg.event === 'fatal') {
      this.#fatal(generation, msg.message);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new EngineError(msg.error.message, { name: msg.error.name, fatal: msg.error.fatal, type: p.type }));
  }

  #fatal(generation, message) {
    if (generation !== this.generation || !this.worker) return;
    this.stop('lost');
    this.hooks.onFatal?.(message);
  }
}
