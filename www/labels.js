// @ts-check
// Labelling helpers that need no DOM: progress counts, the class behind a number key, navigation order,
// copying boxes between images. Tested by tests/www/labels.test.mjs.

import { iou } from './boxgeom.js';

/**
 * Labelling progress of a dataset: images with and without boxes, boxes per class (train / validation),
 * and the proposals still waiting for a decision.
 */
export function progress(images, classes) {
  const perClass = new Map(classes.map((c) => [c, { cls: c, count: 0, train: 0, val: 0 }]));
  let boxes = 0, labelled = 0, proposals = 0, withProposals = 0;
  for (const r of images) {
    if (r.boxes.length) labelled++;
    const waiting = r.proposals?.length || 0;
    proposals += waiting;
    if (waiting) withProposals++;
    for (const b of r.boxes) {
      boxes++;
      if (!perClass.has(b.cls)) perClass.set(b.cls, { cls: b.cls, count: 0, train: 0, val: 0 });
      const c = perClass.get(b.cls);
      c.count++;
      c[r.split === 'val' ? 'val' : 'train']++;
    }
  }
  return { images: images.length, labelled, unlabelled: images.length - labelled, boxes, perClass: [...perClass.values()], proposals, withProposals };
}

/** The class a number key picks: '1' … '9' → classes[0 … 8]; null for another key or a missing class. */
export function classForKey(classes, key) {
  if (!/^[1-9]$/.test(key)) return null;
  return classes[+key - 1] ?? null;
}

/** The id of the image `step` places after (or before, step < 0) `id` in `images`, wrapping around; null if none. */
export function neighbour(images, id, step) {
  if (!images.length) return null;
  const i = images.findIndex((r) => r.id === id);
  if (i < 0) return images[step < 0 ? images.length - 1 : 0].id;
  return images[(((i + step) % images.length) + images.length) % images.length].id;
}

/** The next image without boxes after `id` (wrapping around), or null when every other image has some. */
export function nextUnlabelled(images, id) {
  const i = images.findIndex((r) => r.id === id);
  for (let k = 1; k <= images.length; k++) {
    const r = images[(i + k + images.length) % images.length];
    if (!r.boxes.length && r.id !== id) return r.id;
  }
  return null;
}

/**
 * The boxes of image `from` for image `to`, scaled to its size (the same relative place), leaving out
 * those that `to` already has (same class and IoU ≥ `dupIou`).
 */
export function copyBoxes(from, to, dupIou = 0.9) {
  const sx = to.width / from.width, sy = to.height / from.height;
  const r1 = (v) => Math.round(v * 10) / 10;
  return from.boxes
    .map((b) => ({ ...b, x0: r1(b.x0 * sx), y0: r1(b.y0 * sy), x1: r1(b.x1 * sx), y1: r1(b.y1 * sy) }))
    .filter((b) => !to.boxes.some((o) => o.cls === b.cls && iou(o, b) >= dupIou));
}
