// @ts-check
// The message centre: toasts and the message log behind the “messages” chip. The same message again
// raises a count on the toast already up (messages.js groups them), at most MAX_VISIBLE are up at once
// (the oldest successes and infos make room first, errors never), they expire (errors and messages with
// buttons stay until dismissed; hovering holds a toast), and every message goes into the log.

import { $, el } from './util.js';
import { MessageLog, messageKey, expiryMs, overflow } from './messages.js';

/** @typedef {import('./events.js').EventBus} EventBus */
/** @typedef {'error' | 'warn' | 'info' | 'success'} Level */
/** @typedef {{label: string, onClick: () => void, keep?: boolean}} Action a button on a toast (`keep`: the toast stays) */

/**
 * @typedef {object} Notice what `notify` shows
 * @property {Level} [level]
 * @property {string} [title]
 * @property {string} [text]
 * @property {string[]} [details] a list under the text (the first 12)
 * @property {Action[]} [actions]
 * @property {string} [id] replaces an earlier message with this id
 * @property {boolean | number} [sticky] true (stay), a number of ms, or false (the level's time)
 * @property {string} [more] under “technical details”
 */

/** @typedef {(notice: Notice) => HTMLElement} Notify shows a message */
/** @typedef {(id: string) => void} ClearMessage takes down the message with that id */
/** @typedef {{box: HTMLElement, timer: ReturnType<typeof setTimeout> | undefined, level: Level, ms: number | null}} Toast */

/** Very long engine messages: the gist in the text, everything under “technical details”. */
const LONG_TEXT = 420;

export class MessageCentre {
  /** @param {{events: EventBus}} deps */
  constructor({ events }) {
    this.events = events;
    this.box = $('#messages');
    this.log = new MessageLog();
    /** @type {Map<string, Toast>} key → toast */
    this.toasts = new Map();
    /** @type {Notify} */
    this.notify = (notice) => this.show(notice);
    /** @type {ClearMessage} */
    this.clear = (id) => this.drop(messageKey({ id }));
  }

  /** Wires the log panel's buttons and Escape. */
  wire() {
    $('#messages-btn').addEventListener('click', () => this.toggleLog());
    $('#message-log-close').addEventListener('click', () => this.toggleLog(false));
    $('#message-log-clear').addEventListener('click', () => { this.log.clear(); this.renderLog(); });
    window.addEventListener('keydown', (e) => {
      const target = /** @type {Element} */ (e.target);
      if (e.key === 'Escape' && !$('#message-log').hidden && !target.closest('dialog')) this.toggleLog(false);
    });
  }

  /**
   * Whatever slips through the handlers (a storage write refused, a bug) still reaches the user.
   * @param {Window} win
   */
  reportUnhandled(win) {
    win.addEventListener('unhandledrejection', (e) => {
      const err = e.reason;
      const storage = err?.name === 'StorageError';
      this.show({
        level: 'error', id: storage ? 'storage' : 'unhandled', title: storage ? 'Not saved' : 'Something went wrong',
        text: err?.message || String(err), more: err?.stack,
      });
    });
  }

  /** @param {Notice} notice @returns {HTMLElement} */
  show({ level = 'info', title, text = '', details = [], actions = [], id, sticky, more }) {
    if (!more && text.length > LONG_TEXT) {
      more = text;
      text = `${text.slice(0, 300).replace(/[,;:(\s][^,;:(\s]*$/, '')} …`;
    }
    const msg = { level, title, text, details, id };
    const key = messageKey(msg);
    const { entry } = this.log.add(msg);
    this.renderLog();
    for (const [k, t] of this.toasts) if (!t.box.isConnected) { clearTimeout(t.timer); this.toasts.delete(k); } // removed by hand
    const old = this.toasts.get(key);
    if (old) { clearTimeout(old.timer); old.box.remove(); this.toasts.delete(key); }
    const box = el('div', { class: `msg msg-${level}`, role: level === 'error' ? 'alert' : 'status', dataset: { id: id || '', level, key } });
    box.append(this.toastBody({ title, text, details, more, actions }, box, entry.count),
      el('button', { type: 'button', class: 'msg-close', 'aria-label': 'dismiss', text: '×', onclick: () => this.drop(key) }));
    /** @type {Toast} */
    const t = { box, timer: undefined, level, ms: null };
    this.toasts.set(key, t);
    this.box.prepend(box);
    this.arm(t, expiryMs({ level, sticky, actions }));
    box.addEventListener('mouseenter', () => clearTimeout(t.timer));
    box.addEventListener('mouseleave', () => this.arm(t, t.ms === null ? null : Math.max(t.ms, 4000)));
    const shown = [...this.box.children].map((b) => ({ key: /** @type {HTMLElement} */ (b).dataset.key, level: /** @type {HTMLElement} */ (b).dataset.level }));
    for (const k of overflow(shown)) this.drop(k);
    this.events.emit('message', { level, title, text, id, count: entry.count });
    return box;
  }

  /**
   * @param {{title?: string, text: string, details: string[], more?: string, actions: Action[]}} m
   * @param {HTMLElement} box
   * @param {number} count
   */
  toastBody({ title, text, details, more, actions }, box, count) {
    return el('div', { class: 'msg-body' },
      title || count > 1 ? el('strong', { class: 'msg-title' }, title || '', count > 1 ? el('span', { class: 'msg-count', title: `${count} times`, text: `×${count}` }) : null) : null,
      text ? el('p', { class: 'msg-text', text }) : null,
      details.length ? el('ul', { class: 'msg-details' }, details.slice(0, 12).map((d) => el('li', { text: d })), details.length > 12 ? el('li', { text: `… and ${details.length - 12} more` }) : null) : null,
      more ? el('details', { class: 'msg-more' }, el('summary', { text: 'technical details' }), el('pre', { text: more })) : null,
      actions.length ? el('div', { class: 'msg-actions' }, actions.map((a) => el('button', { type: 'button', class: 'btn small', text: a.label, onclick: () => { a.onClick(); if (!a.keep) this.drop(box.dataset.key); } }))) : null);
  }

  /** @param {string | undefined} key */
  drop(key) {
    const t = key === undefined ? undefined : this.toasts.get(key);
    if (!t || key === undefined) return;
    clearTimeout(t.timer);
    t.box.remove();
    this.toasts.delete(key);
  }

  /** @param {Toast} t @param {number | null} ms */
  arm(t, ms) {
    clearTimeout(t.timer);
    t.ms = ms;
    if (ms !== null) t.timer = setTimeout(() => this.drop(t.box.dataset.key), ms);
  }

  renderLog() {
    const list = this.log.list();
    const errors = list.filter((e) => e.level === 'error').length;
    const btn = $('#messages-btn');
    $('#messages-count').textContent = this.log.unseen ? String(this.log.unseen) : '';
    btn.dataset.state = errors ? 'error' : list.length ? 'ready' : 'none';
    if ($('#message-log').hidden) return;
    const time = (/** @type {number} */ t) => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
    $('#message-log-summary').textContent = list.length ? `${list.length} message${list.length === 1 ? '' : 's'}${errors ? `, ${errors} error${errors === 1 ? '' : 's'}` : ''}` : '';
    $('#message-log-list').replaceChildren(...(list.length ? list.map((e) => el('li', { class: `log-${e.level}`, dataset: { level: e.level } },
      el('span', { class: 'log-time muted small', text: e.count > 1 ? `${time(e.first)} – ${time(e.last)}` : time(e.last) }),
      el('strong', { class: 'log-title' }, e.title || e.level, e.count > 1 ? el('span', { class: 'msg-count', text: `×${e.count}` }) : null),
      e.text ? el('span', { class: 'log-text', text: e.text }) : null,
      e.details.length ? el('span', { class: 'log-text muted small', text: e.details.slice(0, 5).join(' · ') + (e.details.length > 5 ? ' …' : '') }) : null))
      : [el('li', { class: 'muted small', text: 'No messages yet.' })]));
  }

  toggleLog(open = $('#message-log').hidden) {
    $('#message-log').hidden = !open;
    $('#messages-btn').setAttribute('aria-expanded', String(open));
    if (open) this.log.unseen = 0;
    this.renderLog();
    this.events.emit('message-log', { open });
  }
}
