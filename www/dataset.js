// @ts-check
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

/** @typedef {{x0: number, y0: number, x1: number, y1: number, cls: string}} LabelBox a box in image pixels, naming its class */
/**
 * @typedef {object} ImageRecord one image of the dataset (store.js `images`)
 * @property {number} id
 * @property {string} name
 * @property {Blob} blob
 * @property {number} width
 * @property {number} height
 * @property {LabelBox[]} boxes
 * @property {'train' | 'val'} split
 * @property {string} source
 * @property {number} added
 * @property {object[]} [proposals]
 * @property {boolean} [removed]
 */
/** @typedef {{images: ImageRecord[], classes: string[], version: number}} DatasetState `cdetrApp.state.dataset` */
/** @typedef {{file: File, width: number, height: number}} Decoded an image file and its size */

/**
 * @typedef {object} DatasetDeps what the dataset (and its labelling tools) use
 * @property {Pick<import('./engine-host.js').EngineHost, 'call' | 'ready'>} engine
 * @property {Pick<import('./model-loader.js').ModelLoader, 'current'>} models
 * @property {import('./message-centre.js').Notify} notify
 * @property {import('./message-centre.js').ClearMessage} clearMessage
 * @property {import('./busy.js').Busy} busy
 * @property {import('./events.js').EventBus} events
 * @property {import('./tabs.js').SelectTab} selectTab
 * @property {() => void} forgetAttention the engine's attention maps belong to other images now (proposals)
 */

/** @param {DatasetDeps} deps */
export function initDataset(deps) {
  const tab = new DatasetTab(deps);
  tab.wire();
  return tab;
}

export class DatasetTab {
  /** @param {DatasetDeps} deps */
  constructor(deps) {
    this.deps = deps;
    /** @type {DatasetState} */
    this.state = { images: [], classes: [], version: 0 };
    this.gallery = $('#gallery');
    this.classInput = /** @type {HTMLInputElement} */ ($('#editor-class'));
    /** @type {Map<number, string>} image id → object URL of its thumbnail */
    this.urls = new Map();
    /** @type {Map<number, ImageRecord>} removed images that undo can still bring back (not in `state.images`) */
    this.removed = new Map();
    /** @type {number | null} id of the image in the editor */
    this.editing = null;
    /** @type {Promise<unknown>} the queue of record writes */
    this.saving = Promise.resolve();
    this.editor = this.makeEditor();
    const D = this.state;
    this.labels = initLabelTools({
      engine: deps.engine, models: deps.models, notify: deps.notify, busy: deps.busy, events: deps.events, forgetAttention: deps.forgetAttention,
      ds: {
        D, editor: this.editor,
        current: () => this.current(),
        open: (id) => this.openEditor(id),
        save: (r) => this.saveRecord(r),
        refresh: () => { this.renderAll(); this.changed(); },
        record: (id) => D.images.find((i) => i.id === id) ?? this.removed.get(id) ?? null,
        setRemoved: (r, gone) => this.setRemoved(r, gone),
        setClasses: (list) => { D.classes = [...list]; this.saveClasses().catch(() => {}); },
        purge: (keep) => this.purge(keep),
      },
    });
  }

  /** The box editor, telling the labelling tools (made right after it) of every edit and selection. */
  makeEditor() {
    return new BoxEditor(/** @type {HTMLCanvasElement} */ ($('#editor-canvas')), {
      classIndex: (name) => this.state.classes.indexOf(name),
      onEdit: (edit) => this.labels?.onEdit(edit),
      visibleProposals: (proposals) => this.labels?.visible(proposals) ?? [],
      onSelect: (sel) => this.onSelect(sel),
      onView: (view) => { if (this.labels) this.labels.state.view = { ...view }; },
      onNeedClass: () => {
        this.deps.notify({ level: 'warn', id: 'need-class', title: 'Name the class first', text: 'Type a class name (or pick one) in “Class for new boxes”, or press 1–9 for a class of the list, then draw the box.' });
        this.classInput.focus();
      },
    });
  }

  /** @param {any} sel the editor's selection: {kind: 'box' | 'proposal', index, box?} or null */
  onSelect(sel) {
    const del = /** @type {HTMLButtonElement} */ ($('#editor-delete'));
    del.disabled = !sel;
    del.textContent = sel?.kind === 'proposal' ? 'Reject proposal' : 'Delete box';
    /** @type {HTMLButtonElement} */ ($('#editor-duplicate')).disabled = sel?.kind !== 'box';
    if (sel?.kind === 'box' && sel.box.cls) this.classInput.value = sel.box.cls;
    if (this.labels) this.labels.state.selection = sel && { kind: sel.kind, index: sel.index };
    if (this.labels) this.renderClasses();
  }

  /** The record in the editor. */
  current() {
    return this.state.images.find((i) => i.id === this.editing) ?? null;
  }

  // ---------------------------------------------------------------- persistence

  async load() {
    const D = this.state;
    const all = await store.images.all();
    D.images = all.filter((r) => !r.removed);
    this.removed.clear();
    for (const r of all) if (r.removed) this.removed.set(r.id, r);
    D.classes = (await store.kv.get('classes')) || [];
    await this.labels.load();
    this.renderAll();
    // The image that was in the editor before the reload opens again.
    const last = await store.kv.get('labelEditing');
    if (last !== undefined && D.images.some((r) => r.id === last)) await this.openEditor(last);
  }

  async saveClasses() {
    const D = this.state;
    // Classes in use keep their order; classes no box uses any more stay until removed by hand.
    for (const r of D.images) for (const b of r.boxes) if (b.cls && !D.classes.includes(b.cls)) D.classes.push(b.cls);
    await store.kv.set('classes', D.classes);
  }

  changed() {
    const D = this.state;
    D.version++;
    this.deps.events.emit('dataset', { images: D.images.length, classes: [...D.classes], version: D.version });
  }

  /**
   * Saves a record's labels (writes are queued, so they land in the order they were made).
   * @param {ImageRecord} r
   * @returns {Promise<boolean>} whether the record was written (false: the user has been told why)
   */
  saveRecord(r) {
    const D = this.state;
    if (!r.removed) for (const b of r.boxes) if (b.cls && !D.classes.includes(b.cls)) D.classes.push(b.cls);
    const saved = this.saving.then(async () => {
      try {
        if (!D.images.includes(r) && this.removed.get(r.id) !== r) return true; // gone for good meanwhile
        await store.images.put(r);
        await this.saveClasses();
        return true;
      } catch (/** @type {any} */ e) {
        this.deps.notify({ level: 'error', id: 'save', title: 'The boxes could not be saved', text: `${e.message}. They are kept on this page; free some disk space and edit again to retry.` });
        return false;
      }
    });
    this.saving = saved;
    return saved;
  }

  // ---------------------------------------------------------------- import

  /**
   * Imports dropped/picked files: images, with or without annotation files.
   * @param {Iterable<File> | ArrayLike<File>} fileList
   */
  async importFiles(fileList) {
    const files = [...Array.from(fileList)];
    const imageFiles = files.filter((f) => IMAGE_EXT.test(f.name) || (f.type.startsWith('image/') && !ANNOTATION_EXT.test(f.name)));
    const annotationFiles = files.filter((f) => !imageFiles.includes(f) && ANNOTATION_EXT.test(f.name));
    const ignored = files.filter((f) => !imageFiles.includes(f) && !annotationFiles.includes(f));
    const done = this.deps.busy('reading the dropped files');
    try {
      const decoded = await this.decodeAll(imageFiles);
      if (ignored.length) {
        this.deps.notify({ level: 'warn', title: 'Some files were ignored', text: 'Only images and COCO .json / VOC .xml / YOLO .txt (+ classes.txt) annotations are used.', details: ignored.map((f) => f.name) });
      }
      let parsed = null;
      if (annotationFiles.length) {
        const result = await this.parseAnnotations(annotationFiles, decoded);
        if ('error' in result) return { added: 0, error: result.error };
        parsed = result.parsed;
      }
      const { records, duplicates } = this.newRecords(decoded, parsed);
      if (records.length && !(await this.addRecords(records))) return { added: 0, boxes: 0 };
      const boxes = records.reduce((n, r) => n + r.boxes.length, 0);
      if (records.length || duplicates) this.reportImport(records, boxes, duplicates);
      this.warnUnknownClasses();
      this.deps.events.emit('imported', { added: records.length, boxes, duplicates });
      return { added: records.length, boxes };
    } finally {
      done();
    }
  }

  /**
   * The sizes of the image files; the ones that are not images are left out, with a message.
   * @param {File[]} imageFiles
   * @returns {Promise<Decoded[]>}
   */
  async decodeAll(imageFiles) {
    const decoded = [];
    const bad = [];
    for (const f of imageFiles) {
      try {
        const bmp = await decodeImage(f);
        decoded.push({ file: f, width: bmp.width, height: bmp.height });
        bmp.close();
      } catch (/** @type {any} */ e) {
        bad.push(e.message);
      }
    }
    if (bad.length) {
      this.deps.notify({ level: 'error', id: 'bad-images', title: bad.length === 1 ? 'One file is not an image' : `${bad.length} files are not images`, text: 'They were left out; everything else was added as usual.', details: bad });
      this.deps.events.emit('import-error', { kind: 'image', details: bad });
    }
    return decoded;
  }

  /**
   * The engine reads the annotation files against the images' sizes.
   * @param {File[]} annotationFiles
   * @param {Decoded[]} decoded
   * @returns {Promise<{parsed: import('./protocol.js').Requests['parseDataset']['result']} | {error: string}>}
   */
  async parseAnnotations(annotationFiles, decoded) {
    const { engine, notify, events } = this.deps;
    const texts = await Promise.all(annotationFiles.map(async (f) => ({ name: f.name, text: await f.text() })));
    let parsed;
    try {
      await engine.ready;
      parsed = await engine.call('parseDataset', { files: texts, images: decoded.map((d) => ({ name: d.file.name, width: d.width, height: d.height })) });
    } catch (/** @type {any} */ e) {
      notify({
        level: 'error', id: 'bad-annotations', title: 'The annotations could not be read',
        text: `${e.message}. Nothing from this drop was added — fix that file and drop it again together with its images. Your dataset is unchanged.`,
      });
      events.emit('import-error', { kind: 'annotations', message: e.message });
      return { error: e.message };
    }
    if (parsed.report?.messages?.length) {
      notify({ level: 'warn', id: 'import-report', title: 'Notes on the annotations', text: parsed.report.summary || '', details: /** @type {string[]} */ (parsed.report.messages) });
    }
    return { parsed };
  }

  /**
   * Records for the decoded images (with their parsed boxes) that are not in the dataset yet; the parsed
   * classes join the class list.
   * @param {Decoded[]} decoded
   * @param {import('./protocol.js').Requests['parseDataset']['result'] | null} parsed
   */
  newRecords(decoded, parsed) {
    const D = this.state;
    const byImage = new Map((parsed?.samples || []).map((s) => [s.image, s]));
    /** @type {ImageRecord[]} */
    const records = [];
    let duplicates = 0;
    for (const d of decoded) {
      if (D.images.some((r) => r.name === d.file.name && r.width === d.width && r.height === d.height)) { duplicates++; continue; }
      const sample = byImage.get(d.file.name);
      const boxes = (sample?.boxes || []).map((b) => ({ x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1, cls: parsed?.classNames[b.label] ?? `class ${b.label}` }));
      records.push(/** @type {ImageRecord} */ (/** @type {unknown} */ ({ name: d.file.name, blob: d.file, width: d.width, height: d.height, boxes, split: 'train', source: sample ? 'annotated' : 'photo', added: Date.now() })));
    }
    if (parsed) for (const c of parsed.classNames) if (!D.classes.includes(c)) D.classes.push(c);
    this.assignSplits(records);
    return { records, duplicates };
  }

  /**
   * Stores new records (one transaction) and shows them; false when storage refused them.
   * @param {ImageRecord[]} records
   */
  async addRecords(records) {
    const D = this.state;
    let ids;
    try {
      ids = await store.images.add(records);
    } catch (/** @type {any} */ e) {
      // Nothing was added (one transaction): say why, keep the class list as it was stored.
      D.classes = (await store.kv.get('classes').catch(() => null)) || D.classes;
      this.notStored(e, `${records.length} image${records.length === 1 ? '' : 's'}`);
      return false;
    }
    records.forEach((r, i) => { r.id = ids[i]; });
    D.images.push(...records);
    await this.saveClasses();
    this.renderAll();
    this.changed();
    if (!this.editing) this.openEditor(records[0].id);
    return true;
  }

  /** @param {ImageRecord[]} records @param {number} boxes @param {number} duplicates */
  reportImport(records, boxes, duplicates) {
    this.deps.notify({
      level: 'success', id: 'import-ok', title: `Added ${records.length} image${records.length === 1 ? '' : 's'}${boxes ? ` with ${boxes} boxes` : ''}`,
      text: [duplicates ? `${duplicates} already in the dataset (same name and size) were skipped.` : '', records.some((r) => !r.boxes.length) ? 'Images without annotations can be labelled in the editor.' : ''].filter(Boolean).join(' '),
    });
  }

  /**
   * Adds one image (a photo, a webcam frame) and opens it in the editor.
   * @param {Blob} blob @param {string} name @param {number} width @param {number} height @param {string} source
   */
  async addImage(blob, name, width, height, source) {
    const r = /** @type {ImageRecord} */ (/** @type {unknown} */ ({ name, blob, width, height, boxes: [], split: 'train', source, added: Date.now() })); // its id comes from storage
    this.assignSplits([r]);
    try {
      [r.id] = await store.images.add([r]);
    } catch (/** @type {any} */ e) {
      this.notStored(e, name);
      return;
    }
    this.state.images.push(r);
    this.renderAll();
    this.changed();
    this.deps.selectTab('train');
    await this.openEditor(r.id);
    this.deps.notify({ level: 'info', title: 'Added to the dataset', text: `${name} — draw boxes on it in the editor.` });
  }

  /**
   * An import that storage refused: nothing of it is in the dataset, and the message says why.
   * @param {any} e @param {string} what
   */
  notStored(e, what) {
    this.deps.notify({ level: 'error', id: 'storage', title: `Not added: ${what}`, text: e.message });
    this.deps.events.emit('import-error', { kind: 'storage', message: e.message });
  }

  /**
   * Gives new images a split: about `val share` of them go to validation, at least one once there are 3+ images.
   * @param {ImageRecord[]} records
   */
  assignSplits(records) {
    const D = this.state;
    const share = +/** @type {HTMLInputElement} */ ($('#val-share')).value;
    let val = D.images.filter((r) => r.split === 'val').length;
    let total = D.images.length;
    for (const r of records) {
      total++;
      const want = Math.max(share > 0 && total >= 3 ? 1 : 0, Math.round(total * share));
      r.split = val < want ? 'val' : 'train';
      if (r.split === 'val') val++;
    }
  }

  /**
   * Removes an image (undo brings it back: it stays in storage, marked `removed`), or brings it back.
   * @param {ImageRecord} r @param {boolean} gone
   */
  setRemoved(r, gone) {
    const D = this.state;
    r.removed = gone;
    if (gone) {
      D.images = D.images.filter((i) => i !== r);
      this.removed.set(r.id, r);
      if (this.editing === r.id) this.closeEditor();
    } else if (this.removed.delete(r.id)) {
      const at = D.images.findIndex((i) => i.id > r.id);
      D.images.splice(at < 0 ? D.images.length : at, 0, r);
    }
  }

  /**
   * Deletes for good the removed images that no undo step names any more.
   * @param {Set<number>} keep
   */
  purge(keep) {
    for (const id of [...this.removed.keys()]) {
      if (keep.has(id)) continue;
      this.removed.delete(id);
      this.saving = this.saving.then(() => store.images.del(id)).catch(() => {});
    }
  }

  resplit() {
    const share = +/** @type {HTMLInputElement} */ ($('#val-share')).value;
    const sorted = [...this.state.images].sort((a, b) => hash(a.name) - hash(b.name));
    const nVal = Math.max(share > 0 && sorted.length >= 3 ? 1 : 0, Math.round(sorted.length * share));
    this.labels.edit('resplit', sorted.map((r, i) => ({ r, split: i < nVal ? 'val' : 'train' })));
  }

  warnUnknownClasses() {
    const D = this.state;
    const labels = this.deps.models.current?.info?.labels;
    if (!labels || !D.classes.length) return;
    const unknown = D.classes.filter((c) => !labels.includes(c));
    if (unknown.length) {
      this.deps.notify({
        level: 'info', id: 'unknown-classes', sticky: 15_000, title: 'New classes for this model',
        text: `${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not among the model's ${labels.length} classes, so fine-tuning trains a new classification head for your ${D.classes.length} classes (${D.classes.join(', ')}). To keep the model's head, use its class names exactly.`,
      });
    } else {
      this.deps.clearMessage('unknown-classes');
    }
  }

  // ---------------------------------------------------------------- rendering

  renderAll() {
    const open = this.current();
    if (open) /** @type {HTMLSelectElement} */ ($('#editor-split')).value = open.split; // undo and redo change it too
    this.renderStats();
    this.renderClasses();
    this.renderGallery();
  }

  renderStats() {
    const D = this.state;
    const n = D.images.length;
    const train = D.images.filter((r) => r.split === 'train').length;
    const boxes = D.images.reduce((s, r) => s + r.boxes.length, 0);
    $('#dataset-stats').textContent = n ? `${n} image${n === 1 ? '' : 's'} · ${train} train / ${n - train} validation · ${boxes} boxes · ${D.classes.length} classes` : 'empty';
    $('#dataset-count').textContent = n ? String(n) : '';
    $('#class-list').replaceChildren(...D.classes.map((c) => el('option', { value: c })));
    this.labels.renderProgress();
  }

  /** One chip per class: its number key (on the swatch), its box count, and × to remove an unused class. */
  renderClasses() {
    const D = this.state;
    const stats = new Map(this.labels.renderProgress().perClass.map((c) => [c.cls, c]));
    const current = this.editor.currentClass;
    $('#class-chips').replaceChildren(...D.classes.map((c, i) => {
      const s = stats.get(c) || { count: 0, train: 0, val: 0 };
      return el('span', { class: `class-chip${c === current ? ' current' : ''}`, title: `${s.train} boxes in train, ${s.val} in validation${i < 9 ? ` — key ${i + 1}` : ''}`, dataset: { cls: c } },
        el('span', { class: 'swatch', style: `background:${labelColor(i)}`, dataset: { key: i < 9 ? String(i + 1) : '' } }),
        el('button', { type: 'button', class: 'linklike', text: `${c} (${s.count})`, onclick: () => { this.classInput.value = c; this.editor.setClass(c); this.renderClasses(); } }),
        s.count ? null : el('button', { type: 'button', class: 'linklike', 'aria-label': `remove class ${c}`, text: '×', onclick: () => this.labels.edit(`remove class ${c}`, [], D.classes.filter((x) => x !== c)) }));
    }));
  }

  renderGallery() {
    const D = this.state;
    const alive = new Set(D.images.map((r) => r.id));
    for (const [id, u] of this.urls) if (!alive.has(id)) { URL.revokeObjectURL(u); this.urls.delete(id); }
    if (!D.images.length) {
      this.gallery.replaceChildren(el('p', { class: 'muted small', text: 'No images yet. Drop a labelled dataset, or photos to label, above — or add webcam frames from the Detect tab.' }));
      return;
    }
    this.gallery.replaceChildren(...D.images.map((r) => this.thumb(r)));
  }

  /** @param {ImageRecord} r */
  thumb(r) {
    const D = this.state;
    if (!this.urls.has(r.id)) this.urls.set(r.id, URL.createObjectURL(r.blob));
    const thumb = el('div', { class: 'thumb-img' }, el('img', { src: this.urls.get(r.id), alt: r.name, loading: 'lazy' }),
      ...r.boxes.slice(0, 60).map((b) => el('span', {
        class: 'thumb-box',
        style: `left:${(100 * b.x0) / r.width}%;top:${(100 * b.y0) / r.height}%;width:${(100 * (b.x1 - b.x0)) / r.width}%;height:${(100 * (b.y1 - b.y0)) / r.height}%;border-color:${labelColor(Math.max(0, D.classes.indexOf(b.cls)))}`,
      })));
    const waiting = r.proposals?.length || 0;
    return el('button', { type: 'button', class: `thumb${r.id === this.editing ? ' selected' : ''}${r.boxes.length ? '' : ' unlabelled'}`, dataset: { id: r.id, split: r.split }, title: r.name, onclick: () => this.openEditor(r.id) },
      thumb,
      el('span', { class: 'thumb-name', text: r.name }),
      el('span', { class: 'thumb-meta' }, el('span', { class: `split-badge ${r.split}`, text: r.split === 'val' ? 'val' : 'train' }), ` ${r.boxes.length} box${r.boxes.length === 1 ? '' : 'es'}`,
        waiting ? el('span', { class: 'proposal-badge', title: 'proposals waiting', text: ` +${waiting}?` }) : null));
  }

  /** Keeps the open image's thumbnail in view inside the gallery (without scrolling the page). */
  scrollToThumb() {
    const t = this.gallery.querySelector('.thumb.selected');
    if (!t) return;
    const g = this.gallery.getBoundingClientRect(), b = t.getBoundingClientRect();
    if (b.top < g.top) this.gallery.scrollTop += b.top - g.top;
    else if (b.bottom > g.bottom) this.gallery.scrollTop += b.bottom - g.bottom;
  }

  closeEditor() {
    this.editing = null;
    this.editor.close();
    $('#editor-name').textContent = 'Pick an image in the dataset.';
    /** @type {HTMLSelectElement} */ ($('#editor-split')).disabled = true;
    /** @type {HTMLButtonElement} */ ($('#editor-remove-image')).disabled = true;
  }

  /**
   * Opens image `id` in the editor; `predictions` (the last validation's detections, image pixels) are drawn over it.
   * @param {number} id
   * @param {{predictions?: object[] | null}} [options]
   */
  async openEditor(id, { predictions = null } = {}) {
    const D = this.state;
    const r = D.images.find((i) => i.id === id);
    if (!r) return;
    this.editing = id;
    $('#editor-name').textContent = `${r.name} · ${r.width}×${r.height}`;
    const split = /** @type {HTMLSelectElement} */ ($('#editor-split'));
    split.value = r.split;
    split.disabled = false;
    /** @type {HTMLButtonElement} */ ($('#editor-remove-image')).disabled = false;
    try {
      await this.editor.open(r);
      if (predictions) this.editor.setPredictions(predictions);
    } catch (/** @type {any} */ e) {
      this.deps.notify({ level: 'error', title: `${r.name} cannot be shown`, text: e.message });
    }
    if (!this.classInput.value && D.classes.length) { this.classInput.value = D.classes[0]; this.editor.setClass(D.classes[0]); }
    this.labels.onOpen();
    this.renderClasses();
    this.renderGallery();
    this.scrollToThumb();
    this.deps.events.emit('editor-open', { id, name: r.name });
    store.kv.set('labelEditing', id).catch(() => {});
  }

  /** Opens an image in the label editor (with `{predictions}` drawn over it). @param {number} id @param {{predictions?: object[] | null}} [options] */
  open(id, options) {
    return this.openEditor(id, options);
  }

  /**
   * Decoded training data for the engine: {classNames, train, val} with RGBA scaled to ≤ maxSide (its buffers move with `startTraining`).
   * @param {number} maxSide
   * @returns {Promise<import('./protocol.js').TrainingData>}
   */
  async payload(maxSide) {
    /** @type {import('./protocol.js').TrainingData} */
    const out = { classNames: [...this.state.classes], train: [], val: [] };
    for (const r of this.state.images) out[r.split === 'val' ? 'val' : 'train'].push(await sample(r, out.classNames, maxSide));
    return out;
  }

  /** A fingerprint of what training depends on: images, boxes, classes, split. */
  fingerprint() {
    const D = this.state;
    return JSON.stringify([D.classes, D.images.map((r) => [r.id, r.split, r.boxes.map((b) => [b.cls, b.x0, b.y0, b.x1, b.y1])])]);
  }

  // ---------------------------------------------------------------- controls

  /** Clears the whole dataset (after asking). */
  async clearAll() {
    const D = this.state;
    if (!D.images.length || !confirm(`Remove all ${D.images.length} images and their boxes from this browser?`)) return;
    await store.images.clear();
    D.images = [];
    this.removed.clear();
    this.closeEditor();
    this.labels.clear();
    this.renderAll();
    this.changed();
  }

  /** The class typed in the field: for new boxes and the selected one; a new name joins the class list (and a number key). */
  useTypedClass() {
    const D = this.state;
    const name = this.classInput.value.trim();
    // The new class first, then the selected box takes it: undo takes the box's class back before the class.
    if (name && !D.classes.includes(name)) this.labels.edit(`add class ${name}`, [], [...D.classes, name]);
    this.editor.setClass(name);
    this.renderClasses();
  }

  wire() {
    const fileInput = /** @type {HTMLInputElement} */ ($('#dataset-file'));
    fileInput.addEventListener('change', async () => {
      const files = [...(fileInput.files ?? [])];
      fileInput.value = '';
      if (files.length) await this.importFiles(files);
    });
    onFileDrop($('#dataset-drop'), (files) => this.importFiles(files));
    const share = /** @type {HTMLInputElement} */ ($('#val-share'));
    share.addEventListener('input', () => { $('#val-share-out').textContent = `${Math.round(+share.value * 100)}%`; });
    $('#resplit').addEventListener('click', () => this.resplit());
    $('#clear-dataset').addEventListener('click', () => this.clearAll());
    this.wireEditorControls();
    this.deps.events.on('model', () => this.warnUnknownClasses());
  }

  wireEditorControls() {
    const { classInput, editor } = this;
    classInput.addEventListener('input', () => { editor.currentClass = classInput.value.trim(); });
    classInput.addEventListener('change', () => this.useTypedClass());
    // Enter in the class field hands the keyboard back to the image (number keys, Delete, …).
    classInput.addEventListener('keydown', (e) => { if (e.key === 'Enter') { this.useTypedClass(); editor.canvas.focus({ preventScroll: true }); } });
    $('#editor-delete').addEventListener('click', () => editor.deleteSelected());
    const split = /** @type {HTMLSelectElement} */ ($('#editor-split'));
    split.addEventListener('change', () => {
      const r = this.current();
      if (r) this.labels.edit(`move ${r.name} to ${split.value === 'val' ? 'validation' : 'train'}`, [{ r, split: split.value }]);
    });
    $('#editor-remove-image').addEventListener('click', () => {
      const r = this.current();
      if (r) this.labels.edit(`remove ${r.name}`, [{ r, removed: true }]);
    });
  }
}

/**
 * One image as the engine trains on it: RGBA scaled to ≤ maxSide, boxes of the known classes scaled with it.
 * @param {ImageRecord} r @param {string[]} classNames @param {number} maxSide
 * @returns {Promise<import('./protocol.js').Sample>}
 */
async function sample(r, classNames, maxSide) {
  const bmp = await createImageBitmap(r.blob);
  const s = Math.min(1, maxSide / Math.max(bmp.width, bmp.height));
  const w = Math.max(1, Math.round(bmp.width * s)), h = Math.max(1, Math.round(bmp.height * s));
  const c = new OffscreenCanvas(w, h);
  const g = /** @type {OffscreenCanvasRenderingContext2D} */ (c.getContext('2d', { willReadFrequently: true }));
  g.drawImage(bmp, 0, 0, w, h);
  bmp.close();
  const rgba = /** @type {ArrayBuffer} */ (g.getImageData(0, 0, w, h).data.buffer);
  const sx = w / r.width, sy = h / r.height;
  const boxes = r.boxes
    .filter((b) => classNames.includes(b.cls) && b.x1 > b.x0 && b.y1 > b.y0)
    .map((b) => ({ x0: b.x0 * sx, y0: b.y0 * sy, x1: b.x1 * sx, y1: b.y1 * sy, label: classNames.indexOf(b.cls) }));
  return { rgba, width: w, height: h, boxes };
}

/** @param {string} s */
function hash(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
