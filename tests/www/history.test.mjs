// node --test tests/www/ — undo/redo of label edits (www/history.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import { LabelHistory, sameState } from '../../www/history.js';

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

test('forgetting an image removes its changes and emptied actions', () => {
  const h = new LabelHistory();
  h.push('draw', [{ id: 1, before: s(), after: s(1) }]);
  h.push('propose', [{ id: 1, before: s(1), after: s(1, 2) }, { id: 2, before: s(), after: s(3) }]);
  h.push('draw', [{ id: 2, before: s(3), after: s(3, 4) }]);
  h.undo();
  h.forget(2);
  assert.deepEqual(h.past.map((e) => e.changes.map((c) => c.id)), [[1], [1]]);
  assert.equal(h.future.length, 0);
});
