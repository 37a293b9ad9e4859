// The page: wires the engine worker, model loading, messages and the three tabs together.
//
// Test / automation handle — `window.cdetrApp` (kept deliberately small):
//   ready         Promise resolved once the engine has started and the first model attempt has finished
//                 (loaded, or failed with a message on screen)
//   state         the live app state: engine {status, backend, fallbackReason, restarts, adapter},
//                 model {info, source, name, trained}, hub {status, loaded, total, error},
//                 detect {source, paused, result, selected}, dataset {images, classes}, training {...}
//   lastResult    the last detection result shown: {detections (all top-k, threshold 0), shown (after
//                 the score threshold and class filter), width, height, inputWidth, inputHeight,
//                 preprocessMs, networkMs, postprocessMs, roundTripMs, frameId}
//   bench         the latest benchmark results: {detect, train}
//   metrics       the fine-tuning metrics per step so far (loss, lossCe, lossBbox, lossGiou, lr, …)
//   events        notable events so far: [{t, type, detail}] (message, engine, model, crash, restart…)
//   waitForEvent(type, timeoutMs)   Promise of the next event of that type
//   simulateCrash()                 makes the worker fail like a trapped wasm module (tests recovery)

import { EngineClient } from './engine.js';
import { fatalKind } from './protocol.js';
import * as store from './store.js';
import { HUB_REPO, HubUnreachable, cachedHubModel, downloadHubModel, modelFromFiles } from './models.js';
import { $, $$, el, fmtBytes, onFileDrop, MODEL_FILE } from './util.js';
import { MessageLog, messageKey, expiryMs, overflow } from './messages.js';
import { initDetect } from './detect.js';
import { initDataset } from './dataset.js';
import { initTraining } from './train.js';
import { initBench } from './bench.js';

const params = new URLSearchParams(location.search);

const app = new EventTarget();
app.params = params;
app.events = [];
app.state = {
  engine: { status: 'starting', backend: null, fallbackReason: null, restarts: 0, adapter: null },
  model: null,
  hub: { status: 'idle', loaded: 0, total: 0, error: null },
};
app.emit = (type, detail = {}) => {
  app.events.push({ t: Math.round(performance.now()), type, detail });
  if (app.events.length > 500) app.events.splice(0, 100);
  app.dispatchEvent(new CustomEvent(type, { detail }));
};
app.on = (type, fn) => app.addEventListener(type, (e) => fn(e.detail));

// ---------------------------------------------------------------- messages

// Toasts: the same message again raises a count on the toast already up (messages.js groups them), at most
// MAX_VISIBLE are up at once (the oldest successes and infos make room first, errors never), they expire
// (errors and messages with buttons stay until dismissed; hovering holds a toast), and every message goes
// into the log behind the “messages” chip.
const messages = $('#messages');
const messageLog = new MessageLog();
const toasts = new Map(); // key → {box, timer, level}

function toastBody({ title, text, details, more, actions }, box, count) {
  return el('div', { class: 'msg-body' },
    title || count > 1 ? el('strong', { class: 'msg-title' }, title || '', count > 1 ? el('span', { class: 'msg-count', title: `${count} times`, text: `×${count}` }) : null) : null,
    text ? el('p', { class: 'msg-text', text }) : null,
    details.length ? el('ul', { class: 'msg-details' }, details.slice(0, 12).map((d) => el('li', { text: d })), details.length > 12 ? el('li', { text: `… and ${details.length - 12} more` }) : null) : null,
    more ? el('details', { class: 'msg-more' }, el('summary', { text: 'technical details' }), el('pre', { text: more })) : null,
    actions.length ? el('div', { class: 'msg-actions' }, actions.map((a) => el('button', { type: 'button', class: 'btn small', text: a.label, onclick: () => { a.onClick(); if (!a.keep) dropToast(box.dataset.key); } }))) : null);
}

function dropToast(key) {
  const t = toasts.get(key);
  if (!t) return;
  clearTimeout(t.timer);
  t.box.remove();
  toasts.delete(key);
}

function armToast(t, ms) {
  clearTimeout(t.timer);
  t.ms = ms;
  if (ms !== null) t.timer = setTimeout(() => dropToast(t.box.dataset.key), ms);
}

/**
 * Shows a message. `level`: error | warn | info | success. `id` replaces an earlier message with that id.
 * `actions`: [{label, onClick, keep}]. `sticky`: true (stay), a number of ms, or false; by default errors
 * and messages with actions stay until dismissed, warnings go after 20 s, the rest after 7 s.
 */
app.notify = ({ level = 'info', title, text = '', details = [], actions = [], id, sticky, more }) => {
  // Very long engine messages: the gist in the text, everything under “technical details”.
  if (!more && text.length > 420) {
    more = text;
    text = `${text.slice(0, 300).replace(/[,;:(\s][^,;:(\s]*$/, '')} …`;
  }
  const msg = { level, title, text, details, id };
  const key = messageKey(msg);
  const { entry } = messageLog.add(msg);
  renderMessageLog();
  for (const [k, t] of toasts) if (!t.box.isConnected) { clearTimeout(t.timer); toasts.delete(k); } // removed by hand
  const old = toasts.get(key);
  if (old) { clearTimeout(old.timer); old.box.remove(); toasts.delete(key); }
  const box = el('div', { class: `msg msg-${level}`, role: level === 'error' ? 'alert' : 'status', dataset: { id: id || '', level, key } });
  box.append(toastBody({ title, text, details, more, actions }, box, entry.count),
    el('button', { type: 'button', class: 'msg-close', 'aria-label': 'dismiss', text: '×', onclick: () => dropToast(key) }));
  const t = { box, timer: null, level, ms: null };
  toasts.set(key, t);
  messages.prepend(box);
  armToast(t, expiryMs({ level, sticky, actions }));
  box.addEventListener('mouseenter', () => clearTimeout(t.timer));
  box.addEventListener('mouseleave', () => armToast(t, t.ms === null ? null : Math.max(t.ms, 4000)));
  const shown = [...messages.children].map((b) => ({ key: b.dataset.key, level: b.dataset.level }));
  for (const k of overflow(shown)) dropToast(k);
  app.emit('message', { level, title, text, id, count: entry.count });
  return box;
};
app.clearMessage = (id) => dropToast(messageKey({ id }));

function renderMessageLog() {
  const list = messageLog.list();
  const errors = list.filter((e) => e.level === 'error').length;
  const btn = $('#messages-btn');
  $('#messages-count').textContent = messageLog.unseen ? String(messageLog.unseen) : '';
  btn.dataset.state = errors ? 'error' : list.length ? 'ready' : 'none';
  if ($('#message-log').hidden) return;
  const time = (t) => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  $('#message-log-summary').textContent = list.length ? `${list.length} message${list.length === 1 ? '' : 's'}${errors ? `, ${errors} error${errors === 1 ? '' : 's'}` : ''}` : '';
  $('#message-log-list').replaceChildren(...(list.length ? list.map((e) => el('li', { class: `log-${e.level}`, dataset: { level: e.level } },
    el('span', { class: 'log-time muted small', text: e.count > 1 ? `${time(e.first)} – ${time(e.last)}` : time(e.last) }),
    el('strong', { class: 'log-title' }, e.title || e.level, e.count > 1 ? el('span', { class: 'msg-count', text: `×${e.count}` }) : null),
    e.text ? el('span', { class: 'log-text', text: e.text }) : null,
    e.details.length ? el('span', { class: 'log-text muted small', text: e.details.slice(0, 5).join(' · ') + (e.details.length > 5 ? ' …' : '') }) : null))
    : [el('li', { class: 'muted small', text: 'No messages yet.' })]));
}

function toggleMessageLog(open = $('#message-log').hidden) {
  $('#message-log').hidden = !open;
  $('#messages-btn').setAttribute('aria-expanded', String(open));
  if (open) messageLog.unseen = 0;
  renderMessageLog();
  app.emit('message-log', { open });
}
$('#messages-btn').addEventListener('click', () => toggleMessageLog());
$('#message-log-close').addEventListener('click', () => toggleMessageLog(false));
$('#message-log-clear').addEventListener('click', () => { messageLog.clear(); renderMessageLog(); });
window.addEventListener('keydown', (e) => { if (e.key === 'Escape' && !$('#message-log').hidden && !e.target.closest('dialog')) toggleMessageLog(false); });
app.messageLog = messageLog;

// Whatever slips through the handlers (a storage write refused, a bug) still reaches the user.
window.addEventListener('unhandledrejection', (e) => {
  const err = e.reason;
  app.notify({
    level: 'error', id: err?.name === 'StorageError' ? 'storage' : 'unhandled',
    title: err?.name === 'StorageError' ? 'Not saved' : 'Something went wrong',
    text: err?.message || String(err), more: err?.stack,
  });
});

// ---------------------------------------------------------------- work indicator

const workChip = $('#work-chip');
const work = new Map();
let workSeq = 0;
/** Marks an activity as running; returns a function that ends it. */
app.busy = (label) => {
  const key = ++workSeq;
  work.set(key, label);
  renderWork();
  return () => { work.delete(key); renderWork(); };
};
function renderWork() {
  const labels = [...work.values()];
  workChip.textContent = labels.length ? labels[labels.length - 1] : 'idle';
  workChip.dataset.state = labels.length ? 'busy' : 'idle';
  workChip.title = labels.join('\n');
}

// ---------------------------------------------------------------- engine lifecycle

let engineReadyResolve;
app.engineReady = new Promise((r) => { engineReadyResolve = r; });
let restarting = null;

const SLOW_NAMES = { detect: 'detecting a frame', trainStep: 'a training step', evaluate: 'validation', loadModel: 'loading the model', init: 'starting', attention: 'the attention maps' };
app.engine = new EngineClient({
  onFatal: (message) => onEngineFatal(message),
  onSlow: (type, ms) => {
    const gpu = app.state.engine.backend === 'webgpu' && /software/.test(app.state.engine.adapter || '');
    app.notify({
      level: 'warn', id: 'slow', title: 'Still working…',
      text: `The engine has been busy with ${SLOW_NAMES[type] || type} for ${Math.round(ms / 1000)} s. ${gpu ? 'This browser runs WebGPU in software (SwiftShader): a large model\'s first frames can take minutes.' : 'A large model at a large input size is slow here; a smaller input size helps.'} You can keep waiting, or restart the engine on the CPU (your data stays).`,
      actions: [{ label: 'Keep waiting', onClick: () => {} }, { label: 'Restart on the CPU', onClick: () => onEngineFatal('restarted on request after a slow computation', { requested: true }) }],
    });
  },
  onSettled: () => { if (!app.engine?.busy) app.clearMessage('slow'); },
});

function backendPreference() {
  if (params.get('backend') === 'cpu') return false;
  if (params.get('backend') === 'webgpu') return true;
  return $('#backend-select').value !== 'cpu';
}

async function startEngine(preferGpu) {
  const chip = $('#backend-chip');
  app.state.engine.status = 'starting';
  chip.dataset.state = 'starting';
  chip.textContent = 'engine starting…';
  const done = app.busy('starting the engine');
  try {
    const info = await app.engine.start(preferGpu);
    Object.assign(app.state.engine, { status: 'ready', backend: info.backend, fallbackReason: info.fallbackReason, initMs: info.initMs });
    if (info.backend === 'webgpu') {
      try {
        const adapter = await navigator.gpu?.requestAdapter();
        const i = adapter?.info;
        const software = i?.isFallbackAdapter ?? adapter?.isFallbackAdapter;
        app.state.engine.adapter = i ? [i.vendor, i.architecture, i.description].filter(Boolean).join(' ') + (software ? ' (software)' : '') : null;
      } catch { /* cosmetic */ }
    } else if (preferGpu) {
      // Say in plain words why WebGPU is not in use; the engine's own message goes in the details.
      let why = 'WebGPU is not available';
      try {
        if (!navigator.gpu) why = 'This browser does not offer WebGPU';
        else if (!(await navigator.gpu.requestAdapter())) why = 'This browser offers WebGPU but no GPU adapter (the GPU may be unsupported or blocked)';
        else why = 'The WebGPU device could not be started';
      } catch { /* keep the generic reason */ }
      app.state.engine.fallbackSummary = why;
    }
    renderBackend();
    app.emit('engine', { ...app.state.engine });
    engineReadyResolve();
    return info;
  } catch (e) {
    app.state.engine.status = 'failed';
    chip.dataset.state = 'error';
    chip.textContent = 'engine failed';
    app.notify({
      level: 'error', id: 'engine-start', title: 'The detection engine could not start',
      text: `${e.message}. The page needs its WebAssembly module (/pkg/cdetr.js, built by scripts/build-web.sh) and a browser with WebAssembly; reload to try again.`,
      actions: [{ label: 'Reload', onClick: () => location.reload() }],
    });
    app.emit('engine-failed', { message: e.message });
    throw e;
  } finally {
    done();
  }
}

function renderBackend() {
  const { backend, fallbackReason, adapter } = app.state.engine;
  const chip = $('#backend-chip');
  chip.dataset.state = backend;
  chip.textContent = backend === 'webgpu' ? 'WebGPU' : 'CPU (WebAssembly)';
  chip.title = backend === 'webgpu' ? `Running on the GPU through WebGPU${adapter ? `: ${adapter}` : ''}` : (fallbackReason || 'CPU backend');
  if (backend === 'webgpu' && adapter) chip.textContent += ` · ${adapter}`;
  if (backend === 'webgpu') app.clearMessage('fallback');
  if (backend === 'cpu' && fallbackReason && backendPreference() && app.state.engine.restarts === 0) {
    const summary = app.state.engine.fallbackSummary || 'WebGPU is not available';
    chip.title = `${summary}.\n${fallbackReason}`;
    app.notify({
      level: 'info', id: 'fallback', sticky: 20_000, title: 'Running on the CPU',
      text: `${summary}, so the model runs on the CPU (WebAssembly). Everything works, only slower; a browser with WebGPU enabled (recent Chrome or Edge) uses the GPU.`,
    });
  }
}

async function onEngineFatal(message, { requested = false } = {}) {
  if (restarting) return;
  const gpuLost = !requested && fatalKind(message) === 'gpu';
  const oom = !requested && !gpuLost && /memory|alloc|unreachable/i.test(message);
  app.emit('crash', { message });
  app.state.engine.status = 'restarting';
  app.state.engine.restarts++;
  const chip = $('#backend-chip');
  chip.dataset.state = 'error';
  chip.textContent = 'engine restarting…';
  app.notify({
    level: requested ? 'info' : 'error', id: 'crash',
    title: requested ? 'Restarting the engine on the CPU' : gpuLost ? 'The GPU device was lost — restarting the engine on the CPU' : 'The engine crashed — restarting it on the CPU',
    text: `${gpuLost ? 'WebGPU stopped working (the browser\'s GPU process crashed or was reset): ' : ''}${message}.${oom ? ' This can mean the model ran out of memory: a smaller input size, batch size or max size helps.' : ''} Your images, labels and training snapshots are safe; the model is being reloaded.`,
  });
  let readyResolve;
  app.engineReady = new Promise((r) => { readyResolve = r; });
  engineReadyResolve = readyResolve;
  restarting = (async () => {
    try {
      await startEngine(false);
      await reloadModel();
      app.emit('restarted', { backend: app.state.engine.backend });
      app.notify({ level: 'success', id: 'crash-ok', title: 'Recovered', text: `The engine runs again on the ${app.state.engine.backend.toUpperCase()} backend${app.state.model ? ` with ${app.state.model.name}` : ''}.` });
    } catch (e) {
      app.notify({ level: 'error', id: 'crash', title: 'The engine could not be restarted', text: `${e.message}. Reload the page; your data is kept.`, actions: [{ label: 'Reload', onClick: () => location.reload() }] });
    } finally {
      restarting = null;
    }
  })();
}

/** Restarts the engine on purpose (backend switch); keeps the model. */
async function switchBackend() {
  await startEngine(backendPreference());
  await reloadModel();
  app.emit('restarted', { backend: app.state.engine.backend });
}

// ---------------------------------------------------------------- models

function renderModel() {
  const m = app.state.model;
  const chip = $('#model-chip');
  const summary = $('#model-summary');
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
  const i = m.info;
  const source = { hub: 'Hugging Face hub (cached in this browser)', file: 'your files (kept in this browser)', trained: 'fine-tuned here' }[m.source] || m.source;
  summary.replaceChildren(el('strong', { text: m.trained ? `${m.name} (fine-tuned)` : m.name }), el('span', { class: 'muted', text: ` — from ${source}` }));
  const rows = [
    ['architecture', i.architecture], ['format', i.format], ['backbone', i.backbone], ['classes', `${i.labels.length}`], ['queries', i.numQueries],
    ['d_model · heads', `${i.dModel} · ${i.heads}`], ['layers (enc · dec)', `${i.encoderLayers} · ${i.decoderLayers}`],
    ['parameters', i.parameters >= 1e6 ? `${(i.parameters / 1e6).toFixed(1)} M` : i.parameters.toLocaleString()],
  ];
  details.replaceChildren(...rows.map(([k, v]) => el('div', { class: 'kv' }, el('dt', { text: k }), el('dd', { text: String(v), title: k === 'classes' ? i.labels.slice(0, 120).join(', ') : String(v) }))));
  details.hidden = false;
}

/**
 * Loads weights into the engine. `weights` (ArrayBuffer) moves to the worker.
 * Resolves with the model info; on failure throws (the previous model stays loaded).
 */
async function loadModelBytes({ weights, config, name, source }) {
  const done = app.busy(`loading ${name}`);
  try {
    const info = await app.engine.call('loadModel', { weights, config: config ?? null, name });
    app.state.model = { info, source, name, trained: false };
    for (const id of ['no-model', 'hub', 'model-load']) app.clearMessage(id);
    if (app.state.hub.status === 'failed' || app.state.hub.status === 'cancelled') $('#hub-progress').hidden = true;
    $('#model-file-label').classList.remove('pulse');
    renderModel();
    app.emit('model', { ...app.state.model });
    return info;
  } finally {
    done();
  }
}

/** Loads the base model the user chose last from storage (no download); false when there is none. */
async function loadBaseModel() {
  const current = await store.kv.get('currentModel');
  if (current?.source === 'file') {
    const f = await store.modelFiles.get();
    if (f) {
      await loadModelBytes({ weights: await f.weights.arrayBuffer(), config: f.config, name: f.name, source: 'file' });
      return true;
    }
  }
  const cached = await cachedHubModel();
  if (cached) {
    await loadModelBytes({ ...cached, name: HUB_REPO, source: 'hub' });
    return true;
  }
  return false;
}

/** Loads the model the user used last (the base model, then the fine-tuned one if it was in use). */
async function reloadModel() {
  const current = await store.kv.get('currentModel');
  const prevTrained = app.state.model?.trained;
  app.state.model = null;
  renderModel();
  if (!(await loadBaseModel())) return false;
  if (current?.trained || prevTrained) await app.training?.reapplyTrained();
  return true;
}

async function loadInitialModel() {
  try {
    if (await reloadModel()) return;
  } catch (e) {
    app.notify({ level: 'error', id: 'model-load', title: 'The saved model could not be loaded', text: `${e.message}. Load a model from your files or download it again.` });
    return;
  }
  if (params.has('nohub')) {
    app.notify({ level: 'info', id: 'no-model', sticky: true, title: 'No model yet', text: 'Load a model from your files, or download the default one from the Hugging Face hub.' });
    return;
  }
  await downloadFromHub();
}

let hubAbort = null;
async function downloadFromHub() {
  if (hubAbort) return;
  hubAbort = new AbortController();
  const bar = $('#hub-bar'), text = $('#hub-progress-text');
  $('#hub-progress').hidden = false;
  $('#hub-cancel').hidden = false;
  $('#hub-download').disabled = true;
  Object.assign(app.state.hub, { status: 'downloading', loaded: 0, total: 0, error: null });
  app.clearMessage('hub');
  const done = app.busy('downloading the model');
  try {
    const model = await downloadHubModel({
      signal: hubAbort.signal,
      onProgress: ({ loaded, total, phase }) => {
        Object.assign(app.state.hub, { loaded, total });
        bar.style.width = total ? `${Math.min(100, (100 * loaded) / total).toFixed(1)}%` : '0%';
        text.textContent = phase === 'config' ? 'contacting huggingface.co…' : `${fmtBytes(loaded)} of ${fmtBytes(total)} — kept in this browser for next time`;
      },
    });
    app.state.hub.status = 'done';
    text.textContent = 'downloaded — loading…';
    await loadModelBytes({ ...model, name: HUB_REPO, source: 'hub' });
    await store.kv.set('currentModel', { source: 'hub', name: HUB_REPO });
    text.textContent = `${fmtBytes(app.state.hub.loaded)} downloaded and kept in this browser for offline use`;
    app.notify({ level: 'success', title: 'Model ready', text: `${HUB_REPO} is loaded and kept in this browser: the next visit works offline.` });
  } catch (e) {
    if (e.name === 'AbortError') {
      app.state.hub.status = 'cancelled';
      app.notify({ level: 'info', id: 'hub', title: 'Download cancelled', text: 'Load a model from your files, or start the download again.' });
    } else {
      app.state.hub.status = 'failed';
      app.state.hub.error = e.message;
      const offline = e instanceof HubUnreachable;
      app.notify({
        level: 'error', id: 'hub',
        title: offline ? 'The Hugging Face hub is unreachable' : 'The downloaded model could not be loaded',
        text: offline
          ? `${e.message} Load a model from your computer instead: pick model.safetensors together with its config.json (or a .bpk / fine-tuned export) with “Load model from files…”, or drop them on the model panel.`
          : `${e.message}. Try the download again, or load a model from your files.`,
        actions: [{ label: 'Try again', onClick: () => downloadFromHub() }, { label: 'Pick files…', keep: true, onClick: () => $('#model-file').click() }],
      });
      $('#model-file-label').classList.add('pulse');
      bar.style.width = '0%';
      text.textContent = offline ? 'download failed: huggingface.co is unreachable' : 'download failed';
      $('#model-summary').replaceChildren(el('span', { class: 'warn-text', text: 'No model: the download failed. Load one from your files →' }));
    }
    app.emit('hub-failed', { status: app.state.hub.status, message: e.message });
  } finally {
    done();
    hubAbort = null;
    $('#hub-cancel').hidden = true;
    $('#hub-download').disabled = false;
    if (app.state.hub.status === 'done' || app.state.hub.status === 'cancelled') setTimeout(() => { if (app.state.hub.status !== 'downloading') $('#hub-progress').hidden = true; }, 4000);
  }
}

async function loadModelFiles(files) {
  let picked;
  try {
    picked = modelFromFiles(files);
  } catch (e) {
    app.notify({ level: 'error', id: 'model-load', title: 'That is not a model', text: e.message });
    return false;
  }
  const { weights, config } = picked;
  const configText = config ? await config.text() : null;
  const prev = app.state.model;
  try {
    await app.engineReady;
    await loadModelBytes({ weights: await weights.arrayBuffer(), config: configText, name: weights.name, source: 'file' });
  } catch (e) {
    if (e.fatal) return false; // the crash handler reports it and reloads the previous model
    app.state.model = prev;
    renderModel();
    app.notify({
      level: 'error', id: 'model-load', title: `${weights.name} could not be loaded`,
      text: `${explainLoadError(e.message)}${config ? ` Pick the ${config.name} that came with these weights.` : ' If it is a Hugging Face checkpoint, pick its config.json together with it.'} ${prev ? `${prev.name} is still loaded.` : ''}`,
      more: e.message,
    });
    app.emit('model-failed', { message: e.message });
    return false;
  }
  app.clearMessage('model-load');
  app.clearMessage('hub');
  $('#model-file-label').classList.remove('pulse');
  try {
    await store.modelFiles.set({ name: weights.name, weights, config: configText });
    await store.kv.set('currentModel', { source: 'file', name: weights.name });
  } catch (e) {
    app.notify({ level: 'warn', title: 'The model could not be kept for the next visit', text: `${e.message}. It is loaded now; pick it again after a reload.` });
  }
  app.notify({ level: 'success', id: 'model-ok', title: 'Model loaded', text: `${weights.name}${config ? ` + ${config.name}` : ''}: ${app.state.model.info.labels.length} classes, ${app.state.model.info.numQueries} queries.` });
  return true;
}

/** The gist of a weights/config mismatch from the engine's message (the full text goes under details). */
function explainLoadError(message) {
  const shape = message.match(/(\d+) mis-shaped keys?: ([^\s(,]+) \(file \[([^\]]*)\], model \[([^\]]*)\]\)/);
  if (shape) return `The weights do not fit the configuration: ${shape[1]} tensors have other shapes than the config describes (e.g. ${shape[2]} is [${shape[3]}] in the file, the config expects [${shape[4]}]).`;
  const missing = message.match(/missing keys?: ([^\s,(]+)/);
  if (missing) return `The weights do not fit the configuration: the file lacks tensors the config needs (e.g. ${missing[1]}).`;
  return `${message.replace(/\.$/, '')}.`;
}

/** Marks the fine-tuned model as the detection model (or back). */
app.setTrainedModel = async (labels, step) => {
  if (!app.state.model) return;
  app.state.model = { ...app.state.model, trained: true, step, info: { ...app.state.model.info, labels } };
  renderModel();
  const cur = (await store.kv.get('currentModel')) || {};
  await store.kv.set('currentModel', { ...cur, trained: true });
  app.emit('model', { ...app.state.model });
};
app.reloadBaseModel = async () => {
  const cur = (await store.kv.get('currentModel')) || {};
  await store.kv.set('currentModel', { ...cur, trained: false });
  app.state.model = app.state.model && { ...app.state.model, trained: false };
  await reloadModel();
};

// ---------------------------------------------------------------- tabs, drops, misc

function selectTab(name) {
  for (const b of $$('.tabs [role=tab]')) {
    const on = b.id === `tab-btn-${name}`;
    b.setAttribute('aria-selected', String(on));
    $(`#${b.getAttribute('aria-controls')}`).hidden = !on;
  }
  app.emit('tab', { name });
}
app.selectTab = selectTab;

function wireUi() {
  for (const b of $$('.tabs [role=tab]')) b.addEventListener('click', () => selectTab(b.id.replace('tab-btn-', '')));
  $('#hub-download').addEventListener('click', () => downloadFromHub());
  $('#hub-cancel').addEventListener('click', () => hubAbort?.abort());
  $('#base-model').addEventListener('click', async () => {
    try {
      await app.reloadBaseModel();
      app.notify({ level: 'success', id: 'use-trained', title: 'Detecting with the base model', text: `${app.state.model?.name}; the fine-tuned model stays available in the Fine-tune tab.` });
    } catch (e) {
      app.notify({ level: 'error', id: 'use-trained', title: 'The base model could not be loaded', text: e.message });
    }
  });
  $('#model-file').addEventListener('change', async (e) => {
    const files = [...e.target.files];
    e.target.value = '';
    if (files.length) await loadModelFiles(files);
  });
  onFileDrop($('#model-drop'), loadModelFiles);
  // Files dropped anywhere else: models go to the model, images to the detector.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => {
    e.preventDefault();
    const files = [...(e.dataTransfer?.files || [])];
    if (!files.length) return;
    if (files.some((f) => MODEL_FILE.test(f.name))) loadModelFiles(files);
    else if (files.some((f) => /\.(json|xml|txt)$/i.test(f.name))) { selectTab('train'); app.dataset.importFiles(files); }
    else { selectTab('detect'); app.detect.openImage(files[0]); }
  });
  const sel = $('#backend-select');
  if (params.get('backend') === 'cpu') sel.value = 'cpu';
  sel.addEventListener('change', async () => {
    await store.kv.set('settings', { ...((await store.kv.get('settings')) || {}), backend: sel.value });
    app.clearMessage('fallback');
    await switchBackend();
  });
}

async function showStorage() {
  const u = await store.usage();
  if (u) $('#storage-usage').textContent = `storage used: ${fmtBytes(u.usage)}`;
}

// ---------------------------------------------------------------- start

async function main() {
  wireUi();
  window.cdetrApp = {
    ready: null,
    get state() { return app.state; },
    get lastResult() { return app.state.detect?.result ?? null; },
    get bench() { return app.state.bench ?? {}; },
    get metrics() { return app.training?.metrics ?? []; },
    events: app.events,
    waitForEvent: (type, timeoutMs = 60_000) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${type} event within ${timeoutMs} ms`)), timeoutMs);
      app.addEventListener(type, (e) => { clearTimeout(t); resolve(e.detail); }, { once: true });
    }),
    simulateCrash: () => app.engine.call('simulateCrash').catch(() => {}),
    /** A worker request as the tabs make it (tests ask the engine itself what it holds). */
    call: (name, payload, options) => app.engine.call(name, payload, options),
  };
  let readyResolve;
  window.cdetrApp.ready = new Promise((r) => { readyResolve = r; });

  try {
    await store.openDb();
    const settings = (await store.kv.get('settings')) || {};
    if (settings.backend && !params.get('backend')) $('#backend-select').value = settings.backend;
  } catch (e) {
    app.notify({ level: 'error', title: 'This browser does not let the page store data', text: `${e.message}. Detection works, but datasets and training are not kept across reloads (private browsing blocks storage).` });
  }
  store.persist();
  app.loadModelFiles = loadModelFiles;
  app.detect = initDetect(app);
  app.dataset = initDataset(app);
  app.training = initTraining(app);
  app.bench = initBench(app);
  await app.dataset.load().catch((e) => app.notify({ level: 'error', title: 'The saved dataset could not be read', text: e.message }));
  await app.training.load().catch((e) => app.notify({ level: 'error', title: 'The saved training could not be read', text: e.message }));

  try {
    await startEngine(backendPreference());
    await loadInitialModel();
  } catch { /* reported on screen */ }
  readyResolve();
  app.emit('ready', {});
  showStorage();
  setInterval(showStorage, 30_000);
  // What the user adds shows up in the storage read-out at once (the browser's estimate lags a little).
  let storageTimer = null;
  const soon = () => { clearTimeout(storageTimer); storageTimer = setTimeout(showStorage, 1500); };
  app.on('dataset', soon);
  app.on('training', soon);
  if (params.has('bench')) app.bench.auto();
}

main();
