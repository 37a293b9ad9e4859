// @ts-check
// The diagnostics panel's precision–recall curves (IoU 0.5), one per class, from the `pr50` arrays of
// `evaluate` (precision at the 101 COCO recall thresholds, -1 where the class has no ground truth), as
// `cdetr eval --plots` draws them in pr_curves.png. The geometry is pure (tests/www/prcurves.test.mjs).

import { labelColor } from './overlay.js';

/**
 * @typedef {object} PrCurve
 * @property {string} name
 * @property {number} index the class's place in the list (its colour)
 * @property {number} ap50
 * @property {[number, number][][]} segments canvas points, split where precision is undefined (< 0)
 */

/**
 * Canvas polylines of each class's curve in the plot area `{left, top, width, height}` (recall 0 → 1 left
 * to right, precision 0 → 1 bottom to top). Classes without any defined point are left out.
 * @param {{name: string, pr50: number[], ap50: number}[]} classes
 * @param {{left: number, top: number, width: number, height: number}} area
 * @returns {PrCurve[]}
 */
export function prCurves(classes, area) {
  const out = [];
  for (const [index, c] of classes.entries()) {
    const n = c.pr50?.length ?? 0;
    if (n < 2) continue;
    /** @type {[number, number][][]} */
    const segments = [];
    let run = null;
    for (let i = 0; i < n; i++) {
      const p = c.pr50[i];
      if (!(p >= 0) || !Number.isFinite(p)) { run = null; continue; }
      if (!run) segments.push((run = []));
      run.push([area.left + (area.width * i) / (n - 1), area.top + area.height * (1 - Math.min(1, p))]);
    }
    if (segments.length) out.push({ name: c.name, index, ap50: c.ap50, segments });
  }
  return out;
}

/**
 * Draws the curves with axes and a legend (`name AP50`) on `canvas`; sets `canvas.dataset.curves` to the
 * number drawn.
 * @param {HTMLCanvasElement} canvas
 * @param {{name: string, pr50: number[], ap50: number}[]} classes
 */
export function drawPrCurves(canvas, classes) {
  const g = canvas.getContext('2d');
  if (!g) return;
  const { width: w, height: h } = canvas;
  const area = { left: 34, top: 10, width: w - 34 - 120, height: h - 10 - 28 };
  g.clearRect(0, 0, w, h);
  g.font = '11px system-ui, sans-serif';
  g.strokeStyle = 'rgba(255,255,255,0.15)';
  g.fillStyle = '#aab';
  g.lineWidth = 1;
  for (let i = 0; i <= 5; i++) {
    const x = area.left + (area.width * i) / 5, y = area.top + area.height * (1 - i / 5);
    g.beginPath(); g.moveTo(x, area.top); g.lineTo(x, area.top + area.height); g.stroke();
    g.beginPath(); g.moveTo(area.left, y); g.lineTo(area.left + area.width, y); g.stroke();
    g.fillText((i / 5).toFixed(1), x - 8, area.top + area.height + 13);
    g.fillText((i / 5).toFixed(1), 6, y + 4);
  }
  g.fillText('recall (IoU 0.5)', area.left + area.width / 2 - 36, h - 3);
  const curves = prCurves(classes, area);
  g.lineWidth = 2;
  for (const c of curves) {
    g.strokeStyle = labelColor(c.index);
    for (const seg of c.segments) {
      g.beginPath();
      seg.forEach(([x, y], i) => (i ? g.lineTo(x, y) : g.moveTo(x, y)));
      g.stroke();
    }
    const ly = area.top + 12 + 15 * curves.indexOf(c);
    g.fillStyle = labelColor(c.index);
    g.fillRect(area.left + area.width + 10, ly - 8, 10, 10);
    g.fillStyle = '#dde';
    g.fillText(`${c.name} ${c.ap50 >= 0 ? c.ap50.toFixed(3) : '—'}`, area.left + area.width + 24, ly);
  }
  canvas.dataset.curves = String(curves.length);
}
