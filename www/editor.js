// @ts-check
// The box editor: a canvas showing one image with its boxes and the model's proposals.
//
// Mouse: drag on the image to draw a box with the current class; click a box to select it, then drag it to
// move it or drag its edges and corners to resize it; click a proposal (dashed) to accept it. The wheel
// zooms about the pointer; dragging with the middle or right button, or with Space held, pans.
// Every change goes out as one edit {label, before, after} through `hooks.onEdit` (the page records it for
// undo and saves it); the geometry is in boxgeom.js. Boxes are in image pixels.

import { labelColor } from './overlay.js';
import * as G from './boxgeom.js';

const GRAB_PX = 7; // an edge or corner within this many CSS pixels is grabbed
const CLICK_PX = 4; // a press that moves less than this is a click
const WHEEL_ZOOM = 0.0015; // zoom factor per wheel pixel (exponential)

/** @template T @param {T[]} list @returns {T[]} */
const copy = (list) => list.map((b) => ({ ...b }));

/** @typedef {{x0: number, y0: number, x1: number, y1: number, cls: string}} Box a box in image pixels */
/** @typedef {{x0: number, y0: number, x1: number, y1: number, cls: string, score: number}} Prediction a detection drawn read-only */
/** @typedef {{kind: 'box' | 'proposal', i: number}} Selection */

export class BoxEditor {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{classIndex: (name: string) => number, onEdit: (edit) => void, onSelect?: (sel) => void,
   *   onNeedClass?: () => void, visibleProposals: (proposals) => {index, cls, proposal}[], onView?: (view) => void}} hooks
   */
  constructor(canvas, hooks) {
    this.canvas = canvas;
    this.hooks = hooks;
    /** @type {ImageBitmap | null} */
    this.bitmap = null;
    /** @type {any} the dataset record open */
    this.record = null;
    /** @type {Box[]} */
    this.boxes = [];
    /** @type {any[]} the model's proposals on the image */
    this.proposals = [];
    /** @type {Prediction[]} The model's detections at the last validation, drawn read-only (diagnostics → worst images). */
    this.predictions = [];
    /** @type {Selection | null} */
    this.sel = null;
    /** @type {any} the pointer drag under way: {mode: 'pan' | 'move' | 'resize' | 'draw', client, view?, handle?, start?, i?, orig?, before?, moved?, box?, hit?} */
    this.drag = null;
    this.scale = 1; // CSS pixels per image pixel (set by layout)
    this.dpr = 1; // device pixels per CSS pixel (set by layout)
    this.view = G.fitView();
    this.currentClass = '';
    this.panKey = false; // Space held
    canvas.addEventListener('pointerdown', (e) => this.#down(e));
    canvas.addEventListener('pointermove', (e) => this.#move(e));
    canvas.addEventListener('pointerup', (e) => this.#up(e));
    canvas.addEventListener('pointercancel', () => this.#cancel());
    canvas.addEventListener('lostpointercapture', () => { if (this.drag) this.#cancel(); });
    canvas.addEventListener('wheel', (e) => this.#wheel(e), { passive: false });
    canvas.addEventListener('contextmenu', (e) => e.preventDefault());
    canvas.addEventListener('dblclick', () => this.resetView());
    new ResizeObserver(() => this.layout()).observe(/** @type {HTMLElement} */ (canvas.parentElement));
  }

  /** Index of the selected box, or -1. */
  get selected() {
    return this.sel?.kind === 'box' ? this.sel.i : -1;
  }

  get selectedBox() {
    return this.sel?.kind === 'box' ? this.boxes[this.sel.i] : null;
  }

  get W() { return /** @type {ImageBitmap} */ (this.bitmap).width; }
  get H() { return /** @type {ImageBitmap} */ (this.bitmap).height; }

  async open(record) {
    const bitmap = await createImageBitmap(record.blob);
    const old = this.bitmap;
    this.bitmap = bitmap;
    old?.close?.();
    this.record = record;
    this.boxes = copy(record.boxes);
    this.proposals = copy(record.proposals || []);
    this.predictions = [];
    this.drag = null;
    this.view = G.fitView();
    this.#select(null);
    this.layout();
    this.hooks.onView?.(this.view);
  }

  close() {
    const old = this.bitmap;
    this.bitmap = null;
    old?.close?.();
    this.record = null;
    this.boxes = [];
    this.proposals = [];
    this.predictions = [];
    this.drag = null;
    this.#select(null);
    this.layout();
  }

  /**
   * Shows the model's validation detections over the labels (thin, dotted, not editable).
   * @param {{x0: number, y0: number, x1: number, y1: number, cls: string, score: number}[] | null} list
   */
  setPredictions(list) {
    this.predictions = copy(list || []);
    this.draw();
  }

  /** The labels on screen, as plain data: {boxes, proposals}. */
  state() {
    return { boxes: copy(this.boxes), proposals: copy(this.proposals) };
  }

  /** Puts labels on screen (undo, redo, a change made elsewhere); keeps the view and, where it can, the selection. */
  setState({ boxes, proposals }) {
    this.boxes = copy(boxes || []);
    this.proposals = copy(proposals || []);
    this.drag = null;
    if (this.sel && !(this.sel.kind === 'box' ? this.boxes : this.proposals)[this.sel.i]) this.#select(null);
    else this.#select(this.sel);
    this.draw();
  }

  // ------------------------------------------------------------ edits

  /** Runs `fn` as one edit named `label`; reports it when it changed something. */
  edit(label, fn) {
    const before = this.state();
    fn();
    this.#emit(label, before);
    this.draw();
  }

  #emit(label, before) {
    const after = this.state();
    if (JSON.stringify(before) !== JSON.stringify(after)) this.hooks.onEdit({ label, before, after });
  }

  /** Sets the class for new boxes, and relabels the selected box. */
  setClass(name) {
    this.currentClass = name;
    const b = this.selectedBox;
    if (b && name && b.cls !== name) this.edit(`class ${name}`, () => { b.cls = name; });
    this.draw();
  }

  /** Deletes the selected box, or rejects the selected proposal. */
  deleteSelected() {
    if (!this.sel) return false;
    if (this.sel.kind === 'proposal') return this.rejectProposal(this.sel.i);
    const i = this.sel.i;
    this.edit('delete box', () => { this.boxes.splice(i, 1); this.#select(null); });
    return true;
  }

  duplicateSelected() {
    const b = this.selectedBox;
    if (!b) return false;
    this.edit('duplicate box', () => {
      this.boxes.push(G.tidy(G.duplicateBox(b, this.W, this.H), this.W, this.H));
      this.#select({ kind: 'box', i: this.boxes.length - 1 });
    });
    return true;
  }

  /** Adds boxes (copied from another image) as one edit. */
  addBoxes(boxes, label) {
    if (!boxes.length) return 0;
    this.edit(label, () => { this.boxes.push(...copy(boxes)); this.#select(null); });
    return boxes.length;
  }

  /** Turns proposal `i` into a box of its mapped class (or of `cls`) and selects it. */
  acceptProposal(i, cls) {
    const p = this.proposals[i];
    const name = cls || this.#visible().find((v) => v.index === i)?.cls;
    if (!p || !name) return false;
    this.edit(`accept ${name}`, () => {
      this.proposals.splice(i, 1);
      this.boxes.push({ x0: p.x0, y0: p.y0, x1: p.x1, y1: p.y1, cls: name });
      this.#select({ kind: 'box', i: this.boxes.length - 1 });
    });
    return true;
  }

  rejectProposal(i) {
    if (!this.proposals[i]) return false;
    this.edit('reject proposal', () => {
      this.proposals.splice(i, 1);
      // The next proposal takes the selection, so Delete, Delete, … goes through them.
      const next = this.#visible().find((p) => p.index >= i) || this.#visible()[0];
      this.#select(next ? { kind: 'proposal', i: next.index } : null);
    });
    return true;
  }

  /** Accepts every shown proposal; those hidden (unmapped class, below the score) are dropped too. */
  acceptAll() {
    const shown = this.#visible();
    if (!this.proposals.length) return 0;
    this.edit(`accept ${shown.length} proposal${shown.length === 1 ? '' : 's'}`, () => {
      for (const v of shown) this.boxes.push({ x0: v.proposal.x0, y0: v.proposal.y0, x1: v.proposal.x1, y1: v.proposal.y1, cls: v.cls });
      this.proposals = [];
      this.#select(null);
    });
    return shown.length;
  }

  rejectAll() {
    const n = this.proposals.length;
    if (n) this.edit(`reject ${n} proposal${n === 1 ? '' : 's'}`, () => { this.proposals = []; this.#select(null); });
    return n;
  }

  /** Enter: accepts the selected proposal, or the best shown one when none is selected. */
  acceptSelected() {
    if (this.sel?.kind === 'proposal') return this.acceptProposal(this.sel.i);
    const best = this.#visible().sort((a, b) => b.proposal.score - a.proposal.score)[0];
    return best ? this.acceptProposal(best.index) : false;
  }

  /** Tab: selects the next proposal (or box when there are none); `step` −1 goes back. */
  selectNext(step = 1) {
    const shown = this.#visible();
    const items = shown.length ? shown.map((v) => ({ kind: 'proposal', i: v.index })) : this.boxes.map((_, i) => ({ kind: 'box', i }));
    if (!items.length) return false;
    const at = items.findIndex((s) => s.kind === this.sel?.kind && s.i === this.sel?.i);
    this.#select(items[at < 0 ? (step > 0 ? 0 : items.length - 1) : (at + step + items.length) % items.length]);
    this.draw();
    return true;
  }

  clearSelection() {
    this.#select(null);
    this.draw();
  }

  #select(sel) {
    this.sel = sel;
    if (sel?.kind === 'box' && this.boxes[sel.i]?.cls) this.currentClass = this.boxes[sel.i].cls;
    this.hooks.onSelect?.(sel ? { kind: sel.kind, index: sel.i, box: sel.kind === 'box' ? this.boxes[sel.i] : this.proposals[sel.i] } : null);
  }

  #visible() {
    return this.hooks.visibleProposals?.(this.proposals) ?? [];
  }

  // ------------------------------------------------------------ view

  /** Zooms by `factor` about image point `at` (default: the centre of what is shown). */
  zoom(factor, at) {
    if (!this.bitmap) return;
    const c = at || G.toImage(this.view, this.W, this.H, 0.5, 0.5);
    this.view = G.zoomAt(this.view, factor, c.x, c.y, this.W, this.H);
    this.hooks.onView?.(this.view);
    this.draw();
  }

  resetView() {
    this.view = G.fitView();
    this.hooks.onView?.(this.view);
    this.draw();
  }

  #wheel(e) {
    if (!this.bitmap) return;
    e.preventDefault();
    const px = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
    this.zoom(Math.exp(-px * WHEEL_ZOOM), this.#point(e));
  }

  // ------------------------------------------------------------ layout and drawing

  layout() {
    const c = this.canvas;
    const wrap = /** @type {HTMLElement} */ (c.parentElement);
    if (!this.bitmap) {
      c.style.width = '100%';
      c.style.height = '220px';
      c.width = wrap.clientWidth;
      c.height = 220;
      this.draw();
      return;
    }
    const avail = wrap.clientWidth;
    const maxH = Math.max(200, window.innerHeight * 0.6);
    const s = Math.min(avail / this.W, maxH / this.H);
    this.scale = s;
    const dpr = window.devicePixelRatio || 1;
    c.style.width = `${Math.floor(this.W * s)}px`;
    c.style.height = `${Math.floor(this.H * s)}px`;
    c.width = Math.floor(this.W * s * dpr);
    c.height = Math.floor(this.H * s * dpr);
    this.dpr = dpr;
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const g = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d'));
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, c.width, c.height);
    if (!this.bitmap) {
      g.fillStyle = '#8b93a7';
      g.font = '14px system-ui, sans-serif';
      g.textAlign = 'center';
      g.fillText('Pick an image in the dataset to label it.', c.width / 2, c.height / 2);
      return;
    }
    const { z, ox, oy } = this.view;
    const k = (c.width / this.W) * z; // canvas pixels per image pixel
    const d = this.dpr;
    const R = (b) => [(b.x0 - ox) * k, (b.y0 - oy) * k, (b.x1 - b.x0) * k, (b.y1 - b.y0) * k];
    g.imageSmoothingEnabled = z < 4; // zoomed far in, show the pixels
    g.drawImage(this.bitmap, ox, oy, this.W / z, this.H / z, 0, 0, c.width, c.height);
    g.font = `600 ${Math.round(12 * d)}px system-ui, sans-serif`;
    g.textBaseline = 'top';

    // Proposals: dashed, with the model's score.
    for (const v of this.#visible()) {
      const sel = this.sel?.kind === 'proposal' && this.sel.i === v.index;
      const color = labelColor(Math.max(0, this.hooks.classIndex(v.cls)));
      const [x, y, w, h] = R(v.proposal);
      g.setLineDash([5 * d, 4 * d]);
      g.lineWidth = (sel ? 3 : 1.5) * d;
      g.strokeStyle = 'rgba(0,0,0,0.6)';
      g.strokeRect(x, y, w, h);
      g.strokeStyle = color;
      g.strokeRect(x, y, w, h);
      g.setLineDash([]);
      if (sel) {
        g.fillStyle = 'rgba(255,255,255,0.14)';
        g.fillRect(x, y, w, h);
      }
      this.#tag(g, x, y, `${v.cls}? ${(v.proposal.score * 100).toFixed(0)}%`, color, true);
    }

    // The last validation's detections (diagnostics): dotted white over a dark line (no class colour, so
    // they never look like labels), tagged with the class and score.
    for (const p of this.predictions) {
      const [x, y, w, h] = R(p);
      g.lineWidth = 1.5 * d;
      g.strokeStyle = 'rgba(0,0,0,0.7)';
      g.strokeRect(x, y, w, h);
      g.setLineDash([2 * d, 3 * d]);
      g.strokeStyle = '#ffffff';
      g.strokeRect(x, y, w, h);
      g.setLineDash([]);
      this.#tag(g, x, y + h + 17 * d, `model: ${p.cls} ${(p.score * 100).toFixed(0)}%`, '#ffffff', true);
    }
    c.dataset.predictions = String(this.predictions.length); // what the tests read

    const all = this.drag?.mode === 'draw' && this.drag.box ? [...this.boxes, this.drag.box] : this.boxes;
    all.forEach((b, i) => {
      const sel = this.sel?.kind === 'box' && i === this.sel.i;
      const color = labelColor(Math.max(0, this.hooks.classIndex(b.cls)));
      const [x, y, w, h] = R(b);
      g.lineWidth = (sel ? 3 : 2) * d;
      g.strokeStyle = 'rgba(0,0,0,0.5)';
      g.strokeRect(x, y, w, h);
      g.strokeStyle = color;
      if (b === this.drag?.box) g.setLineDash([6 * d, 4 * d]);
      g.strokeRect(x, y, w, h);
      g.setLineDash([]);
      if (sel) {
        g.fillStyle = 'rgba(255,255,255,0.12)';
        g.fillRect(x, y, w, h);
      }
      this.#tag(g, x, y, b.cls || '(no class)', color, false);
      if (sel) this.#handles(g, x, y, w, h, color);
    });

    if (z > 1.001) {
      const text = `${z.toFixed(1)}× · double-click or 0 to fit`;
      g.font = `${Math.round(12 * d)}px system-ui, sans-serif`;
      const tw = g.measureText(text).width + 12 * d;
      g.fillStyle = 'rgba(0,0,0,0.65)';
      g.fillRect(6 * d, c.height - 26 * d, tw, 20 * d);
      g.fillStyle = '#e6e9f0';
      g.fillText(text, 12 * d, c.height - 22 * d);
    }
  }

  #tag(g, x, y, text, color, light) {
    const d = this.dpr;
    const tw = g.measureText(text).width + 8 * d, th = 17 * d;
    const ty = y - th >= 0 ? y - th : y;
    g.globalAlpha = light ? 0.75 : 1;
    g.fillStyle = color;
    g.fillRect(x, ty, tw, th);
    g.globalAlpha = 1;
    g.fillStyle = '#0b0d12';
    g.fillText(text, x + 4 * d, ty + 3 * d);
  }

  #handles(g, x, y, w, h, color) {
    const s = 7 * this.dpr;
    g.fillStyle = '#fff';
    g.strokeStyle = color;
    g.lineWidth = 1.5 * this.dpr;
    for (const [hx, hy] of [[0, 0], [0.5, 0], [1, 0], [1, 0.5], [1, 1], [0.5, 1], [0, 1], [0, 0.5]]) {
      g.fillRect(x + hx * w - s / 2, y + hy * h - s / 2, s, s);
      g.strokeRect(x + hx * w - s / 2, y + hy * h - s / 2, s, s);
    }
  }

  // ------------------------------------------------------------ pointer

  /** Image point under the pointer (clamped to the image). */
  #point(e) {
    const r = this.canvas.getBoundingClientRect();
    const fx = Math.max(0, Math.min(1, (e.clientX - r.left) / r.width));
    const fy = Math.max(0, Math.min(1, (e.clientY - r.top) / r.height));
    return G.toImage(this.view, this.W, this.H, fx, fy);
  }

  /** Image pixels per CSS pixel at the current zoom. */
  #perPx() {
    return this.W / (this.canvas.getBoundingClientRect().width * this.view.z);
  }

  /** What is under image point p: the selected box's handle, else the smallest proposal or box. */
  #hit(p) {
    const b = this.selectedBox;
    const handle = b ? G.hitHandle(b, p, GRAB_PX * this.#perPx()) : null;
    if (handle) return { handle };
    const shown = this.#visible();
    const pi = G.smallestAt(shown.map((v) => v.proposal), p);
    const bi = G.smallestAt(this.boxes, p);
    const pa = pi >= 0 ? G.area(shown[pi].proposal) : Infinity, ba = bi >= 0 ? G.area(this.boxes[bi]) : Infinity;
    if (pi >= 0 && pa <= ba) return { kind: 'proposal', i: shown[pi].index };
    if (bi >= 0) return { kind: 'box', i: bi };
    return {};
  }

  #down(e) {
    if (!this.bitmap) return;
    this.canvas.focus({ preventScroll: true });
    const pan = e.button === 1 || e.button === 2 || (e.button === 0 && this.panKey);
    if (!pan && e.button !== 0) return;
    e.preventDefault();
    this.canvas.setPointerCapture(e.pointerId);
    const p = this.#point(e);
    const client = { x: e.clientX, y: e.clientY };
    if (pan) {
      this.drag = { mode: 'pan', client, view: { ...this.view } };
      this.canvas.style.cursor = 'grabbing';
      return;
    }
    const hit = this.#hit(p);
    if (hit.handle) {
      const i = /** @type {Selection} */ (this.sel).i; // a handle belongs to the selected box
      this.drag = { mode: hit.handle === 'move' ? 'move' : 'resize', handle: hit.handle, start: p, client, i, orig: { ...this.boxes[i] }, before: this.state(), moved: false };
    } else {
      this.drag = { mode: 'draw', start: p, client, box: null, hit };
    }
  }

  #move(e) {
    if (!this.bitmap) return;
    const d = this.drag;
    if (!d) { this.#hover(e); return; }
    const far = Math.hypot(e.clientX - d.client.x, e.clientY - d.client.y) >= CLICK_PX;
    if (d.mode === 'pan') {
      const r = this.canvas.getBoundingClientRect();
      const perPx = this.W / (r.width * d.view.z);
      this.view = G.panBy(d.view, (e.clientX - d.client.x) * perPx, (e.clientY - d.client.y) * perPx, this.W, this.H);
      this.hooks.onView?.(this.view);
      this.draw();
      return;
    }
    if (!far && !d.moved && !d.box) return;
    const p = this.#point(e);
    const dx = p.x - d.start.x, dy = p.y - d.start.y;
    if (d.mode === 'move' || d.mode === 'resize') {
      d.moved = true;
      this.boxes[d.i] = d.mode === 'move' ? G.moveBox(d.orig, dx, dy, this.W, this.H) : G.resizeBox(d.orig, d.handle, dx, dy, this.W, this.H, this.#perPx());
    } else {
      d.box = { ...G.normalize({ x0: d.start.x, y0: d.start.y, x1: p.x, y1: p.y }), cls: this.currentClass };
    }
    this.draw();
  }

  #hover(e) {
    if (this.panKey) { this.canvas.style.cursor = 'grab'; return; }
    const hit = this.#hit(this.#point(e));
    this.canvas.style.cursor = hit.handle ? G.cursorFor(hit.handle) : hit.kind ? 'pointer' : 'crosshair';
  }

  #up(e) {
    const d = this.drag;
    if (!d || !this.bitmap) return;
    this.drag = null;
    if (d.mode === 'pan') { this.#hover(e); return; }
    if (d.mode === 'move' || d.mode === 'resize') {
      if (d.moved) {
        this.boxes[d.i] = { ...G.tidy(this.boxes[d.i], this.W, this.H), cls: d.orig.cls };
        this.#emit(d.mode === 'move' ? 'move box' : 'resize box', d.before);
      }
      this.draw();
      return;
    }
    const box = d.box;
    const perPx = this.#perPx();
    if (box && (box.x1 - box.x0) / perPx >= CLICK_PX && (box.y1 - box.y0) / perPx >= CLICK_PX) {
      if (!this.currentClass) {
        this.hooks.onNeedClass?.();
        this.draw();
        return;
      }
      this.edit(`draw ${this.currentClass}`, () => {
        this.boxes.push({ ...G.tidy(box, this.W, this.H), cls: this.currentClass });
        this.#select({ kind: 'box', i: this.boxes.length - 1 });
      });
      return;
    }
    if (!box) {
      if (d.hit.kind === 'proposal') { this.acceptProposal(d.hit.i); return; }
      this.#select(d.hit.kind === 'box' ? { kind: 'box', i: d.hit.i } : null);
    }
    this.draw();
  }

  #cancel() {
    const d = this.drag;
    this.drag = null;
    if (d && (d.mode === 'move' || d.mode === 'resize')) this.boxes[d.i] = d.orig;
    this.draw();
  }
}
