// @ts-check
// The page side of the worker protocol (worker.js): typed requests from the one table in protocol.js
// (timeouts, buffers moved with each request), answers as promises, and crash detection. One
// EngineClient wraps one worker; `start()` replaces a dead worker.

import { requestSpec, transferable } from './protocol.js';

/** @typedef {import('./protocol.js').Requests} Requests */
/** @typedef {import('./protocol.js').RequestName} RequestName */

/**
 * @typedef {object} CallOptions
 * @property {boolean} [keep] copy the payload's buffers instead of moving them (the caller uses them again)
 * @property {ArrayBuffer[]} [transfer] move exactly these buffers (instead of the table's)
 * @property {number} [timeoutMs] hung limit instead of the table's
 */

/**
 * @typedef {object} EngineHooks
 * @property {(message: string) => void} onFatal the worker is gone (crash, hang, lost device)
 * @property {(type: RequestName, ms: number) => void} [onSlow] a request passed its slow limit
 * @property {(type: RequestName) => void} [onSettled] a request answered or failed
 */

export class EngineError extends Error {
  /**
   * @param {string} message
   * @param {{name?: string, fatal?: boolean, type?: string}} [details]
   */
  constructor(message, { name = 'EngineError', fatal = false, type = '' } = {}) {
    super(message);
    this.name = name;
    this.fatal = fatal;
    this.request = type;
  }
}

export class EngineClient {
  /** @param {EngineHooks} hooks */
  constructor(hooks) {
    this.hooks = hooks;
    /** @type {Worker | null} */
    this.worker = null;
    /** @type {Map<number, {type: RequestName, timer: ReturnType<typeof setTimeout>, resolve: (v: any) => void, reject: (e: EngineError) => void}>} */
    this.pending = new Map();
    this.nextId = 1;
    this.generation = 0;
    /** @type {Requests['init']['result'] | null} */
    this.info = null;
    this.busy = 0;
  }

  /**
   * Starts a fresh worker and its engine.
   * @param {boolean} preferGpu
   * @returns {Promise<Requests['init']['result']>}
   */
  async start(preferGpu) {
    this.stop('restarting');
    const generation = ++this.generation;
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'cdetr-engine' });
    this.worker = worker;
    worker.onmessage = (e) => this.#onMessage(generation, e.data);
    worker.onerror = (e) => {
      e.preventDefault();
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
   * Sends one request; the payload's buffers named by the table move to the worker (they become
   * unusable here) unless `keep`. Rejects with an EngineError (`fatal` when the worker is gone) or on
   * its timeout; an unknown request name rejects (TypeError) before anything is sent.
   * @template {RequestName} K
   * @param {K} type
   * @param {Requests[K]['payload']} [payload]
   * @param {CallOptions} [options]
   * @returns {Promise<Requests[K]['result']>}
   */
  call(type, payload = /** @type {Requests[K]['payload']} */ ({}), { keep = false, transfer, timeoutMs } = {}) {
    let spec;
    try {
      spec = requestSpec(type);
    } catch (e) {
      return Promise.reject(e);
    }
    const worker = this.worker;
    if (!worker) return Promise.reject(new EngineError('the engine is not running', { fatal: true, type }));
    const id = this.nextId++;
    const generation = this.generation;
    const limit = timeoutMs ?? spec.hungMs;
    const slow = Math.min(limit, spec.slowMs);
    const moved = keep ? [] : transferable(transfer ?? spec.send(payload));
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
      const settle = () => { if (slowTimer) clearTimeout(slowTimer); this.busy--; this.hooks.onSettled?.(type); };
      this.pending.set(id, {
        type,
        timer,
        resolve: (v) => { settle(); resolve(v); },
        reject: (e) => { settle(); reject(e); },
      });
      worker.postMessage({ id, type, payload }, moved);
    });
  }

  /**
   * @param {number} generation
   * @param {{event?: 'fatal', message?: string, id?: number, ok?: boolean, result?: unknown, error?: {message: string, name: string, fatal: boolean}}} msg
   */
  #onMessage(generation, msg) {
    if (generation !== this.generation) return;
    if (msg.event === 'fatal') {
      this.#fatal(generation, msg.message ?? 'the engine crashed');
      return;
    }
    if (msg.id === undefined) return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new EngineError(msg.error?.message ?? 'the engine failed', { name: msg.error?.name, fatal: msg.error?.fatal, type: p.type }));
  }

  /** @param {number} generation @param {string} message */
  #fatal(generation, message) {
    if (generation !== this.generation || !this.worker) return;
    this.stop('lost');
    this.hooks.onFatal?.(message);
  }
}
