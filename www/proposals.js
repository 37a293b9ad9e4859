// @ts-check
// Boxes proposed by the model: detections turned into proposals, and model classes mapped to dataset
// classes by name. Pure (no DOM), tested by tests/www/proposals.test.mjs.
//
// A proposal is {x0, y0, x1, y1, label, score}: `label` is the model's class name, kept as it is so that
// the mapping can change afterwards. The mapping (kv 'classMap') is {modelLabel: datasetClass | ''}, where
// '' means “ignore this model class”; a label without an entry maps to the dataset class of the same name
// (case and spaces ignored), to itself when the dataset has no classes yet, and otherwise is undecided
// (hidden until the user chooses).

import { iou, tidy } from './boxgeom.js';

const norm = (s) => String(s).trim().toLowerCase().replace(/[\s_-]+/g, ' ');

/** The dataset class named like `label`, or null. */
export function matchByName(label, classes) {
  const n = norm(label);
  return classes.find((c) => norm(c) === n) ?? null;
}

/**
 * Where proposals of model class `label` go: {cls, how} with cls a class name or null (hidden), and how
 * 'chosen' (the user's mapping), 'name' (same name), 'new' (dataset has no classes: the model's name), 'ignored'
 * (chosen: ignore) or 'undecided'.
 */
export function resolveClass(label, map, classes) {
  if (map && Object.hasOwn(map, label)) {
    const v = map[label];
    return v ? { cls: v, how: 'chosen' } : { cls: null, how: 'ignored' };
  }
  const byName = matchByName(label, classes);
  if (byName) return { cls: byName, how: 'name' };
  if (!classes.length) return { cls: label, how: 'new' };
  return { cls: null, how: 'undecided' };
}

/**
 * Proposals from one image's detections (boxes in the pixels of the analysed copy, `scale` times the
 * image's size): those scoring at least `threshold`, one per decoder query (its best class: the focal
 * post-processing can give a query several), in image pixels, without the ones that repeat a box the
 * image already has (IoU ≥ `overlap`, any class), best first.
 * @param {{label: number, labelName: string, score: number, box: number[], query: number}[]} dets
 * @param {{threshold: number, scale?: number, width: number, height: number, existing?: {x0: number, y0: number, x1: number, y1: number}[], overlap?: number}} options
 */
export function fromDetections(dets, { threshold, scale = 1, width, height, existing = [], overlap = 0.5 }) {
  const out = [];
  const queries = new Set();
  for (const d of [...dets].sort((a, b) => b.score - a.score)) {
    if (!(d.score >= threshold)) continue;
    if (d.query !== undefined) {
      if (queries.has(d.query)) continue;
      queries.add(d.query);
    }
    const [x0, y0, x1, y1] = d.box;
    const p = tidy({ x0: x0 / scale, y0: y0 / scale, x1: x1 / scale, y1: y1 / scale }, width, height);
    if (p.x1 - p.x0 < 1 || p.y1 - p.y0 < 1) continue;
    if (existing.some((b) => iou(b, p) >= overlap)) continue;
    out.push({ ...p, label: d.labelName, score: Math.round(d.score * 1e4) / 1e4 });
  }
  return out;
}

/**
 * The model classes behind the waiting proposals of `images`, most frequent first, each with its count and
 * where it goes now: [{label, count, cls, how}].
 */
export function proposalLabels(images, map, classes) {
  const counts = new Map();
  for (const r of images) for (const p of r.proposals || []) counts.set(p.label, (counts.get(p.label) || 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])))
    .map(([label, count]) => ({ label, count, ...resolveClass(label, map, classes) }));
}

/** The proposals of one image that are shown: mapped to a class and at least `threshold`, each with its class. */
export function visibleProposals(proposals, map, classes, threshold = 0) {
  const out = [];
  (proposals || []).forEach((p, index) => {
    if (p.score < threshold) return;
    const { cls } = resolveClass(p.label, map, classes);
    if (cls) out.push({ index, cls, proposal: p });
  });
  return out;
}

/** The box a proposal becomes when accepted. */
export function toBox(p, cls) {
  return { x0: p.x0, y0: p.y0, x1: p.x1, y1: p.y1, cls };
}
