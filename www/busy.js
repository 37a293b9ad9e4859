// @ts-check
// The work chip in the header: what the page is busy with (the latest activity; all of them in its
// tooltip), or “idle”.

/** @typedef {(label: string) => () => void} Busy marks an activity as running; returns a function that ends it */

/**
 * @param {HTMLElement} chip
 * @returns {Busy}
 */
export function workIndicator(chip) {
  /** @type {Map<number, string>} */
  const work = new Map();
  let seq = 0;
  const render = () => {
    const labels = [...work.values()];
    chip.textContent = labels.length ? labels[labels.length - 1] : 'idle';
    chip.dataset.state = labels.length ? 'busy' : 'idle';
    chip.title = labels.join('\n');
  };
  return (label) => {
    const key = ++seq;
    work.set(key, label);
    render();
    return () => { work.delete(key); render(); };
  };
}
