// @ts-check
// The page: makes its parts and hands each only what it uses — the event bus (events.js), the message
// centre (message-centre.js), the work chip (busy.js), the engine host (engine-host.js), the model loader
// (model-loader.js), tab selection (tabs.js) and the tabs: Detect (detect.js), the dataset and its
// labelling tools (dataset.js, label.js), Fine-tune (train.js) and Benchmark (bench.js). The test handle
// `window.cdetrApp` is described in automation.js.

import * as store from './store.js';
import { $, fmtBytes, MODEL_FILE } from './util.js';
import { EventBus } from './events.js';
import { MessageCentre } from './message-centre.js';
import { workIndicator } from './busy.js';
import { EngineHost } from './engine-host.js';
import { ModelLoader } from './model-loader.js';
import { tabSelector, wireTabs } from './tabs.js';
import { exposeTestHandle } from './automation.js';
import { initDetect } from './detect.js';
import { initDataset } from './dataset.js';
import { initTraining } from './train.js';
import { initBench } from './bench.js';

const params = new URLSearchParams(location.search);
const events = new EventBus();
const messages = new MessageCentre({ events });
const { notify, clear: clearMessage } = messages;
const busy = workIndicator($('#work-chip'));
const selectTab = tabSelector(events);

// The engine host reloads the model after a restart, and the model loader brings the fine-tuned model
// back through the training tab: both made below, so these go through the names bound there.
/** @type {import('./train.js').TrainingTab | undefined} */
let training;
const engine = new EngineHost({
  notify, clearMessage, busy, events, params,
  reloadModel: () => models.reload(),
  modelName: () => models.current?.name ?? null,
});
const models = new ModelLoader({
  engine, notify, clearMessage, busy, events, params,
  reapplyTrained: async () => { await training?.reapplyTrained(); },
});

/** @type {Record<string, any>} `cdetrApp.state`: each part belongs to the module that keeps it */
const state = {
  get engine() { return engine.state; },
  get model() { return models.current; },
  get hub() { return models.hub; },
};

/** Makes the tabs, each with the dependencies it uses; their state joins `state`. */
function initTabs() {
  /** @type {import('./dataset.js').DatasetTab | undefined} */
  let dataset;
  const detect = initDetect({
    engine, models, notify, clearMessage, busy, events,
    addToDataset: (...image) => /** @type {import('./dataset.js').DatasetTab} */ (dataset).addImage(...image),
  });
  dataset = initDataset({ engine, models, notify, clearMessage, busy, events, selectTab, forgetAttention: () => detect.forgetAttention() });
  training = initTraining({ engine, models, dataset, notify, clearMessage, busy, events, selectTab });
  const bench = initBench({ engine, models, detect, dataset, training, notify, busy, events, params, selectTab });
  const parts = { detect, dataset, label: dataset.labels, training, bench };
  for (const [name, part] of Object.entries(parts)) Object.defineProperty(state, name, { get: () => part.state, enumerable: true });
  return { detect, dataset, training, bench };
}

/**
 * The backend select, and files dropped anywhere else than a drop zone.
 * @param {ReturnType<typeof initTabs>} tabs
 */
function wirePage(tabs) {
  // Models go to the model, annotations to the dataset, images to the detector.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => {
    e.preventDefault();
    const files = [...(e.dataTransfer?.files || [])];
    if (!files.length) return;
    if (files.some((f) => MODEL_FILE.test(f.name))) models.loadFiles(files);
    else if (files.some((f) => /\.(json|xml|txt)$/i.test(f.name))) { selectTab('train'); tabs.dataset.importFiles(files); }
    else { selectTab('detect'); tabs.detect.openImage(files[0]); }
  });
  const sel = /** @type {HTMLSelectElement} */ ($('#backend-select'));
  if (params.get('backend') === 'cpu') sel.value = 'cpu';
  sel.addEventListener('change', async () => {
    await store.kv.set('settings', { ...((await store.kv.get('settings')) || {}), backend: sel.value });
    clearMessage('fallback');
    await engine.switchBackend();
  });
}

async function showStorage() {
  const u = await store.usage();
  if (u) $('#storage-usage').textContent = `storage used: ${fmtBytes(/** @type {number} */ (u.usage))}`;
}

/** The storage read-out, now, every 30 s, and soon after the user adds something (the estimate lags). */
function watchStorage() {
  showStorage();
  setInterval(showStorage, 30_000);
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const soon = () => { clearTimeout(timer); timer = setTimeout(showStorage, 1500); };
  events.on('dataset', soon);
  events.on('training', soon);
}

async function openStorage() {
  try {
    await store.openDb();
    const settings = (await store.kv.get('settings')) || {};
    if (settings.backend && !params.get('backend')) /** @type {HTMLSelectElement} */ ($('#backend-select')).value = settings.backend;
  } catch (/** @type {any} */ e) {
    notify({ level: 'error', title: 'This browser does not let the page store data', text: `${e.message}. Detection works, but datasets and training are not kept across reloads (private browsing blocks storage).` });
  }
  store.persist();
}

async function main() {
  messages.wire();
  messages.reportUnhandled(window);
  wireTabs(selectTab);
  models.wire();
  /** @type {() => void} */
  let readyResolve = () => {};
  exposeTestHandle({ state, events, engine, ready: new Promise((r) => { readyResolve = r; }), metrics: () => training?.metrics ?? [] });

  await openStorage();
  const tabs = initTabs();
  wirePage(tabs);
  await tabs.dataset.load().catch((e) => notify({ level: 'error', title: 'The saved dataset could not be read', text: e.message }));
  await tabs.training.load().catch((e) => notify({ level: 'error', title: 'The saved training could not be read', text: e.message }));
  try {
    await engine.start(engine.preferGpu());
    await models.loadInitial();
  } catch { /* reported on screen */ }
  readyResolve();
  events.emit('ready', {});
  watchStorage();
  if (params.has('bench')) tabs.bench.auto();
}

main();
