// node --test tests/www/ — an earlier run kept for comparison (www/comparison.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import { comparisonOf, comparisonFrom, thin, nearest, stepRange, MAX_POINTS } from '../../www/comparison.js';

const step = (i) => ({ step: i, epoch: Math.floor(i / 4), loss: 10 - i / 10, lossCe: 1, lossBbox: 2, lossGiou: 3, lr: 1e-4, gradNorm: 5, stepMs: 80 });

test('a run becomes a comparison with its losses, AP and a name saying what it was', () => {
  const metrics = [0, 1, 2].map(step);
  const evals = [{ step: 3, epoch: 1, ap: 0.1, ap50: 0.3, ap75: 0.05, ar100: 0.2 }];
  const c = comparisonOf({ model: 'detr.safetensors', architecture: 'DETR', metrics, evals, keptAt: 5 });
  assert.equal(c.name, 'DETR · detr.safetensors · 3 steps');
  assert.equal(c.steps, 3);
  assert.deepEqual(c.metrics[1], { step: 1, epoch: 0, loss: 9.9, lossCe: 1, lossBbox: 2, lossGiou: 3 });
  assert.deepEqual(c.evals, [{ step: 3, epoch: 1, ap: 0.1, ap50: 0.3 }]);
  assert.equal(comparisonOf({ model: 'm', metrics: [step(0)] }).name, 'm · 1 step');
  assert.equal(comparisonOf({ model: 'm', metrics: [] }), null);
});

test('a long run keeps at most MAX_POINTS steps, the first and the last among them', () => {
  const metrics = Array.from({ length: 7001 }, (_, i) => step(i));
  const c = comparisonOf({ model: 'm', metrics });
  assert.ok(c.metrics.length <= MAX_POINTS, `${c.metrics.length} points`);
  assert.equal(c.metrics[0].step, 0);
  assert.equal(c.metrics.at(-1).step, 7000);
  assert.equal(c.steps, 7001);
  assert.deepEqual(thin([1, 2, 3], 5), [1, 2, 3]);
  assert.deepEqual(thin([0, 1, 2, 3, 4, 5, 6], 3), [0, 4, 6]);
  assert.deepEqual(thin([0, 1, 2, 3, 4, 5, 6, 7], 3), [0, 4, 7]);
});

test('what storage gives back is checked: a round trip keeps it, junk gives null', () => {
  const c = comparisonOf({ model: 'm', architecture: 'Conditional DETR', metrics: [0, 1].map(step), evals: [{ step: 1, epoch: 0, ap: 0.2, ap50: 0.4 }], keptAt: 9 });
  assert.deepEqual(comparisonFrom(JSON.parse(JSON.stringify(c))), c);
  for (const junk of [null, undefined, 3, {}, { name: 'x' }, { name: 'x', metrics: [] }, { name: 1, metrics: [step(0)] }]) {
    assert.equal(comparisonFrom(junk), null, JSON.stringify(junk));
  }
  const partly = comparisonFrom({ name: 'x', metrics: [step(0), { loss: 1 }], evals: [{ step: 0, ap: 0.1 }, { step: 'a', ap: 1 }, { step: 2 }] });
  assert.equal(partly.metrics.length, 1);
  assert.equal(partly.evals.length, 1);
});

test('nearest step and the step range of both runs', () => {
  const a = [0, 5, 10].map((s) => ({ step: s }));
  assert.equal(nearest(a, 6).step, 5);
  assert.equal(nearest(a, 8).step, 10);
  assert.equal(nearest(a, 7.5).step, 5); // a tie keeps the first
  assert.equal(nearest([], 3), null);
  assert.deepEqual(stepRange([a, [{ step: 3 }, { step: 40 }]]), [0, 40]);
  assert.deepEqual(stepRange([[], [{ step: 7 }]]), [7, 8]);
  assert.equal(stepRange([[], []]), null);
});
