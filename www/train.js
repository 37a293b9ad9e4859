// @ts-check
// Fine-tuning in the worker: start / pause / resume, the live loss curve, validation AP, snapshots in
// IndexedDB (so a reload or a crash resumes from the last snapshot), using the fine-tuned model for
// detection, and the HF-compatible export. A run can be kept for comparison (comparison.js): its curves
// stay, dashed, under the next runs.
//
// A "session" is the worker's training state (startTraining). It is rebuilt from the dataset plus the
// last snapshot (restoreTraining) whenever it is missing: after a reload, an engine restart, a dataset
// edit, or the training benchmark.

import * as store from './store.js';
import { $, el, download, fmtBytes, sleep } from './util.js';
import { LossChart, ApChart } from './chart.js';
import { comparisonOf, comparisonFrom } from './comparison.js';
import { trainOptions } from './options.js';
import { drawPrCurves } from './prcurves.js';

/** @typedef {import('./protocol.js').SessionSummary} SessionSummary */
/** @typedef {import('./protocol.js').TrainOptions} TrainOptions */
/** @typedef {import('./dataset.js').ImageRecord} ImageRecord */

/**
 * @typedef {object} TrainingDeps what the Fine-tune tab uses
 * @property {Pick<import('./engine-host.js').EngineHost, 'call' | 'generation' | 'state'>} engine
 * @property {Pick<import('./model-loader.js').ModelLoader, 'current' | 'setTrained' | 'reloadBase'>} models
 * @property {Pick<import('./dataset.js').DatasetTab, 'state' | 'fingerprint' | 'payload' | 'open'>} dataset
 * @property {import('./message-centre.js').Notify} notify
 * @property {import('./message-centre.js').ClearMessage} clearMessage
 * @property {import('./busy.js').Busy} busy
 * @property {import('./events.js').EventBus} events
 * @property {import('./tabs.js').SelectTab} selectTab
 */

/**
 * @typedef {object} Snapshot kv 'snapshot': the saved training state
 * @property {number} step
 * @property {number} epoch
 * @property {{step: number, epoch: number}} [offset]
 * @property {number} savedAt
 * @property {{model: Blob, optimizer: Blob} | null} full weights + optimizer, where the engine could save them
 * @property {{safetensors: Blob, config: string}} [weights] the weights as an HF export
 */

/**
 * @typedef {object} TrainingState `cdetrApp.state.training`
 * @property {'idle' | 'preparing' | 'running' | 'pausing' | 'paused' | 'error'} status
 * @property {number} step
 * @property {number} epoch
 * @property {Record<string, any> | null} record kv 'training': {classNames, baseModel, options, evals, newHead, labels, fingerprint}
 * @property {number | null} snapshotStep
 * @property {{fingerprint: string, generation: number, summary: SessionSummary} | null} session the worker's current session, if any
 * @property {import('./comparison.js').EvalPoint[]} evals the validations of this run
 * @property {Record<string, any> | null} [diag] the last validation's diagnostics
 * @property {number | null} stepsPerSecond
 * @property {number | null} lastLoss
 * @property {{step: number, epoch: number}} offset the worker's trainer counts from 0 after a weights-only resume: shown step = offset + trainer step
 * @property {'full' | 'weights' | null} resumedFrom
 * @property {{name: string, steps: number, points: number, evals: number} | null} comparison the earlier run kept for comparison, if any
 * @property {{loss: object, ap: object} | null} drawn what the charts drew last
 * @property {{id: number, name: string, at: any, now: any, shown: number} | null} fixing the worst validation image open in the editor
 */

/** @typedef {{id: number, name: string, at: any, now: any, preds: any}} Fixing a worst image open in the editor with its validation detections */

/** @param {TrainingDeps} deps */
export function initTraining(deps) {
  const tab = new TrainingTab(deps);
  tab.wire();
  return tab;
}

export class TrainingTab {
  /** @param {TrainingDeps} deps */
  constructor(deps) {
    this.deps = deps;
    /** @type {TrainingState} */
    this.state = {
      status: 'idle', step: 0, epoch: 0, record: null, snapshotStep: null, session: null, evals: [],
      stepsPerSecond: null, lastLoss: null, offset: { step: 0, epoch: 0 }, resumedFrom: null, comparison: null, drawn: null, fixing: null,
    };
    /** What this build/backend can do, learned from clean refusals (see snapshot / ensureSession). */
    this.caps = { fullSnapshot: true, fullRestore: true, why: '' };
    /** @type {Record<string, any>[]} the fine-tuning metrics per step so far */
    this.metrics = [];
    this.chart = new LossChart(/** @type {HTMLCanvasElement} */ ($('#loss-chart')), $('#loss-legend'));
    this.apChart = new ApChart(/** @type {HTMLCanvasElement} */ ($('#ap-chart')));
    /** @type {import('./comparison.js').Comparison | null} */
    this.comparison = null;
    /** @type {Fixing | null} */
    this.fix = null;
    const button = (/** @type {string} */ sel) => /** @type {HTMLButtonElement} */ ($(sel));
    this.ui = {
      start: button('#train-start'), pause: button('#train-pause'), evaluate: button('#train-eval'), use: button('#train-use'),
      export: button('#train-export'), reset: button('#train-reset'), status: $('#train-status'),
      keep: button('#train-keep'), compareClear: button('#train-compare-clear'),
    };
    this.stopRequested = false;
    /** @type {Promise<void> | null} */
    this.loopPromise = null;
    /** Whether the user has been told that the loss curve's steps are not being stored. */
    this.metricsUnsaved = false;
  }

  /** The fine-tuning options on the form (the training benchmark uses them too). @returns {TrainOptions} */
  options() {
    const value = (/** @type {string} */ sel) => /** @type {HTMLInputElement} */ ($(sel)).value;
    const checked = (/** @type {string} */ sel) => /** @type {HTMLInputElement} */ ($(sel)).checked;
    return trainOptions({
      lr: value('#opt-lr'), lrBackbone: value('#opt-lr-backbone'), batchSize: value('#opt-batch'), maxSize: value('#opt-max-size'),
      dropout: value('#opt-dropout'), augment: checked('#opt-augment'), freezeBackbone: checked('#opt-freeze'), fastMode: checked('#opt-fast'),
    });
  }

  maxSteps() { return Math.round(+/** @type {HTMLInputElement} */ ($('#opt-max-steps')).value || 0); }
  snapshotEvery() { return Math.max(1, Math.round(+/** @type {HTMLInputElement} */ ($('#opt-snapshot-every')).value || 10)); }
  evalEachEpoch() { return /** @type {HTMLInputElement} */ ($('#opt-eval-epoch')).checked; }

  /** @param {Record<string, any> | undefined} o */
  setOptions(o) {
    if (!o) return;
    const input = (/** @type {string} */ sel) => /** @type {HTMLInputElement} */ ($(sel));
    input('#opt-lr').value = o.lr; input('#opt-lr-backbone').value = o.lrBackbone; input('#opt-batch').value = o.batchSize;
    input('#opt-max-size').value = o.maxSize; input('#opt-augment').checked = o.augment; input('#opt-freeze').checked = o.freezeBackbone;
    input('#opt-fast').checked = !!o.fastMode;
    if (o.dropout !== undefined) input('#opt-dropout').value = o.dropout;
  }

  /** Whether a run is under way (running, pausing or preparing). */
  isActive() {
    return ['running', 'pausing', 'preparing'].includes(this.state.status);
  }

  /** The worker's session is replaced (the training benchmark); real training rebuilds it from its snapshot. */
  invalidateSession() {
    this.state.session = null;
  }

  // ---------------------------------------------------------------- persistence

  async load() {
    const T = this.state;
    T.record = (await store.kv.get('training')) || null;
    const snap = await store.kv.get('snapshot');
    T.snapshotStep = snap?.step ?? null;
    this.metrics = await store.metrics.all();
    if (T.snapshotStep !== null) this.metrics = this.metrics.filter((m) => m.step < /** @type {number} */ (T.snapshotStep));
    const saved = (await store.kv.get('trainUi')) || {};
    if (saved.maxSteps !== undefined) /** @type {HTMLInputElement} */ ($('#opt-max-steps')).value = saved.maxSteps;
    if (saved.snapshotEvery) /** @type {HTMLInputElement} */ ($('#opt-snapshot-every')).value = saved.snapshotEvery;
    if (saved.evalEachEpoch !== undefined) /** @type {HTMLInputElement} */ ($('#opt-eval-epoch')).checked = saved.evalEachEpoch;
    this.setComparison(comparisonFrom(await store.kv.get('comparison')));
    if (T.record) {
      this.setOptions(T.record.options);
      T.evals = T.record.evals || [];
      T.diag = T.record.diag || null;
      T.step = snap?.step ?? 0;
      T.epoch = snap?.epoch ?? 0;
      T.status = T.snapshotStep !== null ? 'paused' : 'idle';
    }
    this.render();
    this.renderDiag();
  }

  /** @param {Record<string, any>} patch */
  async saveRecord(patch) {
    this.state.record = { ...(this.state.record || {}), ...patch };
    await store.kv.set('training', this.state.record);
  }

  /**
   * Saves the training state in IndexedDB: the full state (weights + optimizer, `snapshotTraining`) where
   * the engine can, and always the weights as an HF export (`exportModel`), which resumes training with
   * a fresh optimizer where the full state cannot be saved or restored.
   * @param {string} reason
   */
  async snapshot(reason) {
    const { engine, busy, events } = this.deps;
    const T = this.state;
    const done = busy('saving a training snapshot');
    try {
      const full = await this.fullState();
      const w = await engine.call('exportModel');
      const bytes = (full ? full.model.size + full.optimizer.size : 0) + w.safetensors.byteLength;
      /** @type {Snapshot} */
      const record = {
        step: T.step, epoch: T.epoch, offset: { ...T.offset }, savedAt: Date.now(),
        full, weights: { safetensors: new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (w.safetensors)]), config: w.config },
      };
      try {
        await store.kv.set('snapshot', record);
      } catch (/** @type {any} */ e) {
        throw new SnapshotNotSaved(T.step, T.snapshotStep, e);
      }
      T.snapshotStep = T.step;
      $('#t-snapshot').textContent = `snapshot at step ${T.step} (${full ? 'weights + optimizer' : 'weights'}, ${fmtBytes(bytes)}, ${new Date().toLocaleTimeString()})`;
      events.emit('snapshot', { step: T.step, epoch: T.epoch, reason, full: !!full });
    } finally {
      done();
    }
  }

  /** The weights + optimizer state, or null where the engine cannot save them (learned once). */
  async fullState() {
    if (!(this.caps.fullSnapshot && this.caps.fullRestore)) return null;
    try {
      const s = await this.deps.engine.call('snapshotTraining');
      return { model: new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (s.model)]), optimizer: new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (s.optimizer)]) };
    } catch (/** @type {any} */ e) {
      if (e.fatal) throw e;
      this.caps.fullSnapshot = false;
      this.caps.why = e.message;
      return null;
    }
  }

  // ---------------------------------------------------------------- session

  /**
   * Makes sure the worker holds a session for the current dataset (restoring the snapshot); returns its summary.
   * @param {{fresh?: boolean, forDetection?: boolean}} [how]
   * @returns {Promise<SessionSummary>}
   */
  async ensureSession({ fresh = false, forDetection = false } = {}) {
    const { engine, models, dataset, notify, busy } = this.deps;
    const T = this.state;
    if (!models.current) throw new Error('load a model before fine-tuning');
    const fingerprint = dataset.fingerprint();
    const generation = engine.generation;
    if (!fresh && T.session && T.session.fingerprint === fingerprint && T.session.generation === generation) return T.session.summary;
    this.checkTrainable();
    /** @type {Snapshot | null} */
    const snap = fresh ? null : await store.kv.get('snapshot');
    const compatible = !!snap && !this.incompatibility();
    if (snap && !compatible) {
      if (forDetection) throw new Error(`the fine-tuned model was trained ${this.incompatibility()}`);
      notify({
        level: 'warn', id: 'train-incompatible', title: 'Training starts over',
        text: `The saved training (step ${snap.step}) was ${this.incompatibility()}, so a new run starts from the loaded model and replaces it.`,
      });
    }
    const opts = this.options();
    // Resuming: vary the data order from the first run's (the step number seeds it).
    opts.seed = compatible && snap ? snap.step : 0;
    T.status = 'preparing';
    this.render();
    const done = busy('preparing the training data');
    try {
      const summary = await this.openSession(compatible ? snap : null, opts, forDetection);
      await this.recordSession(summary, opts);
      T.session = { fingerprint, generation: engine.generation, summary };
      return summary;
    } finally {
      done();
      if (T.status === 'preparing') T.status = T.snapshotStep !== null ? 'paused' : 'idle';
      this.render();
    }
  }

  /** Throws, saying what to do, when the dataset cannot be trained on. */
  checkTrainable() {
    const D = this.deps.dataset.state;
    const boxes = D.images.filter((r) => r.split !== 'val').reduce((n, r) => n + r.boxes.length, 0);
    if (!D.images.length) throw new Error('the dataset is empty: add labelled images first');
    if (!boxes) throw new Error('no boxes in the training split yet: label some images (or move images from validation to train)');
  }

  /**
   * Starts the worker's session: from the snapshot `snap` (compatible with the dataset and model) when
   * there is one — its full state where the engine can restore it, else its weights — or afresh.
   * @param {Snapshot | null} snap
   * @param {TrainOptions} opts
   * @param {boolean} forDetection
   */
  async openSession(snap, opts, forDetection) {
    const { engine, models, dataset } = this.deps;
    if (models.current?.trained && !snap) await models.reloadBase();
    const tryFull = !!snap && !!snap.full && this.caps.fullRestore;
    // Keep the decoded images when a fallback may need them a second time (else move them).
    const data = await dataset.payload(Math.round(opts.maxSize * 1.25));
    let start = snap && !tryFull ? await this.savedWeights(snap) : null;
    let summary = await engine.call('startTraining', { dataset: data, options: opts, start }, { keep: tryFull });
    this.state.resumedFrom = null;
    if (snap && tryFull && !(await this.restoreFull(snap))) {
      start = await this.savedWeights(snap);
      summary = await engine.call('startTraining', { dataset: data, options: opts, start });
    }
    if (snap && start) await this.resumedFromWeights(snap, forDetection);
    return summary;
  }

  /**
   * Weights-only resume: the saved fine-tuned weights start the session directly (the detection model
   * stays as it is); the optimizer (AdamW moments, learning-rate schedule) starts afresh.
   * @param {Snapshot} snap
   */
  async savedWeights(snap) {
    if (!snap.weights) throw new Error('the saved training has no weights to resume from');
    return { weights: await snap.weights.safetensors.arrayBuffer(), config: snap.weights.config, name: `${this.deps.models.current?.name} (fine-tuned, step ${snap.step})` };
  }

  /**
   * Restores weights + optimizer into the session; false (learned for next time) where the engine cannot.
   * @param {Snapshot} snap
   */
  async restoreFull(snap) {
    const T = this.state;
    const full = /** @type {{model: Blob, optimizer: Blob}} */ (snap.full);
    try {
      const restored = await this.deps.engine.call('restoreTraining', { model: await full.model.arrayBuffer(), optimizer: await full.optimizer.arrayBuffer() });
      T.offset = { ...(snap.offset || { step: 0, epoch: 0 }) };
      T.resumedFrom = 'full';
      T.step = T.offset.step + restored.step;
      T.epoch = T.offset.epoch + restored.epoch;
      return true;
    } catch (/** @type {any} */ e) {
      if (e.fatal) throw e;
      this.caps.fullRestore = false;
      this.caps.why = e.message;
      return false;
    }
  }

  /** @param {Snapshot} snap @param {boolean} forDetection */
  async resumedFromWeights(snap, forDetection) {
    const { engine, models, notify } = this.deps;
    const T = this.state;
    if (forDetection || models.current?.trained) await engine.call('useTrainedModel');
    T.offset = { step: snap.step, epoch: snap.epoch };
    T.resumedFrom = 'weights';
    T.step = snap.step;
    T.epoch = snap.epoch;
    notify({
      level: 'info', id: 'resume-weights', title: `Resumed from the weights of step ${snap.step}`,
      text: `The optimizer state could not be ${this.caps.fullSnapshot ? 'restored' : 'saved'} on the ${engine.state.backend === 'webgpu' ? 'WebGPU' : 'CPU'} backend, so AdamW starts afresh from the fine-tuned weights (the loss may jump for a few steps).`,
      more: this.caps.why,
    });
  }

  /**
   * Keeps what the new session means: a resumed run drops the metrics after its step; a new run starts
   * a new record (and forgets the old snapshot).
   * @param {SessionSummary} summary @param {TrainOptions} opts
   */
  async recordSession(summary, opts) {
    const { models, dataset, events } = this.deps;
    const T = this.state;
    if (T.resumedFrom) {
      this.metrics = this.metrics.filter((m) => m.step < T.step);
      await store.metrics.truncateAfter(T.step - 1);
      events.emit('restored', { step: T.step, epoch: T.epoch, mode: T.resumedFrom });
    } else {
      Object.assign(T, { step: 0, epoch: 0, offset: { step: 0, epoch: 0 }, evals: [], diag: null });
      this.renderDiag();
      this.metrics = [];
      await store.metrics.clear();
      await store.kv.del('snapshot');
      T.snapshotStep = null;
      const model = /** @type {import('./model-loader.js').LoadedModel} */ (models.current);
      await this.saveRecord({ classNames: [...dataset.state.classes], baseModel: model.name, architecture: model.info?.architecture || '', evals: [], diag: null, startedAt: Date.now() });
    }
    // The head was decided when the run started (a resumed session loads weights that already have it).
    await this.saveRecord({ options: opts, stepsPerEpoch: summary.stepsPerEpoch, fastMode: summary.fastMode || null, ...(T.resumedFrom ? {} : { newHead: summary.newHead, labels: summary.labels }) });
    await store.kv.set('trainUi', { maxSteps: this.maxSteps(), snapshotEvery: this.snapshotEvery(), evalEachEpoch: this.evalEachEpoch() });
  }

  /** Why the saved training cannot continue with the current dataset and model ('' when it can). */
  incompatibility() {
    const r = this.state.record;
    const model = this.deps.models.current;
    const classes = this.deps.dataset.state.classes;
    if (!r) return 'without a record of its classes';
    if (model && r.baseModel !== model.name) return `from ${r.baseModel}, not ${model.name}`;
    if (!sameList(r.classNames, classes)) return `for the classes ${r.classNames.join(', ')}, and the dataset now has ${classes.join(', ')}`;
    return '';
  }

  // ---------------------------------------------------------------- loop

  async start() {
    const { notify, clearMessage, events } = this.deps;
    const T = this.state;
    if (T.status === 'running' || T.status === 'preparing') return;
    this.stopRequested = false;
    try {
      await this.ensureSession();
    } catch (/** @type {any} */ e) {
      T.status = 'error';
      this.render();
      if (!e.fatal) notify({ level: 'error', id: 'train', title: 'Fine-tuning could not start', text: `${e.message}.${/memory|alloc/i.test(e.message) ? ' Try a smaller max size or batch size.' : ''}` });
      events.emit('train-error', { message: e.message });
      return;
    }
    clearMessage('train');
    T.status = 'running';
    this.render();
    events.emit('training', { status: 'running', step: T.step });
    this.loopPromise = this.runLoop();
    await this.loopPromise;
  }

  /** Training steps until paused, the step limit, or an error; snapshots and validations on the way. */
  async runLoop() {
    const { notify, busy, events } = this.deps;
    const T = this.state;
    const done = busy('fine-tuning');
    /** @type {number[]} */
    const stamps = [];
    const limit = this.maxSteps();
    try {
      while (!this.stopRequested) {
        if (limit && T.step >= limit) {
          notify({ level: 'success', id: 'train-done', title: 'Fine-tuning reached its step limit', text: `${T.step} steps. Raise “Stop after steps” (or set 0) to continue.` });
          break;
        }
        const m = await this.trainStep(stamps);
        if (!Number.isFinite(m.loss)) {
          notify({ level: 'error', id: 'train', title: 'The loss is not a number', text: 'Training diverged: pause, lower the learning rate, and start again from the last snapshot (Discard training starts over).' });
          break;
        }
        if (m.epochDone && this.evalEachEpoch() && this.deps.dataset.state.images.some((r) => r.split === 'val')) await this.evaluate();
        if (m.epochDone || T.step % this.snapshotEvery() === 0) await this.snapshot(m.epochDone ? 'epoch' : 'periodic');
      }
      if (T.snapshotStep !== T.step) await this.snapshot('pause');
      T.status = 'paused';
    } catch (/** @type {any} */ e) {
      T.status = 'error';
      if (e instanceof SnapshotNotSaved) {
        notify({ level: 'error', id: 'train', title: `The training snapshot of step ${e.step} could not be saved`, text: `${e.message} Training stopped; press Start to go on once there is room.` });
      } else if (!e.fatal) {
        notify({ level: 'error', id: 'train', title: 'A training step failed', text: `${e.message}.${/memory|alloc|buffer/i.test(e.message) ? ' This looks like running out of memory: lower the batch size or max size, then resume.' : ' Resume continues from the last snapshot.'}` });
      }
      events.emit('train-error', { message: e.message });
    } finally {
      done();
      this.render();
      events.emit('training', { status: T.status, step: T.step });
      this.loopPromise = null;
    }
  }

  /**
   * One training step: its metrics join the curve (and storage); `stamps` (the last step times) give the rate.
   * @param {number[]} stamps
   */
  async trainStep(stamps) {
    const T = this.state;
    const m = await this.deps.engine.call('trainStep');
    m.step += T.offset.step;
    m.epoch += T.offset.epoch;
    T.step = m.step + 1;
    T.epoch = m.epoch + (m.epochDone ? 1 : 0);
    T.lastLoss = m.loss;
    stamps.push(performance.now());
    if (stamps.length > 11) stamps.shift();
    T.stepsPerSecond = stamps.length > 1 ? ((stamps.length - 1) * 1000) / (stamps[stamps.length - 1] - stamps[0]) : 1000 / m.stepMs;
    /** @type {Record<string, any>} */
    const record = { ...m };
    delete record.epochDone;
    this.metrics.push(record);
    store.metrics.put(record).then(() => { this.metricsUnsaved = false; }, (e) => this.metricsNotSaved(e, T.step));
    this.chart.setData(this.metrics);
    this.render();
    this.deps.events.emit('step', { step: m.step, loss: m.loss, epochDone: m.epochDone });
    return m;
  }

  /**
   * A step's metrics could not be stored (storage full): said once, until a later one is stored again.
   * @param {any} e @param {number} step
   */
  metricsNotSaved(e, step) {
    if (this.metricsUnsaved) return;
    this.metricsUnsaved = true;
    this.deps.notify({ level: 'warn', id: 'metrics-save', title: 'The loss curve could not be saved', text: `${e.message} From step ${step} on, the curve is kept on this page only; training goes on.` });
  }

  async pause() {
    const T = this.state;
    if (T.status !== 'running') return;
    this.stopRequested = true;
    T.status = 'pausing';
    this.render();
    await this.loopPromise;
  }

  async evaluate() {
    const { engine, notify, busy, events, dataset } = this.deps;
    const T = this.state;
    const done = busy('validating');
    $('#t-ap').textContent = '…';
    try {
      await this.ensureSession();
      const valIds = dataset.state.images.filter((r) => r.split === 'val').map((r) => r.id);
      const { classes, confusion, confusionLabels, worst, predictions, ...m } = await engine.call('evaluate');
      const entry = /** @type {import('./comparison.js').EvalPoint} */ ({ step: T.step, epoch: T.epoch, ...m });
      T.diag = { step: T.step, classes, confusion, confusionLabels, worst, predictions, valIds };
      this.fix = null;
      this.renderDiag();
      T.evals.push(entry);
      await this.saveRecord({ evals: T.evals, diag: T.diag }); // the panel comes back after a reload
      this.render();
      events.emit('evaluated', entry);
      return entry;
    } catch (/** @type {any} */ e) {
      if (!e.fatal) notify({ level: 'error', id: 'eval', title: 'Validation failed', text: e.message });
      this.render();
    } finally {
      done();
    }
  }

  // ---------------------------------------------------------------- diagnostics

  /** The per-class table, the confusion matrix and the worst images of the last validation. */
  renderDiag() {
    const d = this.state.diag;
    $('#val-diag').hidden = !d;
    if (!d) { this.fix = null; this.state.fixing = null; return; }
    $('#diag-when').textContent = `(step ${d.step})`;
    const f = (/** @type {number} */ v) => (v >= 0 ? v.toFixed(3) : '—');
    $('#diag-classes').replaceChildren(
      el('thead', {}, el('tr', {}, ['class', 'boxes', 'AP', 'AP50', 'AP75', 'recall50'].map((h) => el('th', { text: h })))),
      el('tbody', {}, d.classes.map((/** @type {any} */ c) => el('tr', { dataset: { class: c.name } },
        el('td', { text: c.name }), el('td', { text: String(c.numGt) }),
        el('td', { class: 'ap', text: f(c.ap) }), el('td', { class: 'ap50', text: f(c.ap50) }),
        el('td', { class: 'ap75', text: f(c.ap75) }), el('td', { text: f(c.recall50) })))),
    );
    drawPrCurves(/** @type {HTMLCanvasElement} */ ($('#diag-pr')), d.classes);
    this.renderConfusion(d);
    this.renderWorst(d);
    this.renderFix();
  }

  /** @param {Record<string, any>} d */
  renderConfusion(d) {
    /** @type {string[]} */
    const labels = d.confusionLabels;
    const n = labels.length;
    const counts = d.confusion.counts;
    const colTotal = labels.map((_, c) => labels.reduce((s, _r, r) => s + counts[r * n + c], 0));
    $('#diag-confusion').replaceChildren(
      el('thead', {}, el('tr', {}, el('th', { text: 'pred \\ true' }), labels.map((l) => el('th', { text: l })))),
      el('tbody', {}, labels.map((l, r) => el('tr', {}, el('th', { text: l }),
        labels.map((_, c) => {
          const v = counts[r * n + c];
          const a = colTotal[c] ? v / colTotal[c] : 0;
          return el('td', { class: r === c ? 'diag' : '', style: `background: rgba(40, 90, 200, ${(a * 0.8).toFixed(3)}); color: ${a > 0.5 ? '#fff' : ''}`, text: v ? String(v) : '' });
        })))),
    );
  }

  /** @param {Record<string, any>} d */
  renderWorst(d) {
    const images = this.deps.dataset.state.images;
    const records = d.valIds.map((/** @type {number} */ id) => images.find((r) => r.id === id));
    $('#diag-worst').replaceChildren(...d.worst.slice(0, 10).map((/** @type {any} */ w) => {
      const r = records[w.imageId];
      const name = r ? r.name : `validation image ${w.imageId + 1}`;
      return el('li', {}, el('button', {
        type: 'button', class: 'btn ghost small', disabled: !r, dataset: { id: r?.id ?? '' },
        title: 'Open in the label editor, with the model’s detections at this validation drawn over the labels',
        onclick: () => { if (r) this.openWorst(r, w); },
      }, name), ` ${errorText(w)} (${w.numGt} boxes, ${w.numDet} detections)`);
    }));
    if (!d.worst.length) $('#diag-worst').append(el('li', { class: 'muted', text: 'no errors at score ≥ 0.25, IoU ≥ 0.5' }));
  }

  // ---------------------------------------------------------------- fixing a worst image

  /**
   * Opens a worst validation image in the editor with the detections it was judged by, and recounts.
   * @param {ImageRecord} r @param {any} w its errors at the validation
   */
  async openWorst(r, w) {
    const T = this.state;
    const preds = T.diag?.predictions?.find((/** @type {any} */ p) => p.imageId === w.imageId) ?? null;
    const labels = T.record?.labels || [];
    const s = preds ? r.width / preds.width : 1;
    const boxes = preds?.detections.map((/** @type {any} */ p) => ({ x0: p.bbox[0] * s, y0: p.bbox[1] * s, x1: p.bbox[2] * s, y1: p.bbox[3] * s, cls: labels[p.label] ?? String(p.label), score: p.score }));
    this.fix = { id: r.id, name: r.name, at: w, now: null, preds };
    await this.deps.dataset.open(r.id, { predictions: boxes ?? [] });
    $('#editor-name')?.scrollIntoView({ block: 'center' });
    await this.recount();
  }

  /** The open worst image's errors with its labels as they are now (the engine recounts; no new validation). */
  async recount() {
    const fix = this.fix;
    const r = fix && this.deps.dataset.state.images.find((x) => x.id === fix.id);
    if (!fix || !r || !fix.preds || !this.state.session) { this.renderFix(); return; }
    const s = fix.preds.width / r.width;
    /** @type {string[]} */
    const classes = this.state.record?.classNames || [];
    const boxes = r.boxes.filter((b) => classes.includes(b.cls) && b.x1 > b.x0 && b.y1 > b.y0)
      .map((b) => ({ x0: b.x0 * s, y0: b.y0 * s, x1: b.x1 * s, y1: b.y1 * s, label: classes.indexOf(b.cls) }));
    try {
      const now = await this.deps.engine.call('imageErrors', { boxes, detections: fix.preds.detections });
      if (this.fix === fix) fix.now = now;
    } catch (/** @type {any} */ e) {
      if (e.fatal) return;
      if (this.fix === fix) fix.now = { error: e.message };
    }
    this.renderFix();
  }

  renderFix() {
    const f = this.fix;
    const T = this.state;
    T.fixing = f && { id: f.id, name: f.name, at: f.at, now: f.now, shown: f.preds?.detections.length ?? 0 };
    const line = $('#diag-fix');
    line.hidden = !f;
    if (!f) return;
    const now = !f.preds ? 'no detections were kept for it (validate again)' : !T.session ? 'the recount needs the fine-tuning session (Validate now)' : f.now?.error ? `the recount failed: ${f.now.error}` : f.now ? `with your labels now: ${errorText(f.now)} (${f.now.numGt} boxes)` : '…';
    line.textContent = `${f.name} in the editor, the model’s detections dotted in white — at validation: ${errorText(f.at)}; ${now}`;
  }

  // ---------------------------------------------------------------- using and exporting the model

  async useForDetection() {
    const { engine, models, notify, busy, selectTab } = this.deps;
    const done = busy('switching to the fine-tuned model');
    try {
      if (this.state.status === 'running') await this.pause();
      await this.ensureSession();
      const labels = await engine.call('useTrainedModel');
      await models.setTrained(labels, this.state.step);
      notify({ level: 'success', id: 'use-trained', title: 'Detecting with the fine-tuned model', text: `Step ${this.state.step}; classes: ${labels.join(', ')}. “Back to the base model” in the model panel switches back.` });
      selectTab('detect');
    } catch (/** @type {any} */ e) {
      if (!e.fatal) notify({ level: 'error', id: 'use-trained', title: 'The fine-tuned model could not be used', text: e.message });
    } finally {
      done();
    }
  }

  /** After a reload or a restart: rebuild the session from the snapshot and detect with it again. */
  async reapplyTrained() {
    try {
      if (!(await store.kv.get('snapshot'))) return;
      this.state.session = null;
      await this.ensureSession({ forDetection: true });
      const labels = await this.deps.engine.call('useTrainedModel');
      await this.deps.models.setTrained(labels, this.state.step);
    } catch (/** @type {any} */ e) {
      if (!e.fatal) this.deps.notify({ level: 'warn', id: 'reapply', title: 'Detecting with the base model', text: `The fine-tuned model could not be restored: ${e.message}. Resume or restart fine-tuning to get it back.` });
    }
  }

  async exportModel() {
    const { engine, notify, busy, events } = this.deps;
    const done = busy('exporting');
    try {
      if (this.state.status === 'running') await this.pause();
      await this.ensureSession();
      const out = await engine.call('exportModel');
      const wBlob = new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (out.safetensors)], { type: 'application/octet-stream' });
      const cBlob = new Blob([out.config], { type: 'application/json' });
      showExportLinks(wBlob, cBlob, this.state.step);
      download(wBlob, 'model.safetensors');
      await sleep(400);
      download(cBlob, 'config.json');
      events.emit('exported', { bytes: wBlob.size, step: this.state.step });
    } catch (/** @type {any} */ e) {
      if (!e.fatal) notify({ level: 'error', id: 'export', title: 'Export failed', text: e.message });
    } finally {
      done();
    }
  }

  async reset() {
    if (!confirm('Discard the fine-tuning progress (snapshots, loss history, validation results)? The dataset stays.')) return;
    if (this.state.status === 'running') await this.pause();
    await store.kv.del('snapshot');
    await store.kv.del('training');
    await store.metrics.clear();
    Object.assign(this.state, { status: 'idle', step: 0, epoch: 0, record: null, snapshotStep: null, session: null, evals: [], diag: null, stepsPerSecond: null, lastLoss: null, offset: { step: 0, epoch: 0 }, resumedFrom: null });
    this.metrics = [];
    this.chart.setData(this.metrics);
    $('#t-snapshot').textContent = '';
    if (this.deps.models.current?.trained) await this.deps.models.reloadBase();
    this.render();
  }

  // ---------------------------------------------------------------- comparison

  /** @param {import('./comparison.js').Comparison | null} run */
  setComparison(run) {
    this.comparison = run;
    this.state.comparison = run && { name: run.name, steps: run.steps, points: run.metrics.length, evals: run.evals.length };
    this.chart.setComparison(run);
  }

  /** Keeps this run's curves (kv 'comparison'), replacing an earlier comparison. */
  async keepForComparison() {
    const T = this.state;
    const { notify, models } = this.deps;
    const run = comparisonOf({ model: T.record?.baseModel || models.current?.name || 'model', architecture: T.record?.architecture || '', metrics: this.metrics, evals: T.evals });
    if (!run) return;
    try {
      await store.kv.set('comparison', run);
    } catch (/** @type {any} */ e) {
      notify({ level: 'error', id: 'compare', title: 'The run could not be kept', text: e.message });
      return;
    }
    this.setComparison(run);
    this.render();
    notify({ level: 'success', id: 'compare', title: 'Run kept for comparison', text: `${run.name}: its curves stay, dashed, under the next runs (also after Discard training, another model or a reload).` });
  }

  async clearComparison() {
    await store.kv.del('comparison');
    this.setComparison(null);
    this.render();
  }

  // ---------------------------------------------------------------- rendering

  render() {
    this.renderButtons();
    this.renderReadouts();
    this.chart.setData(this.metrics);
    this.apChart.setRuns(this.state.evals, this.comparison?.evals ?? []);
    this.state.drawn = { loss: { ...this.chart.drawn }, ap: { ...this.apChart.drawn } };
  }

  renderButtons() {
    const { ui, state: T, comparison } = this;
    const running = T.status === 'running' || T.status === 'pausing' || T.status === 'preparing';
    const hasSnap = T.snapshotStep !== null;
    const hasRun = hasSnap || !!T.session;
    ui.start.disabled = running || !this.deps.models.current;
    const blocked = hasSnap && T.status !== 'running' && this.incompatibility();
    ui.start.textContent = !hasSnap || T.status === 'running' ? 'Start fine-tuning' : blocked ? 'Start over (classes or model changed)' : `Resume fine-tuning (step ${T.snapshotStep})`;
    ui.start.title = blocked ? `The saved training (step ${T.snapshotStep}) was ${blocked}; starting replaces it.` : '';
    ui.pause.disabled = T.status !== 'running';
    ui.pause.textContent = T.status === 'pausing' ? 'Pausing…' : 'Pause';
    ui.evaluate.disabled = running || !hasRun || !this.deps.dataset.state.images.some((r) => r.split === 'val');
    ui.use.disabled = running || !hasRun;
    ui.export.disabled = running || !hasRun;
    ui.reset.disabled = running || !(hasRun || this.metrics.length);
    ui.keep.disabled = running || !this.metrics.length;
    ui.compareClear.hidden = !comparison;
    $('#compare-note').textContent = comparison ? `dashed: ${comparison.name}${comparison.keptAt ? `, kept ${new Date(comparison.keptAt).toLocaleString()}` : ''}` : '';
    const labels = { idle: 'not started', preparing: 'preparing the data…', running: 'running', pausing: 'pausing after this step…', paused: hasSnap ? `paused — saved at step ${T.snapshotStep}` : 'paused', error: 'stopped by an error' };
    ui.status.textContent = labels[T.status] || T.status;
    ui.status.dataset.state = T.status;
  }

  renderReadouts() {
    const T = this.state;
    const metrics = this.metrics;
    $('#t-step').textContent = String(T.step);
    $('#t-epoch').textContent = String(T.epoch);
    $('#t-loss').textContent = T.lastLoss !== null ? T.lastLoss.toFixed(3) : metrics.length ? metrics[metrics.length - 1].loss.toFixed(3) : '—';
    $('#t-rate').textContent = T.stepsPerSecond ? T.stepsPerSecond.toFixed(2) : '—';
    const last = T.evals[T.evals.length - 1];
    $('#t-ap').textContent = last ? fmtAp(last.ap) : '—';
    $('#t-ap50').textContent = last ? fmtAp(last.ap50) : '—';
    $('#t-ap').title = T.evals.map((e) => `step ${e.step}: AP ${fmtAp(e.ap)}, AP50 ${fmtAp(e.ap50)}`).join('\n');
    if (T.snapshotStep !== null && !$('#t-snapshot').textContent) $('#t-snapshot').textContent = `snapshot at step ${T.snapshotStep}`;
    $('#train-note').textContent = trainNote(T.record, T.resumedFrom);
  }

  wire() {
    const { ui } = this;
    const { events } = this.deps;
    ui.start.addEventListener('click', () => this.start());
    ui.pause.addEventListener('click', () => this.pause());
    ui.evaluate.addEventListener('click', () => this.evaluate());
    ui.use.addEventListener('click', () => this.useForDetection());
    ui.export.addEventListener('click', () => this.exportModel());
    ui.reset.addEventListener('click', () => this.reset());
    ui.keep.addEventListener('click', () => this.keepForComparison());
    ui.compareClear.addEventListener('click', () => this.clearComparison());
    events.on('model', () => this.render());
    events.on('dataset', () => this.onDatasetChanged());
    events.on('restarted', () => {
      this.state.session = null;
      if (this.isActive()) this.state.status = 'paused';
      this.render();
    });
  }

  onDatasetChanged() {
    this.render();
    if (this.fix) this.recount();
    // The worker trains on the images it was given at the start.
    if (this.state.status === 'running' || this.state.status === 'preparing') {
      this.deps.notify({ level: 'info', id: 'dataset-while-training', title: 'Dataset changed during fine-tuning', text: 'The running fine-tuning keeps the images it started with; pause and resume to train on the changed dataset.' });
    }
  }
}

/** The links to the exported files, under the buttons. @param {Blob} wBlob @param {Blob} cBlob @param {number} step */
function showExportLinks(wBlob, cBlob, step) {
  const links = $('#export-links');
  for (const a of links.querySelectorAll('a')) URL.revokeObjectURL(a.href);
  links.replaceChildren(
    el('span', { text: `Exported at step ${step}: ` }),
    el('a', { href: URL.createObjectURL(wBlob), download: 'model.safetensors', id: 'export-weights', text: `model.safetensors (${fmtBytes(wBlob.size)})` }),
    ' · ',
    el('a', { href: URL.createObjectURL(cBlob), download: 'config.json', id: 'export-config', text: 'config.json' }),
    el('span', { class: 'muted', text: ' — loads with transformers’ ConditionalDetrForObjectDetection, cdetr detect, or this page.' }));
  links.hidden = false;
}

/**
 * What the run trains (the head kept or new), how it resumed, and the fast mode.
 * @param {Record<string, any> | null} r the training record
 * @param {string | null} resumedFrom
 */
function trainNote(r, resumedFrom) {
  if (!r?.labels) return '';
  const head = r.newHead ? `A new classification head for ${r.labels.length} classes (${r.labels.join(', ')}); the rest starts from ${r.baseModel}.` : `The head of ${r.baseModel} is kept (${r.labels.length} classes).`;
  const resumed = resumedFrom === 'weights' ? ' Resumed from saved weights with a fresh optimizer.' : resumedFrom === 'full' ? ' Resumed with the saved optimizer state.' : '';
  const fast = r.fastMode ? ` Fast mode: the backbone is frozen and runs once per image on the first step; it ${r.fastMode}.` : '';
  return `${head}${resumed}${fast}`;
}

/** @param {unknown} a @param {unknown} b */
function sameList(a, b) {
  return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]);
}

/** @param {{missed: number, falsePositives: number, confused: number}} e */
function errorText(e) {
  return `missed ${e.missed}, false ${e.falsePositives}, confused ${e.confused}`;
}

/** @param {number} v */
function fmtAp(v) {
  return v < 0 ? 'n/a' : (v * 100).toFixed(1);
}

/** A training snapshot that storage refused: training stops there; the one saved before is kept. */
class SnapshotNotSaved extends Error {
  /**
   * @param {number} step the step whose snapshot was not written
   * @param {number | null} saved the step of the snapshot still stored (null: none)
   * @param {any} cause the storage error (it says why and what the user can do)
   */
  constructor(step, saved, cause) {
    super(`${cause?.message || cause} ${saved === null ? 'No snapshot is saved yet.' : `The last saved snapshot, of step ${saved}, is kept: resuming starts from it.`}`);
    this.name = 'SnapshotNotSaved';
    this.step = step;
  }
}
