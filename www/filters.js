// @ts-check
// Which detections the Detect tab shows: the score slider and the class filter box ("cup, dog" keeps
// the detections whose class name contains any of the words). Pure, tested by tests/www/filters.test.mjs.

/**
 * The words of a class filter: comma-separated, trimmed, lower-case; empty words dropped.
 * @param {string} text
 * @returns {string[]}
 */
export function parseClassFilter(text) {
  return String(text ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
}

/**
 * The detections scoring above `threshold` whose class name contains one of `classes` (all when empty).
 * @template {{score: number, labelName: string}} D
 * @param {D[]} detections
 * @param {{threshold: number, classes: string[]}} filter
 * @returns {D[]}
 */
export function filterDetections(detections, { threshold, classes }) {
  return detections.filter((d) => d.score > threshold && (!classes.length || classes.some((w) => d.labelName.toLowerCase().includes(w))));
}
