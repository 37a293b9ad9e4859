// The Detect tab: webcam and still photos, the overlay, readouts, snapshots and the attention view.
//
// The viewer shows the analysed frame itself (not the live video) so the boxes and reference points
// always belong to the pixels under them; the live camera is a small preview in the corner.

import { $, el, decodeImage, onFileDrop, MODEL_FILE, rgbaOf, rgbaToPng, download, fmtMs, timestamp, sleep } from './util.js';
import { drawDetections, hitTest, labelColor } from './overlay.js';
import { renderAttention } from './attention.js';
import { filterDetections, parseClassFilter } from './filters.js';
import { nextFps } from './fps.js';

export function initDetect(app) {
  const viewer = $('#viewer');
  const frameCanvas = $('#frame-canvas');
  const overlay = $('#overlay-canvas');
  const video = $('#video');
  const ui = {
    camera: $('#camera-btn'), pause: $('#pause-btn'), image: $('#image-file'),
    threshold: $('#threshold'), thresholdOut: $('#threshold-out'), topk: $('#topk'), size: $('#input-size'),
    filter: $('#class-filter'), refs: $('#show-refs'),
    snapAnnotated: $('#snap-annotated'), snapRaw: $('#snap-raw'), snapDataset: $('#snap-dataset'),
    list: $('#det-list'), empty: $('#det-empty'), count: $('#det-count'), badge: $('#viewer-badge'),
  };
  const S = (app.state.detect = {
    source: 'none', // none | camera | image
    paused: false,
    frame: null, // {id, rgba: Uint8ClampedArray, width, height, name}
    result: null,
    selected: null, // query of the inspected detection
    attentionFrameId: null,
    fps: 0,
  });
  let stream = null;
  let loop = null;
  let still = null; // ImageBitmap of the open photo
  let frameSeq = 0;
  let lastShown = 0;

  let restore = {};
  try {
    restore = JSON.parse(localStorage.getItem('cdetr.detect') || '{}') || {};
  } catch { /* unreadable saved settings: start from the defaults */ }
  if (restore.threshold !== undefined) ui.threshold.value = restore.threshold;
  if (restore.topk) ui.topk.value = restore.topk;
  if (restore.size) ui.size.value = restore.size;
  ui.thresholdOut.textContent = (+ui.threshold.value).toFixed(2);
  const saveSettings = () => localStorage.setItem('cdetr.detect', JSON.stringify({ threshold: ui.threshold.value, topk: ui.topk.value, size: ui.size.value }));

  /** Detection options; the score threshold is applied here (so moving the slider needs no new run). */
  function options(attention, size = +ui.size.value) {
    return { threshold: 0, topK: +ui.topk.value, shortestEdge: size, attention };
  }

  /** Runs one frame through the engine; the frame's buffer travels to the worker and back. */
  async function detectFrame(frame, attention) {
    const id = ++frameSeq;
    const buffer = frame.rgba.buffer;
    const t0 = performance.now();
    const result = await app.engine.call('detect', { frameId: id, rgba: buffer, width: frame.width, height: frame.height, options: options(attention) });
    result.roundTripMs = performance.now() - t0;
    frame.rgba = new Uint8ClampedArray(result.rgba);
    delete result.rgba;
    frame.id = id;
    if (attention) S.attentionFrameId = id;
    return result;
  }

  const visible = (dets) => filterDetections(dets, { threshold: +ui.threshold.value, classes: parseClassFilter(ui.filter.value) });

  // ------------------------------------------------------------ display

  function layout() {
    if (!S.frame) {
      viewer.style.width = '';
      viewer.style.height = '';
      return;
    }
    const avail = viewer.parentElement.clientWidth;
    const maxH = Math.max(240, window.innerHeight * 0.72);
    const scale = Math.min(avail / S.frame.width, maxH / S.frame.height);
    viewer.style.width = `${Math.floor(S.frame.width * scale)}px`;
    viewer.style.height = `${Math.floor(S.frame.height * scale)}px`;
    drawOverlay();
  }
  new ResizeObserver(() => layout()).observe(viewer.parentElement);

  function show(frame, result) {
    S.frame = frame;
    result.shown = visible(result.detections);
    S.result = result;
    if (frameCanvas.width !== frame.width || frameCanvas.height !== frame.height) {
      frameCanvas.width = frame.width;
      frameCanvas.height = frame.height;
    }
    frameCanvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(frame.rgba), frame.width, frame.height), 0, 0);
    $('#viewer-empty').hidden = true;
    layout(); // sizes the viewer to the frame and redraws the overlay
    renderList();
    renderReadouts();
    for (const b of [ui.snapAnnotated, ui.snapRaw, ui.snapDataset]) b.disabled = false;
    app.emit('detections', { frameId: result.frameId, count: result.shown.length });
  }

  function drawOverlay() {
    const w = viewer.clientWidth, h = viewer.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    overlay.width = Math.round(w * dpr);
    overlay.height = Math.round(h * dpr);
    const g = overlay.getContext('2d');
    g.clearRect(0, 0, overlay.width, overlay.height);
    if (!S.result || !S.frame) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    drawDetections(g, S.result.shown, { scale: w / S.frame.width, selected: S.selected, showRefs: ui.refs.checked });
  }

  function renderList() {
    const dets = S.result?.shown || [];
    ui.count.textContent = dets.length ? String(dets.length) : '';
    ui.empty.hidden = dets.length > 0;
    ui.empty.textContent = S.result ? `No detection above ${(+ui.threshold.value).toFixed(2)}${ui.filter.value ? ' for these classes' : ''}.` : 'Nothing detected yet.';
    ui.list.replaceChildren(...dets.map((d) => el('li', {
      class: d.query === S.selected ? 'selected' : '', tabindex: 0, dataset: { query: d.query },
      title: 'Show where this query attends',
      onclick: () => inspect(d), onkeydown: (e) => { if (e.key === 'Enter') inspect(d); },
    },
    el('span', { class: 'swatch', style: `background:${labelColor(d.label)}` }),
    el('span', { class: 'det-name', text: d.labelName }),
    el('span', { class: 'det-score', text: `${(d.score * 100).toFixed(1)}%` }),
    el('span', { class: 'det-meta muted', text: d.referencePoint ? `query ${d.query} · s = (${d.referencePoint.map((v) => v.toFixed(0)).join(', ')})` : `query ${d.query}` }))));
  }

  function renderReadouts() {
    const r = S.result;
    if (!r) return;
    $('#lat-pre').textContent = fmtMs(r.preprocessMs);
    $('#lat-net').textContent = fmtMs(r.networkMs);
    $('#lat-post').textContent = fmtMs(r.postprocessMs);
    $('#lat-total').textContent = fmtMs(r.roundTripMs);
    $('#input-dims').textContent = `${r.inputWidth}×${r.inputHeight}`;
    $('#fps').textContent = S.source === 'camera' && S.fps ? S.fps.toFixed(1) : '—';
  }

  function setBadge(text) {
    ui.badge.hidden = !text;
    ui.badge.textContent = text || '';
  }

  // ------------------------------------------------------------ camera

  async function startCamera() {
    if (!navigator.mediaDevices?.getUserMedia) {
      app.notify({ level: 'error', id: 'camera', title: 'No camera access here', text: 'This browser only gives the camera to pages served over https or from localhost. Open a photo instead.' });
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false });
    } catch (e) {
      const why = {
        NotAllowedError: 'Camera permission was denied. Allow the camera for this site (the icon in the address bar) and try again — or open a photo instead.',
        NotFoundError: 'No camera was found. Connect one, or open a photo instead.',
        NotReadableError: 'The camera is busy in another application. Close it there and try again.',
        OverconstrainedError: 'The camera cannot deliver a usable video size.',
      }[e.name] || `${e.message}.`;
      app.notify({ level: 'error', id: 'camera', title: 'The webcam could not start', text: why });
      return;
    }
    app.clearMessage('camera');
    video.srcObject = stream;
    video.hidden = false;
    try { await video.play(); } catch { /* autoplay of a muted stream is allowed */ }
    stream.getVideoTracks()[0].addEventListener('ended', () => { if (S.source === 'camera') stopCamera('the camera stopped'); });
    S.source = 'camera';
    S.paused = false;
    S.fps = 0;
    ui.camera.textContent = 'Stop webcam';
    ui.pause.disabled = false;
    ui.pause.textContent = 'Pause';
    closeAttention();
    loop = runLoop();
    app.emit('camera', { on: true });
  }

  function stopCamera(reason) {
    S.source = S.frame ? 'frozen' : 'none';
    stream?.getTracks().forEach((t) => t.stop());
    stream = null;
    video.srcObject = null;
    video.hidden = true;
    ui.camera.textContent = 'Start webcam';
    ui.pause.disabled = true;
    setBadge(reason ? `webcam off: ${reason}` : '');
    $('#fps').textContent = '—';
    app.emit('camera', { on: false });
  }

  function grab() {
    const { data, width, height } = rgbaOf(video, video.videoWidth, video.videoHeight);
    return { rgba: data, width, height, name: 'webcam' };
  }

  async function runLoop() {
    let errors = 0;
    const busy = app.busy('detecting (webcam)');
    try {
      while (S.source === 'camera' && !S.paused) {
        if (!app.state.model || app.state.engine.status !== 'ready') {
          setBadge(app.state.model ? 'waiting for the engine…' : 'load a model to start detecting');
          await sleep(250);
          continue;
        }
        if (video.readyState < 2 || !video.videoWidth) { await sleep(50); continue; }
        const frame = grab();
        let result;
        try {
          result = await detectFrame(frame, false);
          errors = 0;
        } catch (e) {
          if (e.fatal) { await app.engineReady; continue; }
          if (++errors === 1) app.notify({ level: 'error', id: 'detect', title: 'Detection failed', text: `${e.message}. Try a smaller input size; the webcam keeps trying.` });
          await sleep(1000);
          continue;
        }
        if (S.source !== 'camera' || S.paused) break; // paused meanwhile: keep the frame on screen
        const now = performance.now();
        if (lastShown) S.fps = nextFps(S.fps, now - lastShown);
        lastShown = now;
        setBadge(`live · ${app.state.engine.backend === 'webgpu' ? 'WebGPU' : 'CPU'}`);
        show(frame, result);
        await sleep(0);
      }
    } finally {
      busy();
      lastShown = 0;
    }
  }

  async function pause() {
    if (S.source !== 'camera' || S.paused) return;
    S.paused = true;
    ui.pause.textContent = 'Resume';
    setBadge('paused — the frame on screen is the one analysed');
    await loop;
  }

  function resume() {
    if (S.source !== 'camera' || !S.paused) return;
    S.paused = false;
    S.selected = null;
    closeAttention();
    ui.pause.textContent = 'Pause';
    loop = runLoop();
  }

  // ------------------------------------------------------------ stills

  async function openImage(file) {
    let bmp;
    try {
      bmp = await decodeImage(file);
    } catch (e) {
      app.notify({ level: 'error', id: 'image', title: 'Not an image', text: e.message });
      app.emit('image-failed', { message: e.message });
      return;
    }
    app.clearMessage('image');
    if (S.source === 'camera') stopCamera();
    still?.close?.();
    still = bmp;
    S.source = 'image';
    S.selected = null;
    closeAttention();
    setBadge(file.name);
    await detectStill(file.name);
  }

  /** Runs the frame on screen again (new options), with attention maps; serialised, last request wins. */
  let rerun = null;
  let rerunAgain = false;
  async function rerunCurrent() {
    if (!S.frame || (S.source === 'camera' && !S.paused)) return;
    if (rerun) { rerunAgain = true; return rerun; }
    rerun = (async () => {
      do {
        rerunAgain = false;
        if (!app.state.model) { setBadge('load a model to detect'); return; }
        const current = S.frame;
        const frame = { ...current, rgba: current.rgba.slice() }; // a copy: S.frame stays intact if this fails
        const done = app.busy('detecting');
        try {
          const result = await detectFrame(frame, true);
          // A photo opened meanwhile is newer: it is detected next, and this result is not shown over it.
          if (S.frame === current) show(frame, result);
        } catch (e) {
          if (!e.fatal) app.notify({ level: 'error', id: 'detect', title: 'Detection failed', text: `${e.message}. A smaller input size needs less memory.` });
        } finally {
          done();
        }
      } while (rerunAgain);
    })();
    try { await rerun; } finally { rerun = null; }
  }

  async function detectStill(name) {
    const { data, width, height } = rgbaOf(still, still.width, still.height);
    const frame = { rgba: data, width, height, name: name.replace(/\.[^.]+$/, '') || 'photo' };
    if (!app.state.model) {
      // Show the photo anyway; it is analysed as soon as a model is loaded.
      S.frame = frame;
      frameCanvas.width = width;
      frameCanvas.height = height;
      frameCanvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(data), width, height), 0, 0);
      S.result = null;
      $('#viewer-empty').hidden = true;
      layout();
      renderList();
      setBadge('load a model to detect');
      return;
    }
    S.frame = frame;
    await rerunCurrent();
  }

  // ------------------------------------------------------------ attention

  const attPanel = $('#attention-panel');
  function closeAttention() {
    attPanel.hidden = true;
    S.selected = null;
    drawOverlay();
    renderList();
  }

  async function inspect(det) {
    if (!S.frame) return;
    S.selected = det.query;
    drawOverlay();
    renderList();
    attPanel.hidden = false;
    const status = $('#att-status');
    const title = $('#att-title');
    title.replaceChildren(el('span', { class: 'swatch', style: `background:${labelColor(det.label)}` }), `${det.labelName} ${(det.score * 100).toFixed(1)}% · query ${det.query}${det.referencePoint ? ` · reference point (${det.referencePoint.map((v) => v.toFixed(1)).join(', ')})` : ' · DETR: no reference point'}`);
    status.textContent = 'computing the attention maps…';
    $('#att-grid-wrap').classList.add('loading');
    const done = app.busy('attention maps');
    try {
      if (S.source === 'camera') await pause();
      if (S.attentionFrameId !== S.frame.id) {
        // The engine's maps belong to another frame: run the frame on screen again, with maps.
        const frame = { ...S.frame, rgba: S.frame.rgba.slice() };
        const again = await detectFrame(frame, true);
        show(frame, again);
      }
      const att = await app.engine.call('attention', { query: det.query });
      renderAttention($('#att-grid-wrap'), { frame: frameCanvas, det, att, tileWidth: tileWidth(att.heads) });
      const split = att.spatial
        ? 'the dot is the reference point'
        : 'DETR has no spatial/content split (positions are added to the content before the product): only the combined map';
      status.textContent = `${att.heads} heads · feature map ${att.featureWidth}×${att.featureHeight} (valid ${att.validWidth}×${att.validHeight}) · ${split}`;
      app.state.detect.attention = { query: det.query, heads: att.heads, featureWidth: att.featureWidth, featureHeight: att.featureHeight, validWidth: att.validWidth, validHeight: att.validHeight, combined: Array.from(att.combined) };
      app.emit('attention', { query: det.query, heads: att.heads });
      attPanel.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
    } catch (e) {
      status.textContent = '';
      if (!e.fatal) app.notify({ level: 'error', id: 'attention', title: 'The attention maps could not be computed', text: e.message });
    } finally {
      $('#att-grid-wrap').classList.remove('loading');
      done();
    }
  }

  function tileWidth(heads) {
    const avail = attPanel.clientWidth - 150;
    return Math.max(90, Math.min(220, Math.floor(avail / heads) - 6));
  }

  overlay.addEventListener('click', (e) => {
    if (!S.result || !S.frame) return;
    const r = overlay.getBoundingClientRect();
    const x = ((e.clientX - r.left) / r.width) * S.frame.width;
    const y = ((e.clientY - r.top) / r.height) * S.frame.height;
    const det = hitTest(S.result.shown, x, y, 14 * S.frame.width / r.width);
    if (det) inspect(det);
  });
  overlay.addEventListener('mousemove', (e) => {
    if (!S.result || !S.frame) return;
    const r = overlay.getBoundingClientRect();
    const det = hitTest(S.result.shown, ((e.clientX - r.left) / r.width) * S.frame.width, ((e.clientY - r.top) / r.height) * S.frame.height);
    overlay.style.cursor = det ? 'pointer' : 'default';
  });

  // ------------------------------------------------------------ snapshots

  async function annotatedPng() {
    const { width, height } = S.frame;
    const c = new OffscreenCanvas(width, height);
    const g = c.getContext('2d');
    g.drawImage(frameCanvas, 0, 0);
    const k = Math.max(1, width / 900);
    drawDetections(g, S.result.shown, { scale: 1, selected: S.selected, showRefs: ui.refs.checked, lineWidth: 2 * k, fontPx: Math.round(13 * k) });
    return c.convertToBlob({ type: 'image/png' });
  }

  ui.snapAnnotated.addEventListener('click', async () => {
    if (S.frame) download(await annotatedPng(), `cdetr-annotated-${timestamp()}.png`);
  });
  ui.snapRaw.addEventListener('click', async () => {
    if (S.frame) download(await rgbaToPng(S.frame.rgba, S.frame.width, S.frame.height), `cdetr-frame-${timestamp()}.png`);
  });
  ui.snapDataset.addEventListener('click', async () => {
    if (!S.frame) return;
    if (S.source === 'camera') await pause();
    const blob = await rgbaToPng(S.frame.rgba, S.frame.width, S.frame.height);
    await app.dataset.addImage(blob, `${S.frame.name}-${timestamp()}.png`, S.frame.width, S.frame.height, S.frame.name);
  });

  // ------------------------------------------------------------ controls

  ui.camera.addEventListener('click', () => (S.source === 'camera' ? stopCamera() : startCamera()));
  ui.pause.addEventListener('click', () => (S.paused ? resume() : pause()));
  ui.image.addEventListener('change', (e) => {
    const f = e.target.files[0];
    e.target.value = '';
    if (f) openImage(f);
  });
  onFileDrop(viewer, (files) => {
    const list = [...files];
    // A model (weights + config) dropped on the viewer loads as a model, not as a photo.
    if (list.some((f) => MODEL_FILE.test(f.name))) app.loadModelFiles(list);
    else if (list[0]) openImage(list[0]);
  });
  const refilter = () => {
    if (!S.result) return;
    S.result.shown = visible(S.result.detections);
    if (S.selected !== null && !S.result.shown.some((d) => d.query === S.selected)) closeAttention();
    drawOverlay();
    renderList();
  };
  ui.threshold.addEventListener('input', () => { ui.thresholdOut.textContent = (+ui.threshold.value).toFixed(2); refilter(); saveSettings(); });
  ui.filter.addEventListener('input', refilter);
  ui.refs.addEventListener('change', drawOverlay);
  for (const c of [ui.topk, ui.size]) c.addEventListener('change', () => { saveSettings(); rerunCurrent(); });
  $('#att-close').addEventListener('click', closeAttention);
  window.addEventListener('keydown', (e) => {
    if (e.target.closest('input, select, textarea') || $('#tab-detect').hidden) return;
    if (e.key === ' ' && S.source === 'camera') { e.preventDefault(); S.paused ? resume() : pause(); }
    if (e.key === 'Escape') closeAttention();
  });

  app.on('model', (m) => {
    $('#label-list').replaceChildren(...m.info.labels.filter((l) => !/^N\/A$/.test(l)).map((l) => el('option', { value: l })));
    S.attentionFrameId = null;
    closeAttention();
    if (S.source !== 'camera' || S.paused) rerunCurrent();
    else if (S.source === 'camera' && !S.paused) setBadge('live');
  });
  app.on('restarted', () => { S.attentionFrameId = null; });

  return {
    openImage,
    pause,
    resume,
    /** The frame on screen as RGBA (a copy), for the benchmark. */
    currentFrame: () => (S.frame ? { rgba: S.frame.rgba.slice(), width: S.frame.width, height: S.frame.height } : null),
  };
}
