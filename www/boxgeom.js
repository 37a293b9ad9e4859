// @ts-check
// Box and view geometry of the label editor. Pure functions (no DOM), tested by tests/www/boxgeom.test.mjs.
// Boxes are {x0, y0, x1, y1, …} in image pixels; a view is {z, ox, oy}: the zoom (≥ 1) and the image point
// shown at the canvas's top-left corner, so canvas fraction f maps to image x = ox + f · W / z.

export const MAX_ZOOM = 32;

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

export const area = (b) => Math.max(0, b.x1 - b.x0) * Math.max(0, b.y1 - b.y0);

export function iou(a, b) {
  const w = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
  const h = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (area(a) + area(b) - inter);
}

export const contains = (b, p) => p.x >= b.x0 && p.x <= b.x1 && p.y >= b.y0 && p.y <= b.y1;

/** The same box with x0 ≤ x1 and y0 ≤ y1. */
export function normalize(b) {
  return { ...b, x0: Math.min(b.x0, b.x1), x1: Math.max(b.x0, b.x1), y0: Math.min(b.y0, b.y1), y1: Math.max(b.y0, b.y1) };
}

/** Coordinates clamped to the image and rounded to 0.1 px (what the dataset stores). */
export function tidy(b, W, H) {
  const n = normalize(b);
  const r = (v, hi) => Math.round(clamp(v, 0, hi) * 10) / 10;
  return { ...n, x0: r(n.x0, W), y0: r(n.y0, H), x1: r(n.x1, W), y1: r(n.y1, H) };
}

/** The index of the smallest box containing `p`, or -1. */
export function smallestAt(boxes, p) {
  let best = -1, bestArea = Infinity;
  boxes.forEach((b, i) => {
    if (b && contains(b, p) && area(b) < bestArea) { best = i; bestArea = area(b); }
  });
  return best;
}

/**
 * What point `p` grabs of box `b`: a corner ('nw', 'ne', 'sw', 'se'), an edge ('n', 'e', 's', 'w'),
 * 'move' inside, or null outside. `tol` (image px) is the grab distance; on a small box it shrinks towards
 * the inside so that the middle third of the box still moves it.
 */
export function hitHandle(b, p, tol) {
  if (p.x < b.x0 - tol || p.x > b.x1 + tol || p.y < b.y0 - tol || p.y > b.y1 + tol) return null;
  const tx = Math.min(tol, (b.x1 - b.x0) / 3), ty = Math.min(tol, (b.y1 - b.y0) / 3);
  const near = (d, inside) => (d <= 0 ? -d <= tol : d <= inside); // d: distance inwards from the edge
  const n = near(p.y - b.y0, ty), s = near(b.y1 - p.y, ty), w = near(p.x - b.x0, tx), e = near(b.x1 - p.x, tx);
  const v = n && s ? (Math.abs(p.y - b.y0) <= Math.abs(p.y - b.y1) ? 'n' : 's') : n ? 'n' : s ? 's' : '';
  const h = w && e ? (Math.abs(p.x - b.x0) <= Math.abs(p.x - b.x1) ? 'w' : 'e') : w ? 'w' : e ? 'e' : '';
  if (v || h) return v + h;
  return contains(b, p) ? 'move' : null;
}

/** The CSS cursor for a handle. */
export function cursorFor(handle) {
  return { n: 'ns-resize', s: 'ns-resize', e: 'ew-resize', w: 'ew-resize', nw: 'nwse-resize', se: 'nwse-resize', ne: 'nesw-resize', sw: 'nesw-resize', move: 'move' }[handle] || 'crosshair';
}

/**
 * `orig` with the edges of `handle` moved by (dx, dy), kept inside the W×H image and at least `min` px wide
 * and high. Dragging an edge past the opposite one flips the box.
 */
export function resizeBox(orig, handle, dx, dy, W, H, min = 1) {
  const b = { ...orig };
  const west = handle === 'w' || handle === 'nw' || handle === 'sw';
  const east = handle === 'e' || handle === 'ne' || handle === 'se';
  const north = handle === 'n' || handle === 'nw' || handle === 'ne';
  const south = handle === 's' || handle === 'sw' || handle === 'se';
  if (west) b.x0 = clamp(orig.x0 + dx, 0, W);
  if (east) b.x1 = clamp(orig.x1 + dx, 0, W);
  if (north) b.y0 = clamp(orig.y0 + dy, 0, H);
  if (south) b.y1 = clamp(orig.y1 + dy, 0, H);
  const n = normalize(b);
  if (n.x1 - n.x0 < min) {
    if (west && n.x0 === b.x0) n.x0 = Math.max(0, n.x1 - min); else n.x1 = Math.min(W, n.x0 + min);
  }
  if (n.y1 - n.y0 < min) {
    if (north && n.y0 === b.y0) n.y0 = Math.max(0, n.y1 - min); else n.y1 = Math.min(H, n.y0 + min);
  }
  return n;
}

/** `orig` moved by (dx, dy), stopped at the image border (its size never changes). */
export function moveBox(orig, dx, dy, W, H) {
  const mx = clamp(dx, -orig.x0, W - orig.x1), my = clamp(dy, -orig.y0, H - orig.y1);
  return { ...orig, x0: orig.x0 + mx, x1: orig.x1 + mx, y0: orig.y0 + my, y1: orig.y1 + my };
}

/** A copy of `b` shifted by `offset` px down-right (up-left where the image ends), inside the image. */
export function duplicateBox(b, W, H, offset = Math.max(4, Math.round(0.02 * Math.max(W, H)))) {
  const dx = b.x1 + offset <= W ? offset : -offset;
  const dy = b.y1 + offset <= H ? offset : -offset;
  return moveBox({ ...b }, dx, dy, W, H);
}

// ------------------------------------------------------------------ view (zoom and pan)

export const fitView = () => ({ z: 1, ox: 0, oy: 0 });

/** The view with its zoom in [1, MAX_ZOOM] and the visible part inside the image. */
export function clampView(v, W, H) {
  const z = clamp(v.z, 1, MAX_ZOOM);
  return { z, ox: clamp(v.ox, 0, W - W / z), oy: clamp(v.oy, 0, H - H / z) };
}

/** Image point under the canvas fraction (fx, fy) ∈ [0, 1]². */
export function toImage(v, W, H, fx, fy) {
  return { x: v.ox + (fx * W) / v.z, y: v.oy + (fy * H) / v.z };
}

/** Canvas fraction of the image point (x, y). */
export function toCanvas(v, W, H, x, y) {
  return { fx: ((x - v.ox) * v.z) / W, fy: ((y - v.oy) * v.z) / H };
}

/** Zooms by `factor` keeping the image point (px, py) where it is on the canvas. */
export function zoomAt(v, factor, px, py, W, H) {
  const z = clamp(v.z * factor, 1, MAX_ZOOM);
  return clampView({ z, ox: px - ((px - v.ox) * v.z) / z, oy: py - ((py - v.oy) * v.z) / z }, W, H);
}

/** Moves the picture by (dx, dy) image px (a drag to the right shows what is further left). */
export function panBy(v, dx, dy, W, H) {
  return clampView({ z: v.z, ox: v.ox - dx, oy: v.oy - dy }, W, H);
}
