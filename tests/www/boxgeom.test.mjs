// node --test tests/www/ — the label editor's geometry (www/boxgeom.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import * as G from '../../www/boxgeom.js';

const box = { x0: 100, y0: 50, x1: 200, y1: 150, cls: 'cup' };

test('iou and area', () => {
  assert.equal(G.area(box), 10_000);
  assert.equal(G.iou(box, box), 1);
  assert.equal(G.iou(box, { x0: 200, y0: 50, x1: 300, y1: 150 }), 0);
  assert.ok(Math.abs(G.iou(box, { x0: 150, y0: 50, x1: 250, y1: 150 }) - 1 / 3) < 1e-12);
});

test('hitHandle finds corners, edges, the inside and nothing', () => {
  const tol = 6;
  assert.equal(G.hitHandle(box, { x: 100, y: 50 }, tol), 'nw');
  assert.equal(G.hitHandle(box, { x: 203, y: 153 }, tol), 'se'); // just outside still grabs
  assert.equal(G.hitHandle(box, { x: 198, y: 52 }, tol), 'ne');
  assert.equal(G.hitHandle(box, { x: 101, y: 149 }, tol), 'sw');
  assert.equal(G.hitHandle(box, { x: 150, y: 47 }, tol), 'n');
  assert.equal(G.hitHandle(box, { x: 150, y: 152 }, tol), 's');
  assert.equal(G.hitHandle(box, { x: 96, y: 100 }, tol), 'w');
  assert.equal(G.hitHandle(box, { x: 205, y: 100 }, tol), 'e');
  assert.equal(G.hitHandle(box, { x: 150, y: 100 }, tol), 'move');
  assert.equal(G.hitHandle(box, { x: 250, y: 100 }, tol), null);
  assert.equal(G.hitHandle(box, { x: 150, y: 10 }, tol), null);
});

test('a small box still has an inside to move it by', () => {
  const small = { x0: 10, y0: 10, x1: 16, y1: 16 };
  assert.equal(G.hitHandle(small, { x: 13, y: 13 }, 8), 'move');
  assert.equal(G.hitHandle(small, { x: 10.5, y: 13 }, 8), 'w');
  assert.equal(G.hitHandle(small, { x: 4, y: 4 }, 8), 'nw');
});

test('resizeBox moves only the grabbed edges, clamps to the image and flips past the other edge', () => {
  assert.deepEqual(G.resizeBox(box, 'se', 20, 30, 640, 480), { ...box, x1: 220, y1: 180 });
  assert.deepEqual(G.resizeBox(box, 'n', 999, -80, 640, 480), { ...box, y0: 0 });
  assert.deepEqual(G.resizeBox(box, 'w', -150, 0, 640, 480), { ...box, x0: 0 });
  const flipped = G.resizeBox(box, 'e', -150, 0, 640, 480);
  assert.deepEqual([flipped.x0, flipped.x1], [50, 100]);
  const thin = G.resizeBox(box, 'e', -100, 0, 640, 480, 2);
  assert.equal(thin.x1 - thin.x0, 2);
  assert.equal(thin.cls, 'cup');
});

test('moveBox keeps the size and stops at the border', () => {
  assert.deepEqual(G.moveBox(box, 10, -20, 640, 480), { ...box, x0: 110, x1: 210, y0: 30, y1: 130 });
  assert.deepEqual(G.moveBox(box, -500, 1000, 640, 480), { ...box, x0: 0, x1: 100, y0: 380, y1: 480 });
});

test('duplicateBox shifts the copy inside the image', () => {
  const d = G.duplicateBox(box, 640, 480, 10);
  assert.deepEqual([d.x0, d.y0, d.x1, d.y1, d.cls], [110, 60, 210, 160, 'cup']);
  const corner = G.duplicateBox({ x0: 600, y0: 440, x1: 640, y1: 480 }, 640, 480, 10);
  assert.deepEqual([corner.x0, corner.y0, corner.x1, corner.y1], [590, 430, 630, 470]);
});

test('tidy normalises, clamps and rounds to 0.1 px', () => {
  assert.deepEqual(G.tidy({ x0: 30.04, y0: -3, x1: 10, y1: 500.55, cls: 'a' }, 640, 480), { x0: 10, y0: 0, x1: 30, y1: 480, cls: 'a' });
});

test('smallestAt picks the innermost box', () => {
  const boxes = [{ x0: 0, y0: 0, x1: 100, y1: 100 }, { x0: 40, y0: 40, x1: 60, y1: 60 }, null];
  assert.equal(G.smallestAt(boxes, { x: 50, y: 50 }), 1);
  assert.equal(G.smallestAt(boxes, { x: 10, y: 10 }), 0);
  assert.equal(G.smallestAt(boxes, { x: 200, y: 10 }), -1);
});

test('the fitted view maps the canvas onto the whole image', () => {
  const v = G.fitView();
  assert.deepEqual(G.toImage(v, 600, 400, 0.5, 0.25), { x: 300, y: 100 });
  assert.deepEqual(G.toCanvas(v, 600, 400, 300, 100), { fx: 0.5, fy: 0.25 });
});

test('zoomAt keeps the point under the cursor, and toImage/toCanvas invert each other', () => {
  const W = 600, H = 400;
  const p = { x: 450, y: 120 };
  const v = G.zoomAt(G.fitView(), 3, p.x, p.y, W, H);
  assert.equal(v.z, 3);
  const f0 = G.toCanvas(G.fitView(), W, H, p.x, p.y);
  const f1 = G.toCanvas(v, W, H, p.x, p.y);
  assert.ok(Math.abs(f0.fx - f1.fx) < 1e-12 && Math.abs(f0.fy - f1.fy) < 1e-12);
  const back = G.toImage(v, W, H, 0.1, 0.9);
  const again = G.toCanvas(v, W, H, back.x, back.y);
  assert.ok(Math.abs(again.fx - 0.1) < 1e-12 && Math.abs(again.fy - 0.9) < 1e-12);
  // Zooming back out returns to the whole image.
  assert.deepEqual(G.zoomAt(v, 1 / 3, 10, 10, W, H), G.fitView());
});

test('the view stays inside the image and within the zoom limits', () => {
  const W = 600, H = 400;
  const v = G.zoomAt(G.fitView(), 1000, 600, 400, W, H);
  assert.equal(v.z, G.MAX_ZOOM);
  assert.ok(Math.abs(v.ox - (W - W / G.MAX_ZOOM)) < 1e-9 && Math.abs(v.oy - (H - H / G.MAX_ZOOM)) < 1e-9);
  const panned = G.panBy({ z: 2, ox: 100, oy: 100 }, 50, -30, W, H);
  assert.deepEqual(panned, { z: 2, ox: 50, oy: 130 });
  assert.deepEqual(G.panBy({ z: 2, ox: 100, oy: 100 }, 1e6, -1e6, W, H), { z: 2, ox: 0, oy: 200 });
  assert.deepEqual(G.clampView({ z: 0.2, ox: 50, oy: 50 }, W, H), G.fitView());
});

test('cursorFor names a resize cursor per handle', () => {
  assert.equal(G.cursorFor('nw'), 'nwse-resize');
  assert.equal(G.cursorFor('e'), 'ew-resize');
  assert.equal(G.cursorFor('move'), 'move');
  assert.equal(G.cursorFor(null), 'crosshair');
});
