// @ts-check
// The live loss curve: total loss and its components per step on a log scale; hover for the values of a
// step, click a legend entry to hide or show a series. An earlier run kept for comparison
// (comparison.js) is drawn dashed under the current one. `ApChart` draws validation AP against steps for
// both runs.

import { nearest, stepRange } from './comparison.js';

const SERIES = [
  ['loss', 'total (weighted)', '#f5f7fa'],
  ['lossCe', 'classification (focal)', '#ff8a4c'],
  ['lossBbox', 'box L1', '#3ec1d3'],
  ['lossGiou', 'GIoU', '#a78bfa'],
  ['cardinalityError', 'cardinality error', '#7ddc6f'],
];

export class LossChart {
  constructor(canvas, legend) {
    this.canvas = canvas;
    this.legend = legend;
    this.data = [];
    /** @type {import('./comparison.js').Comparison | null} */
    this.comparison = null;
    this.hidden = new Set(['cardinalityError']);
    this.hover = null;
    /** What the last draw drew (series of the current run and of the earlier one), for the tests. */
    this.drawn = { current: 0, earlier: 0 };
    canvas.addEventListener('mousemove', (e) => {
      const r = canvas.getBoundingClientRect();
      this.hover = (e.clientX - r.left) / r.width;
      this.draw();
    });
    canvas.addEventListener('mouseleave', () => { this.hover = null; this.draw(); });
    new ResizeObserver(() => this.draw()).observe(canvas);
    this.#legend();
  }

  #legend() {
    this.legend.replaceChildren();
    for (const [key, name, color] of SERIES) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'legend-item' + (this.hidden.has(key) ? ' off' : '');
      b.innerHTML = `<span class="swatch" style="background:${color}"></span>`;
      b.append(name);
      b.onclick = () => {
        if (this.hidden.has(key)) this.hidden.delete(key); else this.hidden.add(key);
        this.#legend();
        this.draw();
      };
      this.legend.append(b);
    }
    if (this.comparison) {
      const b = document.createElement('button');
      b.type = 'button';
      b.id = 'legend-earlier';
      b.className = 'legend-item' + (this.hidden.has('earlier') ? ' off' : '');
      b.title = 'The earlier run kept for comparison, dashed (click to hide or show it)';
      b.innerHTML = '<span class="swatch dashed"></span>';
      b.append(`earlier: ${this.comparison.name}`);
      b.onclick = () => {
        if (this.hidden.has('earlier')) this.hidden.delete('earlier'); else this.hidden.add('earlier');
        this.#legend();
        this.draw();
      };
      this.legend.append(b);
    }
  }

  setData(data) {
    this.data = data;
    this.draw();
  }

  /** @param {import('./comparison.js').Comparison | null} run */
  setComparison(run) {
    this.comparison = run;
    this.#legend();
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const W = Math.max(100, c.clientWidth), H = Math.max(80, c.clientHeight);
    if (c.width !== Math.round(W * dpr) || c.height !== Math.round(H * dpr)) {
      c.width = Math.round(W * dpr);
      c.height = Math.round(H * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    const pad = { l: 46, r: 12, t: 10, b: 24 };
    const pw = W - pad.l - pad.r, ph = H - pad.t - pad.b;
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#8b93a7';
    const earlier = this.comparison && !this.hidden.has('earlier') ? this.comparison.metrics : [];
    this.drawn = { current: 0, earlier: 0 };
    const range = stepRange([this.data, earlier]);
    if (!range) {
      g.textAlign = 'center';
      g.fillText('The loss curve appears here once fine-tuning runs.', W / 2, H / 2);
      return;
    }
    const visible = SERIES.filter(([k]) => !this.hidden.has(k));
    let lo = Infinity, hi = -Infinity;
    for (const m of [...this.data, ...earlier]) for (const [k] of visible) {
      const v = m[k];
      if (v > 0 && Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
    if (!Number.isFinite(lo)) { lo = 0.1; hi = 1; }
    const l0 = Math.floor(Math.log10(lo) * 4) / 4, l1 = Math.max(l0 + 0.25, Math.ceil(Math.log10(hi) * 4) / 4);
    const [s0, s1] = range;
    const X = (s) => pad.l + (s - s0) / (s1 - s0) * pw;
    const Y = (v) => pad.t + (1 - (Math.log10(v) - l0) / (l1 - l0)) * ph;

    // Grid and axes.
    g.strokeStyle = '#262b38';
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let e = Math.ceil(l0); e <= Math.floor(l1); e++) {
      for (const m of [1, 2, 5]) {
        const v = m * 10 ** e;
        if (Math.log10(v) < l0 || Math.log10(v) > l1) continue;
        const y = Y(v);
        g.beginPath(); g.moveTo(pad.l, y); g.lineTo(W - pad.r, y); g.stroke();
        g.fillText(formatTick(v), pad.l - 6, y);
      }
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    const ticks = niceTicks(s0, s1, Math.max(2, Math.floor(pw / 70)));
    for (const s of ticks) g.fillText(String(s), X(s), H - pad.b + 6);
    g.save();
    g.textAlign = 'right';
    g.fillText('step', pad.l - 8, H - pad.b + 6);
    g.restore();

    // The earlier run: dashed, its smoothed curve only when it has many points.
    g.setLineDash([5, 4]);
    for (const [key, , color] of visible) {
      const pts = earlier.filter((m) => m[key] > 0 && Number.isFinite(m[key]));
      if (!pts.length) continue;
      g.strokeStyle = color;
      g.globalAlpha = 0.6;
      g.lineWidth = 1.6;
      let ema = pts[0][key];
      if (line(g, pts.map((m) => { ema = pts.length > 25 ? 0.85 * ema + 0.15 * m[key] : m[key]; return [X(m.step), Y(ema)]; }))) this.drawn.earlier++;
    }
    g.setLineDash([]);
    g.globalAlpha = 1;

    // Series: raw (thin) and smoothed (thick) when there are many points.
    for (const [key, , color] of visible) {
      const pts = this.data.filter((m) => m[key] > 0 && Number.isFinite(m[key]));
      if (!pts.length) continue;
      const smooth = pts.length > 25;
      g.strokeStyle = color;
      g.globalAlpha = smooth ? 0.3 : 1;
      g.lineWidth = smooth ? 1 : 1.8;
      if (line(g, pts.map((m) => [X(m.step), Y(m[key])]))) this.drawn.current++;
      if (pts.length === 1) {
        g.fillStyle = color;
        g.beginPath(); g.arc(X(pts[0].step), Y(pts[0][key]), 2.5, 0, 7); g.fill();
      }
      if (smooth) {
        let ema = pts[0][key];
        g.globalAlpha = 1;
        g.lineWidth = 2;
        line(g, pts.map((m) => { ema = 0.85 * ema + 0.15 * m[key]; return [X(m.step), Y(ema)]; }));
      }
      g.globalAlpha = 1;
    }

    // Hover read-out.
    if (this.hover !== null) {
      const s = s0 + Math.max(0, Math.min(1, (this.hover * W - pad.l) / pw)) * (s1 - s0);
      const m = nearest(this.data.length ? this.data : earlier, s);
      const before = this.data.length ? nearest(earlier, s) : null;
      const x = X(m.step);
      g.strokeStyle = '#5b6478';
      g.beginPath(); g.moveTo(x, pad.t); g.lineTo(x, pad.t + ph); g.stroke();
      const lines = [`step ${m.step} · epoch ${m.epoch + 1}${this.data.length ? '' : ' (earlier run)'}`, ...SERIES.filter(([k]) => m[k] !== undefined).map(([k, n]) => `${n}: ${fmt(m[k])}`)];
      if (m.lr !== undefined) lines.push(`lr ${m.lr.toExponential(1)} · grad norm ${fmt(m.gradNorm)}`);
      if (before) lines.push(`earlier run, step ${before.step}: total ${fmt(before.loss)}`);
      g.font = '11px system-ui, sans-serif';
      const bw = Math.max(...lines.map((t) => g.measureText(t).width)) + 14, bh = lines.length * 15 + 8;
      const bx = x + 10 + bw > W ? x - bw - 10 : x + 10;
      g.fillStyle = 'rgba(14,17,24,0.94)';
      g.strokeStyle = '#394055';
      g.fillRect(bx, pad.t, bw, bh);
      g.strokeRect(bx, pad.t, bw, bh);
      g.textAlign = 'left';
      g.textBaseline = 'top';
      lines.forEach((t, i) => {
        const series = SERIES.find(([, n]) => t.startsWith(n + ':'));
        g.fillStyle = series ? series[2] : '#c9cfdb';
        g.fillText(t, bx + 7, pad.t + 5 + i * 15);
      });
    }
  }
}

/** Validation AP and AP50 against steps: the current run solid, the earlier one dashed. */
export class ApChart {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    /** @type {import('./comparison.js').EvalPoint[]} */
    this.current = [];
    /** @type {import('./comparison.js').EvalPoint[]} */
    this.earlier = [];
    this.drawn = { current: 0, earlier: 0 };
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /**
   * @param {import('./comparison.js').EvalPoint[]} current
   * @param {import('./comparison.js').EvalPoint[]} earlier
   */
  setRuns(current, earlier) {
    this.current = current.filter((e) => e.ap >= 0);
    this.earlier = earlier.filter((e) => e.ap >= 0);
    this.canvas.hidden = !this.current.length && !this.earlier.length;
    this.draw();
  }

  draw() {
    const c = this.canvas;
    this.drawn = { current: 0, earlier: 0 };
    if (c.hidden) return;
    const dpr = window.devicePixelRatio || 1;
    const W = Math.max(100, c.clientWidth), H = Math.max(60, c.clientHeight);
    if (c.width !== Math.round(W * dpr) || c.height !== Math.round(H * dpr)) {
      c.width = Math.round(W * dpr);
      c.height = Math.round(H * dpr);
    }
    const g = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d'));
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    const range = stepRange([this.current, this.earlier]);
    if (!range) return;
    const pad = { l: 46, r: 12, t: 22, b: 22 };
    const pw = W - pad.l - pad.r, ph = H - pad.t - pad.b;
    const top = Math.max(0.05, ...[...this.current, ...this.earlier].flatMap((e) => [e.ap, e.ap50])) * 1.1;
    const [s0, s1] = range;
    const X = (s) => pad.l + ((s - s0) / (s1 - s0)) * pw;
    const Y = (v) => pad.t + (1 - v / top) * ph;
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#8b93a7';
    g.strokeStyle = '#262b38';
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (const v of [0, top / 2, top]) {
      g.beginPath(); g.moveTo(pad.l, Y(v)); g.lineTo(W - pad.r, Y(v)); g.stroke();
      g.fillText((v * 100).toFixed(1), pad.l - 6, Y(v));
    }
    g.textAlign = 'left';
    g.textBaseline = 'top';
    g.fillText(`validation AP (×100) by step — AP50 orange, AP blue${this.earlier.length ? '; dashed: the earlier run' : ''}`, pad.l, 4);
    g.textAlign = 'center';
    for (const s of niceTicks(s0, s1, Math.max(2, Math.floor(pw / 70)))) g.fillText(String(s), X(s), H - pad.b + 5);
    /** @type {[import('./comparison.js').EvalPoint[], boolean][]} */
    const runs = [[this.earlier, true], [this.current, false]];
    for (const [run, dashed] of runs) {
      if (!run.length) continue;
      this.drawn[dashed ? 'earlier' : 'current']++;
      for (const [key, color] of [['ap50', '#ff8a4c'], ['ap', '#3ec1d3']]) {
        g.setLineDash(dashed ? [5, 4] : []);
        g.strokeStyle = color;
        g.fillStyle = color;
        g.globalAlpha = dashed ? 0.6 : 1;
        g.lineWidth = 1.6;
        line(g, run.map((e) => [X(e.step), Y(e[key])]));
        g.setLineDash([]);
        for (const e of run) {
          g.beginPath(); g.arc(X(e.step), Y(e[key]), 2.5, 0, 7);
          if (dashed) g.stroke(); else g.fill();
        }
      }
      g.globalAlpha = 1;
    }
  }
}

/** Strokes a polyline; returns how many points it drew. */
function line(g, pts) {
  g.beginPath();
  pts.forEach(([x, y], i) => (i ? g.lineTo(x, y) : g.moveTo(x, y)));
  g.stroke();
  return pts.length;
}

function fmt(v) {
  return v === undefined || v === null ? '—' : Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
}

function formatTick(v) {
  return v >= 1000 ? v.toExponential(0) : v >= 1 ? String(+v.toPrecision(3)) : String(+v.toPrecision(2));
}

function niceTicks(a, b, n) {
  const span = b - a;
  const step = Math.max(1, 10 ** Math.floor(Math.log10(span / n)) * ([1, 2, 5, 10].find((m) => span / (m * 10 ** Math.floor(Math.log10(span / n))) <= n) || 10));
  const out = [];
  for (let s = Math.ceil(a / step) * step; s <= b; s += step) out.push(s);
  return out;
}
