// A small box editor: drag to draw a box with the current class, click a box to select it, Delete to
// remove it, type a class name to relabel the selected box. Boxes are in image pixels.

import { labelColor } from './overlay.js';

export class BoxEditor {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{classIndex: (name: string) => number, onChange: (boxes) => void, onSelect: (box|null) => void}} hooks
   */
  constructor(canvas, hooks) {
    this.canvas = canvas;
    this.hooks = hooks;
    this.bitmap = null;
    this.record = null;
    this.boxes = [];
    this.selected = -1;
    this.drag = null;
    this.currentClass = '';
    canvas.addEventListener('pointerdown', (e) => this.#down(e));
    canvas.addEventListener('pointermove', (e) => this.#move(e));
    canvas.addEventListener('pointerup', (e) => this.#up(e));
    canvas.addEventListener('pointercancel', () => { this.drag = null; this.draw(); });
    canvas.addEventListener('keydown', (e) => {
      if ((e.key === 'Delete' || e.key === 'Backspace') && this.selected >= 0) {
        e.preventDefault();
        this.deleteSelected();
      }
    });
    new ResizeObserver(() => this.layout()).observe(canvas.parentElement);
  }

  async open(record) {
    const bitmap = await createImageBitmap(record.blob);
    const old = this.bitmap;
    this.bitmap = bitmap;
    old?.close?.();
    this.record = record;
    this.boxes = record.boxes.map((b) => ({ ...b }));
    this.selected = -1;
    this.hooks.onSelect?.(null);
    this.layout();
  }

  close() {
    const old = this.bitmap;
    this.bitmap = null;
    old?.close?.();
    this.record = null;
    this.boxes = [];
    this.selected = -1;
    this.layout();
  }

  layout() {
    const c = this.canvas;
    const wrap = c.parentElement;
    if (!this.bitmap) {
      c.style.width = '100%';
      c.style.height = '220px';
      c.width = wrap.clientWidth;
      c.height = 220;
      this.draw();
      return;
    }
    const W = this.bitmap.width, H = this.bitmap.height;
    const avail = wrap.clientWidth;
    const maxH = Math.max(200, window.innerHeight * 0.6);
    const s = Math.min(avail / W, maxH / H);
    this.scale = s;
    const dpr = window.devicePixelRatio || 1;
    c.style.width = `${Math.floor(W * s)}px`;
    c.style.height = `${Math.floor(H * s)}px`;
    c.width = Math.floor(W * s * dpr);
    c.height = Math.floor(H * s * dpr);
    this.dpr = dpr;
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const g = c.getContext('2d');
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, c.width, c.height);
    if (!this.bitmap) {
      g.fillStyle = '#8b93a7';
      g.font = '14px system-ui, sans-serif';
      g.textAlign = 'center';
      g.fillText('Pick an image in the dataset to label it.', c.width / 2, c.height / 2);
      return;
    }
    const k = this.scale * this.dpr;
    g.drawImage(this.bitmap, 0, 0, c.width, c.height);
    g.font = `600 ${Math.round(12 * this.dpr)}px system-ui, sans-serif`;
    g.textBaseline = 'top';
    const all = this.drag?.box ? [...this.boxes, this.drag.box] : this.boxes;
    all.forEach((b, i) => {
      const sel = i === this.selected;
      const color = labelColor(Math.max(0, this.hooks.classIndex(b.cls)));
      g.lineWidth = (sel ? 3 : 2) * this.dpr;
      g.strokeStyle = 'rgba(0,0,0,0.5)';
      g.strokeRect(b.x0 * k, b.y0 * k, (b.x1 - b.x0) * k, (b.y1 - b.y0) * k);
      g.strokeStyle = color;
      if (b === this.drag?.box) g.setLineDash([6 * this.dpr, 4 * this.dpr]);
      g.strokeRect(b.x0 * k, b.y0 * k, (b.x1 - b.x0) * k, (b.y1 - b.y0) * k);
      g.setLineDash([]);
      if (sel) {
        g.fillStyle = 'rgba(255,255,255,0.12)';
        g.fillRect(b.x0 * k, b.y0 * k, (b.x1 - b.x0) * k, (b.y1 - b.y0) * k);
      }
      const text = b.cls || '(no class)';
      const tw = g.measureText(text).width + 8 * this.dpr, th = 17 * this.dpr;
      const ty = b.y0 * k - th >= 0 ? b.y0 * k - th : b.y0 * k;
      g.fillStyle = color;
      g.fillRect(b.x0 * k, ty, tw, th);
      g.fillStyle = '#0b0d12';
      g.fillText(text, b.x0 * k + 4 * this.dpr, ty + 3 * this.dpr);
    });
  }

  #point(e) {
    const r = this.canvas.getBoundingClientRect();
    const W = this.bitmap.width, H = this.bitmap.height;
    return {
      x: Math.max(0, Math.min(W, ((e.clientX - r.left) / r.width) * W)),
      y: Math.max(0, Math.min(H, ((e.clientY - r.top) / r.height) * H)),
    };
  }

  #hit(p) {
    let best = -1, area = Infinity;
    this.boxes.forEach((b, i) => {
      if (p.x >= b.x0 && p.x <= b.x1 && p.y >= b.y0 && p.y <= b.y1) {
        const a = (b.x1 - b.x0) * (b.y1 - b.y0);
        if (a < area) { area = a; best = i; }
      }
    });
    return best;
  }

  #down(e) {
    if (!this.bitmap || e.button > 0) return;
    this.canvas.focus();
    this.canvas.setPointerCapture(e.pointerId);
    const p = this.#point(e);
    this.drag = { start: p, box: null, hit: this.#hit(p) };
  }

  #move(e) {
    if (!this.drag || !this.bitmap) return;
    const p = this.#point(e);
    const s = this.drag.start;
    if (!this.drag.box && Math.hypot(p.x - s.x, p.y - s.y) * this.scale < 4) return;
    this.drag.box = { x0: Math.min(s.x, p.x), y0: Math.min(s.y, p.y), x1: Math.max(s.x, p.x), y1: Math.max(s.y, p.y), cls: this.currentClass };
    this.draw();
  }

  #up(e) {
    if (!this.drag || !this.bitmap) return;
    const { box, hit } = this.drag;
    this.drag = null;
    if (box && (box.x1 - box.x0) * this.scale >= 4 && (box.y1 - box.y0) * this.scale >= 4) {
      if (!this.currentClass) {
        this.hooks.onNeedClass?.();
        this.draw();
        return;
      }
      box.cls = this.currentClass;
      for (const k of ['x0', 'y0', 'x1', 'y1']) box[k] = Math.round(box[k] * 10) / 10;
      this.boxes.push(box);
      this.selected = this.boxes.length - 1;
      this.hooks.onChange(this.boxes);
      this.hooks.onSelect?.(box);
    } else if (!box) {
      this.selected = hit;
      this.hooks.onSelect?.(hit >= 0 ? this.boxes[hit] : null);
    }
    this.draw();
  }

  /** Sets the class for new boxes, and relabels the selected box. */
  setClass(name) {
    this.currentClass = name;
    if (this.selected >= 0 && name && this.boxes[this.selected].cls !== name) {
      this.boxes[this.selected].cls = name;
      this.hooks.onChange(this.boxes);
    }
    this.draw();
  }

  deleteSelected() {
    if (this.selected < 0) return;
    this.boxes.splice(this.selected, 1);
    this.selected = -1;
    this.hooks.onChange(this.boxes);
    this.hooks.onSelect?.(null);
    this.draw();
  }
}
