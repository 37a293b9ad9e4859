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

export function initTraining(app) {
  const T = (app.state.training = {
    status: 'idle', // idle | preparing | running | pausing | paused | error
    step: 0,
    epoch: 0,
    record: null, // kv 'training': {classNames, baseModel, options, evals, newHead, labels, fingerprint}
    snapshotStep: null,
    session: null, // {fingerprint, engineGeneration}: the worker's current session, if any
    evals: [],
    stepsPerSecond: null,
    lastLoss: null,
    // The worker's trainer counts from 0 after a weights-only resume: shown step = offset + trainer step.
    offset: { step: 0, epoch: 0 },
    resumedFrom: null, // 'full' | 'weights' | null
    comparison: null, // {name, steps, points, evals}: the earlier run kept for comparison, if any
    drawn: null, // what the charts drew last: {loss: {current, earlier}, ap: {current, earlier}}
    fixing: null, // the worst validation image open in the editor: {id, name, at (its errors), now (recounted), shown}
  });
  // What this build/backend can do, learned from clean refusals (see snapshot / ensureSession).
  const caps = { fullSnapshot: true, fullRestore: true };
  let metrics = [];
  const chart = new LossChart($('#loss-chart'), $('#loss-legend'));
  const apChart = new ApChart($('#ap-chart'));
  /** @type {import('./comparison.js').Comparison | null} */
  let comparison = null;
  const ui = {
    start: $('#train-start'), pause: $('#train-pause'), evaluate: $('#train-eval'), use: $('#train-use'),
    export: $('#train-export'), reset: $('#train-reset'), status: $('#train-status'),
    keep: $('#train-keep'), compareClear: $('#train-compare-clear'),
  };
  let stopRequested = false;
  let loopPromise = null;

  function options() {
    return trainOptions({
      lr: $('#opt-lr').value, lrBackbone: $('#opt-lr-backbone').value, batchSize: $('#opt-batch').value, maxSize: $('#opt-max-size').value,
      dropout: $('#opt-dropout').value, augment: $('#opt-augment').checked, freezeBackbone: $('#opt-freeze').checked, fastMode: $('#opt-fast').checked,
    });
  }
  const maxSteps = () => Math.round(+$('#opt-max-steps').value || 0);
  const snapshotEvery = () => Math.max(1, Math.round(+$('#opt-snapshot-every').value || 10));

  function setOptions(o) {
    if (!o) return;
    $('#opt-lr').value = o.lr; $('#opt-lr-backbone').value = o.lrBackbone; $('#opt-batch').value = o.batchSize;
    $('#opt-max-size').value = o.maxSize; $('#opt-augment').checked = o.augment; $('#opt-freeze').checked = o.freezeBackbone;
    $('#opt-fast').checked = !!o.fastMode;
    if (o.dropout !== undefined) $('#opt-dropout').value = o.dropout;
  }

  // ---------------------------------------------------------------- persistence

  async function load() {
    T.record = (await store.kv.get('training')) || null;
    const snap = await store.kv.get('snapshot');
    T.snapshotStep = snap?.step ?? null;
    metrics = await store.metrics.all();
    if (T.snapshotStep !== null) metrics = metrics.filter((m) => m.step < T.snapshotStep);
    const ui2 = (await store.kv.get('trainUi')) || {};
    if (ui2.maxSteps !== undefined) $('#opt-max-steps').value = ui2.maxSteps;
    if (ui2.snapshotEvery) $('#opt-snapshot-every').value = ui2.snapshotEvery;
    if (ui2.evalEachEpoch !== undefined) $('#opt-eval-epoch').checked = ui2.evalEachEpoch;
    setComparison(comparisonFrom(await store.kv.get('comparison')));
    if (T.record) {
      setOptions(T.record.options);
      T.evals = T.record.evals || [];
      T.diag = T.record.diag || null;
      T.step = snap?.step ?? 0;
      T.epoch = snap?.epoch ?? 0;
      T.status = T.snapshotStep !== null ? 'paused' : 'idle';
    }
    render();
    renderDiag();
  }

  async function saveRecord(patch) {
    T.record = { ...(T.record || {}), ...patch };
    await store.kv.set('training', T.record);
  }

  /**
   * Saves the training state in IndexedDB: the full state (weights + optimizer, `snapshotTraining`) where
   * the engine can, and always the weights as an HF export (`exportModel`), which resumes training with
   * a fresh optimizer where the full state cannot be saved or restored.
   */
  async function snapshot(reason) {
    const done = app.busy('saving a training snapshot');
    try {
      let full = null;
      let bytes = 0;
      if (caps.fullSnapshot && caps.fullRestore) {
        try {
          const s = await app.engine.call('snapshotTraining');
          full = { model: new Blob([s.model]), optimizer: new Blob([s.optimizer]) };
          bytes += s.model.byteLength + s.optimizer.byteLength;
        } catch (e) {
          if (e.fatal) throw e;
          caps.fullSnapshot = false;
          caps.why = e.message;
        }
      }
      const w = await app.engine.call('exportModel');
      bytes += w.safetensors.byteLength;
      const record = {
        step: T.step, epoch: T.epoch, offset: { ...T.offset }, savedAt: Date.now(),
        full, weights: { safetensors: new Blob([w.safetensors]), config: w.config },
      };
      await store.kv.set('snapshot', record);
      T.snapshotStep = T.step;
      $('#t-snapshot').textContent = `snapshot at step ${T.step} (${full ? 'weights + optimizer' : 'weights'}, ${fmtBytes(bytes)}, ${new Date().toLocaleTimeString()})`;
      app.emit('snapshot', { step: T.step, epoch: T.epoch, reason, full: !!full });
    } finally {
      done();
    }
  }

  // ---------------------------------------------------------------- session

  /** Makes sure the worker holds a session for the current dataset (restoring the snapshot); returns its summary. */
  async function ensureSession({ fresh = false, forDetection = false } = {}) {
    if (!app.state.model) throw new Error('load a model before fine-tuning');
    const fingerprint = app.dataset.fingerprint();
    const generation = app.engine.generation;
    if (!fresh && T.session && T.session.fingerprint === fingerprint && T.session.generation === generation) return T.session.summary;
    const D = app.state.dataset;
    const boxes = D.images.filter((r) => r.split !== 'val').reduce((n, r) => n + r.boxes.length, 0);
    if (!D.images.length) throw new Error('the dataset is empty: add labelled images first');
    if (!boxes) throw new Error('no boxes in the training split yet: label some images (or move images from validation to train)');
    const snap = fresh ? null : await store.kv.get('snapshot');
    const compatible = !!snap && !incompatibility();
    if (snap && !compatible) {
      if (forDetection) throw new Error(`the fine-tuned model was trained ${incompatibility()}`);
      app.notify({
        level: 'warn', id: 'train-incompatible', title: 'Training starts over',
        text: `The saved training (step ${snap.step}) was ${incompatibility()}, so a new run starts from the loaded model and replaces it.`,
      });
    }
    const opts = options();
    // Resuming: vary the data order from the first run's (the step number seeds it).
    opts.seed = compatible ? snap.step : 0;
    T.status = 'preparing';
    render();
    const done = app.busy('preparing the training data');
    try {
      if (app.state.model.trained && !compatible) await app.reloadBaseModel();
      const tryFull = compatible && snap.full && caps.fullRestore;
      // Weights-only resume: the saved fine-tuned weights start the session directly (the detection model
      // stays as it is); the optimizer (AdamW moments, learning-rate schedule) starts afresh.
      const savedWeights = async () => {
        if (!snap.weights) throw new Error('the saved training has no weights to resume from');
        return { weights: await snap.weights.safetensors.arrayBuffer(), config: snap.weights.config, name: `${app.state.model.name} (fine-tuned, step ${snap.step})` };
      };
      // Keep the decoded images when a fallback may need them a second time (else move them).
      const dataset = await app.dataset.payload(Math.round(opts.maxSize * 1.25));
      let start = compatible && !tryFull ? await savedWeights() : null;
      let summary = await app.engine.call('startTraining', { dataset, options: opts, start }, { keep: tryFull });
      T.resumedFrom = null;
      if (tryFull) {
        try {
          const restored = await app.engine.call('restoreTraining', { model: await snap.full.model.arrayBuffer(), optimizer: await snap.full.optimizer.arrayBuffer() });
          T.offset = { ...(snap.offset || { step: 0, epoch: 0 }) };
          T.resumedFrom = 'full';
          T.step = T.offset.step + restored.step;
          T.epoch = T.offset.epoch + restored.epoch;
        } catch (e) {
          if (e.fatal) throw e;
          caps.fullRestore = false;
          caps.why = e.message;
          start = await savedWeights();
          summary = await app.engine.call('startTraining', { dataset, options: opts, start });
        }
      }
      if (start) {
        if (forDetection || app.state.model.trained) await app.engine.call('useTrainedModel');
        T.offset = { step: snap.step, epoch: snap.epoch };
        T.resumedFrom = 'weights';
        T.step = snap.step;
        T.epoch = snap.epoch;
        app.notify({
          level: 'info', id: 'resume-weights', title: `Resumed from the weights of step ${snap.step}`,
          text: `The optimizer state could not be ${caps.fullSnapshot ? 'restored' : 'saved'} on the ${app.state.engine.backend === 'webgpu' ? 'WebGPU' : 'CPU'} backend, so AdamW starts afresh from the fine-tuned weights (the loss may jump for a few steps).`,
          more: caps.why,
        });
      }
      if (T.resumedFrom) {
        metrics = metrics.filter((m) => m.step < T.step);
        await store.metrics.truncateAfter(T.step - 1);
        app.emit('restored', { step: T.step, epoch: T.epoch, mode: T.resumedFrom });
      } else {
        T.step = 0;
        T.epoch = 0;
        T.offset = { step: 0, epoch: 0 };
        T.evals = [];
        T.diag = null;
        renderDiag();
        metrics = [];
        await store.metrics.clear();
        await store.kv.del('snapshot');
        T.snapshotStep = null;
        await saveRecord({ classNames: [...D.classes], baseModel: app.state.model.name, architecture: app.state.model.info?.architecture || '', evals: [], diag: null, startedAt: Date.now() });
      }
      // The head was decided when the run started (a resumed session loads weights that already have it).
      await saveRecord({ options: opts, stepsPerEpoch: summary.stepsPerEpoch, fastMode: summary.fastMode || null, ...(T.resumedFrom ? {} : { newHead: summary.newHead, labels: summary.labels }) });
      await store.kv.set('trainUi', { maxSteps: maxSteps(), snapshotEvery: snapshotEvery(), evalEachEpoch: $('#opt-eval-epoch').checked });
      T.session = { fingerprint, generation: app.engine.generation, summary };
      return summary;
    } finally {
      done();
      if (T.status === 'preparing') T.status = T.snapshotStep !== null ? 'paused' : 'idle';
      render();
    }
  }

  /** Why the saved training cannot continue with the current dataset and model ('' when it can). */
  function incompatibility() {
    const r = T.record;
    if (!r) return 'without a record of its classes';
    if (app.state.model && r.baseModel !== app.state.model.name) return `from ${r.baseModel}, not ${app.state.model.name}`;
    if (!sameList(r.classNames, app.state.dataset.classes)) return `for the classes ${r.classNames.join(', ')}, and the dataset now has ${app.state.dataset.classes.join(', ')}`;
    return '';
  }

  // ---------------------------------------------------------------- loop

  async function start() {
    if (T.status === 'running' || T.status === 'preparing') return;
    stopRequested = false;
    try {
      await ensureSession();
    } catch (e) {
      T.status = 'error';
      render();
      if (!e.fatal) app.notify({ level: 'error', id: 'train', title: 'Fine-tuning could not start', text: `${e.message}.${/memory|alloc/i.test(e.message) ? ' Try a smaller max size or batch size.' : ''}` });
      app.emit('train-error', { message: e.message });
      return;
    }
    app.clearMessage('train');
    T.status = 'running';
    render();
    app.emit('training', { status: 'running', step: T.step });
    loopPromise = runLoop();
    await loopPromise;
  }

  async function runLoop() {
    const busy = app.busy('fine-tuning');
    const stamps = [];
    const limit = maxSteps();
    try {
      while (!stopRequested) {
        if (limit && T.step >= limit) {
          app.notify({ level: 'success', id: 'train-done', title: 'Fine-tuning reached its step limit', text: `${T.step} steps. Raise “Stop after steps” (or set 0) to continue.` });
          break;
        }
        const m = await app.engine.call('trainStep');
        m.step += T.offset.step;
        m.epoch += T.offset.epoch;
        T.step = m.step + 1;
        T.epoch = m.epoch + (m.epochDone ? 1 : 0);
        T.lastLoss = m.loss;
        stamps.push(performance.now());
        if (stamps.length > 11) stamps.shift();
        T.stepsPerSecond = stamps.length > 1 ? ((stamps.length - 1) * 1000) / (stamps[stamps.length - 1] - stamps[0]) : 1000 / m.stepMs;
        const record = { ...m };
        delete record.epochDone;
        metrics.push(record);
        store.metrics.put(record).catch(() => {});
        chart.setData(metrics);
        render();
        app.emit('step', { step: m.step, loss: m.loss, epochDone: m.epochDone });
        if (!Number.isFinite(m.loss)) {
          app.notify({ level: 'error', id: 'train', title: 'The loss is not a number', text: 'Training diverged: pause, lower the learning rate, and start again from the last snapshot (Discard training starts over).' });
          break;
        }
        if (m.epochDone && $('#opt-eval-epoch').checked && app.state.dataset.images.some((r) => r.split === 'val')) await evaluate();
        if (m.epochDone || T.step % snapshotEvery() === 0) await snapshot(m.epochDone ? 'epoch' : 'periodic');
      }
      if (T.snapshotStep !== T.step) await snapshot('pause');
      T.status = 'paused';
    } catch (e) {
      T.status = 'error';
      if (!e.fatal) {
        app.notify({ level: 'error', id: 'train', title: 'A training step failed', text: `${e.message}.${/memory|alloc|buffer/i.test(e.message) ? ' This looks like running out of memory: lower the batch size or max size, then resume.' : ' Resume continues from the last snapshot.'}` });
      }
      app.emit('train-error', { message: e.message });
    } finally {
      busy();
      render();
      app.emit('training', { status: T.status, step: T.step });
      loopPromise = null;
    }
  }

  async function pause() {
    if (T.status !== 'running') return;
    stopRequested = true;
    T.status = 'pausing';
    render();
    await loopPromise;
  }

  async function evaluate() {
    const done = app.busy('validating');
    $('#t-ap').textContent = '…';
    try {
      await ensureSession();
      const valIds = app.state.dataset.images.filter((r) => r.split === 'val').map((r) => r.id);
      const { classes, confusion, confusionLabels, worst, predictions, ...m } = await app.engine.call('evaluate');
      const entry = { step: T.step, epoch: T.epoch, ...m };
      T.diag = { step: T.step, classes, confusion, confusionLabels, worst, predictions, valIds };
      fixing = null;
      renderDiag();
      T.evals.push(entry);
      await saveRecord({ evals: T.evals, diag: T.diag }); // the panel comes back after a reload
      render();
      app.emit('evaluated', entry);
      return entry;
    } catch (e) {
      if (!e.fatal) app.notify({ level: 'error', id: 'eval', title: 'Validation failed', text: e.message });
      render();
    } finally {
      done();
    }
  }

  /** The per-class table, the confusion matrix and the worst images of the last validation. */
  function renderDiag() {
    const d = T.diag;
    $('#val-diag').hidden = !d;
    if (!d) { fixing = null; T.fixing = null; return; }
    $('#diag-when').textContent = `(step ${d.step})`;
    const f = (v) => (v >= 0 ? v.toFixed(3) : '—');
    $('#diag-classes').replaceChildren(
      el('thead', {}, el('tr', {}, ['class', 'boxes', 'AP', 'AP50', 'AP75', 'recall50'].map((h) => el('th', { text: h })))),
      el('tbody', {}, d.classes.map((c) => el('tr', { dataset: { class: c.name } },
        el('td', { text: c.name }), el('td', { text: String(c.numGt) }),
        el('td', { class: 'ap', text: f(c.ap) }), el('td', { class: 'ap50', text: f(c.ap50) }),
        el('td', { class: 'ap75', text: f(c.ap75) }), el('td', { text: f(c.recall50) })))),
    );
    drawPrCurves($('#diag-pr'), d.classes);
    const n = d.confusionLabels.length;
    const counts = d.confusion.counts;
    const colTotal = d.confusionLabels.map((_, c) => d.confusionLabels.reduce((s, _r, r) => s + counts[r * n + c], 0));
    $('#diag-confusion').replaceChildren(
      el('thead', {}, el('tr', {}, el('th', { text: 'pred \\ true' }), d.confusionLabels.map((l) => el('th', { text: l })))),
      el('tbody', {}, d.confusionLabels.map((l, r) => el('tr', {}, el('th', { text: l }),
        d.confusionLabels.map((_, c) => {
          const v = counts[r * n + c];
          const a = colTotal[c] ? v / colTotal[c] : 0;
          return el('td', { class: r === c ? 'diag' : '', style: `background: rgba(40, 90, 200, ${(a * 0.8).toFixed(3)}); color: ${a > 0.5 ? '#fff' : ''}`, text: v ? String(v) : '' });
        })))),
    );
    const records = d.valIds.map((id) => app.state.dataset.images.find((r) => r.id === id));
    $('#diag-worst').replaceChildren(...d.worst.slice(0, 10).map((w) => {
      const r = records[w.imageId];
      const name = r ? r.name : `validation image ${w.imageId + 1}`;
      return el('li', {}, el('button', {
        type: 'button', class: 'btn ghost small', disabled: !r, dataset: { id: r?.id ?? '' },
        title: 'Open in the label editor, with the model’s detections at this validation drawn over the labels',
        onclick: () => { if (r) openWorst(r, w); },
      }, name), ` ${errorText(w)} (${w.numGt} boxes, ${w.numDet} detections)`);
    }));
    if (!d.worst.length) $('#diag-worst').append(el('li', { class: 'muted', text: 'no errors at score ≥ 0.25, IoU ≥ 0.5' }));
    renderFix();
  }

  // ---------------------------------------------------------------- fixing a worst image

  /** The worst image open in the editor with its validation detections: {id, name, at, now, preds}. */
  let fixing = null;

  /** Opens a worst validation image in the editor with the detections it was judged by, and recounts. */
  async function openWorst(r, w) {
    const preds = T.diag?.predictions?.find((p) => p.imageId === w.imageId) ?? null;
    const labels = T.record?.labels || [];
    const s = preds ? r.width / preds.width : 1;
    const boxes = preds?.detections.map((p) => ({ x0: p.bbox[0] * s, y0: p.bbox[1] * s, x1: p.bbox[2] * s, y1: p.bbox[3] * s, cls: labels[p.label] ?? String(p.label), score: p.score }));
    fixing = { id: r.id, name: r.name, at: w, now: null, preds };
    await app.dataset.open(r.id, { predictions: boxes ?? [] });
    $('#editor-name')?.scrollIntoView({ block: 'center' });
    await recount();
  }

  /** The open worst image's errors with its labels as they are now (the engine recounts; no new validation). */
  async function recount() {
    const r = fixing && app.state.dataset.images.find((x) => x.id === fixing.id);
    if (!r || !fixing.preds || !T.session) { renderFix(); return; }
    const s = fixing.preds.width / r.width;
    const classes = T.record?.classNames || [];
    const boxes = r.boxes.filter((b) => classes.includes(b.cls) && b.x1 > b.x0 && b.y1 > b.y0)
      .map((b) => ({ x0: b.x0 * s, y0: b.y0 * s, x1: b.x1 * s, y1: b.y1 * s, label: classes.indexOf(b.cls) }));
    const current = fixing;
    try {
      const now = await app.engine.call('imageErrors', { boxes, detections: current.preds.detections });
      if (fixing === current) fixing.now = now;
    } catch (e) {
      if (e.fatal) return;
      if (fixing === current) fixing.now = { error: e.message };
    }
    renderFix();
  }

  function renderFix() {
    const f = fixing;
    T.fixing = f && { id: f.id, name: f.name, at: f.at, now: f.now, shown: f.preds?.detections.length ?? 0 };
    const line = $('#diag-fix');
    line.hidden = !f;
    if (!f) return;
    const now = !f.preds ? 'no detections were kept for it (validate again)' : !T.session ? 'the recount needs the fine-tuning session (Validate now)' : f.now?.error ? `the recount failed: ${f.now.error}` : f.now ? `with your labels now: ${errorText(f.now)} (${f.now.numGt} boxes)` : '…';
    line.textContent = `${f.name} in the editor, the model’s detections dotted in white — at validation: ${errorText(f.at)}; ${now}`;
  }

  async function useForDetection() {
    const done = app.busy('switching to the fine-tuned model');
    try {
      if (T.status === 'running') await pause();
      await ensureSession();
      const labels = await app.engine.call('useTrainedModel');
      await app.setTrainedModel(labels, T.step);
      app.notify({ level: 'success', id: 'use-trained', title: 'Detecting with the fine-tuned model', text: `Step ${T.step}; classes: ${labels.join(', ')}. “Back to the base model” in the model panel switches back.` });
      app.selectTab('detect');
    } catch (e) {
      if (!e.fatal) app.notify({ level: 'error', id: 'use-trained', title: 'The fine-tuned model could not be used', text: e.message });
    } finally {
      done();
    }
  }

  /** After a reload or a restart: rebuild the session from the snapshot and detect with it again. */
  async function reapplyTrained() {
    try {
      if (!(await store.kv.get('snapshot'))) return;
      T.session = null;
      await ensureSession({ forDetection: true });
      const labels = await app.engine.call('useTrainedModel');
      await app.setTrainedModel(labels, T.step);
    } catch (e) {
      if (!e.fatal) app.notify({ level: 'warn', id: 'reapply', title: 'Detecting with the base model', text: `The fine-tuned model could not be restored: ${e.message}. Resume or restart fine-tuning to get it back.` });
    }
  }

  async function exportModel() {
    const done = app.busy('exporting');
    try {
      if (T.status === 'running') await pause();
      await ensureSession();
      const out = await app.engine.call('exportModel');
      const wBlob = new Blob([out.safetensors], { type: 'application/octet-stream' });
      const cBlob = new Blob([out.config], { type: 'application/json' });
      const links = $('#export-links');
      for (const a of links.querySelectorAll('a')) URL.revokeObjectURL(a.href);
      links.replaceChildren(
        el('span', { text: `Exported at step ${T.step}: ` }),
        el('a', { href: URL.createObjectURL(wBlob), download: 'model.safetensors', id: 'export-weights', text: `model.safetensors (${fmtBytes(wBlob.size)})` }),
        ' · ',
        el('a', { href: URL.createObjectURL(cBlob), download: 'config.json', id: 'export-config', text: 'config.json' }),
        el('span', { class: 'muted', text: ' — loads with transformers’ ConditionalDetrForObjectDetection, cdetr detect, or this page.' }));
      links.hidden = false;
      download(wBlob, 'model.safetensors');
      await sleep(400);
      download(cBlob, 'config.json');
      app.emit('exported', { bytes: wBlob.size, step: T.step });
    } catch (e) {
      if (!e.fatal) app.notify({ level: 'error', id: 'export', title: 'Export failed', text: e.message });
    } finally {
      done();
    }
  }

  async function reset() {
    if (!confirm('Discard the fine-tuning progress (snapshots, loss history, validation results)? The dataset stays.')) return;
    if (T.status === 'running') await pause();
    await store.kv.del('snapshot');
    await store.kv.del('training');
    await store.metrics.clear();
    Object.assign(T, { status: 'idle', step: 0, epoch: 0, record: null, snapshotStep: null, session: null, evals: [], diag: null, stepsPerSecond: null, lastLoss: null, offset: { step: 0, epoch: 0 }, resumedFrom: null });
    metrics = [];
    chart.setData(metrics);
    $('#t-snapshot').textContent = '';
    if (app.state.model?.trained) await app.reloadBaseModel();
    render();
  }

  // ---------------------------------------------------------------- comparison

  function setComparison(run) {
    comparison = run;
    T.comparison = run && { name: run.name, steps: run.steps, points: run.metrics.length, evals: run.evals.length };
    chart.setComparison(run);
  }

  /** Keeps this run's curves (kv 'comparison'), replacing an earlier comparison. */
  async function keepForComparison() {
    const run = comparisonOf({ model: T.record?.baseModel || app.state.model?.name || 'model', architecture: T.record?.architecture || '', metrics, evals: T.evals });
    if (!run) return;
    try {
      await store.kv.set('comparison', run);
    } catch (e) {
      app.notify({ level: 'error', id: 'compare', title: 'The run could not be kept', text: e.message });
      return;
    }
    setComparison(run);
    render();
    app.notify({ level: 'success', id: 'compare', title: 'Run kept for comparison', text: `${run.name}: its curves stay, dashed, under the next runs (also after Discard training, another model or a reload).` });
  }

  async function clearComparison() {
    await store.kv.del('comparison');
    setComparison(null);
    render();
  }

  // ---------------------------------------------------------------- rendering

  function render() {
    const running = T.status === 'running' || T.status === 'pausing' || T.status === 'preparing';
    const hasSnap = T.snapshotStep !== null;
    ui.start.disabled = running || !app.state.model;
    const blocked = hasSnap && T.status !== 'running' && incompatibility();
    ui.start.textContent = !hasSnap || T.status === 'running' ? 'Start fine-tuning' : blocked ? 'Start over (classes or model changed)' : `Resume fine-tuning (step ${T.snapshotStep})`;
    ui.start.title = blocked ? `The saved training (step ${T.snapshotStep}) was ${blocked}; starting replaces it.` : '';
    ui.pause.disabled = T.status !== 'running';
    ui.pause.textContent = T.status === 'pausing' ? 'Pausing…' : 'Pause';
    ui.evaluate.disabled = running || !(hasSnap || T.session) || !app.state.dataset.images.some((r) => r.split === 'val');
    ui.use.disabled = running || !(hasSnap || T.session);
    ui.export.disabled = running || !(hasSnap || T.session);
    ui.reset.disabled = running || !(hasSnap || T.session || metrics.length);
    ui.keep.disabled = running || !metrics.length;
    ui.compareClear.hidden = !comparison;
    $('#compare-note').textContent = comparison ? `dashed: ${comparison.name}${comparison.keptAt ? `, kept ${new Date(comparison.keptAt).toLocaleString()}` : ''}` : '';
    const labels = { idle: 'not started', preparing: 'preparing the data…', running: 'running', pausing: 'pausing after this step…', paused: hasSnap ? `paused — saved at step ${T.snapshotStep}` : 'paused', error: 'stopped by an error' };
    ui.status.textContent = labels[T.status] || T.status;
    ui.status.dataset.state = T.status;
    $('#t-step').textContent = String(T.step);
    $('#t-epoch').textContent = String(T.epoch);
    $('#t-loss').textContent = T.lastLoss !== null ? T.lastLoss.toFixed(3) : metrics.length ? metrics[metrics.length - 1].loss.toFixed(3) : '—';
    $('#t-rate').textContent = T.stepsPerSecond ? T.stepsPerSecond.toFixed(2) : '—';
    const last = T.evals[T.evals.length - 1];
    $('#t-ap').textContent = last ? fmtAp(last.ap) : '—';
    $('#t-ap50').textContent = last ? fmtAp(last.ap50) : '—';
    $('#t-ap').title = T.evals.map((e) => `step ${e.step}: AP ${fmtAp(e.ap)}, AP50 ${fmtAp(e.ap50)}`).join('\n');
    if (hasSnap && !$('#t-snapshot').textContent) $('#t-snapshot').textContent = `snapshot at step ${T.snapshotStep}`;
    const r = T.record;
    $('#train-note').textContent = r?.labels
      ? `${r.newHead ? `A new classification head for ${r.labels.length} classes (${r.labels.join(', ')}); the rest starts from ${r.baseModel}.` : `The head of ${r.baseModel} is kept (${r.labels.length} classes).`}${T.resumedFrom === 'weights' ? ' Resumed from saved weights with a fresh optimizer.' : T.resumedFrom === 'full' ? ' Resumed with the saved optimizer state.' : ''}${r.fastMode ? ` Fast mode: the backbone is frozen and runs once per image on the first step; it ${r.fastMode}.` : ''}`
      : '';
    chart.setData(metrics);
    apChart.setRuns(T.evals, comparison?.evals ?? []);
    T.drawn = { loss: { ...chart.drawn }, ap: { ...apChart.drawn } };
  }

  ui.start.addEventListener('click', () => start());
  ui.pause.addEventListener('click', () => pause());
  ui.evaluate.addEventListener('click', () => evaluate());
  ui.use.addEventListener('click', () => useForDetection());
  ui.export.addEventListener('click', () => exportModel());
  ui.reset.addEventListener('click', () => reset());
  ui.keep.addEventListener('click', () => keepForComparison());
  ui.compareClear.addEventListener('click', () => clearComparison());
  app.on('model', render);
  app.on('dataset', () => {
    render();
    if (fixing) recount();
    // The worker trains on the images it was given at the start.
    if (T.status === 'running' || T.status === 'preparing') {
      app.notify({ level: 'info', id: 'dataset-while-training', title: 'Dataset changed during fine-tuning', text: 'The running fine-tuning keeps the images it started with; pause and resume to train on the changed dataset.' });
    }
  });
  app.on('restarted', () => {
    T.session = null;
    if (T.status === 'running' || T.status === 'pausing' || T.status === 'preparing') T.status = 'paused';
    render();
  });

  return {
    load,
    start,
    pause,
    evaluate,
    exportModel,
    reapplyTrained,
    invalidateSession: () => { T.session = null; },
    /** The fine-tuning options on the form (the training benchmark uses them too). */
    options,
    get metrics() { return metrics; },
  };
}

function sameList(a, b) {
  return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]);
}

function errorText(e) {
  return `missed ${e.missed}, false ${e.falsePositives}, confused ${e.confused}`;
}

function fmtAp(v) {
  return v < 0 ? 'n/a' : (v * 100).toFixed(1);
}
