// @ts-check
// Fine-tuning options from the form's raw values: numbers parsed, defaults for empty or invalid fields,
// and each value clamped to what the engine accepts. Pure, tested by tests/www/options.test.mjs.

/** @typedef {import('./protocol.js').TrainOptions} TrainOptions */

export const TRAIN_DEFAULTS = Object.freeze({ lr: 1e-4, lrBackbone: 1e-5, batchSize: 2, maxSize: 512, dropout: 0.1 });

/**
 * A non-negative finite number from a form field, else `fallback`.
 * @param {unknown} raw
 * @param {number} fallback
 */
export function fieldNumber(raw, fallback) {
  if (raw === '' || raw === null || raw === undefined) return fallback;
  const v = Number(raw);
  return Number.isFinite(v) && v >= 0 ? v : fallback;
}

/**
 * The engine's training options from the form.
 * @param {{lr?: unknown, lrBackbone?: unknown, batchSize?: unknown, maxSize?: unknown, dropout?: unknown, augment?: boolean, freezeBackbone?: boolean, fastMode?: boolean}} raw
 * @returns {TrainOptions}
 */
export function trainOptions(raw) {
  const d = TRAIN_DEFAULTS;
  return {
    lr: fieldNumber(raw.lr, d.lr),
    lrBackbone: fieldNumber(raw.lrBackbone, d.lrBackbone),
    batchSize: Math.max(1, Math.round(fieldNumber(raw.batchSize, d.batchSize))),
    maxSize: Math.max(64, Math.round(fieldNumber(raw.maxSize, d.maxSize))),
    augment: !!raw.augment,
    freezeBackbone: !!raw.freezeBackbone,
    fastMode: !!raw.fastMode,
    fastScales: 1,
    seed: 0,
    dropout: Math.min(0.9, fieldNumber(raw.dropout, d.dropout)),
  };
}
