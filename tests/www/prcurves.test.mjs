// node --test tests/www/ — the geometry of the diagnostics' precision–recall curves (www/prcurves.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import { prCurves } from '../../www/prcurves.js';

const area = { left: 10, top: 20, width: 100, height: 50 };

test('recall runs left to right, precision bottom to top, in the plot area', () => {
  const [c] = prCurves([{ name: 'cup', pr50: [1, 0.5, 0], ap50: 0.5 }], area);
  assert.equal(c.name, 'cup');
  assert.deepEqual(c.segments, [[[10, 20], [60, 45], [110, 70]]]);
});

test('undefined precision (-1, NaN) splits a curve; a class without any point is left out', () => {
  const curves = prCurves([
    { name: 'none', pr50: [-1, -1, -1], ap50: -1 },
    { name: 'gap', pr50: [1, -1, NaN, 0.5, 0.5], ap50: 0.3 },
    { name: 'short', pr50: [1], ap50: 1 },
  ], area);
  assert.deepEqual(curves.map((c) => [c.name, c.index, c.segments.length]), [['gap', 1, 2]]);
  assert.deepEqual(curves[0].segments[1], [[85, 45], [110, 45]]);
});
