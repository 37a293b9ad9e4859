// @ts-check
// Labelling tools around the box editor: undo/redo of every edit (kept in IndexedDB, so it survives a
// reload), the keyboard, copying boxes, progress, and boxes proposed by the model (run through the engine
// worker's `detect`, mapped to the dataset's classes by name or by the user's choice).
//
// The dataset module (dataset.js) owns the images and the editor; it hands this module what it needs
// (`LabelDataset` below).

import * as store from './store.js';
import { $, el, rgbaOf } from './util.js';
import { LabelHistory, applyClasses } from './history.js';
import { progress, classForKey, neighbour, nextUnlabelled, copyBoxes } from './labels.js';
import { fromDetections, proposalLabels, visibleProposals } from './proposals.js';

/** @typedef {import('./dataset.js').ImageRecord} ImageRecord */
/** @typedef {{boxes: object[], proposals: object[], split?: string, removed?: boolean}} LabelState */

/**
 * @typedef {object} LabelDataset what the dataset hands the labelling tools
 * @property {{images: ImageRecord[], classes: string[]}} D
 * @property {import('./editor.js').BoxEditor} editor
 * @property {() => ImageRecord | null} current the record in the editor
 * @property {(id: number) => Promise<void>} open opens an image in the editor
 * @property {(r: ImageRecord) => Promise<boolean>} save writes a record (queued); false when it could not (the user is told)
 * @property {() => void} refresh redraws the dataset panel, tells the app
 * @property {(id: number) => ImageRecord | null} record a record, removed or not
 * @property {(r: ImageRecord, removed: boolean) => void} setRemoved takes it out of / back into D.images
 * @property {(list: string[]) => void} setClasses a new class list, saved
 * @property {(keep: Set<number>) => void} purge deletes removed records no id of `keep` names
 */

/**
 * @typedef {object} LabelToolsDeps
 * @property {LabelDataset} ds
 * @property {Pick<import('./engine-host.js').EngineHost, 'call' | 'ready'>} engine
 * @property {Pick<import('./model-loader.js').ModelLoader, 'current'>} models
 * @property {import('./message-centre.js').Notify} notify
 * @property {import('./busy.js').Busy} busy
 * @property {import('./events.js').EventBus} events
 * @property {() => void} forgetAttention the engine's attention maps belong to the proposed images now
 */

/**
 * @typedef {object} LabelUiState `cdetrApp.state.label`
 * @property {ReturnType<LabelHistory['describe']>} history
 * @property {object} view the editor's zoom and pan
 * @property {{kind: string, index: number} | null} selection
 * @property {ReturnType<typeof progress> | null} progress
 * @property {boolean} proposing
 * @property {{id: number, name: string} | null} [image] the image in the editor
 */

/**
 * @typedef {object} ProposalRun one run of “Propose boxes”: its settings and what it did so far
 * @property {number} size the detection input size
 * @property {number} long the longest side the images are scaled down to first
 * @property {number} min the score threshold
 * @property {{id: number, before: LabelState, after: LabelState}[]} changes
 * @property {Promise<boolean>[]} saves
 * @property {number} found
 */

/** @param {ImageRecord} r @returns {LabelState} */
const copyState = (r) => ({ boxes: r.boxes.map((b) => ({ ...b })), proposals: (r.proposals || []).map((p) => ({ ...p })) });
/** A record's whole state, split and removal included (for edits of those). @param {ImageRecord} r */
const fullState = (r) => ({ ...copyState(r), split: r.split, removed: !!r.removed });
/** @param {number} n @param {string} word */
const plural = (n, word, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;

const SHORTCUTS = [
  ['→ / ←', 'next / previous image'], ['N', 'next unlabelled image'], ['1 … 9', 'class of the selected box (or of the next one)'],
  ['Delete', 'delete the selected box / reject the proposal'], ['Ctrl+Z', 'undo'], ['Ctrl+Shift+Z, Ctrl+Y', 'redo'],
  ['Ctrl+D', 'duplicate the selected box'], ['C', 'copy the previous image’s boxes'], ['P', 'propose boxes with the model'],
  ['Tab / Shift+Tab', 'select the next / previous proposal (or box)'], ['Enter', 'accept the selected (or best) proposal'],
  ['Shift+Enter', 'accept all proposals on the image'], ['Esc', 'deselect'],
  ['wheel, + / −', 'zoom'], ['0, double-click', 'fit the image'], ['Space+drag, right/middle drag', 'pan'], ['?', 'this list'],
];

/** @param {LabelToolsDeps} deps */
export function initLabelTools(deps) {
  const tools = new LabelTools(deps);
  tools.wire();
  return tools;
}

export class LabelTools {
  /** @param {LabelToolsDeps} deps */
  constructor(deps) {
    this.deps = deps;
    this.ds = deps.ds;
    this.D = deps.ds.D;
    this.editor = deps.ds.editor;
    this.history = new LabelHistory();
    /** @type {Record<string, string>} model class → dataset class ('' ignores it) */
    this.classMap = {};
    /** @type {{stop: boolean} | null} while proposals are being computed */
    this.running = null;
    /** @type {Promise<unknown>} */
    this.saving = Promise.resolve();
    /** @type {LabelUiState} */
    this.state = { history: this.history.describe(), view: this.editor.view, selection: null, progress: null, proposing: false };
    this.thresholdInput = /** @type {HTMLInputElement} */ ($('#proposal-threshold'));
    this.scopeSelect = /** @type {HTMLSelectElement} */ ($('#proposal-scope'));
    this.restoreSettings();
  }

  restoreSettings() {
    let settings = {};
    try {
      settings = JSON.parse(localStorage.getItem('cdetr.label') || '{}') || {};
    } catch { /* unreadable: defaults */ }
    if (settings.threshold !== undefined) this.thresholdInput.value = settings.threshold;
    if (settings.scope) this.scopeSelect.value = settings.scope;
  }

  saveSettings() {
    localStorage.setItem('cdetr.label', JSON.stringify({ threshold: this.thresholdInput.value, scope: this.scopeSelect.value }));
  }

  threshold() {
    return +this.thresholdInput.value;
  }

  /** Reads the history and the class mapping back from storage. */
  async load() {
    this.history = LabelHistory.from(await store.kv.get('labelHistory'));
    this.classMap = (await store.kv.get('classMap')) || {};
    this.state.history = this.history.describe();
    this.renderHistoryButtons();
    this.renderProposalTools();
    this.ds.purge(this.history.ids());
  }

  clear() {
    this.history.clear();
    this.persistHistory();
  }

  /** An image opened in the editor. */
  onOpen() {
    const { ds, D } = this;
    const cur = ds.current();
    this.state.image = cur ? { id: cur.id, name: cur.name } : null;
    this.renderProposalTools();
    /** @type {HTMLButtonElement} */ ($('#editor-prev')).disabled = /** @type {HTMLButtonElement} */ ($('#editor-next')).disabled = D.images.length < 2;
    /** @type {HTMLButtonElement} */ ($('#editor-copy-prev')).disabled = !cur || D.images.indexOf(cur) < 1;
  }

  // ---------------------------------------------------------------- history

  /**
   * Saves the history once `labelsSaved` (the edit's box writes) has landed, so a reload never finds a
   * history step whose boxes were not written: where a box write failed (storage full), the stored history
   * stays as it was, matching the stored boxes.
   * @param {Promise<boolean | boolean[]>} [labelsSaved]
   */
  persistHistory(labelsSaved = Promise.resolve(true)) {
    this.state.history = this.history.describe();
    this.renderHistoryButtons();
    this.ds.purge(this.history.ids());
    this.saving = Promise.all([this.saving, labelsSaved]).then(([, ok]) => {
      if ([ok].flat().includes(false)) return;
      return store.kv.set('labelHistory', this.history.toJSON());
    }).catch((e) => {
      this.deps.notify({ level: 'warn', id: 'history-save', title: 'The undo history could not be saved', text: `${e.message} Your labels are saved; only undo after a reload is affected.` });
    });
    return this.saving;
  }

  /**
   * Puts a label state on an image (undo, redo, proposals, split, removal) and saves it.
   * @param {ImageRecord} r @param {LabelState} state
   */
  apply(r, state) {
    r.boxes = /** @type {any} */ (state.boxes.map((b) => ({ ...b })));
    r.proposals = state.proposals.map((p) => ({ ...p }));
    if (state.split !== undefined) r.split = /** @type {'train' | 'val'} */ (state.split);
    if (state.removed !== undefined) this.ds.setRemoved(r, state.removed);
    if (this.ds.current()?.id === r.id) this.editor.setState(state);
    return this.ds.save(r);
  }

  /**
   * An edit made outside the box editor: `updates` ({r, split?, removed?}) and/or a new class list, applied
   * the way undo and redo apply them, saved, and recorded for undo as one action.
   * @param {string} label
   * @param {{r: ImageRecord, split?: string, removed?: boolean}[]} updates
   * @param {string[] | null} [classes]
   */
  edit(label, updates, classes = null) {
    const classEdit = classes && { before: [...this.D.classes], after: [...classes] };
    const changes = updates.map(({ r, ...to }) => ({ id: r.id, before: fullState(r), after: { ...fullState(r), ...to } }));
    const saved = Promise.all(changes.map((c, i) => this.apply(updates[i].r, c.after)));
    if (classes) this.ds.setClasses(classes);
    this.history.push(label, changes, { classes: classEdit });
    this.persistHistory(saved);
    this.ds.refresh();
    this.renderProposalTools();
  }

  /** A user edit in the editor: saved, and recorded for undo. @param {{label: string, before: LabelState, after: LabelState}} edit */
  onEdit({ label, before, after }) {
    const r = this.ds.current();
    if (!r) return;
    r.boxes = /** @type {any} */ (after.boxes.map((b) => ({ ...b })));
    r.proposals = after.proposals.map((p) => ({ ...p }));
    this.history.push(label, [{ id: r.id, before, after }]);
    this.persistHistory(this.ds.save(r));
    this.ds.refresh();
    this.renderProposalTools();
  }

  /** Undo (or redo) one action. @param {boolean} undo */
  async step(undo) {
    const { ds, D, deps } = this;
    const entry = undo ? this.history.undo() : this.history.redo();
    if (!entry) {
      deps.notify({ level: 'info', id: 'undo', title: undo ? 'Nothing to undo' : 'Nothing to redo' });
      return;
    }
    const changes = entry.changes.filter((c) => ds.record(c.id));
    const saved = Promise.all(changes.map((c) => this.apply(/** @type {ImageRecord} */ (ds.record(c.id)), undo ? c.before : c.after)));
    if (entry.classes) {
      const { before, after } = entry.classes;
      ds.setClasses(undo ? applyClasses(D.classes, after, before) : applyClasses(D.classes, before, after));
    }
    // Show what changed: the image stays, or the (first) image the action touched that is in the dataset opens.
    const shown = changes.filter((c) => D.images.some((r) => r.id === c.id));
    if (shown.length && !shown.some((c) => c.id === ds.current()?.id)) await ds.open(shown[0].id);
    this.persistHistory(saved);
    ds.refresh();
    this.renderProposalTools();
    deps.events.emit(undo ? 'undo' : 'redo', { label: entry.label, images: changes.length });
    deps.notify({ level: 'info', id: 'undo', title: `${undo ? 'Undone' : 'Redone'}: ${entry.label}`, text: changes.length > 1 ? `on ${changes.length} images` : '' });
  }

  renderHistoryButtons() {
    const h = this.history.describe();
    const undoBtn = /** @type {HTMLButtonElement} */ ($('#editor-undo')), redoBtn = /** @type {HTMLButtonElement} */ ($('#editor-redo'));
    undoBtn.disabled = !h.undo;
    redoBtn.disabled = !h.redo;
    undoBtn.title = h.undo ? `Undo: ${h.undo} (Ctrl+Z)` : 'Nothing to undo';
    redoBtn.title = h.redo ? `Redo: ${h.redo} (Ctrl+Shift+Z)` : 'Nothing to redo';
  }

  // ---------------------------------------------------------------- navigation, classes, copying

  /** @param {number} stepBy */
  async go(stepBy) {
    const id = neighbour(this.D.images, this.ds.current()?.id, stepBy);
    if (id !== null) await this.ds.open(id);
  }

  async goUnlabelled() {
    const id = nextUnlabelled(this.D.images, this.ds.current()?.id);
    if (id === null) this.deps.notify({ level: 'success', id: 'all-labelled', title: 'Every image has boxes', text: this.D.images.length ? 'Nothing left unlabelled.' : '' });
    else await this.ds.open(id);
  }

  /** @param {string} key a number key */
  pickClass(key) {
    const { D, editor } = this;
    const cls = classForKey(D.classes, key);
    if (!cls) {
      this.deps.notify({ level: 'warn', title: `No class ${key}`, text: D.classes.length ? `The dataset has ${plural(D.classes.length, 'class', 'classes')}: ${D.classes.slice(0, 9).map((c, i) => `${i + 1} ${c}`).join(', ')}.` : 'Type a class name in “Class for new boxes” first; number keys then pick classes in the order of the class list.' });
      return;
    }
    if (editor.sel?.kind === 'proposal') editor.acceptProposal(editor.sel.i, cls);
    /** @type {HTMLInputElement} */ ($('#editor-class')).value = cls;
    editor.setClass(cls);
    this.ds.refresh();
  }

  copyPrevious() {
    const { D, editor, deps } = this;
    const r = this.ds.current();
    if (!r) return;
    const prev = D.images[D.images.indexOf(r) - 1];
    if (!prev) {
      deps.notify({ level: 'info', id: 'copy', title: 'No previous image', text: 'This is the first image of the dataset.' });
      return;
    }
    const boxes = copyBoxes(prev, { ...r, boxes: editor.boxes });
    if (!boxes.length) {
      deps.notify({ level: 'info', id: 'copy', title: prev.boxes.length ? 'Nothing new to copy' : 'The previous image has no boxes', text: prev.boxes.length ? `${prev.name}'s boxes are already here.` : prev.name });
      return;
    }
    editor.addBoxes(boxes, `copy ${plural(boxes.length, 'box', 'boxes')} from ${prev.name}`);
    deps.notify({ level: 'success', id: 'copy', title: `Copied ${plural(boxes.length, 'box', 'boxes')}`, text: `from ${prev.name}${prev.width !== r.width || prev.height !== r.height ? ' (scaled to this image’s size)' : ''}. Ctrl+Z takes them away again.` });
  }

  duplicate() {
    if (!this.editor.duplicateSelected()) this.deps.notify({ level: 'info', id: 'duplicate', title: 'Select a box to duplicate it', text: 'Click a box (or Tab to it), then Ctrl+D.' });
  }

  // ---------------------------------------------------------------- proposals

  /** The proposals shown (mapped to a dataset class, above the score). @param {any[]} proposals */
  visible(proposals) {
    return visibleProposals(proposals, this.classMap, this.D.classes, this.threshold());
  }

  /** @param {string} scope */
  targets(scope) {
    const r = this.ds.current();
    if (scope === 'this') return r ? [r] : [];
    if (scope === 'unlabelled') return this.D.images.filter((x) => !x.boxes.length);
    return [...this.D.images];
  }

  /** The images to propose boxes on, or null with a message saying why there are none. */
  proposalTargets() {
    const { notify, models } = this.deps;
    if (!models.current) {
      notify({ level: 'warn', id: 'propose', title: 'No model to propose boxes', text: 'Load a model first (top of the page); after fine-tuning, “Use for detection” makes the fine-tuned model propose.' });
      return null;
    }
    const scope = this.scopeSelect.value;
    const list = this.targets(scope);
    if (!list.length) {
      notify({ level: 'info', id: 'propose', title: 'No images to propose boxes for', text: scope === 'unlabelled' ? 'Every image has boxes; pick “all images” to propose on partly labelled ones.' : 'Pick an image first.' });
      return null;
    }
    return list;
  }

  /** Proposes boxes with the model on the chosen images (or stops the run under way). */
  async propose() {
    if (this.running) { this.running.stop = true; return; }
    const list = this.proposalTargets();
    if (!list) return;
    const run = (this.running = { stop: false });
    this.state.proposing = true;
    const btn = $('#propose');
    btn.textContent = 'Stop';
    const done = this.deps.busy('proposing boxes');
    const size = +/** @type {HTMLInputElement} */ ($('#input-size')).value || 640;
    /** @type {ProposalRun} */
    const out = {
      size, long: Math.round((size * 1333) / 800), // the longest side the engine resizes to (downscale first)
      min: this.threshold(), changes: [], saves: [], found: 0,
    };
    try {
      await this.deps.engine.ready;
      for (const [n, r] of list.entries()) {
        if (run.stop) break;
        await this.proposeOn(r, `image ${n + 1} of ${list.length}`, out);
      }
    } catch (/** @type {any} */ e) {
      if (!e.fatal) this.deps.notify({ level: 'error', id: 'propose', title: 'The model could not propose boxes', text: `${e.message}. A smaller input size (Detect tab) needs less memory.` });
    } finally {
      done();
      this.running = null;
      this.state.proposing = false;
      btn.textContent = 'Propose boxes';
      this.deps.forgetAttention(); // the engine's attention maps now belong to these images
    }
    this.finishProposals(out, run.stop);
  }

  /**
   * Runs the model on one image and puts its detections on it as proposals.
   * @param {ImageRecord} r @param {string} where @param {ProposalRun} out
   */
  async proposeOn(r, where, out) {
    const { size, long } = out;
    $('#proposal-status').textContent = `${this.deps.models.current?.name}: ${where} (${r.name})…`;
    const bmp = await createImageBitmap(r.blob);
    const { data, width, height, scale } = rgbaOf(bmp, bmp.width, bmp.height, long);
    bmp.close();
    const result = await this.deps.engine.call('detect', { frameId: -1, rgba: /** @type {ArrayBuffer} */ (data.buffer), width, height, options: { threshold: 0, topK: 100, shortestEdge: size, attention: false } });
    if (!this.D.images.includes(r)) return; // removed meanwhile
    const before = copyState(r);
    const proposals = fromDetections(result.detections, { threshold: out.min, scale, width: r.width, height: r.height, existing: r.boxes });
    out.found += proposals.length;
    const after = { boxes: before.boxes, proposals };
    out.changes.push({ id: r.id, before, after });
    out.saves.push(this.apply(r, after));
    this.ds.refresh();
    this.renderProposalTools();
  }

  /**
   * Records a proposal run for undo and says what it found.
   * @param {ProposalRun} out @param {boolean} stopped
   */
  finishProposals({ changes, saves, found, min }, stopped) {
    const { D, deps } = this;
    if (changes.length) {
      this.history.push(`proposals on ${plural(changes.length, 'image')}`, changes);
      this.persistHistory(Promise.all(saves));
    }
    const hidden = proposalLabels(D.images, this.classMap, D.classes).filter((l) => !l.cls);
    $('#proposal-status').textContent = changes.length ? `${plural(found, 'proposal')} on ${plural(changes.length, 'image')} from ${deps.models.current?.name} (score ≥ ${min.toFixed(2)})${stopped ? ' — stopped' : ''}.` : '';
    this.renderProposalTools();
    this.editor.draw();
    deps.events.emit('proposals', { images: changes.length, proposals: found, hiddenLabels: hidden.map((l) => l.label) });
    if (!changes.length) return;
    deps.notify({
      level: found ? 'success' : 'info', id: 'propose', title: found ? `${plural(found, 'proposal')} to review` : 'No proposals',
      text: found ? `${hidden.length ? `Choose a dataset class for ${hidden.map((l) => l.label).slice(0, 3).join(', ')}${hidden.length > 3 ? ' …' : ''} under the image to see their proposals. ` : ''}Click a dashed box or press Enter to accept it, Delete to reject it.` : `Nothing scored ${min.toFixed(2)} or more; lower the score to see weaker detections.`,
    });
  }

  /** The mapping table (model class → dataset class) and the accept/reject buttons. */
  renderProposalTools() {
    const r = this.ds.current();
    const waiting = r?.proposals?.length || 0;
    const shown = r ? this.visible(r.proposals ?? []).length : 0;
    /** @type {HTMLButtonElement} */ ($('#proposal-accept-all')).disabled = !shown;
    /** @type {HTMLButtonElement} */ ($('#proposal-reject-all')).disabled = !waiting;
    $('#proposal-here').textContent = waiting ? `${shown} shown${waiting > shown ? ` of ${waiting}` : ''} on this image` : '';
    const labels = proposalLabels(this.D.images, this.classMap, this.D.classes);
    const wrap = $('#proposal-map');
    wrap.hidden = !labels.length;
    if (!labels.length) { wrap.replaceChildren(); return; }
    wrap.replaceChildren(el('p', { class: 'muted small', text: 'Model classes → dataset classes (by name where they match):' }), ...labels.map((l) => this.mapRow(l)));
  }

  /** One row of the mapping table. @param {{label: string, cls: string | null, how: string, count: number}} l */
  mapRow(l) {
    const { D } = this;
    const select = /** @type {HTMLSelectElement} */ (el('select', { dataset: { label: l.label }, 'aria-label': `dataset class for the model's ${l.label}` },
      l.how === 'undecided' ? el('option', { value: '\u0000', text: '— choose —' }) : null,
      el('option', { value: '', text: 'ignore' }),
      ...D.classes.map((c) => el('option', { value: c, text: c })),
      D.classes.includes(l.label) ? null : el('option', { value: l.label, text: `new class “${l.label}”` })));
    select.value = l.how === 'undecided' ? '\u0000' : l.cls ?? '';
    select.addEventListener('change', async () => {
      if (select.value === '\u0000') return;
      this.classMap = { ...this.classMap, [l.label]: select.value };
      this.renderProposalTools();
      this.editor.draw();
      this.ds.refresh();
      this.deps.events.emit('class-map', { ...this.classMap });
      await store.kv.set('classMap', this.classMap).catch(() => {});
    });
    return el('div', { class: `map-row${l.how === 'undecided' ? ' undecided' : ''}` },
      el('span', { class: 'map-model', text: l.label, title: 'the model’s class' }),
      el('span', { class: 'muted small', text: `${l.count}×` }),
      el('span', { class: 'muted', text: '→' }), select);
  }

  // ---------------------------------------------------------------- progress

  renderProgress() {
    const p = (this.state.progress = progress(this.D.images, this.D.classes));
    $('#label-progress-bar').style.width = p.images ? `${(100 * p.labelled) / p.images}%` : '0%';
    $('#label-progress-text').textContent = p.images
      ? `${p.labelled} of ${plural(p.images, 'image')} labelled · ${p.unlabelled} unlabelled${p.proposals ? ` · ${plural(p.proposals, 'proposal')} waiting on ${plural(p.withProposals, 'image')}` : ''}`
      : 'no images yet';
    /** @type {HTMLButtonElement} */ ($('#editor-next-unlabelled')).disabled = !p.unlabelled;
    return p;
  }

  // ---------------------------------------------------------------- keyboard

  showShortcuts() {
    const dlg = /** @type {HTMLDialogElement} */ ($('#shortcuts'));
    $('#shortcuts-list').replaceChildren(...SHORTCUTS.map(([k, what]) => el('tr', {}, el('td', {}, ...k.split(/(, | \/ )/).map((part) => (/^(, | \/ )$/.test(part) ? part : el('kbd', { text: part })))), el('td', { text: what }))));
    if (!dlg.open) dlg.showModal();
    this.deps.events.emit('shortcuts', {});
  }

  /** The labelling keys, while the Fine-tune tab is shown and no field has the focus. @param {KeyboardEvent} e */
  onKey(e) {
    if ($('#tab-train').hidden || /** @type {HTMLDialogElement} */ ($('#shortcuts')).open) return;
    const t = /** @type {HTMLElement} */ (e.target);
    if (t.closest?.('input, select, textarea, [contenteditable=""], [contenteditable="true"], dialog')) return;
    const k = e.key;
    const act = (/** @type {() => unknown} */ fn) => { e.preventDefault(); fn(); };
    if (k === '?') return act(() => this.showShortcuts());
    if ((e.ctrlKey || e.metaKey) && !e.altKey) return this.onModKey(e, act);
    if (e.altKey) return;
    const lower = k.length === 1 ? k.toLowerCase() : k;
    if (k === 'ArrowRight' || k === 'PageDown') return act(() => this.go(1));
    if (k === 'ArrowLeft' || k === 'PageUp') return act(() => this.go(-1));
    if (lower === 'n') return act(() => this.goUnlabelled());
    if (!this.ds.current()) return;
    this.onImageKey(e, lower, act);
  }

  /** Ctrl/⌘ + key. @param {KeyboardEvent} e @param {(fn: () => unknown) => void} act */
  onModKey(e, act) {
    const lower = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (lower === 'z') return act(() => this.step(!e.shiftKey));
    if (lower === 'y') return act(() => this.step(false));
    if (lower === 'd') return act(() => this.duplicate());
  }

  /** The keys that act on the open image. @param {KeyboardEvent} e @param {string} lower @param {(fn: () => unknown) => void} act */
  onImageKey(e, lower, act) {
    const { editor } = this;
    const k = e.key;
    const t = /** @type {HTMLElement} */ (e.target);
    const onButton = t.closest?.('button, a, summary');
    if (/^[1-9]$/.test(k)) return act(() => this.pickClass(k));
    if (k === 'Delete' || k === 'Backspace') return act(() => editor.deleteSelected());
    if (k === 'Escape') return act(() => editor.clearSelection());
    if (k === 'Enter' && !onButton) return act(() => (e.shiftKey ? editor.acceptAll() : editor.acceptSelected()));
    if (k === 'Tab' && t === editor.canvas) return act(() => editor.selectNext(e.shiftKey ? -1 : 1));
    if (lower === 'c') return act(() => this.copyPrevious());
    if (lower === 'p') return act(() => this.propose());
    if (k === '+' || k === '=') return act(() => editor.zoom(1.5));
    if (k === '-' || k === '_') return act(() => editor.zoom(1 / 1.5));
    if (k === '0') return act(() => editor.resetView());
    if (k === ' ' && !onButton) return act(() => { editor.panKey = true; editor.canvas.style.cursor = 'grab'; });
  }

  // ---------------------------------------------------------------- wiring

  wire() {
    const { editor } = this;
    window.addEventListener('keydown', (e) => this.onKey(e));
    window.addEventListener('keyup', (e) => { if (e.key === ' ' && editor.panKey) { editor.panKey = false; editor.canvas.style.cursor = 'crosshair'; } });
    window.addEventListener('blur', () => { editor.panKey = false; });
    $('#editor-undo').addEventListener('click', () => this.step(true));
    $('#editor-redo').addEventListener('click', () => this.step(false));
    $('#editor-prev').addEventListener('click', () => this.go(-1));
    $('#editor-next').addEventListener('click', () => this.go(1));
    $('#editor-next-unlabelled').addEventListener('click', () => this.goUnlabelled());
    $('#editor-duplicate').addEventListener('click', () => this.duplicate());
    $('#editor-copy-prev').addEventListener('click', () => this.copyPrevious());
    $('#shortcuts-btn').addEventListener('click', () => this.showShortcuts());
    $('#shortcuts-close').addEventListener('click', () => /** @type {HTMLDialogElement} */ ($('#shortcuts')).close());
    $('#propose').addEventListener('click', () => this.propose());
    $('#proposal-accept-all').addEventListener('click', () => editor.acceptAll());
    $('#proposal-reject-all').addEventListener('click', () => editor.rejectAll());
    this.thresholdInput.addEventListener('input', () => {
      $('#proposal-threshold-out').textContent = this.threshold().toFixed(2);
      this.saveSettings();
      editor.draw();
      this.renderProposalTools();
    });
    $('#proposal-threshold-out').textContent = this.threshold().toFixed(2);
    this.scopeSelect.addEventListener('change', () => this.saveSettings());
  }
}
