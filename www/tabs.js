// @ts-check
// Tab selection: the tab buttons (`#tab-btn-NAME`, role=tab) show their panel and hide the others.

import { $, $$ } from './util.js';

/** @typedef {'detect' | 'train' | 'bench' | string} TabName */
/** @typedef {(name: TabName) => void} SelectTab shows one tab */

/**
 * @param {import('./events.js').EventBus} events told of each selection (`tab`)
 * @returns {SelectTab}
 */
export function tabSelector(events) {
  return (name) => {
    for (const b of $$('.tabs [role=tab]')) {
      const on = b.id === `tab-btn-${name}`;
      b.setAttribute('aria-selected', String(on));
      $(`#${b.getAttribute('aria-controls')}`).hidden = !on;
    }
    events.emit('tab', { name });
  };
}

/** Makes the tab buttons select their tab. @param {SelectTab} selectTab */
export function wireTabs(selectTab) {
  for (const b of $$('.tabs [role=tab]')) b.addEventListener('click', () => selectTab(b.id.replace('tab-btn-', '')));
}
