// Labelling tools around the box editor: undo/redo of every edit (kept in IndexedDB, so it survives a
// reload), the keyboard, copying boxes, progress, and boxes proposed by the model (run through the engine
// worker's `detect`, mapped to the dataset's classes by name or by the user's choice).
//
// The dataset module (dataset.js) owns the images and the editor; it hands this module what it needs:
//   ds.D            {images, classes}            ds.editor   the BoxEditor
//   ds.current()    the record in the editor     ds.open(id) opens an image in the editor
//   ds.save(r)      writes a record (queued)     ds.refresh() redraws the dataset panel, tells the app
//   ds.record(id)   a record, removed or not     ds.setRemoved(r, removed) takes it out of / back into D.images
//   ds.setClasses(list) a new class list, saved  ds.purge(ids) deletes removed records no id of `ids` names

import * as store from './store.js';
import { $, el, rgbaOf } from './util.js';
import { LabelHistory, applyClasses } from './history.js';
import { progress, classForKey, neighbour, nextUnlabelled, copyBoxes } from './labels.js';
import { fromDetections, proposalLabels, visibleProposals } from './proposals.js';

const copyState = (r) => ({ boxes: r.boxes.map((b) => ({ ...b })), proposals: (r.proposals || []).map((p) => ({ ...p })) });
/** A record's whole state, split and removal included (for edits of those). */
const fullState = (r) => ({ ...copyState(r), split: r.split, removed: !!r.removed });
const plural = (n, word, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;

export function initLabelTools(app, ds) {
  const { D, editor } = ds;
  let history = new LabelHistory();
  let classMap = {};
  let running = null; // {stop: boolean} while proposals are being computed
  let saving = Promise.resolve();
  const S = (app.state.label = { history: history.describe(), view: editor.view, selection: null, progress: null, proposing: false });

  let settings = {};
  try {
    settings = JSON.parse(localStorage.getItem('cdetr.label') || '{}') || {};
  } catch { /* unreadable: defaults */ }
  const thresholdInput = $('#proposal-threshold');
  if (settings.threshold !== undefined) thresholdInput.value = settings.threshold;
  if (settings.scope) $('#proposal-scope').value = settings.scope;
  const saveSettings = () => localStorage.setItem('cdetr.label', JSON.stringify({ threshold: thresholdInput.value, scope: $('#proposal-scope').value }));
  const threshold = () => +thresholdInput.value;

  // ---------------------------------------------------------------- history

  /** Saves the history once `labelsSaved` (the edit's box writes) has landed, so a reload never finds a
   * history step whose boxes were not written. */
  function persistHistory(labelsSaved = Promise.resolve()) {
    S.history = history.describe();
    renderHistoryButtons();
    ds.purge(history.ids());
    saving = Promise.all([saving, labelsSaved]).then(() => store.kv.set('labelHistory', history.toJSON())).catch((e) => {
      app.notify({ level: 'warn', id: 'history-save', title: 'The undo history could not be saved', text: `${e.message} Your labels are saved; only undo after a reload is affected.` });
    });
    return saving;
  }

  /** Puts a label state on an image (undo, redo, proposals, split, removal) and saves it. */
  function apply(r, state) {
    r.boxes = state.boxes.map((b) => ({ ...b }));
    r.proposals = state.proposals.map((p) => ({ ...p }));
    if (state.split !== undefined) r.split = state.split;
    if (state.removed !== undefined) ds.setRemoved(r, state.removed);
    if (ds.current()?.id === r.id) editor.setState(state);
    return ds.save(r);
  }

  /**
   * An edit made outside the box editor: `updates` ({r, split?, removed?}) and/or a new class list, applied
   * the way undo and redo apply them, saved, and recorded for undo as one action.
   */
  function edit(label, updates, classes = null) {
    const classEdit = classes && { before: [...D.classes], after: [...classes] };
    const changes = updates.map(({ r, ...to }) => ({ id: r.id, before: fullState(r), after: { ...fullState(r), ...to } }));
    const saved = Promise.all(changes.map((c, i) => apply(updates[i].r, c.after)));
    if (classes) ds.setClasses(classes);
    history.push(label, changes, { classes: classEdit });
    persistHistory(saved);
    ds.refresh();
    renderProposalTools();
  }

  /** A user edit in the editor: saved, and recorded for undo. */
  function onEdit({ label, before, after }) {
    const r = ds.current();
    if (!r) return;
    r.boxes = after.boxes.map((b) => ({ ...b }));
    r.proposals = after.proposals.map((p) => ({ ...p }));
    history.push(label, [{ id: r.id, before, after }]);
    persistHistory(ds.save(r));
    ds.refresh();
    renderProposalTools();
  }

  async function step(undo) {
    const entry = undo ? history.undo() : history.redo();
    if (!entry) {
      app.notify({ level: 'info', id: 'undo', title: undo ? 'Nothing to undo' : 'Nothing to redo' });
      return;
    }
    const changes = entry.changes.filter((c) => ds.record(c.id));
    const saved = Promise.all(changes.map((c) => apply(ds.record(c.id), undo ? c.before : c.after)));
    if (entry.classes) {
      const { before, after } = entry.classes;
      ds.setClasses(undo ? applyClasses(D.classes, after, before) : applyClasses(D.classes, before, after));
    }
    // Show what changed: the image stays, or the (first) image the action touched that is in the dataset opens.
    const shown = changes.filter((c) => D.images.some((r) => r.id === c.id));
    if (shown.length && !shown.some((c) => c.id === ds.current()?.id)) await ds.open(shown[0].id);
    persistHistory(saved);
    ds.refresh();
    renderProposalTools();
    app.emit(undo ? 'undo' : 'redo', { label: entry.label, images: changes.length });
    app.notify({ level: 'info', id: 'undo', title: `${undo ? 'Undone' : 'Redone'}: ${entry.label}`, text: changes.length > 1 ? `on ${changes.length} images` : '' });
  }

  function renderHistoryButtons() {
    const h = history.describe();
    const undoBtn = $('#editor-undo'), redoBtn = $('#editor-redo');
    undoBtn.disabled = !h.undo;
    redoBtn.disabled = !h.redo;
    undoBtn.title = h.undo ? `Undo: ${h.undo} (Ctrl+Z)` : 'Nothing to undo';
    redoBtn.title = h.redo ? `Redo: ${h.redo} (Ctrl+Shift+Z)` : 'Nothing to redo';
  }

  // ---------------------------------------------------------------- navigation, classes, copying

  async function go(stepBy) {
    const id = neighbour(D.images, ds.current()?.id, stepBy);
    if (id !== null) await ds.open(id);
  }

  async function goUnlabelled() {
    const id = nextUnlabelled(D.images, ds.current()?.id);
    if (id === null) app.notify({ level: 'success', id: 'all-labelled', title: 'Every image has boxes', text: D.images.length ? 'Nothing left unlabelled.' : '' });
    else await ds.open(id);
  }

  function pickClass(key) {
    const cls = classForKey(D.classes, key);
    if (!cls) {
      app.notify({ level: 'warn', title: `No class ${key}`, text: D.classes.length ? `The dataset has ${plural(D.classes.length, 'class', 'classes')}: ${D.classes.slice(0, 9).map((c, i) => `${i + 1} ${c}`).join(', ')}.` : 'Type a class name in “Class for new boxes” first; number keys then pick classes in the order of the class list.' });
      return;
    }
    if (editor.sel?.kind === 'proposal') editor.acceptProposal(editor.sel.i, cls);
    $('#editor-class').value = cls;
    editor.setClass(cls);
    ds.refresh();
  }

  function copyPrevious() {
    const r = ds.current();
    if (!r) return;
    const i = D.images.indexOf(r);
    const prev = D.images[i - 1];
    if (!prev) {
      app.notify({ level: 'info', id: 'copy', title: 'No previous image', text: 'This is the first image of the dataset.' });
      return;
    }
    const boxes = copyBoxes(prev, { ...r, boxes: editor.boxes });
    if (!boxes.length) {
      app.notify({ level: 'info', id: 'copy', title: prev.boxes.length ? 'Nothing new to copy' : 'The previous image has no boxes', text: prev.boxes.length ? `${prev.name}'s boxes are already here.` : prev.name });
      return;
    }
    editor.addBoxes(boxes, `copy ${plural(boxes.length, 'box', 'boxes')} from ${prev.name}`);
    app.notify({ level: 'success', id: 'copy', title: `Copied ${plural(boxes.length, 'box', 'boxes')}`, text: `from ${prev.name}${prev.width !== r.width || prev.height !== r.height ? ' (scaled to this image’s size)' : ''}. Ctrl+Z takes them away again.` });
  }

  function duplicate() {
    if (!editor.duplicateSelected()) app.notify({ level: 'info', id: 'duplicate', title: 'Select a box to duplicate it', text: 'Click a box (or Tab to it), then Ctrl+D.' });
  }

  // ---------------------------------------------------------------- proposals

  const visible = (proposals) => visibleProposals(proposals, classMap, D.classes, threshold());

  function targets(scope) {
    const r = ds.current();
    if (scope === 'this') return r ? [r] : [];
    if (scope === 'unlabelled') return D.images.filter((x) => !x.boxes.length);
    return [...D.images];
  }

  async function propose() {
    if (running) { running.stop = true; return; }
    if (!app.state.model) {
      app.notify({ level: 'warn', id: 'propose', title: 'No model to propose boxes', text: 'Load a model first (top of the page); after fine-tuning, “Use for detection” makes the fine-tuned model propose.' });
      return;
    }
    const scope = $('#proposal-scope').value;
    const list = targets(scope);
    if (!list.length) {
      app.notify({ level: 'info', id: 'propose', title: 'No images to propose boxes for', text: scope === 'unlabelled' ? 'Every image has boxes; pick “all images” to propose on partly labelled ones.' : 'Pick an image first.' });
      return;
    }
    const size = +$('#input-size').value || 640;
    const long = Math.round((size * 1333) / 800); // the longest side the engine resizes to (downscale first)
    const min = threshold();
    const run = (running = { stop: false });
    S.proposing = true;
    const btn = $('#propose');
    btn.textContent = 'Stop';
    const status = $('#proposal-status');
    const busy = app.busy('proposing boxes');
    const changes = [];
    const saves = [];
    let found = 0;
    try {
      await app.engineReady;
      for (const [n, r] of list.entries()) {
        if (run.stop) break;
        status.textContent = `${app.state.model.name}: image ${n + 1} of ${list.length} (${r.name})…`;
        const bmp = await createImageBitmap(r.blob);
        const { data, width, height, scale } = rgbaOf(bmp, bmp.width, bmp.height, long);
        bmp.close();
        const result = await app.engine.call('detect', { frameId: -1, rgba: data.buffer, width, height, options: { threshold: 0, topK: 100, shortestEdge: size, attention: false } });
        if (!D.images.includes(r)) continue; // removed meanwhile
        const before = copyState(r);
        const proposals = fromDetections(result.detections, { threshold: min, scale, width: r.width, height: r.height, existing: r.boxes });
        found += proposals.length;
        const after = { boxes: before.boxes, proposals };
        changes.push({ id: r.id, before, after });
        saves.push(apply(r, after));
        ds.refresh();
        renderProposalTools();
      }
    } catch (e) {
      if (!e.fatal) app.notify({ level: 'error', id: 'propose', title: 'The model could not propose boxes', text: `${e.message}. A smaller input size (Detect tab) needs less memory.` });
    } finally {
      busy();
      running = null;
      S.proposing = false;
      btn.textContent = 'Propose boxes';
      app.state.detect && (app.state.detect.attentionFrameId = null); // the engine's attention maps now belong to these images
    }
    if (changes.length) {
      history.push(`proposals on ${plural(changes.length, 'image')}`, changes);
      persistHistory(Promise.all(saves));
    }
    const hidden = proposalLabels(D.images, classMap, D.classes).filter((l) => !l.cls);
    status.textContent = changes.length ? `${plural(found, 'proposal')} on ${plural(changes.length, 'image')} from ${app.state.model.name} (score ≥ ${min.toFixed(2)})${run.stop ? ' — stopped' : ''}.` : '';
    renderProposalTools();
    editor.draw();
    app.emit('proposals', { images: changes.length, proposals: found, hiddenLabels: hidden.map((l) => l.label) });
    if (changes.length) {
      app.notify({
        level: found ? 'success' : 'info', id: 'propose', title: found ? `${plural(found, 'proposal')} to review` : 'No proposals',
        text: found ? `${hidden.length ? `Choose a dataset class for ${hidden.map((l) => l.label).slice(0, 3).join(', ')}${hidden.length > 3 ? ' …' : ''} under the image to see their proposals. ` : ''}Click a dashed box or press Enter to accept it, Delete to reject it.` : `Nothing scored ${min.toFixed(2)} or more; lower the score to see weaker detections.`,
      });
    }
  }

  /** The mapping table (model class → dataset class) and the accept/reject buttons. */
  function renderProposalTools() {
    const r = ds.current();
    const waiting = r?.proposals?.length || 0;
    const shown = r ? visible(r.proposals).length : 0;
    $('#proposal-accept-all').disabled = !shown;
    $('#proposal-reject-all').disabled = !waiting;
    $('#proposal-here').textContent = waiting ? `${shown} shown${waiting > shown ? ` of ${waiting}` : ''} on this image` : '';
    const labels = proposalLabels(D.images, classMap, D.classes);
    const wrap = $('#proposal-map');
    wrap.hidden = !labels.length;
    if (!labels.length) { wrap.replaceChildren(); return; }
    const rows = labels.map((l) => {
      const select = el('select', { dataset: { label: l.label }, 'aria-label': `dataset class for the model's ${l.label}` },
        l.how === 'undecided' ? el('option', { value: '\u0000', text: '— choose —' }) : null,
        el('option', { value: '', text: 'ignore' }),
        ...D.classes.map((c) => el('option', { value: c, text: c })),
        D.classes.includes(l.label) ? null : el('option', { value: l.label, text: `new class “${l.label}”` }));
      select.value = l.how === 'undecided' ? '\u0000' : l.cls ?? '';
      select.addEventListener('change', async () => {
        if (select.value === '\u0000') return;
        classMap = { ...classMap, [l.label]: select.value };
        renderProposalTools();
        editor.draw();
        ds.refresh();
        app.emit('class-map', { ...classMap });
        await store.kv.set('classMap', classMap).catch(() => {});
      });
      return el('div', { class: `map-row${l.how === 'undecided' ? ' undecided' : ''}` },
        el('span', { class: 'map-model', text: l.label, title: 'the model’s class' }),
        el('span', { class: 'muted small', text: `${l.count}×` }),
        el('span', { class: 'muted', text: '→' }), select);
    });
    wrap.replaceChildren(el('p', { class: 'muted small', text: 'Model classes → dataset classes (by name where they match):' }), ...rows);
  }

  // ---------------------------------------------------------------- progress

  function renderProgress() {
    const p = (S.progress = progress(D.images, D.classes));
    const bar = $('#label-progress-bar');
    bar.style.width = p.images ? `${(100 * p.labelled) / p.images}%` : '0%';
    $('#label-progress-text').textContent = p.images
      ? `${p.labelled} of ${plural(p.images, 'image')} labelled · ${p.unlabelled} unlabelled${p.proposals ? ` · ${plural(p.proposals, 'proposal')} waiting on ${plural(p.withProposals, 'image')}` : ''}`
      : 'no images yet';
    $('#editor-next-unlabelled').disabled = !p.unlabelled;
    return p;
  }

  // ---------------------------------------------------------------- keyboard

  const SHORTCUTS = [
    ['→ / ←', 'next / previous image'], ['N', 'next unlabelled image'], ['1 … 9', 'class of the selected box (or of the next one)'],
    ['Delete', 'delete the selected box / reject the proposal'], ['Ctrl+Z', 'undo'], ['Ctrl+Shift+Z, Ctrl+Y', 'redo'],
    ['Ctrl+D', 'duplicate the selected box'], ['C', 'copy the previous image’s boxes'], ['P', 'propose boxes with the model'],
    ['Tab / Shift+Tab', 'select the next / previous proposal (or box)'], ['Enter', 'accept the selected (or best) proposal'],
    ['Shift+Enter', 'accept all proposals on the image'], ['Esc', 'deselect'],
    ['wheel, + / −', 'zoom'], ['0, double-click', 'fit the image'], ['Space+drag, right/middle drag', 'pan'], ['?', 'this list'],
  ];

  function showShortcuts() {
    const dlg = $('#shortcuts');
    $('#shortcuts-list').replaceChildren(...SHORTCUTS.map(([k, what]) => el('tr', {}, el('td', {}, ...k.split(/(, | \/ )/).map((part) => (/^(, | \/ )$/.test(part) ? part : el('kbd', { text: part })))), el('td', { text: what }))));
    if (!dlg.open) dlg.showModal();
    app.emit('shortcuts', {});
  }

  function onKey(e) {
    if ($('#tab-train').hidden || $('#shortcuts').open) return;
    const t = e.target;
    if (t.closest?.('input, select, textarea, [contenteditable=""], [contenteditable="true"], dialog')) return;
    const onButton = t.closest?.('button, a, summary');
    const k = e.key;
    const mod = e.ctrlKey || e.metaKey;
    const lower = k.length === 1 ? k.toLowerCase() : k;
    const act = (fn) => { e.preventDefault(); fn(); };
    if (k === '?') return act(showShortcuts);
    if (mod && !e.altKey) {
      if (lower === 'z') return act(() => step(!e.shiftKey));
      if (lower === 'y') return act(() => step(false));
      if (lower === 'd') return act(duplicate);
      return;
    }
    if (e.altKey) return;
    const hasImage = !!ds.current();
    if (k === 'ArrowRight' || k === 'PageDown') return act(() => go(1));
    if (k === 'ArrowLeft' || k === 'PageUp') return act(() => go(-1));
    if (lower === 'n') return act(goUnlabelled);
    if (!hasImage) return;
    if (/^[1-9]$/.test(k)) return act(() => pickClass(k));
    if (k === 'Delete' || k === 'Backspace') return act(() => editor.deleteSelected());
    if (k === 'Escape') return act(() => editor.clearSelection());
    if (k === 'Enter' && !onButton) return act(() => (e.shiftKey ? editor.acceptAll() : editor.acceptSelected()));
    if (k === 'Tab' && t === editor.canvas) return act(() => editor.selectNext(e.shiftKey ? -1 : 1));
    if (lower === 'c') return act(copyPrevious);
    if (lower === 'p') return act(propose);
    if (k === '+' || k === '=') return act(() => editor.zoom(1.5));
    if (k === '-' || k === '_') return act(() => editor.zoom(1 / 1.5));
    if (k === '0') return act(() => editor.resetView());
    if (k === ' ' && !onButton) return act(() => { editor.panKey = true; editor.canvas.style.cursor = 'grab'; });
  }

  window.addEventListener('keydown', onKey);
  window.addEventListener('keyup', (e) => { if (e.key === ' ' && editor.panKey) { editor.panKey = false; editor.canvas.style.cursor = 'crosshair'; } });
  window.addEventListener('blur', () => { editor.panKey = false; });

  // ---------------------------------------------------------------- buttons

  $('#editor-undo').addEventListener('click', () => step(true));
  $('#editor-redo').addEventListener('click', () => step(false));
  $('#editor-prev').addEventListener('click', () => go(-1));
  $('#editor-next').addEventListener('click', () => go(1));
  $('#editor-next-unlabelled').addEventListener('click', goUnlabelled);
  $('#editor-duplicate').addEventListener('click', duplicate);
  $('#editor-copy-prev').addEventListener('click', copyPrevious);
  $('#shortcuts-btn').addEventListener('click', showShortcuts);
  $('#shortcuts-close').addEventListener('click', () => $('#shortcuts').close());
  $('#propose').addEventListener('click', propose);
  $('#proposal-accept-all').addEventListener('click', () => editor.acceptAll());
  $('#proposal-reject-all').addEventListener('click', () => editor.rejectAll());
  thresholdInput.addEventListener('input', () => {
    $('#proposal-threshold-out').textContent = threshold().toFixed(2);
    saveSettings();
    editor.draw();
    renderProposalTools();
  });
  $('#proposal-threshold-out').textContent = threshold().toFixed(2);
  $('#proposal-scope').addEventListener('change', saveSettings);

  return {
    onEdit,
    edit,
    visible,
    renderProgress,
    renderProposalTools,
    /** Reads the history and the class mapping back from storage. */
    async load() {
      history = LabelHistory.from(await store.kv.get('labelHistory'));
      classMap = (await store.kv.get('classMap')) || {};
      S.history = history.describe();
      renderHistoryButtons();
      renderProposalTools();
      ds.purge(history.ids());
    },
    clear() {
      history.clear();
      persistHistory();
    },
    onOpen() {
      const cur = ds.current();
      S.image = cur ? { id: cur.id, name: cur.name } : null;
      renderProposalTools();
      $('#editor-prev').disabled = $('#editor-next').disabled = D.images.length < 2;
      const r = ds.current();
      $('#editor-copy-prev').disabled = !r || D.images.indexOf(r) < 1;
    },
  };
}
