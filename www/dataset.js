// The fine-tuning dataset: importing images with COCO / VOC / YOLO annotations (parsed by the engine's
// `parseDataset`), plain photos and webcam frames to label by hand, the train/validation split, the
// gallery and the box editor (the labelling tools around it: label.js). Everything lives in IndexedDB
// (store.js).

import * as store from './store.js';
import { $, el, IMAGE_EXT, decodeImage, onFileDrop } from './util.js';
import { BoxEditor } from './editor.js';
import { initLabelTools } from './label.js';
import { labelColor } from './overlay.js';

const ANNOTATION_EXT = /\.(json|xml|txt|names|ya?ml)$/i;

export function initDataset(app) {
  const D = (app.state.dataset = { images: [], classes: [], version: 0 });
  const gallery = $('#gallery');
  const urls = new Map(); // image id → object URL of its thumbnail
  const removed = new Map(); // id → record of a removed image that undo can still bring back (not in D.images)
  let editing = null; // id of the image in the editor

  let labels = null; // the labelling tools (label.js), made right after the editor
  const editor = new BoxEditor($('#editor-canvas'), {
    classIndex: (name) => D.classes.indexOf(name),
    onEdit: (edit) => labels?.onEdit(edit),
    visibleProposals: (proposals) => labels?.visible(proposals) ?? [],
    onSelect: (sel) => {
      $('#editor-delete').disabled = !sel;
      $('#editor-delete').textContent = sel?.kind === 'proposal' ? 'Reject proposal' : 'Delete box';
      $('#editor-duplicate').disabled = sel?.kind !== 'box';
      if (sel?.kind === 'box' && sel.box.cls) $('#editor-class').value = sel.box.cls;
      if (app.state.label) app.state.label.selection = sel && { kind: sel.kind, index: sel.index };
      if (labels) renderClasses();
    },
    onView: (view) => { if (app.state.label) app.state.label.view = { ...view }; },
    onNeedClass: () => {
      app.notify({ level: 'warn', id: 'need-class', title: 'Name the class first', text: 'Type a class name (or pick one) in “Class for new boxes”, or press 1–9 for a class of the list, then draw the box.' });
      $('#editor-class').focus();
    },
  });
  let saving = Promise.resolve();
  labels = initLabelTools(app, {
    D, editor,
    current: () => D.images.find((i) => i.id === editing) ?? null,
    open: (id) => openEditor(id),
    save: (r) => saveRecord(r),
    refresh: () => { renderAll(); changed(); },
    record: (id) => D.images.find((i) => i.id === id) ?? removed.get(id) ?? null,
    setRemoved,
    setClasses: (list) => { D.classes = [...list]; saveClasses().catch(() => {}); },
    purge,
  });

  // ---------------------------------------------------------------- persistence

  async function load() {
    const all = await store.images.all();
    D.images = all.filter((r) => !r.removed);
    removed.clear();
    for (const r of all) if (r.removed) removed.set(r.id, r);
    D.classes = (await store.kv.get('classes')) || [];
    await labels.load();
    renderAll();
    // The image that was in the editor before the reload opens again.
    const last = await store.kv.get('labelEditing');
    if (last !== undefined && D.images.some((r) => r.id === last)) await openEditor(last);
  }

  async function saveClasses() {
    // Classes in use keep their order; classes no box uses any more stay until removed by hand.
    for (const r of D.images) for (const b of r.boxes) if (b.cls && !D.classes.includes(b.cls)) D.classes.push(b.cls);
    await store.kv.set('classes', D.classes);
  }

  function changed() {
    D.version++;
    app.emit('dataset', { images: D.images.length, classes: [...D.classes], version: D.version });
  }

  /** Saves a record's labels (writes are queued, so they land in the order they were made). */
  function saveRecord(r) {
    if (!r.removed) for (const b of r.boxes) if (b.cls && !D.classes.includes(b.cls)) D.classes.push(b.cls);
    saving = saving.then(async () => {
      try {
        if (!D.images.includes(r) && removed.get(r.id) !== r) return; // gone for good meanwhile
        await store.images.put(r);
        await saveClasses();
      } catch (e) {
        app.notify({ level: 'error', id: 'save', title: 'The boxes could not be saved', text: `${e.message}. They are kept on this page; free some disk space and edit again to retry.` });
      }
    });
    return saving;
  }

  // ---------------------------------------------------------------- import

  /** Imports dropped/picked files: images, with or without annotation files. */
  async function importFiles(fileList) {
    const files = [...fileList];
    const imageFiles = files.filter((f) => IMAGE_EXT.test(f.name) || (f.type.startsWith('image/') && !ANNOTATION_EXT.test(f.name)));
    const annotationFiles = files.filter((f) => !imageFiles.includes(f) && ANNOTATION_EXT.test(f.name));
    const ignored = files.filter((f) => !imageFiles.includes(f) && !annotationFiles.includes(f));
    const done = app.busy('reading the dropped files');
    try {
      const decoded = [];
      const bad = [];
      for (const f of imageFiles) {
        try {
          const bmp = await decodeImage(f);
          decoded.push({ file: f, width: bmp.width, height: bmp.height });
          bmp.close();
        } catch (e) {
          bad.push(e.message);
        }
      }
      if (bad.length) {
        app.notify({ level: 'error', id: 'bad-images', title: bad.length === 1 ? 'One file is not an image' : `${bad.length} files are not images`, text: 'They were left out; everything else was added as usual.', details: bad });
        app.emit('import-error', { kind: 'image', details: bad });
      }
      if (ignored.length) {
        app.notify({ level: 'warn', title: 'Some files were ignored', text: 'Only images and COCO .json / VOC .xml / YOLO .txt (+ classes.txt) annotations are used.', details: ignored.map((f) => f.name) });
      }

      let parsed = null;
      if (annotationFiles.length) {
        const texts = await Promise.all(annotationFiles.map(async (f) => ({ name: f.name, text: await f.text() })));
        try {
          await app.engineReady;
          parsed = await app.engine.call('parseDataset', { files: texts, images: decoded.map((d) => ({ name: d.file.name, width: d.width, height: d.height })) });
        } catch (e) {
          app.notify({
            level: 'error', id: 'bad-annotations', title: 'The annotations could not be read',
            text: `${e.message}. Nothing from this drop was added — fix that file and drop it again together with its images. Your dataset is unchanged.`,
          });
          app.emit('import-error', { kind: 'annotations', message: e.message });
          return { added: 0, error: e.message };
        }
        if (parsed.report?.messages?.length) {
          app.notify({ level: 'warn', id: 'import-report', title: 'Notes on the annotations', text: parsed.report.summary || '', details: parsed.report.messages });
        }
      }

      const byImage = new Map((parsed?.samples || []).map((s) => [s.image, s]));
      const records = [];
      let duplicates = 0;
      for (const d of decoded) {
        if (D.images.some((r) => r.name === d.file.name && r.width === d.width && r.height === d.height)) { duplicates++; continue; }
        const sample = byImage.get(d.file.name);
        const boxes = (sample?.boxes || []).map((b) => ({ x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1, cls: parsed.classNames[b.label] ?? `class ${b.label}` }));
        records.push({ name: d.file.name, blob: d.file, width: d.width, height: d.height, boxes, split: 'train', source: sample ? 'annotated' : 'photo', added: Date.now() });
      }
      if (parsed) for (const c of parsed.classNames) if (!D.classes.includes(c)) D.classes.push(c);
      assignSplits(records);
      if (records.length) {
        let ids;
        try {
          ids = await store.images.add(records);
        } catch (e) {
          // Nothing was added (one transaction): say why, keep the class list as it was stored.
          D.classes = (await store.kv.get('classes').catch(() => null)) || D.classes;
          notStored(e, `${records.length} image${records.length === 1 ? '' : 's'}`);
          return { added: 0, boxes: 0 };
        }
        records.forEach((r, i) => { r.id = ids[i]; });
        D.images.push(...records);
        await saveClasses();
        renderAll();
        changed();
        if (!editing) openEditor(records[0].id);
      }
      const boxes = records.reduce((n, r) => n + r.boxes.length, 0);
      if (records.length || duplicates) {
        app.notify({
          level: 'success', id: 'import-ok', title: `Added ${records.length} image${records.length === 1 ? '' : 's'}${boxes ? ` with ${boxes} boxes` : ''}`,
          text: [duplicates ? `${duplicates} already in the dataset (same name and size) were skipped.` : '', records.some((r) => !r.boxes.length) ? 'Images without annotations can be labelled in the editor.' : ''].filter(Boolean).join(' '),
        });
      }
      warnUnknownClasses();
      app.emit('imported', { added: records.length, boxes, duplicates });
      return { added: records.length, boxes };
    } finally {
      done();
    }
  }

  /** Adds one image (a photo, a webcam frame) and opens it in the editor. */
  async function addImage(blob, name, width, height, source) {
    const r = { name, blob, width, height, boxes: [], split: 'train', source, added: Date.now() };
    assignSplits([r]);
    try {
      [r.id] = await store.images.add([r]);
    } catch (e) {
      notStored(e, name);
      return;
    }
    D.images.push(r);
    renderAll();
    changed();
    app.selectTab('train');
    await openEditor(r.id);
    app.notify({ level: 'info', title: 'Added to the dataset', text: `${name} — draw boxes on it in the editor.` });
  }

  /** An import that storage refused: nothing of it is in the dataset, and the message says why. */
  function notStored(e, what) {
    app.notify({ level: 'error', id: 'storage', title: `Not added: ${what}`, text: e.message });
    app.emit('import-error', { kind: 'storage', message: e.message });
  }

  /** Gives new images a split: about `val share` of them go to validation, at least one once there are 3+ images. */
  function assignSplits(records) {
    const share = +$('#val-share').value;
    let val = D.images.filter((r) => r.split === 'val').length;
    let total = D.images.length;
    for (const r of records) {
      total++;
      const want = Math.max(share > 0 && total >= 3 ? 1 : 0, Math.round(total * share));
      r.split = val < want ? 'val' : 'train';
      if (r.split === 'val') val++;
    }
  }

  /** Removes an image (undo brings it back: it stays in storage, marked `removed`), or brings it back. */
  function setRemoved(r, gone) {
    r.removed = gone;
    if (gone) {
      D.images = D.images.filter((i) => i !== r);
      removed.set(r.id, r);
      if (editing === r.id) closeEditor();
    } else if (removed.delete(r.id)) {
      const at = D.images.findIndex((i) => i.id > r.id);
      D.images.splice(at < 0 ? D.images.length : at, 0, r);
    }
  }

  /** Deletes for good the removed images that no undo step names any more. */
  function purge(keep) {
    for (const id of [...removed.keys()]) {
      if (keep.has(id)) continue;
      removed.delete(id);
      saving = saving.then(() => store.images.del(id)).catch(() => {});
    }
  }

  function resplit() {
    const share = +$('#val-share').value;
    const sorted = [...D.images].sort((a, b) => hash(a.name) - hash(b.name));
    const nVal = Math.max(share > 0 && sorted.length >= 3 ? 1 : 0, Math.round(sorted.length * share));
    labels.edit('resplit', sorted.map((r, i) => ({ r, split: i < nVal ? 'val' : 'train' })));
  }

  function warnUnknownClasses() {
    const labels = app.state.model?.info?.labels;
    if (!labels || !D.classes.length) return;
    const unknown = D.classes.filter((c) => !labels.includes(c));
    if (unknown.length) {
      app.notify({
        level: 'info', id: 'unknown-classes', sticky: 15_000, title: 'New classes for this model',
        text: `${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not among the model's ${labels.length} classes, so fine-tuning trains a new classification head for your ${D.classes.length} classes (${D.classes.join(', ')}). To keep the model's head, use its class names exactly.`,
      });
    } else {
      app.clearMessage('unknown-classes');
    }
  }

  // ---------------------------------------------------------------- rendering

  function renderAll() {
    const open = D.images.find((i) => i.id === editing);
    if (open) $('#editor-split').value = open.split; // undo and redo change it too
    renderStats();
    renderClasses();
    renderGallery();
  }

  function renderStats() {
    const n = D.images.length;
    const train = D.images.filter((r) => r.split === 'train').length;
    const boxes = D.images.reduce((s, r) => s + r.boxes.length, 0);
    $('#dataset-stats').textContent = n ? `${n} image${n === 1 ? '' : 's'} · ${train} train / ${n - train} validation · ${boxes} boxes · ${D.classes.length} classes` : 'empty';
    $('#dataset-count').textContent = n ? String(n) : '';
    $('#class-list').replaceChildren(...D.classes.map((c) => el('option', { value: c })));
    labels.renderProgress();
  }

  /** One chip per class: its number key (on the swatch), its box count, and × to remove an unused class. */
  function renderClasses() {
    const stats = new Map(labels.renderProgress().perClass.map((c) => [c.cls, c]));
    const current = editor.currentClass;
    $('#class-chips').replaceChildren(...D.classes.map((c, i) => {
      const s = stats.get(c) || { count: 0, train: 0, val: 0 };
      return el('span', { class: `class-chip${c === current ? ' current' : ''}`, title: `${s.train} boxes in train, ${s.val} in validation${i < 9 ? ` — key ${i + 1}` : ''}`, dataset: { cls: c } },
        el('span', { class: 'swatch', style: `background:${labelColor(i)}`, dataset: { key: i < 9 ? String(i + 1) : '' } }),
        el('button', { type: 'button', class: 'linklike', text: `${c} (${s.count})`, onclick: () => { $('#editor-class').value = c; editor.setClass(c); renderClasses(); } }),
        s.count ? null : el('button', { type: 'button', class: 'linklike', 'aria-label': `remove class ${c}`, text: '×', onclick: () => labels.edit(`remove class ${c}`, [], D.classes.filter((x) => x !== c)) }));
    }));
  }

  function renderGallery() {
    const alive = new Set(D.images.map((r) => r.id));
    for (const [id, u] of urls) if (!alive.has(id)) { URL.revokeObjectURL(u); urls.delete(id); }
    if (!D.images.length) {
      gallery.replaceChildren(el('p', { class: 'muted small', text: 'No images yet. Drop a labelled dataset, or photos to label, above — or add webcam frames from the Detect tab.' }));
      return;
    }
    gallery.replaceChildren(...D.images.map((r) => {
      if (!urls.has(r.id)) urls.set(r.id, URL.createObjectURL(r.blob));
      const thumb = el('div', { class: 'thumb-img' }, el('img', { src: urls.get(r.id), alt: r.name, loading: 'lazy' }),
        ...r.boxes.slice(0, 60).map((b) => el('span', {
          class: 'thumb-box',
          style: `left:${(100 * b.x0) / r.width}%;top:${(100 * b.y0) / r.height}%;width:${(100 * (b.x1 - b.x0)) / r.width}%;height:${(100 * (b.y1 - b.y0)) / r.height}%;border-color:${labelColor(Math.max(0, D.classes.indexOf(b.cls)))}`,
        })));
      const waiting = r.proposals?.length || 0;
      return el('button', { type: 'button', class: `thumb${r.id === editing ? ' selected' : ''}${r.boxes.length ? '' : ' unlabelled'}`, dataset: { id: r.id, split: r.split }, title: r.name, onclick: () => openEditor(r.id) },
        thumb,
        el('span', { class: 'thumb-name', text: r.name }),
        el('span', { class: 'thumb-meta' }, el('span', { class: `split-badge ${r.split}`, text: r.split === 'val' ? 'val' : 'train' }), ` ${r.boxes.length} box${r.boxes.length === 1 ? '' : 'es'}`,
          waiting ? el('span', { class: 'proposal-badge', title: 'proposals waiting', text: ` +${waiting}?` }) : null));
    }));
  }

  /** Keeps the open image's thumbnail in view inside the gallery (without scrolling the page). */
  function scrollToThumb() {
    const t = gallery.querySelector('.thumb.selected');
    if (!t) return;
    const g = gallery.getBoundingClientRect(), b = t.getBoundingClientRect();
    if (b.top < g.top) gallery.scrollTop += b.top - g.top;
    else if (b.bottom > g.bottom) gallery.scrollTop += b.bottom - g.bottom;
  }

  function closeEditor() {
    editing = null;
    editor.close();
    $('#editor-name').textContent = 'Pick an image in the dataset.';
    $('#editor-split').disabled = true;
    $('#editor-remove-image').disabled = true;
  }

  /** Opens image `id` in the editor; `predictions` (the last validation's detections, image pixels) are drawn over it. */
  async function openEditor(id, { predictions = null } = {}) {
    const r = D.images.find((i) => i.id === id);
    if (!r) return;
    editing = id;
    $('#editor-name').textContent = `${r.name} · ${r.width}×${r.height}`;
    $('#editor-split').value = r.split;
    $('#editor-split').disabled = false;
    $('#editor-remove-image').disabled = false;
    try {
      await editor.open(r);
      if (predictions) editor.setPredictions(predictions);
    } catch (e) {
      app.notify({ level: 'error', title: `${r.name} cannot be shown`, text: e.message });
    }
    if (!$('#editor-class').value && D.classes.length) { $('#editor-class').value = D.classes[0]; editor.setClass(D.classes[0]); }
    labels.onOpen();
    renderClasses();
    renderGallery();
    scrollToThumb();
    app.emit('editor-open', { id, name: r.name });
    store.kv.set('labelEditing', id).catch(() => {});
  }

  // ---------------------------------------------------------------- controls

  $('#dataset-file').addEventListener('change', async (e) => {
    const files = [...e.target.files];
    e.target.value = '';
    if (files.length) await importFiles(files);
  });
  onFileDrop($('#dataset-drop'), importFiles);
  $('#val-share').addEventListener('input', () => { $('#val-share-out').textContent = `${Math.round(+$('#val-share').value * 100)}%`; });
  $('#resplit').addEventListener('click', resplit);
  $('#clear-dataset').addEventListener('click', async () => {
    if (!D.images.length || !confirm(`Remove all ${D.images.length} images and their boxes from this browser?`)) return;
    await store.images.clear();
    D.images = [];
    removed.clear();
    closeEditor();
    labels.clear();
    renderAll();
    changed();
  });
  const classInput = $('#editor-class');
  /** The class typed in the field: for new boxes and the selected one; a new name joins the class list (and a number key). */
  function useTypedClass() {
    const name = classInput.value.trim();
    // The new class first, then the selected box takes it: undo takes the box's class back before the class.
    if (name && !D.classes.includes(name)) labels.edit(`add class ${name}`, [], [...D.classes, name]);
    editor.setClass(name);
    renderClasses();
  }
  classInput.addEventListener('input', () => { editor.currentClass = classInput.value.trim(); });
  classInput.addEventListener('change', useTypedClass);
  // Enter in the class field hands the keyboard back to the image (number keys, Delete, …).
  classInput.addEventListener('keydown', (e) => { if (e.key === 'Enter') { useTypedClass(); editor.canvas.focus({ preventScroll: true }); } });
  $('#editor-delete').addEventListener('click', () => editor.deleteSelected());
  $('#editor-split').addEventListener('change', (e) => {
    const r = D.images.find((i) => i.id === editing);
    if (r) labels.edit(`move ${r.name} to ${e.target.value === 'val' ? 'validation' : 'train'}`, [{ r, split: e.target.value }]);
  });
  $('#editor-remove-image').addEventListener('click', () => {
    const r = D.images.find((i) => i.id === editing);
    if (r) labels.edit(`remove ${r.name}`, [{ r, removed: true }]);
  });
  app.on('model', warnUnknownClasses);

  return {
    load,
    importFiles,
    addImage,
    /** Opens an image in the label editor (with `{predictions}` drawn over it). */
    open: (id, options) => openEditor(id, options),
    /** Decoded training data for the engine: {classNames, train, val} with RGBA scaled to ≤ maxSide (its buffers move with `startTraining`). */
    async payload(maxSide) {
      const out = { classNames: [...D.classes], train: [], val: [] };
      for (const r of D.images) {
        const bmp = await createImageBitmap(r.blob);
        const s = Math.min(1, maxSide / Math.max(bmp.width, bmp.height));
        const w = Math.max(1, Math.round(bmp.width * s)), h = Math.max(1, Math.round(bmp.height * s));
        const c = new OffscreenCanvas(w, h);
        const g = c.getContext('2d', { willReadFrequently: true });
        g.drawImage(bmp, 0, 0, w, h);
        bmp.close();
        const rgba = g.getImageData(0, 0, w, h).data.buffer;
        const sx = w / r.width, sy = h / r.height;
        const boxes = r.boxes
          .filter((b) => out.classNames.includes(b.cls) && b.x1 > b.x0 && b.y1 > b.y0)
          .map((b) => ({ x0: b.x0 * sx, y0: b.y0 * sy, x1: b.x1 * sx, y1: b.y1 * sy, label: out.classNames.indexOf(b.cls) }));
        out[r.split === 'val' ? 'val' : 'train'].push({ rgba, width: w, height: h, boxes });
      }
      return out;
    },
    /** A fingerprint of what training depends on: images, boxes, classes, split. */
    fingerprint() {
      return JSON.stringify([D.classes, D.images.map((r) => [r.id, r.split, r.boxes.map((b) => [b.cls, b.x0, b.y0, b.x1, b.y1])])]);
    },
  };
}

function hash(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
