// @ts-check
// The model loader: which model the engine holds and where it came from — the Hugging Face hub (one
// download with progress, cached for offline visits: models.js), the user's files (kept in IndexedDB), or
// fine-tuned here — the model panel and chip that show it, and loading it again after a reload or an
// engine restart (the base model, then the fine-tuned one if it was in use).

import * as store from './store.js';
import { HUB_REPO, HubUnreachable, cachedHubModel, downloadHubModel, modelFromFiles } from './models.js';
import { $, el, fmtBytes, onFileDrop } from './util.js';
import { explainLoadError, modelRows } from './model-info.js';

/** @typedef {import('./protocol.js').ModelInfo} ModelInfo */
/** @typedef {import('./engine-host.js').EngineHost} EngineHost */
/** @typedef {import('./events.js').EventBus} EventBus */
/** @typedef {import('./message-centre.js').Notify} Notify */
/** @typedef {import('./message-centre.js').ClearMessage} ClearMessage */
/** @typedef {import('./busy.js').Busy} Busy */

/**
 * @typedef {object} LoadedModel `cdetrApp.state.model`
 * @property {ModelInfo} info
 * @property {'hub' | 'file' | 'trained' | string} source
 * @property {string} name
 * @property {boolean} trained detecting with the fine-tuned weights
 * @property {number} [step] the fine-tuning step of those weights
 */

/** @typedef {{status: 'idle' | 'downloading' | 'done' | 'cancelled' | 'failed', loaded: number, total: number, error: string | null}} HubState */

/**
 * @typedef {object} ModelLoaderDeps
 * @property {EngineHost} engine
 * @property {Notify} notify
 * @property {ClearMessage} clearMessage
 * @property {Busy} busy
 * @property {EventBus} events
 * @property {URLSearchParams} params `?nohub` skips the download
 * @property {() => Promise<void>} reapplyTrained makes the fine-tuned model the detection model again
 */

const SOURCES = { hub: 'Hugging Face hub (cached in this browser)', file: 'your files (kept in this browser)', trained: 'fine-tuned here' };

export class ModelLoader {
  /** @param {ModelLoaderDeps} deps */
  constructor(deps) {
    this.deps = deps;
    /** @type {LoadedModel | null} the model the engine holds */
    this.current = null;
    /** @type {HubState} */
    this.hub = { status: 'idle', loaded: 0, total: 0, error: null };
    /** @type {AbortController | null} */
    this.hubAbort = null;
  }

  /** Wires the model panel: hub download / cancel, “back to the base model”, the file picker and the drop zone. */
  wire() {
    $('#hub-download').addEventListener('click', () => this.downloadFromHub());
    $('#hub-cancel').addEventListener('click', () => this.hubAbort?.abort());
    $('#base-model').addEventListener('click', () => this.useBaseModel());
    $('#model-file').addEventListener('change', async (e) => {
      const input = /** @type {HTMLInputElement} */ (e.target);
      const files = [...(input.files ?? [])];
      input.value = '';
      if (files.length) await this.loadFiles(files);
    });
    onFileDrop($('#model-drop'), (files) => this.loadFiles(files));
  }

  render() {
    const m = this.current;
    const chip = $('#model-chip');
    const details = $('#model-details');
    if (!m) {
      $('#base-model').hidden = true;
      chip.dataset.state = 'none';
      chip.textContent = 'no model';
      details.hidden = true;
      return;
    }
    $('#base-model').hidden = !m.trained;
    chip.dataset.state = m.trained ? 'trained' : 'ready';
    chip.textContent = m.trained ? `${m.name} · fine-tuned` : m.name;
    const source = SOURCES[/** @type {keyof SOURCES} */ (m.source)] || m.source;
    $('#model-summary').replaceChildren(el('strong', { text: m.trained ? `${m.name} (fine-tuned)` : m.name }), el('span', { class: 'muted', text: ` — from ${source}` }));
    const i = m.info;
    details.replaceChildren(...modelRows(i).map(([k, v]) => el('div', { class: 'kv' }, el('dt', { text: k }), el('dd', { text: String(v), title: k === 'classes' ? i.labels.slice(0, 120).join(', ') : String(v) }))));
    details.hidden = false;
  }

  /**
   * Loads weights into the engine. `weights` (ArrayBuffer) moves to the worker.
   * Resolves with the model info; on failure throws (the previous model stays loaded).
   * @param {{weights: ArrayBuffer, config?: string | null, name: string, source: string}} model
   */
  async loadBytes({ weights, config, name, source }) {
    const { engine, clearMessage, busy, events } = this.deps;
    const done = busy(`loading ${name}`);
    try {
      const info = await engine.call('loadModel', { weights, config: config ?? null, name });
      this.current = { info, source, name, trained: false };
      for (const id of ['no-model', 'hub', 'model-load']) clearMessage(id);
      if (this.hub.status === 'failed' || this.hub.status === 'cancelled') $('#hub-progress').hidden = true;
      $('#model-file-label').classList.remove('pulse');
      this.render();
      events.emit('model', { ...this.current });
      return info;
    } finally {
      done();
    }
  }

  /** Loads the base model the user chose last from storage (no download); false when there is none. */
  async loadBase() {
    const current = await store.kv.get('currentModel');
    if (current?.source === 'file') {
      const f = await store.modelFiles.get();
      if (f) {
        await this.loadBytes({ weights: await f.weights.arrayBuffer(), config: f.config, name: f.name, source: 'file' });
        return true;
      }
    }
    const cached = await cachedHubModel();
    if (cached) {
      await this.loadBytes({ ...cached, name: HUB_REPO, source: 'hub' });
      return true;
    }
    return false;
  }

  /** Loads the model the user used last (the base model, then the fine-tuned one if it was in use). */
  async reload() {
    const current = await store.kv.get('currentModel');
    const prevTrained = this.current?.trained;
    this.current = null;
    this.render();
    if (!(await this.loadBase())) return false;
    if (current?.trained || prevTrained) await this.deps.reapplyTrained();
    return true;
  }

  /** At the start: the saved model, else (unless `?nohub`) the hub download. */
  async loadInitial() {
    const { notify, params } = this.deps;
    try {
      if (await this.reload()) return;
    } catch (/** @type {any} */ e) {
      notify({ level: 'error', id: 'model-load', title: 'The saved model could not be loaded', text: `${e.message}. Load a model from your files or download it again.` });
      return;
    }
    if (params.has('nohub')) {
      notify({ level: 'info', id: 'no-model', sticky: true, title: 'No model yet', text: 'Load a model from your files, or download the default one from the Hugging Face hub.' });
      return;
    }
    await this.downloadFromHub();
  }

  async downloadFromHub() {
    if (this.hubAbort) return;
    const { notify, clearMessage, busy, events } = this.deps;
    this.hubAbort = new AbortController();
    const text = $('#hub-progress-text');
    $('#hub-progress').hidden = false;
    $('#hub-cancel').hidden = false;
    /** @type {HTMLButtonElement} */ ($('#hub-download')).disabled = true;
    Object.assign(this.hub, { status: 'downloading', loaded: 0, total: 0, error: null });
    clearMessage('hub');
    const done = busy('downloading the model');
    try {
      const model = await downloadHubModel({ signal: this.hubAbort.signal, onProgress: (p) => this.#hubProgress(p) });
      this.hub.status = 'done';
      text.textContent = 'downloaded — loading…';
      await this.loadBytes({ ...model, name: HUB_REPO, source: 'hub' });
      await store.kv.set('currentModel', { source: 'hub', name: HUB_REPO });
      text.textContent = `${fmtBytes(this.hub.loaded)} downloaded and kept in this browser for offline use`;
      notify({ level: 'success', title: 'Model ready', text: `${HUB_REPO} is loaded and kept in this browser: the next visit works offline.` });
    } catch (/** @type {any} */ e) {
      this.#hubFailed(e);
      events.emit('hub-failed', { status: this.hub.status, message: e.message });
    } finally {
      done();
      this.hubAbort = null;
      $('#hub-cancel').hidden = true;
      /** @type {HTMLButtonElement} */ ($('#hub-download')).disabled = false;
      if (this.hub.status === 'done' || this.hub.status === 'cancelled') setTimeout(() => { if (this.hub.status !== 'downloading') $('#hub-progress').hidden = true; }, 4000);
    }
  }

  /** @param {{loaded: number, total: number, phase: string}} progress */
  #hubProgress({ loaded, total, phase }) {
    Object.assign(this.hub, { loaded, total });
    $('#hub-bar').style.width = total ? `${Math.min(100, (100 * loaded) / total).toFixed(1)}%` : '0%';
    $('#hub-progress-text').textContent = phase === 'config' ? 'contacting huggingface.co…' : `${fmtBytes(loaded)} of ${fmtBytes(total)} — kept in this browser for next time`;
  }

  /** @param {any} e why the download (or loading what it brought) failed */
  #hubFailed(e) {
    const { notify } = this.deps;
    if (e.name === 'AbortError') {
      this.hub.status = 'cancelled';
      notify({ level: 'info', id: 'hub', title: 'Download cancelled', text: 'Load a model from your files, or start the download again.' });
      return;
    }
    this.hub.status = 'failed';
    this.hub.error = e.message;
    const offline = e instanceof HubUnreachable;
    notify({
      level: 'error', id: 'hub',
      title: offline ? 'The Hugging Face hub is unreachable' : 'The downloaded model could not be loaded',
      text: offline
        ? `${e.message} Load a model from your computer instead: pick model.safetensors together with its config.json (or a .bpk / fine-tuned export) with “Load model from files…”, or drop them on the model panel.`
        : `${e.message}. Try the download again, or load a model from your files.`,
      actions: [{ label: 'Try again', onClick: () => { this.downloadFromHub(); } }, { label: 'Pick files…', keep: true, onClick: () => $('#model-file').click() }],
    });
    $('#model-file-label').classList.add('pulse');
    $('#hub-bar').style.width = '0%';
    $('#hub-progress-text').textContent = offline ? 'download failed: huggingface.co is unreachable' : 'download failed';
    $('#model-summary').replaceChildren(el('span', { class: 'warn-text', text: 'No model: the download failed. Load one from your files →' }));
  }

  /**
   * Loads a model from picked or dropped files (weights + optional config.json) and keeps it for the next visit.
   * @param {Iterable<File> | ArrayLike<File>} files
   * @returns {Promise<boolean>} whether it loaded
   */
  async loadFiles(files) {
    const { engine, notify, clearMessage, events } = this.deps;
    let picked;
    try {
      picked = modelFromFiles(files);
    } catch (/** @type {any} */ e) {
      notify({ level: 'error', id: 'model-load', title: 'That is not a model', text: e.message });
      return false;
    }
    const { weights, config } = picked;
    const configText = config ? await config.text() : null;
    const prev = this.current;
    try {
      await engine.ready;
      await this.loadBytes({ weights: await weights.arrayBuffer(), config: configText, name: weights.name, source: 'file' });
    } catch (/** @type {any} */ e) {
      if (e.fatal) return false; // the crash handler reports it and reloads the previous model
      this.current = prev;
      this.render();
      notify({
        level: 'error', id: 'model-load', title: `${weights.name} could not be loaded`,
        text: `${explainLoadError(e.message)}${config ? ` Pick the ${config.name} that came with these weights.` : ' If it is a Hugging Face checkpoint, pick its config.json together with it.'} ${prev ? `${prev.name} is still loaded.` : ''}`,
        more: e.message,
      });
      events.emit('model-failed', { message: e.message });
      return false;
    }
    clearMessage('model-load');
    clearMessage('hub');
    $('#model-file-label').classList.remove('pulse');
    await this.#keepFiles(weights, configText);
    const info = /** @type {LoadedModel} */ (this.current).info;
    notify({ level: 'success', id: 'model-ok', title: 'Model loaded', text: `${weights.name}${config ? ` + ${config.name}` : ''}: ${info.labels.length} classes, ${info.numQueries} queries.` });
    return true;
  }

  /** @param {File} weights @param {string | null} config */
  async #keepFiles(weights, config) {
    try {
      await store.modelFiles.set({ name: weights.name, weights, config });
      await store.kv.set('currentModel', { source: 'file', name: weights.name });
    } catch (/** @type {any} */ e) {
      this.deps.notify({ level: 'warn', title: 'The model could not be kept for the next visit', text: `${e.message}. It is loaded now; pick it again after a reload.` });
    }
  }

  /**
   * Marks the fine-tuned model as the detection model (the engine already detects with it).
   * @param {string[]} labels
   * @param {number} step
   */
  async setTrained(labels, step) {
    if (!this.current) return;
    this.current = { ...this.current, trained: true, step, info: { ...this.current.info, labels } };
    this.render();
    const cur = (await store.kv.get('currentModel')) || {};
    await store.kv.set('currentModel', { ...cur, trained: true });
    this.deps.events.emit('model', { ...this.current });
  }

  /** Detects with the base model again (the fine-tuned one stays in the training snapshot). */
  async reloadBase() {
    const cur = (await store.kv.get('currentModel')) || {};
    await store.kv.set('currentModel', { ...cur, trained: false });
    this.current = this.current && { ...this.current, trained: false };
    await this.reload();
  }

  /** “Back to the base model” in the model panel. */
  async useBaseModel() {
    const { notify } = this.deps;
    try {
      await this.reloadBase();
      notify({ level: 'success', id: 'use-trained', title: 'Detecting with the base model', text: `${this.current?.name}; the fine-tuned model stays available in the Fine-tune tab.` });
    } catch (/** @type {any} */ e) {
      notify({ level: 'error', id: 'use-trained', title: 'The base model could not be loaded', text: e.message });
    }
  }
}
