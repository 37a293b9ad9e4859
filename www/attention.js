// @ts-check
// The attention view: the last decoder layer's cross-attention of one query, per head, as heat maps over
// the analysed frame — spatial (p_qᵀp_k), content (c_qᵀc_k) and combined — like the paper's figure.
// Only the valid (non-padding) feature cells are mapped onto the image.

import { labelColor } from './overlay.js';

/** @typedef {import('./protocol.js').AttentionMaps} AttentionMaps */
/** @typedef {'spatial' | 'content' | 'combined'} MapKind */

// Inferno-like colour map anchors (value 0 → 1).
/** @type {[number, [number, number, number]][]} */
const ANCHORS = [
  [0.0, [0, 0, 4]], [0.15, [31, 12, 72]], [0.3, [85, 15, 109]], [0.45, [136, 34, 106]],
  [0.6, [186, 54, 85]], [0.75, [227, 89, 51]], [0.88, [249, 140, 10]], [1.0, [252, 255, 164]],
];
const LUT = (() => {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const v = i / 255;
    let k = 0;
    while (k < ANCHORS.length - 2 && v > ANCHORS[k + 1][0]) k++;
    const [v0, c0] = ANCHORS[k];
    const [v1, c1] = ANCHORS[k + 1];
    const t = Math.min(1, Math.max(0, (v - v0) / (v1 - v0)));
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = c0[c] + (c1[c] - c0[c]) * t;
  }
  return lut;
})();

/** @type {[MapKind, string, string][]} */
export const KINDS = [
  ['spatial', 'Spatial  p_qᵀp_k', 'where the reference point and the learned offset make the query look'],
  ['content', 'Content  c_qᵀc_k', 'what the query looks for (appearance)'],
  ['combined', 'Combined', 'the softmax of the sum: what the query attends to'],
];

/**
 * A heat map canvas (validWidth × validHeight) of head `h`, values scaled to 0..1 in the valid region.
 * @param {AttentionMaps} att @param {MapKind} kind @param {number} h
 */
function heatCanvas(att, kind, h) {
  const { featureWidth: fw, featureHeight: fh, validWidth: vw, validHeight: vh } = att;
  const data = /** @type {Float32Array} */ (att[kind]);
  const off = h * fh * fw;
  let lo = Infinity, hi = -Infinity;
  for (let y = 0; y < vh; y++) for (let x = 0; x < vw; x++) {
    const v = data[off + y * fw + x];
    if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  }
  const span = hi > lo ? hi - lo : 1;
  const c = document.createElement('canvas');
  c.width = vw; c.height = vh;
  const g = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d'));
  const img = g.createImageData(vw, vh);
  let peak = [0, 0], peakV = -1;
  for (let y = 0; y < vh; y++) for (let x = 0; x < vw; x++) {
    const raw = data[off + y * fw + x];
    const v = Number.isFinite(raw) ? (raw - lo) / span : 0;
    if (v > peakV) { peakV = v; peak = [x, y]; }
    const i = Math.round(v * 255) * 3;
    const o = (y * vw + x) * 4;
    img.data[o] = LUT[i]; img.data[o + 1] = LUT[i + 1]; img.data[o + 2] = LUT[i + 2];
    img.data[o + 3] = Math.round(90 + 150 * v);
  }
  g.putImageData(img, 0, 0);
  return { canvas: c, lo, hi, peak };
}

/**
 * Renders the grid into `container`. `frame`: a canvas/ImageBitmap of the analysed image;
 * `det`: the detection; `att`: the worker's attention answer.
 * @param {HTMLElement} container
 * @param {{frame: HTMLCanvasElement | ImageBitmap, det: import('./protocol.js').Detection, att: AttentionMaps, tileWidth?: number}} what
 */
export function renderAttention(container, { frame, det, att, tileWidth = 170 }) {
  container.replaceChildren();
  const W = frame.width, H = frame.height;
  const tw = tileWidth, th = Math.round(tileWidth * H / W);
  const s = tw / W;
  const grid = document.createElement('div');
  grid.className = 'att-grid';
  grid.style.setProperty('--heads', String(att.heads));
  grid.append(cell('div', 'att-corner', ''));
  for (let h = 0; h < att.heads; h++) grid.append(cell('div', 'att-head', `head ${h + 1}`));
  // DETR adds the positions to the content before the product: it has only the combined map.
  for (const [kind, title, help] of KINDS.filter(([k]) => att[k])) {
    const label = cell('div', 'att-kind', title);
    label.title = help;
    grid.append(label);
    for (let h = 0; h < att.heads; h++) {
      const heat = heatCanvas(att, kind, h);
      const c = document.createElement('canvas');
      c.width = tw; c.height = th;
      c.className = 'att-tile';
      c.dataset.kind = kind;
      c.dataset.head = String(h);
      c.title = `${title}, head ${h + 1}: min ${heat.lo.toPrecision(3)}, max ${heat.hi.toPrecision(3)}`;
      const g = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d'));
      g.filter = 'grayscale(0.7) brightness(0.55)';
      g.drawImage(frame, 0, 0, tw, th);
      g.filter = 'none';
      g.imageSmoothingEnabled = true;
      g.imageSmoothingQuality = 'high';
      g.drawImage(heat.canvas, 0, 0, tw, th);
      // The box and the reference point.
      const [x0, y0, x1, y1] = det.box;
      g.lineWidth = 1.5;
      g.strokeStyle = labelColor(det.label);
      g.strokeRect(x0 * s, y0 * s, (x1 - x0) * s, (y1 - y0) * s);
      if (det.referencePoint) {
        const [rx, ry] = det.referencePoint;
        g.beginPath();
        g.arc(rx * s, ry * s, 3.5, 0, Math.PI * 2);
        g.fillStyle = '#fff';
        g.fill();
        g.lineWidth = 1.5;
        g.strokeStyle = '#000';
        g.stroke();
      }
      grid.append(c);
    }
  }
  container.append(grid);
  return grid;
}

/** @param {string} tag @param {string} className @param {string} text */
function cell(tag, className, text) {
  const e = document.createElement(tag);
  e.className = className;
  e.textContent = text;
  return e;
}
