// @ts-check
// Everything the user adds or computes is kept in IndexedDB (database `cdetr`), so a reload or an engine
// crash loses nothing:
//   kv        key → value: 'classes' (string[]), 'currentModel' ({source, name}), 'training' (session
//             record: classNames, options, baseModel, step, epoch, evals), 'snapshot' ({model: Blob,
//             optimizer: Blob, step, epoch, savedAt}), 'settings'
//   images    {id, name, blob, width, height, boxes: [{x0, y0, x1, y1, cls}], split: 'train'|'val', source, added,
//             removed?}  boxes are in image pixels and name their class (robust to class-list edits); a
//             removed image stays (removed: true, out of the dataset) while an undo step ('labelHistory') names it
//   metrics   one training step's metrics, keyed by step
//   modelFiles 'current' → {name, weights: Blob, config: string|null} (the last model picked from disk)

const DB_NAME = 'cdetr';
const DB_VERSION = 1;
let dbPromise = null;

function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

export function openDb() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const r = indexedDB.open(DB_NAME, DB_VERSION);
      r.onupgradeneeded = () => {
        const db = r.result;
        if (!db.objectStoreNames.contains('kv')) db.createObjectStore('kv');
        if (!db.objectStoreNames.contains('images')) db.createObjectStore('images', { keyPath: 'id', autoIncrement: true });
        if (!db.objectStoreNames.contains('metrics')) db.createObjectStore('metrics', { keyPath: 'step' });
        if (!db.objectStoreNames.contains('modelFiles')) db.createObjectStore('modelFiles');
      };
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
      r.onblocked = () => reject(new Error('the database is blocked by another tab of this page'));
    });
  }
  return dbPromise;
}

/** A write that IndexedDB refused, with what the user can do about it. */
function storageError(e, stores) {
  const full = e?.name === 'QuotaExceededError' || /quota/i.test(e?.message || '');
  const err = new Error(`Could not save to the browser's storage (${stores.join(', ')}: ${e?.name || 'error'}${e?.message ? ` — ${e.message}` : ''}). ` +
    (full ? 'The storage is full: free disk space or remove images from the dataset, then try again.' : 'Try again; if it keeps failing, reload the page.') +
    ' What was saved before is kept.');
  err.name = 'StorageError';
  return err;
}

async function tx(stores, mode, fn) {
  if (mode === 'readwrite') {
    try {
      return await rawTx(stores, mode, fn);
    } catch (/** @type {any} */ e) {
      throw e?.name === 'StorageError' ? e : storageError(e, stores);
    }
  }
  return rawTx(stores, mode, fn);
}

async function rawTx(stores, mode, fn) {
  const db = await openDb();
  const t = db.transaction(stores, mode);
  const done = /** @type {Promise<void>} */ (new Promise((resolve, reject) => {
    t.oncomplete = () => resolve();
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error('transaction aborted'));
  }));
  const result = await fn(t);
  await done;
  return result;
}

export const kv = {
  get: (key) => tx(['kv'], 'readonly', (t) => req(t.objectStore('kv').get(key))),
  set: (key, value) => tx(['kv'], 'readwrite', (t) => req(t.objectStore('kv').put(value, key))),
  del: (key) => tx(['kv'], 'readwrite', (t) => req(t.objectStore('kv').delete(key))),
};

export const images = {
  all: () => tx(['images'], 'readonly', (t) => req(t.objectStore('images').getAll())),
  get: (id) => tx(['images'], 'readonly', (t) => req(t.objectStore('images').get(id))),
  /** Adds records (without id); resolves with their ids. */
  add: (records) => tx(['images'], 'readwrite', (t) => Promise.all(records.map((r) => req(t.objectStore('images').add(r))))),
  put: (record) => tx(['images'], 'readwrite', (t) => req(t.objectStore('images').put(record))),
  del: (id) => tx(['images'], 'readwrite', (t) => req(t.objectStore('images').delete(id))),
  clear: () => tx(['images'], 'readwrite', (t) => req(t.objectStore('images').clear())),
};

export const metrics = {
  all: () => tx(['metrics'], 'readonly', (t) => req(t.objectStore('metrics').getAll())),
  put: (m) => tx(['metrics'], 'readwrite', (t) => req(t.objectStore('metrics').put(m))),
  clear: () => tx(['metrics'], 'readwrite', (t) => req(t.objectStore('metrics').clear())),
  /** Drops the steps after `step` (they are redone after restoring an older snapshot). */
  truncateAfter: (step) => tx(['metrics'], 'readwrite', (t) => req(t.objectStore('metrics').delete(IDBKeyRange.lowerBound(step, true)))),
};

export const modelFiles = {
  get: () => tx(['modelFiles'], 'readonly', (t) => req(t.objectStore('modelFiles').get('current'))),
  set: (value) => tx(['modelFiles'], 'readwrite', (t) => req(t.objectStore('modelFiles').put(value, 'current'))),
  del: () => tx(['modelFiles'], 'readwrite', (t) => req(t.objectStore('modelFiles').delete('current'))),
};

/** Asks the browser not to evict our data under storage pressure (best effort). */
export async function persist() {
  try {
    if (navigator.storage?.persist && !(await navigator.storage.persisted())) await navigator.storage.persist();
  } catch { /* not important */ }
}

export async function usage() {
  try {
    return await navigator.storage.estimate();
  } catch {
    return null;
  }
}
