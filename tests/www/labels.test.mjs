// node --test tests/www/ — progress, number keys, navigation and copying boxes (www/labels.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import { progress, classForKey, neighbour, nextUnlabelled, copyBoxes } from '../../www/labels.js';

const b = (cls, x = 0) => ({ x0: x, y0: 0, x1: x + 10, y1: 10, cls });
const images = [
  { id: 1, split: 'train', width: 100, height: 100, boxes: [b('RBC'), b('RBC', 20), b('WBC')] },
  { id: 2, split: 'val', width: 100, height: 100, boxes: [b('RBC')], proposals: [{ label: 'x' }, { label: 'y' }] },
  { id: 3, split: 'train', width: 200, height: 50, boxes: [] },
  { id: 4, split: 'train', width: 100, height: 100, boxes: [] },
];

test('progress counts boxes per class and split, unlabelled images and waiting proposals', () => {
  const p = progress(images, ['RBC', 'WBC', 'Platelets']);
  assert.equal(p.images, 4);
  assert.equal(p.labelled, 2);
  assert.equal(p.unlabelled, 2);
  assert.equal(p.boxes, 4);
  assert.deepEqual(p.perClass, [
    { cls: 'RBC', count: 3, train: 2, val: 1 },
    { cls: 'WBC', count: 1, train: 1, val: 0 },
    { cls: 'Platelets', count: 0, train: 0, val: 0 },
  ]);
  assert.equal(p.proposals, 2);
  assert.equal(p.withProposals, 1);
});

test('a box of a class missing from the list still counts', () => {
  const p = progress([{ id: 1, split: 'train', boxes: [b('dog')] }], []);
  assert.deepEqual(p.perClass, [{ cls: 'dog', count: 1, train: 1, val: 0 }]);
});

test('number keys pick classes 1–9', () => {
  const classes = ['a', 'b', 'c'];
  assert.equal(classForKey(classes, '1'), 'a');
  assert.equal(classForKey(classes, '3'), 'c');
  assert.equal(classForKey(classes, '4'), null);
  assert.equal(classForKey(classes, '0'), null);
  assert.equal(classForKey(classes, 'x'), null);
});

test('next and previous wrap around; next unlabelled skips labelled images', () => {
  assert.equal(neighbour(images, 1, 1), 2);
  assert.equal(neighbour(images, 4, 1), 1);
  assert.equal(neighbour(images, 1, -1), 4);
  assert.equal(neighbour(images, 99, 1), 1);
  assert.equal(neighbour([], 1, 1), null);
  assert.equal(nextUnlabelled(images, 1), 3);
  assert.equal(nextUnlabelled(images, 3), 4);
  assert.equal(nextUnlabelled(images, 4), 3);
  assert.equal(nextUnlabelled(images.slice(0, 2), 1), null);
});

test('copyBoxes scales to the target size and skips boxes it already has', () => {
  const from = images[0];
  const to = { width: 200, height: 50, boxes: [{ x0: 0, y0: 0, x1: 20, y1: 5, cls: 'RBC' }] };
  const got = copyBoxes(from, to);
  assert.deepEqual(got, [{ x0: 40, y0: 0, x1: 60, y1: 5, cls: 'RBC' }, { x0: 0, y0: 0, x1: 20, y1: 5, cls: 'WBC' }]);
});
