// node --test tests/www/ — undo/redo of dataset edits (www/history.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import { LabelHistory, sameState, applyClasses } from '../../www/history.js';

const s = (...boxes) => ({ boxes: boxes.map((x) => ({ x0: x, y0: 0, x1: x + 10, y1: 10, cls: 'a' })), proposals: [] });

test('undo and redo walk the actions back and forth', () => {
  const h = new LabelHistory();
  h.push('draw', [{ id: 1, before: s(), after: s(1) }]);
  h.push('draw', [{ id: 1, before: s(1), after: s(1, 2) }]);
  assert.equal(h.describe().undo, 'draw');
  let e = h.undo();
  assert.deepEqual(e.changes[0].before, s(1));
  e = h.undo();
  assert.deepEqual(e.changes[0].before, s());
  assert.equal(h.undo(), null);
  e = h.redo();
  assert.deepEqual(e.changes[0].after, s(1));
  assert.ok(h.canRedo && h.canUndo);
});

test('a new action after undo drops what could be redone', () => {
  const h = new LabelHistory();
  h.push('draw', [{ id: 1, before: s(), after: s(1) }]);
  h.undo();
  h.push('draw', [{ id: 1, before: s(), after: s(5) }]);
  assert.equal(h.canRedo, false);
  assert.equal(h.past.length, 1);
});

test('changes that change nothing are not recorded', () => {
  const h = new LabelHistory();
  assert.equal(h.push('move', [{ id: 1, before: s(1), after: s(1) }]), null);
  assert.equal(h.past.length, 0);
  const e = h.push('propose', [{ id: 1, before: s(1), after: s(1) }, { id: 2, before: s(), after: s(3) }]);
  assert.deepEqual(e.changes.map((c) => c.id), [2]);
  assert.ok(sameState({ boxes: [] }, { boxes: [], proposals: [] }));
});

test('recorded states are copies: later edits of the live objects do not leak in', () => {
  const h = new LabelHistory();
  const after = s(1);
  h.push('draw', [{ id: 1, before: s(), after }]);
  after.boxes[0].x0 = 99;
  assert.equal(h.undo().changes[0].after.boxes[0].x0, 1);
});

test('the history survives JSON (a reload) and keeps its limit', () => {
  const h = new LabelHistory({ limit: 3 });
  for (let i = 0; i < 5; i++) h.push(`edit ${i}`, [{ id: 1, before: s(i), after: s(i + 1) }]);
  assert.equal(h.past.length, 3);
  h.undo();
  const back = LabelHistory.from(JSON.parse(JSON.stringify(h)), 3);
  assert.deepEqual(back.describe(), { undo: 'edit 3', redo: 'edit 4', past: 2, future: 1 });
  assert.deepEqual(back.redo().changes[0].after, s(5));
  assert.equal(LabelHistory.from(null).past.length, 0);
  assert.equal(LabelHistory.from({ version: 1, past: [{ nonsense: true }], future: 'x' }).past.length, 0);
});

test('split and removal are part of a state, and only where an entry names them', () => {
  const h = new LabelHistory();
  const e = h.push('move to validation', [{ id: 1, before: { ...s(1), split: 'train' }, after: { ...s(1), split: 'val' } }]);
  assert.deepEqual([e.changes[0].before.split, e.changes[0].after.split], ['train', 'val']);
  assert.ok(h.push('remove', [{ id: 2, before: { ...s(2), removed: false }, after: { ...s(2), removed: true } }]));
  assert.equal(h.push('nothing', [{ id: 1, before: { ...s(1), split: 'val' }, after: { ...s(1), split: 'val' } }]), null);
  assert.equal(h.undo().changes[0].before.removed, false);
  assert.equal(h.undo().changes[0].before.split, 'train');
  assert.ok(!('split' in h.push('draw', [{ id: 1, before: s(), after: s(1) }]).changes[0].after), 'a box edit leaves the split alone');
  assert.equal(sameState({ ...s(1), split: 'train' }, s(1)), false);
});

test('a class-list edit is an entry of its own, with or without image changes', () => {
  const h = new LabelHistory();
  const e = h.push('remove class b', [], { classes: { before: ['a', 'b'], after: ['a'] } });
  assert.deepEqual(e.classes, { before: ['a', 'b'], after: ['a'] });
  assert.equal(h.push('same classes', [], { classes: { before: ['a'], after: ['a'] } }), null);
  assert.equal(h.push('no classes', []), null);
  assert.deepEqual(h.undo().classes.before, ['a', 'b']);
  assert.deepEqual(h.redo().classes.after, ['a']);
});

test('undoing a class edit puts back what it changed and keeps the rest', () => {
  assert.deepEqual(applyClasses(['a', 'c', 'new'], ['a', 'c'], ['a', 'b', 'c']), ['a', 'b', 'c', 'new']);
  assert.deepEqual(applyClasses(['b', 'c'], ['b', 'c'], ['a', 'b', 'c']), ['a', 'b', 'c']);
  assert.deepEqual(applyClasses(['a', 'b', 'x', 'new'], ['a', 'b', 'x'], ['a', 'b']), ['a', 'b', 'new']);
  assert.deepEqual(applyClasses([], ['a'], ['a', 'b']), ['b']);
});

test('new entries survive JSON; a version-1 history still loads and undoes', () => {
  const h = new LabelHistory();
  h.push('resplit', [{ id: 1, before: { ...s(1), split: 'train' }, after: { ...s(1), split: 'val' } }, { id: 2, before: { ...s(), split: 'val' }, after: { ...s(), split: 'train' } }]);
  h.push('remove', [{ id: 3, before: { ...s(3), removed: false }, after: { ...s(3), removed: true } }]);
  h.push('add class c', [], { classes: { before: ['a'], after: ['a', 'c'] } });
  h.undo();
  const back = LabelHistory.from(JSON.parse(JSON.stringify(h)));
  assert.deepEqual(back.describe(), { undo: 'remove', redo: 'add class c', past: 2, future: 1 });
  assert.deepEqual(back.past, h.past);
  assert.deepEqual(back.redo().classes, { before: ['a'], after: ['a', 'c'] });
  assert.equal(LabelHistory.from({ version: 2, past: [{ label: 'x', changes: [], classes: { before: 'a' } }] }).past.length, 0);
  const v1 = { version: 1, past: [{ label: 'draw', changes: [{ id: 1, before: s(), after: s(1) }], t: 5 }], future: [] };
  const old = LabelHistory.from(JSON.parse(JSON.stringify(v1)));
  const e = old.undo();
  assert.deepEqual(e.changes[0].before, s());
  assert.equal(e.changes[0].before.split, undefined);
  assert.equal(e.classes, undefined);
  assert.equal(LabelHistory.from({ version: 3, past: v1.past }).past.length, 0);
});

test('ids names every image an entry (past or future) touches, for purging removed ones', () => {
  const h = new LabelHistory({ limit: 2 });
  h.push('remove', [{ id: 7, before: { ...s(), removed: false }, after: { ...s(), removed: true } }]);
  h.push('draw', [{ id: 1, before: s(), after: s(1) }]);
  h.push('add class', [], { classes: { before: [], after: ['a'] } });
  h.undo();
  h.undo();
  assert.deepEqual([...h.ids()], [1], 'the removal fell off the limit; undone steps still count');
  h.push('remove', [{ id: 8, before: { ...s(), removed: false }, after: { ...s(), removed: true } }]);
  assert.deepEqual([...h.ids()], [8], 'the undone steps were dropped');
});
