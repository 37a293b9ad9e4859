// @ts-check
// The engine host: starts the engine worker (engine.js) on the backend the user prefers (WebGPU, else the
// CPU), says in the backend chip what it runs on and why, warns when a request is slow, and restarts the
// engine on the CPU after a fatal error (a trap, a hang, a lost GPU device), reloading the model.
// `ready` resolves once the engine runs (again, after a restart).

import { EngineClient } from './engine.js';
import { fatalKind } from './protocol.js';
import { $ } from './util.js';

/** @typedef {import('./protocol.js').Requests} Requests */
/** @typedef {import('./protocol.js').RequestName} RequestName */
/** @typedef {import('./engine.js').CallOptions} CallOptions */
/** @typedef {import('./events.js').EventBus} EventBus */
/** @typedef {import('./message-centre.js').Notify} Notify */
/** @typedef {import('./message-centre.js').ClearMessage} ClearMessage */
/** @typedef {import('./busy.js').Busy} Busy */

/**
 * @typedef {object} EngineState `cdetrApp.state.engine`
 * @property {'starting' | 'ready' | 'failed' | 'restarting'} status
 * @property {'webgpu' | 'cpu' | null} backend
 * @property {string | null} fallbackReason the engine's reason for not using WebGPU
 * @property {string} [fallbackSummary] the same in plain words
 * @property {number} restarts
 * @property {string | null} adapter the WebGPU adapter, in words
 * @property {number} [initMs]
 */

/**
 * @typedef {object} EngineHostDeps
 * @property {Notify} notify
 * @property {ClearMessage} clearMessage
 * @property {Busy} busy
 * @property {EventBus} events
 * @property {URLSearchParams} params `?backend=cpu|webgpu` overrides the select
 * @property {() => Promise<unknown>} reloadModel loads the model again after a restart
 * @property {() => string | null} modelName the loaded model's name, if any
 */

const SLOW_NAMES = { detect: 'detecting a frame', trainStep: 'a training step', evaluate: 'validation', loadModel: 'loading the model', init: 'starting', attention: 'the attention maps' };

export class EngineHost {
  /** @param {EngineHostDeps} deps */
  constructor(deps) {
    this.deps = deps;
    /** @type {EngineState} */
    this.state = { status: 'starting', backend: null, fallbackReason: null, restarts: 0, adapter: null };
    /** @type {Promise<void> | null} the restart under way */
    this.restarting = null;
    /** @type {() => void} */
    this.resolveReady = () => {};
    /** @type {Promise<void>} resolves once the engine runs */
    this.ready = this.#newReady();
    this.client = new EngineClient({
      onFatal: (message) => { this.onFatal(message); },
      onSlow: (type, ms) => this.onSlow(type, ms),
      onSettled: () => { if (!this.client?.busy) deps.clearMessage('slow'); },
    });
  }

  /**
   * One engine request (see EngineClient.call).
   * @template {RequestName} K
   * @param {K} type
   * @param {Requests[K]['payload']} [payload]
   * @param {CallOptions} [options]
   * @returns {Promise<Requests[K]['result']>}
   */
  call(type, payload, options) {
    return this.client.call(type, payload, options);
  }

  /** Counts the engine's starts: a training session belongs to one. */
  get generation() { return this.client.generation; }

  /** @returns {Promise<void>} */
  #newReady() {
    return new Promise((r) => { this.resolveReady = r; });
  }

  /** Whether the user wants WebGPU: `?backend=`, else the select. */
  preferGpu() {
    const { params } = this.deps;
    if (params.get('backend') === 'cpu') return false;
    if (params.get('backend') === 'webgpu') return true;
    return /** @type {HTMLSelectElement} */ ($('#backend-select')).value !== 'cpu';
  }

  /** @param {string} state @param {string} text */
  #chip(state, text) {
    const chip = $('#backend-chip');
    chip.dataset.state = state;
    chip.textContent = text;
  }

  /**
   * Starts (or replaces) the engine; throws, with a message on screen, when it cannot start.
   * @param {boolean} preferGpu
   */
  async start(preferGpu) {
    const { notify, events, busy } = this.deps;
    this.state.status = 'starting';
    this.#chip('starting', 'engine starting…');
    const done = busy('starting the engine');
    try {
      const info = await this.client.start(preferGpu);
      Object.assign(this.state, { status: 'ready', backend: info.backend, fallbackReason: info.fallbackReason, initMs: info.initMs });
      if (info.backend === 'webgpu') {
        const adapter = await describeAdapter();
        if (adapter !== undefined) this.state.adapter = adapter;
      }
      else if (preferGpu) this.state.fallbackSummary = await whyNoWebGpu();
      this.renderBackend();
      events.emit('engine', { ...this.state });
      this.resolveReady();
      return info;
    } catch (/** @type {any} */ e) {
      this.state.status = 'failed';
      this.#chip('error', 'engine failed');
      notify({
        level: 'error', id: 'engine-start', title: 'The detection engine could not start',
        text: `${e.message}. The page needs its WebAssembly module (/pkg/cdetr.js, built by scripts/build-web.sh) and a browser with WebAssembly; reload to try again.`,
        actions: [{ label: 'Reload', onClick: () => location.reload() }],
      });
      events.emit('engine-failed', { message: e.message });
      throw e;
    } finally {
      done();
    }
  }

  /** The backend chip, and the “running on the CPU” notice when WebGPU was wanted. */
  renderBackend() {
    const { backend, fallbackReason, adapter } = this.state;
    const chip = $('#backend-chip');
    chip.dataset.state = backend ?? '';
    chip.textContent = backend === 'webgpu' ? 'WebGPU' : 'CPU (WebAssembly)';
    chip.title = backend === 'webgpu' ? `Running on the GPU through WebGPU${adapter ? `: ${adapter}` : ''}` : (fallbackReason || 'CPU backend');
    if (backend === 'webgpu' && adapter) chip.textContent += ` · ${adapter}`;
    if (backend === 'webgpu') this.deps.clearMessage('fallback');
    if (backend === 'cpu' && fallbackReason && this.preferGpu() && this.state.restarts === 0) {
      const summary = this.state.fallbackSummary || 'WebGPU is not available';
      chip.title = `${summary}.\n${fallbackReason}`;
      this.deps.notify({
        level: 'info', id: 'fallback', sticky: 20_000, title: 'Running on the CPU',
        text: `${summary}, so the model runs on the CPU (WebAssembly). Everything works, only slower; a browser with WebGPU enabled (recent Chrome or Edge) uses the GPU.`,
      });
    }
  }

  /** @param {RequestName} type @param {number} ms */
  onSlow(type, ms) {
    const gpu = this.state.backend === 'webgpu' && /software/.test(this.state.adapter || '');
    this.deps.notify({
      level: 'warn', id: 'slow', title: 'Still working…',
      text: `The engine has been busy with ${SLOW_NAMES[type] || type} for ${Math.round(ms / 1000)} s. ${gpu ? 'This browser runs WebGPU in software (SwiftShader): a large model\'s first frames can take minutes.' : 'A large model at a large input size is slow here; a smaller input size helps.'} You can keep waiting, or restart the engine on the CPU (your data stays).`,
      actions: [{ label: 'Keep waiting', onClick: () => {} }, { label: 'Restart on the CPU', onClick: () => { this.onFatal('restarted on request after a slow computation', { requested: true }); } }],
    });
  }

  /**
   * The engine is gone (or the user asked for a restart): restart it on the CPU and reload the model.
   * @param {string} message
   * @param {{requested?: boolean}} [how]
   */
  async onFatal(message, { requested = false } = {}) {
    if (this.restarting) return;
    const { notify, events } = this.deps;
    const gpuLost = !requested && fatalKind(message) === 'gpu';
    const oom = !requested && !gpuLost && /memory|alloc|unreachable/i.test(message);
    events.emit('crash', { message });
    this.state.status = 'restarting';
    this.state.restarts++;
    this.#chip('error', 'engine restarting…');
    notify({
      level: requested ? 'info' : 'error', id: 'crash',
      title: requested ? 'Restarting the engine on the CPU' : gpuLost ? 'The GPU device was lost — restarting the engine on the CPU' : 'The engine crashed — restarting it on the CPU',
      text: `${gpuLost ? 'WebGPU stopped working (the browser\'s GPU process crashed or was reset): ' : ''}${message}.${oom ? ' This can mean the model ran out of memory: a smaller input size, batch size or max size helps.' : ''} Your images, labels and training snapshots are safe; the model is being reloaded.`,
    });
    this.ready = this.#newReady();
    this.restarting = this.#restart();
  }

  async #restart() {
    const { notify, events, reloadModel, modelName } = this.deps;
    try {
      await this.start(false);
      await reloadModel();
      events.emit('restarted', { backend: this.state.backend });
      const name = modelName();
      notify({ level: 'success', id: 'crash-ok', title: 'Recovered', text: `The engine runs again on the ${String(this.state.backend).toUpperCase()} backend${name ? ` with ${name}` : ''}.` });
    } catch (/** @type {any} */ e) {
      notify({ level: 'error', id: 'crash', title: 'The engine could not be restarted', text: `${e.message}. Reload the page; your data is kept.`, actions: [{ label: 'Reload', onClick: () => location.reload() }] });
    } finally {
      this.restarting = null;
    }
  }

  /** Restarts the engine on purpose (backend switch); keeps the model. */
  async switchBackend() {
    await this.start(this.preferGpu());
    await this.deps.reloadModel();
    this.deps.events.emit('restarted', { backend: this.state.backend });
  }
}

/** The WebGPU adapter in words (null when the browser does not say, undefined when asking failed). */
async function describeAdapter() {
  try {
    const adapter = await /** @type {any} */ (navigator).gpu?.requestAdapter();
    const i = adapter?.info;
    const software = i?.isFallbackAdapter ?? adapter?.isFallbackAdapter;
    return i ? [i.vendor, i.architecture, i.description].filter(Boolean).join(' ') + (software ? ' (software)' : '') : null;
  } catch {
    return undefined; // cosmetic: keep what was there
  }
}

/** Why WebGPU is not in use, in plain words (the engine's own message goes in the details). */
async function whyNoWebGpu() {
  const gpu = /** @type {any} */ (navigator).gpu;
  try {
    if (!gpu) return 'This browser does not offer WebGPU';
    if (!(await gpu.requestAdapter())) return 'This browser offers WebGPU but no GPU adapter (the GPU may be unsupported or blocked)';
    return 'The WebGPU device could not be started';
  } catch {
    return 'WebGPU is not available';
  }
}
