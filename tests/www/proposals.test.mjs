// node --test tests/www/ — model proposals and the class mapping (www/proposals.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import { matchByName, resolveClass, fromDetections, proposalLabels, visibleProposals, toBox } from '../../www/proposals.js';

test('model classes match dataset classes by name, ignoring case, spaces and underscores', () => {
  assert.equal(matchByName('rbc', ['RBC', 'WBC']), 'RBC');
  assert.equal(matchByName('traffic_light', ['traffic light']), 'traffic light');
  assert.equal(matchByName(' Cup ', ['cup']), 'cup');
  assert.equal(matchByName('person', ['RBC']), null);
});

test('resolveClass: the user’s choice first, then the name, then new or undecided', () => {
  const classes = ['RBC', 'WBC'];
  assert.deepEqual(resolveClass('LABEL_0', { LABEL_0: 'WBC' }, classes), { cls: 'WBC', how: 'chosen' });
  assert.deepEqual(resolveClass('LABEL_0', { LABEL_0: '' }, classes), { cls: null, how: 'ignored' });
  assert.deepEqual(resolveClass('rbc', {}, classes), { cls: 'RBC', how: 'name' });
  assert.deepEqual(resolveClass('rbc', { rbc: 'WBC' }, classes), { cls: 'WBC', how: 'chosen' });
  assert.deepEqual(resolveClass('person', {}, classes), { cls: null, how: 'undecided' });
  assert.deepEqual(resolveClass('person', {}, []), { cls: 'person', how: 'new' });
  assert.deepEqual(resolveClass('toString', {}, classes), { cls: null, how: 'undecided' }); // no prototype keys
});

test('fromDetections keeps the confident ones, one per query, in image pixels, without repeating existing boxes', () => {
  const dets = [
    { box: [10, 10, 50, 50], score: 0.9, labelName: 'cup' },
    { box: [0, 0, 20, 20], score: 0.2, labelName: 'cup' },
    { box: [60, 10, 100, 40], score: 0.6, labelName: 'dog' },
    { box: [100, 100, 140, 160], score: 0.7, labelName: 'cat' },
    { box: [5, 5, 5.2, 30], score: 0.95, labelName: 'sliver' },
  ];
  const existing = [{ x0: 120, y0: 20, x1: 200, y1: 80, cls: 'dog' }]; // the 'dog' detection at scale 0.5
  dets.forEach((d, q) => { d.query = q; });
  dets.push({ box: [10, 10, 50, 50], score: 0.8, labelName: 'mug', query: 0 }); // query 0's second class
  const got = fromDetections(dets, { threshold: 0.5, scale: 0.5, width: 300, height: 300, existing });
  assert.deepEqual(got, [
    { x0: 20, y0: 20, x1: 100, y1: 100, label: 'cup', score: 0.9 },
    { x0: 200, y0: 200, x1: 280, y1: 300, label: 'cat', score: 0.7 },
  ]);
});

test('proposalLabels counts the model classes waiting, with where they go', () => {
  const images = [{ proposals: [{ label: 'LABEL_1' }, { label: 'LABEL_0' }, { label: 'LABEL_1' }] }, { proposals: [{ label: 'rbc' }] }, {}];
  assert.deepEqual(proposalLabels(images, { LABEL_0: 'WBC' }, ['RBC', 'WBC']), [
    { label: 'LABEL_1', count: 2, cls: null, how: 'undecided' },
    { label: 'LABEL_0', count: 1, cls: 'WBC', how: 'chosen' },
    { label: 'rbc', count: 1, cls: 'RBC', how: 'name' },
  ]);
});

test('visibleProposals hides unmapped classes and low scores, keeping the stored index', () => {
  const ps = [{ label: 'a', score: 0.9 }, { label: 'b', score: 0.9 }, { label: 'a', score: 0.3 }, { label: 'a', score: 0.6 }];
  const got = visibleProposals(ps, { a: 'cup' }, ['cup'], 0.5);
  assert.deepEqual(got.map((v) => [v.index, v.cls]), [[0, 'cup'], [3, 'cup']]);
  assert.deepEqual(toBox({ x0: 1, y0: 2, x1: 3, y1: 4, label: 'a', score: 0.9 }, 'cup'), { x0: 1, y0: 2, x1: 3, y1: 4, cls: 'cup' });
});
