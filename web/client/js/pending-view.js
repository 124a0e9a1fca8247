// The pages that account emails will link to (password reset, email
// verification). The accounts work (issue 13) is not built yet, so they
// say so instead of leaving the link on a 404.

import { h } from './dom.js';

export function renderPending(main, what) {
  main.replaceChildren(
    h('section', { class: 'card', 'aria-labelledby': 'pending-heading' },
      h('h2', { id: 'pending-heading', text: what }),
      h('p', { text: `${what} is not available yet.` }),
      h('p', {}, h('a', { href: '/', text: 'Go to your tasks' }))),
  );
}
