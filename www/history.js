// @ts-check
// Undo/redo of every dataset edit. Pure (no DOM), tested by tests/www/history.test.mjs; the page keeps it
// in IndexedDB (kv 'labelHistory') so it survives a reload.
//
// An entry is {label, changes: [{id, before, after}], classes?: {before, after}, t}: one user action (draw,
// resize, move, relabel, delete, duplicate, copy, accept or reject proposals, a proposal run over many
// images, a split change or a resplit, removing an image, adding or removing a class) with the state of
// every image it touched before and after, as plain data ({boxes, proposals, split?, removed?}), and the
// class list before and after when it changed. Undo puts `before` back, redo `after`; whole states rather
// than diffs, so an entry never depends on the ones around it. `split` and `removed` are only there when
// the action is about them (and in no entry stored before they existed): where absent, they stay as they are.
// A removed image stays in storage (marked `removed`) while an entry names it, so undo can bring it back.

export const HISTORY_LIMIT = 300;

/** @param {any} s */
const copyState = (s) => {
  /** @type {LabelState} */
  const c = { boxes: (s?.boxes || []).map((b) => ({ ...b })), proposals: (s?.proposals || []).map((p) => ({ ...p })) };
  if (s?.split !== undefined) c.split = s.split;
  if (s?.removed !== undefined) c.removed = !!s.removed;
  return c;
};

/** Whether two label states are the same (then an edit changed nothing and is not recorded). */
export function sameState(a, b) {
  return JSON.stringify(copyState(a)) === JSON.stringify(copyState(b));
}

/**
 * The class list `current` after an edit of it from `from` to `to` is applied (or undone, from `after` to
 * `before`): the classes `to` dropped leave, the ones it added come back at their place in `to`. Classes
 * that changed outside the history (an import, a box of a new class) stay.
 * @param {string[]} current @param {string[]} from @param {string[]} to
 */
export function applyClasses(current, from, to) {
  const out = current.filter((c) => !from.includes(c) || to.includes(c));
  to.forEach((c, i) => {
    if (from.includes(c) || out.includes(c)) return;
    const prev = to.slice(0, i).reverse().find((p) => out.includes(p));
    out.splice(prev === undefined ? 0 : out.indexOf(prev) + 1, 0, c);
  });
  return out;
}

/** @typedef {{boxes: object[], proposals: object[], split?: string, removed?: boolean}} LabelState */
/** @typedef {{id: number, before: LabelState, after: LabelState}} Change */
/** @typedef {{before: string[], after: string[]}} ClassEdit */
/** @typedef {{label: string, changes: Change[], classes?: ClassEdit, t: number}} Entry */

const sameList = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const isList = (x) => Array.isArray(x) && x.every((c) => typeof c === 'string');

export class LabelHistory {
  /** @param {{past?: Entry[], future?: Entry[], limit?: number}} [init] */
  constructor({ past = [], future = [], limit = HISTORY_LIMIT } = {}) {
    this.limit = limit;
    this.past = past;
    this.future = future;
  }

  /**
   * Records an action; changes that change nothing are dropped, and an action without any (and without a
   * change of the class list) is ignored.
   * @param {string} label @param {Change[]} changes @param {{classes?: ClassEdit | null, t?: number}} [more]
   */
  push(label, changes, { classes = null, t = Date.now() } = {}) {
    const real = changes.filter((c) => !sameState(c.before, c.after)).map((c) => ({ id: c.id, before: copyState(c.before), after: copyState(c.after) }));
    const classEdit = classes && !sameList(classes.before, classes.after) ? { before: [...classes.before], after: [...classes.after] } : null;
    if (!real.length && !classEdit) return null;
    /** @type {Entry} */
    const entry = { label, changes: real, t };
    if (classEdit) entry.classes = classEdit;
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

  /** The images some entry names: a removed image no entry names can be deleted for good. */
  ids() {
    return new Set([...this.past, ...this.future].flatMap((e) => e.changes.map((c) => c.id)));
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
    return { version: 2, past: this.past, future: this.future };
  }

  /** A history read back from storage (version 1: box edits only, or 2); anything unreadable gives an empty one. */
  static from(json, limit = HISTORY_LIMIT) {
    const okClasses = (c) => c === undefined || (c && isList(c.before) && isList(c.after));
    const ok = (list) => (Array.isArray(list) ? list.filter((e) => e && typeof e.label === 'string' && Array.isArray(e.changes) && okClasses(e.classes)) : []);
    if (!json || (json.version !== 1 && json.version !== 2)) return new LabelHistory({ limit });
    return new LabelHistory({ past: ok(json.past).slice(-limit), future: ok(json.future), limit });
  }
}
