// @ts-check
// Benchmark mode: per-frame latency and FPS on one fixed image at a chosen input size, where the time
// goes (one profiled frame: each backbone stage, the encoder, the decoder with the heads), and training
// steps per second.
// Results are shown in the table and exposed as `cdetrApp.bench` ({detect, train}).
// `?bench` runs the detection benchmark once a model is ready (`&frames=N&size=S` override the
// selects, `&warmup=W` the 2 warm-up frames, `&trainSteps=K` also runs the training benchmark,
// `&maxSize=M&batch=B&fast=0|1` set its options).

import { $, el, fmtMs, mean, median, percentile, sleep } from './util.js';

/**
 * @typedef {object} BenchDeps what the Benchmark tab uses
 * @property {Pick<import('./engine-host.js').EngineHost, 'call' | 'state'>} engine
 * @property {Pick<import('./model-loader.js').ModelLoader, 'current'>} models
 * @property {Pick<import('./detect.js').DetectTab, 'isLive' | 'pause' | 'resume' | 'currentFrame'>} detect
 * @property {Pick<import('./dataset.js').DatasetTab, 'state' | 'payload'>} dataset
 * @property {Pick<import('./train.js').TrainingTab, 'options' | 'invalidateSession' | 'isActive'>} training
 * @property {import('./message-centre.js').Notify} notify
 * @property {import('./busy.js').Busy} busy
 * @property {import('./events.js').EventBus} events
 * @property {URLSearchParams} params the `?bench` options
 * @property {import('./tabs.js').SelectTab} selectTab
 */

/** @typedef {{running: boolean, detect: Record<string, any> | null, train: Record<string, any> | null, history: Record<string, any>[]}} BenchState `cdetrApp.state.bench` */
/** @typedef {{rgba: Uint8ClampedArray, width: number, height: number, name?: string}} BenchImage */

/** @param {BenchDeps} deps */
export function initBench(deps) {
  const tab = new BenchTab(deps);
  tab.wire();
  return tab;
}

export class BenchTab {
  /** @param {BenchDeps} deps */
  constructor(deps) {
    this.deps = deps;
    /** @type {BenchState} */
    this.state = { running: false, detect: null, train: null, history: [] };
    this.progress = $('#bench-progress');
    this.table = /** @type {HTMLTableElement} */ ($('#bench-table'));
  }

  /** @param {string[]} cells */
  addRow(cells) {
    this.table.hidden = false;
    this.table.tBodies[0].prepend(el('tr', {}, cells.map((c) => el('td', { text: c }))));
  }

  /** Whether a benchmark can start now (a model, no other benchmark); says why not. */
  canRun() {
    if (this.state.running) return false;
    if (!this.deps.models.current) {
      this.deps.notify({ level: 'error', id: 'bench', title: 'No model', text: 'Load a model before benchmarking.' });
      return false;
    }
    return true;
  }

  /** @param {{frames?: number, size?: number, warmup?: number}} [options] */
  async runDetect({ frames = +/** @type {HTMLSelectElement} */ ($('#bench-frames')).value, size = +/** @type {HTMLSelectElement} */ ($('#bench-size')).value, warmup = 2 } = {}) {
    const { detect, notify, busy, events } = this.deps;
    if (!this.canRun()) return null;
    this.state.running = true;
    const done = busy('benchmarking detection');
    const wasLive = detect.isLive();
    try {
      if (wasLive) await detect.pause();
      const image = detect.currentFrame() || testCard();
      const opts = { threshold: 0.5, topK: 100, shortestEdge: size, attention: false };
      const rows = await this.timeFrames(image, opts, frames, warmup);
      // One more frame, synchronised after each part, says where the time goes (not in the timings above).
      this.progress.textContent = 'profiling one frame…';
      const profiled = await this.detectOnce(image, { ...opts, profile: true });
      const profile = (profiled.profile || []).map(({ name, ms }) => ({ name, ms }));
      const result = this.detectResult(image, rows, size, frames, profile);
      this.showDetectResult(result, size, frames, profile);
      events.emit('bench', result);
      return result;
    } catch (/** @type {any} */ e) {
      this.progress.textContent = '';
      if (!e.fatal) notify({ level: 'error', id: 'bench', title: 'The benchmark failed', text: e.message });
      return null;
    } finally {
      this.state.running = false;
      done();
      if (wasLive) detect.resume();
    }
  }

  /** @param {BenchImage} image @param {import('./protocol.js').DetectOptions} options */
  detectOnce(image, options) {
    const rgba = /** @type {ArrayBuffer} */ (image.rgba.slice().buffer);
    return this.deps.engine.call('detect', { frameId: -1, rgba, width: image.width, height: image.height, options });
  }

  /**
   * Times `frames` detections of one image after `warmup` untimed ones.
   * @param {BenchImage} image @param {import('./protocol.js').DetectOptions} opts @param {number} frames @param {number} warmup
   */
  async timeFrames(image, opts, frames, warmup) {
    const rows = [];
    for (let i = 0; i < warmup + frames; i++) {
      this.progress.textContent = i < warmup ? `warming up (${i + 1}/${warmup})…` : `frame ${i - warmup + 1} of ${frames}…`;
      const t0 = performance.now();
      const r = await this.detectOnce(image, opts);
      const total = performance.now() - t0;
      if (i >= warmup) rows.push({ total, pre: r.preprocessMs, net: r.networkMs, post: r.postprocessMs, input: `${r.inputWidth}×${r.inputHeight}` });
      await sleep(0);
    }
    return rows;
  }

  /**
   * @param {BenchImage} image @param {{total: number, pre: number, net: number, post: number, input: string}[]} rows
   * @param {number} size @param {number} frames @param {{name: string, ms: number}[]} profile
   */
  detectResult(image, rows, size, frames, profile) {
    const totals = rows.map((r) => r.total);
    return {
      kind: 'detect', backend: this.deps.engine.state.backend, model: this.deps.models.current?.name, image: `${image.name} ${image.width}×${image.height}`,
      shortestEdge: size, input: rows[0].input, frames,
      meanMs: mean(totals), medianMs: median(totals), p90Ms: percentile(totals, 0.9), minMs: Math.min(...totals), maxMs: Math.max(...totals),
      preMs: mean(rows.map((r) => r.pre)), netMs: mean(rows.map((r) => r.net)), postMs: mean(rows.map((r) => r.post)),
      fps: 1000 / mean(totals), perFrameMs: totals, profile,
    };
  }

  /** @param {ReturnType<BenchTab['detectResult']>} result @param {number} size @param {number} frames @param {{name: string, ms: number}[]} profile */
  showDetectResult(result, size, frames, profile) {
    this.state.detect = result;
    this.state.history.push(result);
    this.addRow(['detection', String(result.backend), `${result.input} (${size})`, String(frames), fmtMs(result.meanMs), fmtMs(result.medianMs), fmtMs(result.p90Ms),
      `${fmtMs(result.preMs)} · ${fmtMs(result.netMs)} · ${fmtMs(result.postMs)}`, `${result.fps.toFixed(2)} FPS`]);
    if (profile.length) this.addRow(['profile (1 frame)', String(result.backend), result.input, '1', fmtMs(profile.reduce((a, p) => a + p.ms, 0)), '', '', profile.map((p) => `${p.name} ${fmtMs(p.ms)}`).join(' · '), '']);
    this.progress.textContent = `done: ${result.fps.toFixed(2)} FPS, ${fmtMs(result.meanMs)} per frame (mean of ${frames}) on ${result.backend === 'webgpu' ? 'WebGPU' : 'the CPU'}.`;
  }

  /** @param {{steps?: number}} [options] */
  async runTrain({ steps = +/** @type {HTMLSelectElement} */ ($('#bench-steps')).value } = {}) {
    const { engine, training, dataset, notify, busy, events } = this.deps;
    if (!this.canRun()) return null;
    if (training.isActive()) {
      notify({ level: 'warn', id: 'bench', title: 'Fine-tuning is running', text: 'Pause it first: the benchmark uses the same engine.' });
      return null;
    }
    this.state.running = true;
    const done = busy('benchmarking training');
    try {
      const opts = training.options();
      const hasBoxes = dataset.state.images.some((r) => r.split !== 'val' && r.boxes.length);
      const data = hasBoxes ? await dataset.payload(Math.round(opts.maxSize * 1.25)) : shapesDataset();
      this.progress.textContent = 'preparing the training session…';
      training.invalidateSession(); // the worker's session is replaced; real training rebuilds it from its snapshot
      await engine.call('startTraining', { dataset: { ...data, val: [] }, options: opts });
      const times = await this.timeSteps(steps);
      const result = {
        kind: 'train', backend: engine.state.backend, model: this.deps.models.current?.name, data: hasBoxes ? 'your dataset' : 'generated shapes', fastMode: opts.fastMode,
        batchSize: opts.batchSize, maxSize: opts.maxSize, steps, meanMs: mean(times), medianMs: median(times), p90Ms: percentile(times, 0.9),
        stepsPerSecond: 1000 / mean(times), imagesPerSecond: (1000 * opts.batchSize) / mean(times), perStepMs: times,
      };
      this.state.train = result;
      this.state.history.push(result);
      this.addRow(['training', String(result.backend), `max ${opts.maxSize}, batch ${opts.batchSize}`, String(steps), fmtMs(result.meanMs), fmtMs(result.medianMs), fmtMs(result.p90Ms), '—',
        `${result.stepsPerSecond.toFixed(3)} steps/s`]);
      this.progress.textContent = `done: ${result.stepsPerSecond.toFixed(3)} steps/s (${result.imagesPerSecond.toFixed(2)} images/s) on ${result.data}.`;
      events.emit('bench', result);
      return result;
    } catch (/** @type {any} */ e) {
      this.progress.textContent = '';
      if (!e.fatal) notify({ level: 'error', id: 'bench', title: 'The training benchmark failed', text: e.message });
      return null;
    } finally {
      this.state.running = false;
      done();
    }
  }

  /** Times `steps` training steps after one warm-up step. @param {number} steps */
  async timeSteps(steps) {
    const times = [];
    for (let i = 0; i <= steps; i++) {
      this.progress.textContent = i === 0 ? 'warm-up step…' : `step ${i} of ${steps}…`;
      const t0 = performance.now();
      await this.deps.engine.call('trainStep');
      if (i > 0) times.push(performance.now() - t0);
    }
    return times;
  }

  /** The `?bench` run: its options from the address, then the benchmarks once a model is loaded. */
  async auto() {
    const { params: p, models, events, selectTab } = this.deps;
    const input = (/** @type {string} */ sel) => /** @type {HTMLInputElement} */ ($(sel));
    if (p.get('frames')) $('#bench-frames').replaceChildren(el('option', { text: p.get('frames') }));
    if (p.get('size')) input('#bench-size').value = /** @type {string} */ (p.get('size'));
    // The training benchmark uses the fine-tuning options; these override them for this visit.
    if (p.get('maxSize')) input('#opt-max-size').value = /** @type {string} */ (p.get('maxSize'));
    if (p.get('batch')) input('#opt-batch').value = /** @type {string} */ (p.get('batch'));
    if (p.get('fast')) input('#opt-fast').checked = p.get('fast') === '1';
    selectTab('bench');
    if (!models.current) {
      this.progress.textContent = 'waiting for a model…';
      await events.next('model');
    }
    await this.runDetect(p.get('warmup') ? { warmup: Math.max(0, +/** @type {string} */ (p.get('warmup'))) } : {});
    if (p.get('trainSteps')) await this.runTrain({ steps: +/** @type {string} */ (p.get('trainSteps')) });
    events.emit('bench-done', { detect: this.state.detect, train: this.state.train });
  }

  wire() {
    $('#bench-run').addEventListener('click', () => this.runDetect());
    $('#bench-train').addEventListener('click', () => this.runTrain());
  }
}

/** A generated, deterministic test card (used when no frame is on screen). */
function testCard(w = 640, h = 480) {
  const c = new OffscreenCanvas(w, h);
  const g = /** @type {OffscreenCanvasRenderingContext2D} */ (c.getContext('2d', { willReadFrequently: true }));
  const grad = g.createLinearGradient(0, 0, w, h);
  grad.addColorStop(0, '#2d4a6b');
  grad.addColorStop(1, '#c9a66b');
  g.fillStyle = grad;
  g.fillRect(0, 0, w, h);
  const colors = ['#e63946', '#f1faee', '#a8dadc', '#457b9d', '#ffb703', '#2a9d8f'];
  for (let i = 0; i < 12; i++) {
    g.fillStyle = colors[i % colors.length];
    const x = ((i * 97) % 11) / 11 * w, y = ((i * 53) % 7) / 7 * h;
    if (i % 2) g.fillRect(x, y, w / 8 + (i * 7) % 40, h / 6);
    else { g.beginPath(); g.arc(x + 30, y + 30, 25 + (i * 5) % 30, 0, 7); g.fill(); }
  }
  return { rgba: g.getImageData(0, 0, w, h).data, width: w, height: h, name: 'test card' };
}

/** Generated shapes dataset (when the user has no labelled images). @returns {import('./protocol.js').TrainingData} */
function shapesDataset() {
  const train = [];
  for (let i = 0; i < 4; i++) {
    const w = 320, h = 240;
    const c = new OffscreenCanvas(w, h);
    const g = /** @type {OffscreenCanvasRenderingContext2D} */ (c.getContext('2d', { willReadFrequently: true }));
    g.fillStyle = '#30343f';
    g.fillRect(0, 0, w, h);
    const boxes = [];
    for (let k = 0; k <= i % 3; k++) {
      const x0 = 20 + ((i * 71 + k * 113) % 200), y0 = 20 + ((i * 37 + k * 59) % 140);
      const bw = 40 + ((i + k) * 13) % 60, bh = 30 + ((i * 3 + k) * 11) % 50;
      g.fillStyle = k % 2 ? '#ffb703' : '#e63946';
      g.fillRect(x0, y0, bw, bh);
      boxes.push({ x0, y0, x1: x0 + bw, y1: y0 + bh, label: k % 2 });
    }
    const rgba = /** @type {ArrayBuffer} */ (g.getImageData(0, 0, w, h).data.buffer);
    train.push({ rgba, width: w, height: h, boxes });
  }
  return { classNames: ['red', 'yellow'], train, val: [] };
}
