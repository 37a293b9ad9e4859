// @ts-check
// Where models come from: the Hugging Face hub (downloaded once with progress, kept in the Cache API so
// later visits work offline) or files the user picks or drops.

export const HUB_REPO = 'microsoft/conditional-detr-resnet-50';
const HUB_BASE = `https://huggingface.co/${HUB_REPO}/resolve/main`;
export const HUB_FILES = { weights: `${HUB_BASE}/model.safetensors`, config: `${HUB_BASE}/config.json` };
const CACHE_NAME = 'cdetr-hub-models-v1';
const HUB_SIZE_HINT = 174_000_000; // when the server sends no Content-Length

export class HubUnreachable extends Error {
  constructor(cause) {
    super(`Could not download ${HUB_REPO} from huggingface.co (${cause}).`);
    this.name = 'HubUnreachable';
  }
}

async function openCache() {
  if (!('caches' in self)) return null;
  try { return await caches.open(CACHE_NAME); } catch { return null; }
}

/** The cached hub model, if a previous visit downloaded it: {weights: ArrayBuffer, config: string}. */
export async function cachedHubModel() {
  const cache = await openCache();
  if (!cache) return null;
  const [w, c] = await Promise.all([cache.match(HUB_FILES.weights), cache.match(HUB_FILES.config)]);
  if (!w || !c) return null;
  return { weights: await w.arrayBuffer(), config: await c.text() };
}

export async function forgetHubModel() {
  if ('caches' in self) await caches.delete(CACHE_NAME);
}

/**
 * Downloads the hub model. `onProgress({loaded, total, phase})`; `signal` cancels (AbortError).
 * Resolves {weights: ArrayBuffer, config: string}; rejects HubUnreachable when the hub cannot be reached.
 */
export async function downloadHubModel({ onProgress, signal }) {
  const get = async (url) => {
    let r;
    try {
      r = await fetch(url, { signal, mode: 'cors', credentials: 'omit' });
    } catch (/** @type {any} */ e) {
      if (e.name === 'AbortError') throw e;
      throw new HubUnreachable(navigator.onLine === false ? 'this device is offline' : 'network error — no connection, a proxy or a blocker stopped it');
    }
    if (!r.ok) throw new HubUnreachable(`HTTP ${r.status} ${r.statusText || ''} for ${url.split('/').pop()}`.trim());
    return r;
  };
  onProgress?.({ loaded: 0, total: 0, phase: 'config' });
  const configText = await (await get(HUB_FILES.config)).text();
  const resp = await get(HUB_FILES.weights);
  const total = Number(resp.headers.get('content-length')) || HUB_SIZE_HINT;
  const reader = /** @type {ReadableStream<Uint8Array<ArrayBuffer>>} */ (resp.body).getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    let step;
    try {
      step = await reader.read();
    } catch (/** @type {any} */ e) {
      if (e.name === 'AbortError') throw e;
      throw new HubUnreachable(`the download broke off after ${Math.round(loaded / 1e6)} MB`);
    }
    if (step.done) break;
    chunks.push(step.value);
    loaded += step.value.byteLength;
    onProgress?.({ loaded, total, phase: 'weights' });
  }
  const blob = new Blob(chunks, { type: 'application/octet-stream' });
  const cache = await openCache();
  if (cache) {
    try {
      await cache.put(HUB_FILES.config, new Response(configText, { headers: { 'content-type': 'application/json' } }));
      await cache.put(HUB_FILES.weights, new Response(blob, { headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) } }));
    } catch (/** @type {any} */ e) {
      console.warn('could not keep the model in the cache', e); // quota: works now, downloads again next time
    }
  }
  return { weights: await blob.arrayBuffer(), config: configText };
}

const WEIGHT_EXT = /\.(safetensors|bpk|pth|pt|bin|mpk)$/i;

/**
 * Sorts picked/dropped files into a model: one weights file (+ optional config .json).
 * Returns {weights: File, config: File|null} or throws an Error telling the user what to pick.
 */
export function modelFromFiles(files) {
  const list = [...files];
  const weights = list.filter((f) => WEIGHT_EXT.test(f.name));
  const configs = list.filter((f) => /\.json$/i.test(f.name));
  if (!weights.length) {
    throw new Error(configs.length
      ? `${configs.map((f) => f.name).join(', ')}: a config alone is not a model — pick the weights file (model.safetensors or a .bpk) together with it.`
      : `${list.map((f) => f.name).join(', ')}: not a model. Pick model.safetensors together with its config.json, a Burnpack (.bpk), or a fine-tuned export.`);
  }
  if (weights.length > 1) throw new Error(`Pick one weights file at a time (got ${weights.map((f) => f.name).join(', ')}).`);
  const config = configs.find((f) => /config/i.test(f.name)) || configs[0] || null;
  return { weights: weights[0], config };
}
