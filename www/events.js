// @ts-check
// The page's notifications between its parts (one tab tells the others that the model, the dataset or
// the training changed) and the record of them the tests read (`cdetrApp.events`). Every event name and
// the shape of its detail is in the one table below (`AppEvents`); `emit` refuses a name that is not
// there, and the type check refuses it before that. No DOM: tested by tests/www/events.test.mjs.

/**
 * @typedef {object} AppEvents event name → its detail
 * @property {{}} ready the engine started and the first model attempt finished
 * @property {{level: string, title?: string, text: string, id?: string, count: number}} message a message was shown
 * @property {{open: boolean}} message-log the message log opened or closed
 * @property {{name: string}} tab a tab was selected
 * @property {Record<string, any>} engine the engine started: a copy of `state.engine`
 * @property {{message: string}} engine-failed the engine could not start
 * @property {{message: string}} crash the engine died (it restarts on the CPU)
 * @property {{backend: string | null}} restarted the engine runs again (after a crash or a backend switch)
 * @property {Record<string, any>} model a model is loaded or changed (fine-tuned or back): a copy of `state.model`
 * @property {{message: string}} model-failed picked model files could not be loaded
 * @property {{status: string, message: string}} hub-failed the hub download failed or was cancelled
 * @property {{frameId: number, count: number}} detections a frame's detections are on screen
 * @property {{on: boolean}} camera the webcam started or stopped
 * @property {{message: string}} image-failed an opened photo could not be decoded
 * @property {{query: number, heads: number}} attention the attention maps of a query are on screen
 * @property {{images: number, classes: string[], version: number}} dataset the dataset changed
 * @property {{kind: string, details?: string[], message?: string}} import-error part of an import was refused
 * @property {{added: number, boxes: number, duplicates: number}} imported files were imported
 * @property {{id: number, name: string}} editor-open an image opened in the label editor
 * @property {{label: string, images: number}} undo a labelling action was undone
 * @property {{label: string, images: number}} redo a labelling action was redone
 * @property {{images: number, proposals: number, hiddenLabels: string[]}} proposals the model proposed boxes
 * @property {Record<string, string>} class-map the model class → dataset class mapping changed
 * @property {{}} shortcuts the keyboard shortcuts were shown
 * @property {{status: string, step: number}} training fine-tuning started or stopped
 * @property {{step: number, loss: number, epochDone: boolean}} step one training step is done
 * @property {{message: string}} train-error fine-tuning could not start or stopped on an error
 * @property {{step: number, epoch: number, reason: string, full: boolean}} snapshot the training state was saved
 * @property {{step: number, epoch: number, mode: string}} restored a training session resumed from a snapshot
 * @property {Record<string, any>} evaluated a validation finished: its AP entry
 * @property {{bytes: number, step: number}} exported the fine-tuned model was exported
 * @property {Record<string, any>} bench a benchmark finished: its result
 * @property {{detect: any, train: any}} bench-done the `?bench` run finished
 */

/** @typedef {keyof AppEvents} EventName */
/** @typedef {{t: number, type: EventName, detail: any}} EventRecord */

/** The names of the table, for the check at run time (the type check uses `AppEvents`). */
export const EVENT_NAMES = /** @type {readonly EventName[]} */ ([
  'ready', 'message', 'message-log', 'tab', 'engine', 'engine-failed', 'crash', 'restarted', 'model',
  'model-failed', 'hub-failed', 'detections', 'camera', 'image-failed', 'attention', 'dataset',
  'import-error', 'imported', 'editor-open', 'undo', 'redo', 'proposals', 'class-map', 'shortcuts',
  'training', 'step', 'train-error', 'snapshot', 'restored', 'evaluated', 'exported', 'bench', 'bench-done',
]);

/** The record keeps at most this many events (the oldest 100 go when it is full). */
export const EVENT_LOG_LIMIT = 500;

/** @param {string} type @returns {EventName} */
function checked(type) {
  if (!EVENT_NAMES.includes(/** @type {EventName} */ (type))) throw new TypeError(`unknown page event “${type}” (see AppEvents in events.js)`);
  return /** @type {EventName} */ (type);
}

/** @param {unknown} e */
function report(e) {
  if (typeof reportError === 'function') reportError(e);
  else setTimeout(() => { throw e; });
}

export class EventBus {
  /** @param {() => number} [now] the clock of the record (ms) */
  constructor(now = () => performance.now()) {
    this.now = now;
    /** @type {EventRecord[]} every event so far (trimmed to EVENT_LOG_LIMIT) */
    this.log = [];
    /** @type {Map<EventName, Set<(detail: any) => void>>} */
    this.listeners = new Map();
  }

  /**
   * Records an event and tells its listeners (in the order they subscribed).
   * @template {EventName} K
   * @param {K} type
   * @param {AppEvents[K]} [detail]
   */
  emit(type, detail = /** @type {AppEvents[K]} */ ({})) {
    checked(type);
    this.log.push({ t: Math.round(this.now()), type, detail });
    if (this.log.length > EVENT_LOG_LIMIT) this.log.splice(0, 100);
    for (const fn of [...(this.listeners.get(type) ?? [])]) {
      // As with DOM events: a listener that throws is reported and the others still run.
      try { fn(detail); } catch (e) { report(e); }
    }
  }

  /**
   * Calls `fn` with the detail of every event of that type; returns a function that unsubscribes.
   * @template {EventName} K
   * @param {K} type
   * @param {(detail: AppEvents[K]) => void} fn
   * @returns {() => void}
   */
  on(type, fn) {
    checked(type);
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    const listener = (/** @type {any} */ d) => fn(d);
    set.add(listener);
    return () => { set.delete(listener); };
  }

  /**
   * The detail of the next event of that type; rejects after `timeoutMs` (never when it is omitted).
   * @template {EventName} K
   * @param {K} type
   * @param {number} [timeoutMs]
   * @returns {Promise<AppEvents[K]>}
   */
  next(type, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = timeoutMs === undefined ? null : setTimeout(() => { off(); reject(new Error(`no ${type} event within ${timeoutMs} ms`)); }, timeoutMs);
      const off = this.on(type, (d) => { off(); if (timer) clearTimeout(timer); resolve(d); });
    });
  }
}
