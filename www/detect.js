// @ts-check
// The Detect tab: webcam and still photos, the overlay, readouts, snapshots and the attention view.
//
// The viewer shows the analysed frame itself (not the live video) so the boxes and reference points
// always belong to the pixels under them; the live camera is a small preview in the corner.

import { $, el, decodeImage, onFileDrop, MODEL_FILE, rgbaOf, rgbaToPng, download, fmtMs, timestamp, sleep } from './util.js';
import { drawDetections, hitTest, labelColor } from './overlay.js';
import { renderAttention } from './attention.js';
import { filterDetections, parseClassFilter } from './filters.js';
import { nextFps } from './fps.js';

/** @typedef {import('./protocol.js').Detection} Detection */
/** @typedef {import('./protocol.js').DetectResult} DetectResult */
/** @typedef {DetectResult & {roundTripMs: number, shown: Detection[]}} ShownResult a result on screen */
/** @typedef {{id?: number, rgba: Uint8ClampedArray, width: number, height: number, name: string}} Frame */

/**
 * @typedef {object} DetectDeps what the Detect tab uses
 * @property {Pick<import('./engine-host.js').EngineHost, 'call' | 'ready' | 'state'>} engine
 * @property {Pick<import('./model-loader.js').ModelLoader, 'current' | 'loadFiles'>} models
 * @property {import('./message-centre.js').Notify} notify
 * @property {import('./message-centre.js').ClearMessage} clearMessage
 * @property {import('./busy.js').Busy} busy
 * @property {import('./events.js').EventBus} events
 * @property {(blob: Blob, name: string, width: number, height: number, source: string) => Promise<void>} addToDataset
 */

/**
 * @typedef {object} DetectState `cdetrApp.state.detect`
 * @property {'none' | 'camera' | 'image' | 'frozen'} source
 * @property {boolean} paused
 * @property {Frame | null} frame
 * @property {ShownResult | null} result
 * @property {number | null} selected query of the inspected detection
 * @property {number | null} attentionFrameId the frame whose attention maps the engine holds
 * @property {number} fps
 * @property {object} [attention] the maps on screen
 */

/** @param {DetectDeps} deps */
export function initDetect(deps) {
  const tab = new DetectTab(deps);
  tab.wire();
  return tab;
}

export class DetectTab {
  /** @param {DetectDeps} deps */
  constructor(deps) {
    this.deps = deps;
    this.viewer = $('#viewer');
    this.frameCanvas = /** @type {HTMLCanvasElement} */ ($('#frame-canvas'));
    this.overlay = /** @type {HTMLCanvasElement} */ ($('#overlay-canvas'));
    this.video = /** @type {HTMLVideoElement} */ ($('#video'));
    this.attPanel = $('#attention-panel');
    const input = (/** @type {string} */ sel) => /** @type {HTMLInputElement} */ ($(sel));
    const button = (/** @type {string} */ sel) => /** @type {HTMLButtonElement} */ ($(sel));
    this.ui = {
      camera: button('#camera-btn'), pause: button('#pause-btn'), image: input('#image-file'),
      threshold: input('#threshold'), thresholdOut: $('#threshold-out'), topk: input('#topk'), size: input('#input-size'),
      filter: input('#class-filter'), refs: input('#show-refs'),
      snapAnnotated: button('#snap-annotated'), snapRaw: button('#snap-raw'), snapDataset: button('#snap-dataset'),
      list: $('#det-list'), empty: $('#det-empty'), count: $('#det-count'), badge: $('#viewer-badge'),
    };
    /** @type {DetectState} */
    this.state = { source: 'none', paused: false, frame: null, result: null, selected: null, attentionFrameId: null, fps: 0 };
    /** @type {MediaStream | null} */
    this.stream = null;
    /** @type {Promise<void> | null} the webcam loop */
    this.loop = null;
    /** @type {ImageBitmap | null} the open photo */
    this.still = null;
    this.frameSeq = 0;
    this.lastShown = 0;
    /** @type {Promise<void> | null} */
    this.rerun = null;
    this.rerunAgain = false;
    this.restoreSettings();
  }

  restoreSettings() {
    const { ui } = this;
    let restore = {};
    try {
      restore = JSON.parse(localStorage.getItem('cdetr.detect') || '{}') || {};
    } catch { /* unreadable saved settings: start from the defaults */ }
    if (restore.threshold !== undefined) ui.threshold.value = restore.threshold;
    if (restore.topk) ui.topk.value = restore.topk;
    if (restore.size) ui.size.value = restore.size;
    ui.thresholdOut.textContent = (+ui.threshold.value).toFixed(2);
  }

  saveSettings() {
    const { ui } = this;
    localStorage.setItem('cdetr.detect', JSON.stringify({ threshold: ui.threshold.value, topk: ui.topk.value, size: ui.size.value }));
  }

  /**
   * Detection options; the score threshold is applied here (so moving the slider needs no new run).
   * @param {boolean} attention
   */
  options(attention, size = +this.ui.size.value) {
    return { threshold: 0, topK: +this.ui.topk.value, shortestEdge: size, attention };
  }

  /**
   * Runs one frame through the engine; the frame's buffer travels to the worker and back.
   * @param {Frame} frame
   * @param {boolean} attention
   * @returns {Promise<DetectResult & {roundTripMs: number}>}
   */
  async detectFrame(frame, attention) {
    const id = ++this.frameSeq;
    const buffer = /** @type {ArrayBuffer} */ (frame.rgba.buffer);
    const t0 = performance.now();
    const result = /** @type {any} */ (await this.deps.engine.call('detect', { frameId: id, rgba: buffer, width: frame.width, height: frame.height, options: this.options(attention) }));
    result.roundTripMs = performance.now() - t0;
    frame.rgba = new Uint8ClampedArray(result.rgba);
    delete result.rgba;
    frame.id = id;
    if (attention) this.state.attentionFrameId = id;
    return result;
  }

  /** @param {Detection[]} dets */
  visible(dets) {
    return filterDetections(dets, { threshold: +this.ui.threshold.value, classes: parseClassFilter(this.ui.filter.value) });
  }

  /** Whether the webcam runs (not paused). */
  isLive() {
    return this.state.source === 'camera' && !this.state.paused;
  }

  /** The engine's attention maps belong to another frame now (proposals, a restart). */
  forgetAttention() {
    this.state.attentionFrameId = null;
  }

  /** The frame on screen as RGBA (a copy), for the benchmark. */
  currentFrame() {
    const f = this.state.frame;
    return f ? { rgba: f.rgba.slice(), width: f.width, height: f.height } : null;
  }

  // ------------------------------------------------------------ display

  layout() {
    const { viewer } = this;
    const frame = this.state.frame;
    if (!frame) {
      viewer.style.width = '';
      viewer.style.height = '';
      return;
    }
    const avail = /** @type {HTMLElement} */ (viewer.parentElement).clientWidth;
    const maxH = Math.max(240, window.innerHeight * 0.72);
    const scale = Math.min(avail / frame.width, maxH / frame.height);
    viewer.style.width = `${Math.floor(frame.width * scale)}px`;
    viewer.style.height = `${Math.floor(frame.height * scale)}px`;
    this.drawOverlay();
  }

  /** Puts a frame's pixels on the frame canvas. @param {Frame} frame */
  paint(frame) {
    const c = this.frameCanvas;
    if (c.width !== frame.width || c.height !== frame.height) {
      c.width = frame.width;
      c.height = frame.height;
    }
    /** @type {CanvasRenderingContext2D} */ (c.getContext('2d')).putImageData(new ImageData(new Uint8ClampedArray(frame.rgba), frame.width, frame.height), 0, 0);
    $('#viewer-empty').hidden = true;
  }

  /** @param {Frame} frame @param {DetectResult & {roundTripMs: number}} result */
  show(frame, result) {
    const S = this.state;
    S.frame = frame;
    const shown = /** @type {ShownResult} */ (result);
    shown.shown = this.visible(result.detections);
    S.result = shown;
    this.paint(frame);
    this.layout(); // sizes the viewer to the frame and redraws the overlay
    this.renderList();
    this.renderReadouts();
    for (const b of [this.ui.snapAnnotated, this.ui.snapRaw, this.ui.snapDataset]) b.disabled = false;
    this.deps.events.emit('detections', { frameId: result.frameId, count: shown.shown.length });
  }

  drawOverlay() {
    const { overlay, viewer, state: S } = this;
    const w = viewer.clientWidth, h = viewer.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    overlay.width = Math.round(w * dpr);
    overlay.height = Math.round(h * dpr);
    const g = /** @type {CanvasRenderingContext2D} */ (overlay.getContext('2d'));
    g.clearRect(0, 0, overlay.width, overlay.height);
    if (!S.result || !S.frame) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    drawDetections(g, S.result.shown, { scale: w / S.frame.width, selected: S.selected, showRefs: this.ui.refs.checked });
  }

  renderList() {
    const { ui, state: S } = this;
    const dets = S.result?.shown || [];
    ui.count.textContent = dets.length ? String(dets.length) : '';
    ui.empty.hidden = dets.length > 0;
    ui.empty.textContent = S.result ? `No detection above ${(+ui.threshold.value).toFixed(2)}${ui.filter.value ? ' for these classes' : ''}.` : 'Nothing detected yet.';
    ui.list.replaceChildren(...dets.map((d) => el('li', {
      class: d.query === S.selected ? 'selected' : '', tabindex: 0, dataset: { query: d.query },
      title: 'Show where this query attends',
      onclick: () => this.inspect(d), onkeydown: (/** @type {KeyboardEvent} */ e) => { if (e.key === 'Enter') this.inspect(d); },
    },
    el('span', { class: 'swatch', style: `background:${labelColor(d.label)}` }),
    el('span', { class: 'det-name', text: d.labelName }),
    el('span', { class: 'det-score', text: `${(d.score * 100).toFixed(1)}%` }),
    el('span', { class: 'det-meta muted', text: d.referencePoint ? `query ${d.query} · s = (${d.referencePoint.map((v) => v.toFixed(0)).join(', ')})` : `query ${d.query}` }))));
  }

  renderReadouts() {
    const r = this.state.result;
    if (!r) return;
    $('#lat-pre').textContent = fmtMs(r.preprocessMs);
    $('#lat-net').textContent = fmtMs(r.networkMs);
    $('#lat-post').textContent = fmtMs(r.postprocessMs);
    $('#lat-total').textContent = fmtMs(r.roundTripMs);
    $('#input-dims').textContent = `${r.inputWidth}×${r.inputHeight}`;
    $('#fps').textContent = this.state.source === 'camera' && this.state.fps ? this.state.fps.toFixed(1) : '—';
  }

  /** @param {string} [text] */
  setBadge(text) {
    this.ui.badge.hidden = !text;
    this.ui.badge.textContent = text || '';
  }

  /** Shows the frame again with the current threshold and class filter. */
  refilter() {
    const S = this.state;
    if (!S.result) return;
    S.result.shown = this.visible(S.result.detections);
    if (S.selected !== null && !S.result.shown.some((d) => d.query === S.selected)) this.closeAttention();
    this.drawOverlay();
    this.renderList();
  }

  // ------------------------------------------------------------ camera

  /** The webcam's stream, or null with a message saying why there is none. */
  async openStream() {
    const { notify } = this.deps;
    if (!navigator.mediaDevices?.getUserMedia) {
      notify({ level: 'error', id: 'camera', title: 'No camera access here', text: 'This browser only gives the camera to pages served over https or from localhost. Open a photo instead.' });
      return null;
    }
    try {
      return await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false });
    } catch (/** @type {any} */ e) {
      const why = {
        NotAllowedError: 'Camera permission was denied. Allow the camera for this site (the icon in the address bar) and try again — or open a photo instead.',
        NotFoundError: 'No camera was found. Connect one, or open a photo instead.',
        NotReadableError: 'The camera is busy in another application. Close it there and try again.',
        OverconstrainedError: 'The camera cannot deliver a usable video size.',
      }[e.name] || `${e.message}.`;
      notify({ level: 'error', id: 'camera', title: 'The webcam could not start', text: why });
      return null;
    }
  }

  async startCamera() {
    const { ui, video, state: S } = this;
    const stream = await this.openStream();
    if (!stream) return;
    this.stream = stream;
    this.deps.clearMessage('camera');
    video.srcObject = stream;
    video.hidden = false;
    try { await video.play(); } catch { /* autoplay of a muted stream is allowed */ }
    stream.getVideoTracks()[0].addEventListener('ended', () => { if (S.source === 'camera') this.stopCamera('the camera stopped'); });
    S.source = 'camera';
    S.paused = false;
    S.fps = 0;
    ui.camera.textContent = 'Stop webcam';
    ui.pause.disabled = false;
    ui.pause.textContent = 'Pause';
    this.closeAttention();
    this.loop = this.runLoop();
    this.deps.events.emit('camera', { on: true });
  }

  /** @param {string} [reason] */
  stopCamera(reason) {
    const { ui, video, state: S } = this;
    S.source = S.frame ? 'frozen' : 'none';
    this.stream?.getTracks().forEach((t) => t.stop());
    this.stream = null;
    video.srcObject = null;
    video.hidden = true;
    ui.camera.textContent = 'Start webcam';
    ui.pause.disabled = true;
    this.setBadge(reason ? `webcam off: ${reason}` : '');
    $('#fps').textContent = '—';
    this.deps.events.emit('camera', { on: false });
  }

  /** @returns {Frame} */
  grab() {
    const { video } = this;
    const { data, width, height } = rgbaOf(video, video.videoWidth, video.videoHeight);
    return { rgba: data, width, height, name: 'webcam' };
  }

  /** Detects webcam frames one after another until the webcam stops or pauses. */
  async runLoop() {
    const { engine, models, notify } = this.deps;
    const S = this.state;
    let errors = 0;
    const done = this.deps.busy('detecting (webcam)');
    try {
      while (S.source === 'camera' && !S.paused) {
        if (!models.current || engine.state.status !== 'ready') {
          this.setBadge(models.current ? 'waiting for the engine…' : 'load a model to start detecting');
          await sleep(250);
          continue;
        }
        if (this.video.readyState < 2 || !this.video.videoWidth) { await sleep(50); continue; }
        const frame = this.grab();
        let result;
        try {
          result = await this.detectFrame(frame, false);
          errors = 0;
        } catch (/** @type {any} */ e) {
          if (e.fatal) { await engine.ready; continue; }
          if (++errors === 1) notify({ level: 'error', id: 'detect', title: 'Detection failed', text: `${e.message}. Try a smaller input size; the webcam keeps trying.` });
          await sleep(1000);
          continue;
        }
        if (S.source !== 'camera' || S.paused) break; // paused meanwhile: keep the frame on screen
        this.countFrame();
        this.setBadge(`live · ${engine.state.backend === 'webgpu' ? 'WebGPU' : 'CPU'}`);
        this.show(frame, result);
        await sleep(0);
      }
    } finally {
      done();
      this.lastShown = 0;
    }
  }

  /** The webcam's frame rate, from the time between frames shown. */
  countFrame() {
    const now = performance.now();
    if (this.lastShown) this.state.fps = nextFps(this.state.fps, now - this.lastShown);
    this.lastShown = now;
  }

  async pause() {
    const S = this.state;
    if (S.source !== 'camera' || S.paused) return;
    S.paused = true;
    this.ui.pause.textContent = 'Resume';
    this.setBadge('paused — the frame on screen is the one analysed');
    await this.loop;
  }

  resume() {
    const S = this.state;
    if (S.source !== 'camera' || !S.paused) return;
    S.paused = false;
    S.selected = null;
    this.closeAttention();
    this.ui.pause.textContent = 'Pause';
    this.loop = this.runLoop();
  }

  // ------------------------------------------------------------ stills

  /** @param {File} file */
  async openImage(file) {
    const { notify, clearMessage, events } = this.deps;
    const S = this.state;
    let bmp;
    try {
      bmp = await decodeImage(file);
    } catch (/** @type {any} */ e) {
      notify({ level: 'error', id: 'image', title: 'Not an image', text: e.message });
      events.emit('image-failed', { message: e.message });
      return;
    }
    clearMessage('image');
    if (S.source === 'camera') this.stopCamera();
    this.still?.close?.();
    this.still = bmp;
    S.source = 'image';
    S.selected = null;
    this.closeAttention();
    this.setBadge(file.name);
    await this.detectStill(file.name);
  }

  /** Runs the frame on screen again (new options), with attention maps; serialised, last request wins. */
  async rerunCurrent() {
    const S = this.state;
    if (!S.frame || (S.source === 'camera' && !S.paused)) return;
    if (this.rerun) { this.rerunAgain = true; return this.rerun; }
    this.rerun = (async () => {
      do {
        this.rerunAgain = false;
        if (!this.deps.models.current) { this.setBadge('load a model to detect'); return; }
        await this.rerunOnce();
      } while (this.rerunAgain);
    })();
    try { await this.rerun; } finally { this.rerun = null; }
  }

  async rerunOnce() {
    const current = /** @type {Frame} */ (this.state.frame);
    const frame = { ...current, rgba: current.rgba.slice() }; // a copy: the frame on screen stays intact if this fails
    const done = this.deps.busy('detecting');
    try {
      const result = await this.detectFrame(frame, true);
      // A photo opened meanwhile is newer: it is detected next, and this result is not shown over it.
      if (this.state.frame === current) this.show(frame, result);
    } catch (/** @type {any} */ e) {
      if (!e.fatal) this.deps.notify({ level: 'error', id: 'detect', title: 'Detection failed', text: `${e.message}. A smaller input size needs less memory.` });
    } finally {
      done();
    }
  }

  /** @param {string} name */
  async detectStill(name) {
    const S = this.state;
    const still = /** @type {ImageBitmap} */ (this.still);
    const { data, width, height } = rgbaOf(still, still.width, still.height);
    const frame = { rgba: data, width, height, name: name.replace(/\.[^.]+$/, '') || 'photo' };
    S.frame = frame;
    if (this.deps.models.current) {
      await this.rerunCurrent();
      return;
    }
    // Show the photo anyway; it is analysed as soon as a model is loaded.
    this.frameCanvas.width = width;
    this.frameCanvas.height = height;
    this.paint(frame);
    S.result = null;
    this.layout();
    this.renderList();
    this.setBadge('load a model to detect');
  }

  // ------------------------------------------------------------ attention

  closeAttention() {
    this.attPanel.hidden = true;
    this.state.selected = null;
    this.drawOverlay();
    this.renderList();
  }

  /** Shows where one detection's query attends (the last decoder layer's maps). @param {Detection} det */
  async inspect(det) {
    const S = this.state;
    if (!S.frame) return;
    S.selected = det.query;
    this.drawOverlay();
    this.renderList();
    this.attPanel.hidden = false;
    const status = $('#att-status');
    $('#att-title').replaceChildren(el('span', { class: 'swatch', style: `background:${labelColor(det.label)}` }), `${det.labelName} ${(det.score * 100).toFixed(1)}% · query ${det.query}${det.referencePoint ? ` · reference point (${det.referencePoint.map((v) => v.toFixed(1)).join(', ')})` : ' · DETR: no reference point'}`);
    status.textContent = 'computing the attention maps…';
    $('#att-grid-wrap').classList.add('loading');
    const done = this.deps.busy('attention maps');
    try {
      if (S.source === 'camera') await this.pause();
      await this.showAttention(det, status);
    } catch (/** @type {any} */ e) {
      status.textContent = '';
      if (!e.fatal) this.deps.notify({ level: 'error', id: 'attention', title: 'The attention maps could not be computed', text: e.message });
    } finally {
      $('#att-grid-wrap').classList.remove('loading');
      done();
    }
  }

  /** @param {Detection} det @param {HTMLElement} status */
  async showAttention(det, status) {
    const S = this.state;
    const shownFrame = /** @type {Frame} */ (S.frame);
    if (S.attentionFrameId !== shownFrame.id) {
      // The engine's maps belong to another frame: run the frame on screen again, with maps.
      const frame = { ...shownFrame, rgba: shownFrame.rgba.slice() };
      const again = await this.detectFrame(frame, true);
      this.show(frame, again);
    }
    const att = await this.deps.engine.call('attention', { query: det.query });
    renderAttention($('#att-grid-wrap'), { frame: this.frameCanvas, det, att, tileWidth: this.tileWidth(att.heads) });
    const split = att.spatial
      ? 'the dot is the reference point'
      : 'DETR has no spatial/content split (positions are added to the content before the product): only the combined map';
    status.textContent = `${att.heads} heads · feature map ${att.featureWidth}×${att.featureHeight} (valid ${att.validWidth}×${att.validHeight}) · ${split}`;
    S.attention = { query: det.query, heads: att.heads, featureWidth: att.featureWidth, featureHeight: att.featureHeight, validWidth: att.validWidth, validHeight: att.validHeight, combined: Array.from(att.combined) };
    this.deps.events.emit('attention', { query: det.query, heads: att.heads });
    this.attPanel.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
  }

  /** @param {number} heads */
  tileWidth(heads) {
    const avail = this.attPanel.clientWidth - 150;
    return Math.max(90, Math.min(220, Math.floor(avail / heads) - 6));
  }

  /**
   * The detection under the pointer, if any.
   * @param {MouseEvent} e
   * @param {number} [radius] in frame pixels
   */
  detectionAt(e, radius) {
    const S = this.state;
    if (!S.result || !S.frame) return null;
    const r = this.overlay.getBoundingClientRect();
    const x = ((e.clientX - r.left) / r.width) * S.frame.width;
    const y = ((e.clientY - r.top) / r.height) * S.frame.height;
    return hitTest(S.result.shown, x, y, radius === undefined ? undefined : (radius * S.frame.width) / r.width);
  }

  // ------------------------------------------------------------ snapshots

  async annotatedPng() {
    const { width, height } = /** @type {Frame} */ (this.state.frame);
    const c = new OffscreenCanvas(width, height);
    const g = /** @type {OffscreenCanvasRenderingContext2D} */ (c.getContext('2d'));
    g.drawImage(this.frameCanvas, 0, 0);
    const k = Math.max(1, width / 900);
    drawDetections(g, /** @type {ShownResult} */ (this.state.result).shown, { scale: 1, selected: this.state.selected, showRefs: this.ui.refs.checked, lineWidth: 2 * k, fontPx: Math.round(13 * k) });
    return c.convertToBlob({ type: 'image/png' });
  }

  /** Adds the frame on screen to the dataset (pausing the webcam). */
  async addToDataset() {
    const S = this.state;
    if (!S.frame) return;
    if (S.source === 'camera') await this.pause();
    const f = S.frame;
    const blob = await rgbaToPng(f.rgba, f.width, f.height);
    await this.deps.addToDataset(blob, `${f.name}-${timestamp()}.png`, f.width, f.height, f.name);
  }

  // ------------------------------------------------------------ controls

  wire() {
    const { ui, state: S, overlay } = this;
    new ResizeObserver(() => this.layout()).observe(/** @type {HTMLElement} */ (this.viewer.parentElement));
    overlay.addEventListener('click', (e) => {
      const det = this.detectionAt(e, 14);
      if (det) this.inspect(det);
    });
    overlay.addEventListener('mousemove', (e) => {
      if (!S.result || !S.frame) return;
      overlay.style.cursor = this.detectionAt(e) ? 'pointer' : 'default';
    });
    ui.snapAnnotated.addEventListener('click', async () => {
      if (S.frame) download(await this.annotatedPng(), `cdetr-annotated-${timestamp()}.png`);
    });
    ui.snapRaw.addEventListener('click', async () => {
      if (S.frame) download(await rgbaToPng(S.frame.rgba, S.frame.width, S.frame.height), `cdetr-frame-${timestamp()}.png`);
    });
    ui.snapDataset.addEventListener('click', () => this.addToDataset());
    ui.camera.addEventListener('click', () => (S.source === 'camera' ? this.stopCamera() : this.startCamera()));
    ui.pause.addEventListener('click', () => (S.paused ? this.resume() : this.pause()));
    ui.image.addEventListener('change', () => {
      const f = ui.image.files?.[0];
      ui.image.value = '';
      if (f) this.openImage(f);
    });
    onFileDrop(this.viewer, (files) => {
      const list = [...files];
      // A model (weights + config) dropped on the viewer loads as a model, not as a photo.
      if (list.some((f) => MODEL_FILE.test(f.name))) this.deps.models.loadFiles(list);
      else if (list[0]) this.openImage(list[0]);
    });
    this.wireOptions();
    this.wireKeys();
    this.deps.events.on('model', (m) => this.onModel(m));
    this.deps.events.on('restarted', () => this.forgetAttention());
  }

  wireOptions() {
    const { ui } = this;
    ui.threshold.addEventListener('input', () => { ui.thresholdOut.textContent = (+ui.threshold.value).toFixed(2); this.refilter(); this.saveSettings(); });
    ui.filter.addEventListener('input', () => this.refilter());
    ui.refs.addEventListener('change', () => this.drawOverlay());
    for (const c of [ui.topk, ui.size]) c.addEventListener('change', () => { this.saveSettings(); this.rerunCurrent(); });
    $('#att-close').addEventListener('click', () => this.closeAttention());
  }

  wireKeys() {
    const S = this.state;
    window.addEventListener('keydown', (e) => {
      if (/** @type {Element} */ (e.target).closest('input, select, textarea') || $('#tab-detect').hidden) return;
      if (e.key === ' ' && S.source === 'camera') { e.preventDefault(); S.paused ? this.resume() : this.pause(); }
      if (e.key === 'Escape') this.closeAttention();
    });
  }

  /** A model was loaded or changed: its labels complete the class filter; the frame on screen runs again. */
  onModel(/** @type {Record<string, any>} */ m) {
    const S = this.state;
    $('#label-list').replaceChildren(...m.info.labels.filter((/** @type {string} */ l) => !/^N\/A$/.test(l)).map((/** @type {string} */ l) => el('option', { value: l })));
    S.attentionFrameId = null;
    this.closeAttention();
    if (S.source !== 'camera' || S.paused) this.rerunCurrent();
    else if (S.source === 'camera' && !S.paused) this.setBadge('live');
  }
}
