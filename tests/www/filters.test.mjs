// node --test tests/www/ — the Detect tab's score and class filter (www/filters.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import { filterDetections, parseClassFilter } from '../../www/filters.js';

const dets = [
  { score: 0.9, labelName: 'cup' },
  { score: 0.4, labelName: 'dining table' },
  { score: 0.6, labelName: 'Cell phone' },
  { score: 0.5, labelName: 'dog' },
];

test('class filter words are comma-separated, trimmed and lower-case', () => {
  assert.deepEqual(parseClassFilter(' Cup, ,PHONE ,'), ['cup', 'phone']);
  assert.deepEqual(parseClassFilter(''), []);
  assert.deepEqual(parseClassFilter(undefined), []);
});

test('detections above the threshold whose class contains a word are kept, in order', () => {
  assert.deepEqual(filterDetections(dets, { threshold: 0.45, classes: [] }).map((d) => d.labelName), ['cup', 'Cell phone', 'dog']);
  assert.deepEqual(filterDetections(dets, { threshold: 0, classes: parseClassFilter('phone, TABLE') }).map((d) => d.labelName), ['dining table', 'Cell phone']);
  // The threshold is strict: a detection scoring exactly it is not shown.
  assert.deepEqual(filterDetections(dets, { threshold: 0.5, classes: ['dog'] }), []);
  assert.deepEqual(filterDetections([], { threshold: 0, classes: ['x'] }), []);
});
