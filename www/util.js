// @ts-check
// Small helpers: image decoding and encoding, downloads, formatting.

/**
 * The element of the page that `sel` names. The page's own ids are always there, so this is typed as an
 * HTMLElement; a JSDoc cast at the call site narrows it where an input, canvas, … is used.
 * @param {string} sel
 * @param {ParentNode} [root]
 * @returns {HTMLElement}
 */
export const $ = (sel, root = document) => /** @type {HTMLElement} */ (root.querySelector(sel));
/** @param {string} sel @param {ParentNode} [root] @returns {HTMLElement[]} */
export const $$ = (sel, root = document) => /** @type {HTMLElement[]} */ ([...root.querySelectorAll(sel)]);

/** @typedef {Node | string | null | undefined | false} Child */

/**
 * A new element: `attrs` are attributes, except `class`, `text` (its text), `dataset` (data-*) and `on…`
 * (listeners); `children` (nested lists too) are appended, null / undefined / false skipped.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

/**
 * Makes `zone` accept dropped files: highlighted (class `over`) while dragged over, `handler(FileList)` on drop.
 * @param {HTMLElement} zone
 * @param {(files: FileList) => unknown} handler
 */
export function onFileDrop(zone, handler) {
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    e.stopPropagation();
    zone.classList.remove('over');
    if (e.dataTransfer) handler(e.dataTransfer.files);
  });
}

/** Names of weight files the engine loads (with an optional config.json beside them). */
export const MODEL_FILE = /\.(safetensors|bpk|pth|pt|mpk)$/i;

export const IMAGE_EXT = /\.(jpe?g|png|webp|gif|bmp|avif)$/i;

/**
 * Decodes an image file/blob; throws an Error naming the file when it is not a decodable image.
 * @param {Blob} blob
 * @param {string} [name]
 */
export async function decodeImage(blob, name = /** @type {File} */ (blob).name || 'image') {
  try {
    return await createImageBitmap(blob);
  } catch {
    throw new Error(`${name} is not an image this browser can read (it may be another kind of file with an image extension, or damaged). Pick a JPEG, PNG or WebP photo.`);
  }
}

/**
 * RGBA pixels of a bitmap/canvas/video, optionally scaled so the longest side is ≤ `maxSide`.
 * @param {CanvasImageSource} source
 * @param {number} width
 * @param {number} height
 */
export function rgbaOf(source, width, height, maxSide = Infinity) {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale)), h = Math.max(1, Math.round(height * scale));
  const c = new OffscreenCanvas(w, h);
  const g = /** @type {OffscreenCanvasRenderingContext2D} */ (c.getContext('2d', { willReadFrequently: true }));
  g.drawImage(source, 0, 0, w, h);
  return { data: g.getImageData(0, 0, w, h).data, width: w, height: h, scale };
}

/**
 * RGBA bytes → PNG Blob (lossless: the exact pixels).
 * @param {Uint8ClampedArray | ArrayBuffer} rgba
 * @param {number} width
 * @param {number} height
 */
export async function rgbaToPng(rgba, width, height) {
  const c = new OffscreenCanvas(width, height);
  const g = /** @type {OffscreenCanvasRenderingContext2D} */ (c.getContext('2d'));
  const bytes = /** @type {{buffer?: ArrayBuffer, byteOffset?: number}} */ (rgba);
  g.putImageData(new ImageData(new Uint8ClampedArray(bytes.buffer ?? /** @type {ArrayBuffer} */ (rgba), bytes.byteOffset ?? 0, width * height * 4), width, height), 0, 0);
  return c.convertToBlob({ type: 'image/png' });
}

/** @param {Blob} blob @param {string} filename */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

/** @param {number} n */
export function fmtBytes(n) {
  if (!Number.isFinite(n)) return '?';
  const u = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${u[i]}`;
}

/** @param {number} ms */
export function fmtMs(ms) {
  if (!Number.isFinite(ms)) return '—';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
}

export function timestamp() {
  return new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);
}

/** @param {number} ms @returns {Promise<void>} */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** @param {number[]} xs */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
}

/** @param {number[]} xs @param {number} p */
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
}

/** @param {number[]} xs */
export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
