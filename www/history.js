// @ts-check
// Undo/redo of label edits. Pure (no DOM), tested by tests/www/history.test.mjs; the page keeps it in
// IndexedDB (kv 'labelHistory') so it survives a reload.
//
// An entry is {label, changes: [{id, before, after}], t}: one user action (draw, resize, move, relabel,
// delete, duplicate, copy, accept or reject proposals, a proposal run over many images) with the labels of
// every image it touched before and after, as plain data ({boxes, proposals}). Undo puts `before` back,
// redo `after`; whole states rather than diffs, so an entry never depends on the ones around it.

export const HISTORY_LIMIT = 300;

const copyState = (s) => ({
  boxes: (s?.boxes || []).map((b) => ({ ...b })),
  proposals: (s?.proposals || []).map((p) => ({ ...p })),
});

/** Whether two label states are the same (then an edit changed nothing and is not recorded). */
export function sameState(a, b) {
  return JSON.stringify(copyState(a)) === JSON.stringify(copyState(b));
}

/** @typedef {{boxes: object[], proposals: object[]}} LabelState */
/** @typedef {{id: number, before: LabelState, after: LabelState}} Change */
/** @typedef {{label: string, changes: Change[], t: number}} Entry */

export class LabelHistory {
  /** @param {{past?: Entry[], future?: Entry[], limit?: number}} [init] */
  constructor({ past = [], future = [], limit = HISTORY_LIMIT } = {}) {
    this.limit = limit;
    this.past = past;
    this.future = future;
  }

  /** Records an action; changes that change nothing are dropped, and an action without any is ignored. */
  push(label, changes, t = Date.now()) {
    const real = changes.filter((c) => !sameState(c.before, c.after)).map((c) => ({ id: c.id, before: copyState(c.before), after: copyState(c.after) }));
    if (!real.length) return null;
    const entry = { label, changes: real, t };
    this.past.push(entry);
    if (this.past.length > this.limit) this.past.splice(0, this.past.length - this.limit);
    this.future = [];
    return entry;
  }

  get canUndo() { return this.past.length > 0; }
  get canRedo() { return this.future.length > 0; }

  /** The action to undo (its `before` states are to be applied), or null. */
  undo() {
    const e = this.past.pop();
    if (e) this.future.push(e);
    return e ?? null;
  }

  /** The action to redo (its `after` states are to be applied), or null. */
  redo() {
    const e = this.future.pop();
    if (e) this.past.push(e);
    return e ?? null;
  }

  /** Forgets an image that left the dataset: its changes go, and actions left without changes too. */
  forget(id) {
    for (const list of [this.past, this.future]) {
      for (const e of list) e.changes = e.changes.filter((c) => c.id !== id);
      const kept = list.filter((e) => e.changes.length);
      list.splice(0, list.length, ...kept);
    }
  }

  clear() {
    this.past = [];
    this.future = [];
  }

  /** What the next undo and redo would do, for tooltips. */
  describe() {
    return { undo: this.past.at(-1)?.label ?? null, redo: this.future.at(-1)?.label ?? null, past: this.past.length, future: this.future.length };
  }

  toJSON() {
    return { version: 1, past: this.past, future: this.future };
  }

  /** A history read back from storage; anything unreadable gives an empty one. */
  static from(json, limit = HISTORY_LIMIT) {
    const ok = (list) => (Array.isArray(list) ? list.filter((e) => e && typeof e.label === 'string' && Array.isArray(e.changes)) : []);
    if (!json || json.version !== 1) return new LabelHistory({ limit });
    return new LabelHistory({ past: ok(json.past).slice(-limit), future: ok(json.future), limit });
  }
}
