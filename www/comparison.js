// @ts-check
// An earlier fine-tuning run kept for comparison: its loss curve and validation AP, drawn under the
// current run's (e.g. DETR, then Conditional DETR, on the same photos). Pure (no DOM), tested by
// tests/www/comparison.test.mjs; the page keeps it in IndexedDB (kv 'comparison'), where it survives
// Discard training, a model change and a reload.

/** Loss components kept per step (the chart's series). */
export const LOSS_KEYS = ['loss', 'lossCe', 'lossBbox', 'lossGiou', 'cardinalityError'];
/** At most this many steps are kept; longer runs keep every k-th step and the last one. */
export const MAX_POINTS = 2000;

/** @typedef {{step: number, epoch: number} & Record<string, number>} StepPoint */
/** @typedef {{step: number, epoch: number, ap: number, ap50: number}} EvalPoint */
/**
 * @typedef {object} Comparison
 * @property {string} name what the legend says: architecture, model, steps
 * @property {string} model the base model's file name
 * @property {string} architecture "Conditional DETR", "DETR" or "" when unknown
 * @property {number} steps steps the run had made
 * @property {number} keptAt milliseconds since the epoch
 * @property {StepPoint[]} metrics
 * @property {EvalPoint[]} evals
 */

/**
 * The comparison record of a run, or null when it has no step yet.
 * @param {{model: string, architecture?: string, metrics: object[], evals?: object[], keptAt?: number}} run
 * @returns {Comparison | null}
 */
export function comparisonOf({ model, architecture = '', metrics, evals = [], keptAt = Date.now() }) {
  const points = metrics.filter((m) => Number.isFinite(m?.step)).map(pick);
  if (!points.length) return null;
  const steps = points[points.length - 1].step + 1;
  const name = `${architecture ? `${architecture} · ` : ''}${model} · ${steps} step${steps === 1 ? '' : 's'}`;
  return {
    name, model, architecture, steps, keptAt,
    metrics: thin(points, MAX_POINTS),
    evals: evals.filter((e) => Number.isFinite(e?.step)).map((e) => ({ step: e.step, epoch: e.epoch ?? 0, ap: e.ap, ap50: e.ap50 })),
  };
}

/** @param {any} m @returns {StepPoint} */
function pick(m) {
  /** @type {StepPoint} */
  const out = /** @type {StepPoint} */ ({ step: m.step, epoch: m.epoch ?? 0 });
  for (const k of LOSS_KEYS) if (typeof m[k] === 'number') out[k] = m[k];
  return out;
}

/**
 * At most `max` points: every k-th (k = ⌈n / max⌉ so the first is kept) plus the last.
 * @template T
 * @param {T[]} points
 * @param {number} max
 * @returns {T[]}
 */
export function thin(points, max) {
  if (points.length <= max) return points.slice();
  const k = Math.ceil(points.length / (max - 1));
  const out = points.filter((_, i) => i % k === 0);
  if (out[out.length - 1] !== points[points.length - 1]) out.push(points[points.length - 1]);
  return out;
}

/**
 * A comparison read back from storage, or null when it is missing or unreadable.
 * @param {any} json
 * @returns {Comparison | null}
 */
export function comparisonFrom(json) {
  if (!json || typeof json.name !== 'string' || !Array.isArray(json.metrics) || !json.metrics.length) return null;
  const evals = Array.isArray(json.evals) ? json.evals : [];
  return {
    name: json.name, model: String(json.model ?? ''), architecture: String(json.architecture ?? ''),
    steps: Number(json.steps) || json.metrics.length, keptAt: Number(json.keptAt) || 0,
    metrics: json.metrics.filter((m) => Number.isFinite(m?.step)),
    evals: evals.filter((e) => Number.isFinite(e?.step) && typeof e.ap === 'number'),
  };
}

/**
 * The point of `points` whose step is nearest to `step` (the first of a tie), or null for none.
 * @template {{step: number}} T
 * @param {T[]} points
 * @param {number} step
 * @returns {T | null}
 */
export function nearest(points, step) {
  let best = null;
  for (const p of points) if (!best || Math.abs(p.step - step) < Math.abs(best.step - step)) best = p;
  return best;
}

/**
 * The step range covering both runs: `[first, last]`, last > first.
 * @param {{step: number}[][]} runs
 * @returns {[number, number] | null}
 */
export function stepRange(runs) {
  const steps = runs.flatMap((r) => (r.length ? [r[0].step, r[r.length - 1].step] : []));
  if (!steps.length) return null;
  const lo = Math.min(...steps);
  return [lo, Math.max(lo + 1, ...steps)];
}
