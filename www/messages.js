// @ts-check
// What the page's messages do, without the DOM (app.js draws them): grouping (the same message again
// raises a count on the toast that is already there), how long a toast stays, which toasts make room when
// too many are up, and the message log. Tested by tests/www/messages.test.mjs.

export const MAX_VISIBLE = 4;
export const LOG_LIMIT = 200;
const EXPIRE_MS = { error: null, warn: 20_000, info: 7000, success: 7000 };

/** Messages with the same key share one toast: the same id, or else the same level, title and text. */
export function messageKey({ id, level = 'info', title = '', text = '' }) {
  return id ? `id:${id}` : `${level}|${title}|${text}`;
}

/**
 * How long a toast stays, in ms, or null for “until dismissed”. `sticky`: a number of ms, true (stay) or
 * false (the level's time); otherwise errors and messages with buttons stay, warnings go after 20 s,
 * the rest after 7 s.
 * @param {{level?: string, sticky?: boolean | number, actions?: unknown[]}} message
 */
export function expiryMs({ level = 'info', sticky, actions = [] }) {
  if (typeof sticky === 'number') return sticky;
  if (sticky === true) return null;
  if (sticky === false) return EXPIRE_MS[level] ?? EXPIRE_MS.info ?? 7000;
  if (actions.length) return null;
  return level in EXPIRE_MS ? EXPIRE_MS[level] : 7000;
}

/**
 * Which toasts to take down so that at most `max` stay up. `shown`: [{key, level}] newest first. Oldest first:
 * successes and infos, then warnings; errors are never taken down (they go when dismissed).
 */
export function overflow(shown, max = MAX_VISIBLE) {
  let extra = shown.length - max;
  if (extra <= 0) return [];
  const out = [];
  for (const levels of [['success', 'info'], ['warn']]) {
    for (let i = shown.length - 1; i >= 0 && extra > 0; i--) {
      const s = shown[i];
      if (levels.includes(s.level) && !out.includes(s.key)) { out.push(s.key); extra--; }
    }
  }
  return out;
}

/** The message log: one entry per group, with how often it came and when first and last. */
export class MessageLog {
  constructor(limit = LOG_LIMIT) {
    this.limit = limit;
    this.entries = []; // oldest first
    this.unseen = 0;
  }

  /**
   * Records a message; returns {entry, repeat}. A message with the key of the latest entry of that key
   * and the same title and text is a repeat (count + 1); with an id but new words it is a new entry.
   */
  add(msg, t = Date.now()) {
    const key = messageKey(msg);
    const last = this.entries.findLast((e) => e.key === key);
    this.unseen++;
    if (last && last.title === (msg.title || '') && last.text === (msg.text || '')) {
      last.count++;
      last.last = t;
      this.entries.splice(this.entries.indexOf(last), 1);
      this.entries.push(last);
      return { entry: last, repeat: true };
    }
    const entry = { key, level: msg.level || 'info', title: msg.title || '', text: msg.text || '', details: msg.details || [], count: 1, first: t, last: t };
    this.entries.push(entry);
    if (this.entries.length > this.limit) this.entries.splice(0, this.entries.length - this.limit);
    return { entry, repeat: false };
  }

  /** Newest first. */
  list() {
    return [...this.entries].reverse();
  }

  clear() {
    this.entries = [];
    this.unseen = 0;
  }
}
