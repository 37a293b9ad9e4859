// Benchmark mode: per-frame latency and FPS on one fixed image at a chosen input size, where the time
// goes (one profiled frame: each backbone stage and the transformer), and training steps per second.
// Results are shown in the table and exposed as `cdetrApp.bench` ({detect, train}).
// `?bench` runs the detection benchmark once a model is ready (`&frames=N&size=S` override the
// selects, `&warmup=W` the 2 warm-up frames, `&trainSteps=K` also runs the training benchmark,
// `&maxSize=M&batch=B&fast=0|1` set its options).

import { $, el, fmtMs, mean, median, percentile, sleep } from './util.js';

export function initBench(app) {
  const B = (app.state.bench = { running: false, detect: null, train: null, history: [] });
  const progress = $('#bench-progress');
  const table = $('#bench-table');

  /** A generated, deterministic test card (used when no frame is on screen). */
  function testCard(w = 640, h = 480) {
    const c = new OffscreenCanvas(w, h);
    const g = c.getContext('2d', { willReadFrequently: true });
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

  function addRow(cells) {
    table.hidden = false;
    table.tBodies[0].prepend(el('tr', {}, cells.map((c) => el('td', { text: c }))));
  }

  async function runDetect({ frames = +$('#bench-frames').value, size = +$('#bench-size').value, warmup = 2 } = {}) {
    if (B.running) return null;
    if (!app.state.model) {
      app.notify({ level: 'error', id: 'bench', title: 'No model', text: 'Load a model before benchmarking.' });
      return null;
    }
    B.running = true;
    const done = app.busy('benchmarking detection');
    const wasLive = app.state.detect.source === 'camera' && !app.state.detect.paused;
    try {
      if (wasLive) await app.detect.pause();
      const image = app.detect.currentFrame() || testCard();
      const opts = { threshold: 0.5, topK: 100, shortestEdge: size, attention: false };
      const rows = [];
      for (let i = 0; i < warmup + frames; i++) {
        progress.textContent = i < warmup ? `warming up (${i + 1}/${warmup})…` : `frame ${i - warmup + 1} of ${frames}…`;
        const rgba = image.rgba.slice().buffer;
        const t0 = performance.now();
        const r = await app.engine.call('detect', { frameId: -1, rgba, width: image.width, height: image.height, options: opts });
        const total = performance.now() - t0;
        if (i >= warmup) rows.push({ total, pre: r.preprocessMs, net: r.networkMs, post: r.postprocessMs, input: `${r.inputWidth}×${r.inputHeight}` });
        await sleep(0);
      }
      // One more frame, synchronised after each part, says where the time goes (not in the timings above).
      progress.textContent = 'profiling one frame…';
      const rgba = image.rgba.slice().buffer;
      const profiled = await app.engine.call('detect', { frameId: -1, rgba, width: image.width, height: image.height, options: { ...opts, profile: true } });
      const profile = (profiled.profile || []).map(({ name, ms }) => ({ name, ms }));
      const totals = rows.map((r) => r.total);
      const result = {
        kind: 'detect', backend: app.state.engine.backend, model: app.state.model.name, image: `${image.name} ${image.width}×${image.height}`,
        shortestEdge: size, input: rows[0].input, frames,
        meanMs: mean(totals), medianMs: median(totals), p90Ms: percentile(totals, 0.9), minMs: Math.min(...totals), maxMs: Math.max(...totals),
        preMs: mean(rows.map((r) => r.pre)), netMs: mean(rows.map((r) => r.net)), postMs: mean(rows.map((r) => r.post)),
        fps: 1000 / mean(totals), perFrameMs: totals, profile,
      };
      B.detect = result;
      B.history.push(result);
      addRow(['detection', result.backend, `${result.input} (${size})`, String(frames), fmtMs(result.meanMs), fmtMs(result.medianMs), fmtMs(result.p90Ms),
        `${fmtMs(result.preMs)} · ${fmtMs(result.netMs)} · ${fmtMs(result.postMs)}`, `${result.fps.toFixed(2)} FPS`]);
      if (profile.length) addRow(['profile (1 frame)', result.backend, result.input, '1', fmtMs(profile.reduce((a, p) => a + p.ms, 0)), '', '', profile.map((p) => `${p.name} ${fmtMs(p.ms)}`).join(' · '), '']);
      progress.textContent = `done: ${result.fps.toFixed(2)} FPS, ${fmtMs(result.meanMs)} per frame (mean of ${frames}) on ${result.backend === 'webgpu' ? 'WebGPU' : 'the CPU'}.`;
      app.emit('bench', result);
      return result;
    } catch (e) {
      progress.textContent = '';
      if (!e.fatal) app.notify({ level: 'error', id: 'bench', title: 'The benchmark failed', text: e.message });
      return null;
    } finally {
      B.running = false;
      done();
      if (wasLive) app.detect.resume();
    }
  }

  /** Generated shapes dataset (when the user has no labelled images). */
  function shapesDataset() {
    const train = [];
    for (let i = 0; i < 4; i++) {
      const w = 320, h = 240;
      const c = new OffscreenCanvas(w, h);
      const g = c.getContext('2d', { willReadFrequently: true });
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
      const rgba = g.getImageData(0, 0, w, h).data.buffer;
      train.push({ rgba, width: w, height: h, boxes });
    }
    return { classNames: ['red', 'yellow'], train, val: [] };
  }

  async function runTrain({ steps = +$('#bench-steps').value } = {}) {
    if (B.running) return null;
    if (!app.state.model) {
      app.notify({ level: 'error', id: 'bench', title: 'No model', text: 'Load a model before benchmarking.' });
      return null;
    }
    if (['running', 'pausing', 'preparing'].includes(app.state.training.status)) {
      app.notify({ level: 'warn', id: 'bench', title: 'Fine-tuning is running', text: 'Pause it first: the benchmark uses the same engine.' });
      return null;
    }
    B.running = true;
    const done = app.busy('benchmarking training');
    try {
      const opts = app.training.options();
      const hasBoxes = app.state.dataset.images.some((r) => r.split !== 'val' && r.boxes.length);
      const dataset = hasBoxes ? await app.dataset.payload(Math.round(opts.maxSize * 1.25)) : shapesDataset();
      progress.textContent = 'preparing the training session…';
      app.training.invalidateSession(); // the worker's session is replaced; real training rebuilds it from its snapshot
      await app.engine.call('startTraining', { dataset: { ...dataset, val: [] }, options: opts });
      const times = [];
      for (let i = 0; i <= steps; i++) {
        progress.textContent = i === 0 ? 'warm-up step…' : `step ${i} of ${steps}…`;
        const t0 = performance.now();
        await app.engine.call('trainStep');
        if (i > 0) times.push(performance.now() - t0);
      }
      const result = {
        kind: 'train', backend: app.state.engine.backend, model: app.state.model.name, data: hasBoxes ? 'your dataset' : 'generated shapes', fastMode: opts.fastMode,
        batchSize: opts.batchSize, maxSize: opts.maxSize, steps, meanMs: mean(times), medianMs: median(times), p90Ms: percentile(times, 0.9),
        stepsPerSecond: 1000 / mean(times), imagesPerSecond: (1000 * opts.batchSize) / mean(times), perStepMs: times,
      };
      B.train = result;
      B.history.push(result);
      addRow(['training', result.backend, `max ${opts.maxSize}, batch ${opts.batchSize}`, String(steps), fmtMs(result.meanMs), fmtMs(result.medianMs), fmtMs(result.p90Ms), '—',
        `${result.stepsPerSecond.toFixed(3)} steps/s`]);
      progress.textContent = `done: ${result.stepsPerSecond.toFixed(3)} steps/s (${result.imagesPerSecond.toFixed(2)} images/s) on ${result.data}.`;
      app.emit('bench', result);
      return result;
    } catch (e) {
      progress.textContent = '';
      if (!e.fatal) app.notify({ level: 'error', id: 'bench', title: 'The training benchmark failed', text: e.message });
      return null;
    } finally {
      B.running = false;
      done();
    }
  }

  async function auto() {
    const p = app.params;
    if (p.get('frames')) $('#bench-frames').replaceChildren(el('option', { text: p.get('frames') }));
    if (p.get('size')) $('#bench-size').value = p.get('size');
    // The training benchmark uses the fine-tuning options; these override them for this visit.
    if (p.get('maxSize')) $('#opt-max-size').value = p.get('maxSize');
    if (p.get('batch')) $('#opt-batch').value = p.get('batch');
    if (p.get('fast')) $('#opt-fast').checked = p.get('fast') === '1';
    app.selectTab('bench');
    if (!app.state.model) {
      progress.textContent = 'waiting for a model…';
      await new Promise((resolve) => app.addEventListener('model', resolve, { once: true }));
    }
    await runDetect(p.get('warmup') ? { warmup: Math.max(0, +p.get('warmup')) } : {});
    if (p.get('trainSteps')) await runTrain({ steps: +p.get('trainSteps') });
    app.emit('bench-done', { detect: B.detect, train: B.train });
  }

  $('#bench-run').addEventListener('click', () => runDetect());
  $('#bench-train').addEventListener('click', () => runTrain());
  return { runDetect, runTrain, auto };
}
