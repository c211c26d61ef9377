// The dashboard's shell: the header (who is signed in), the navigation and the page the URL
// names. Each page module exports `render(main, params, ctx)`; a newer navigation makes an
// older render's late answers harmless (`ctx.current()` turns false).

import { ApiError, signOut, whoami } from './api.js';
import { fill, h, notice, problem } from './dom.js';
import { NAVIGATE, go, link, page, state } from './state.js';

const PAGES = {
  curves: () => import('./pages/curves.js'),
  changes: () => import('./pages/changes.js'),
  ingest: () => import('./pages/ingest.js'),
  scenarios: () => import('./pages/scenarios.js'),
  ppa: () => import('./pages/ppa.js'),
  'sign-in': () => import('./pages/signin.js'),
};

let generation = 0;

async function show() {
  const mine = ++generation;
  const name = PAGES[page()] ? page() : 'curves';
  const main = document.getElementById('main');
  const focused = document.activeElement && document.activeElement.id;
  for (const a of document.querySelectorAll('.bar nav a')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  let me = null;
  if (name !== 'sign-in') {
    try {
      me = await whoami();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        go('sign-in', { next: location.pathname + location.search }, { replace: true });
        return;
      }
      fill(main, problem(error, 'Signing in'));
      return;
    }
  }
  header(me);
  const module = await PAGES[name]();
  if (mine !== generation) return;
  main.replaceChildren();
  main.dataset.page = name;
  document.title = `${module.TITLE || name} · Aurum`;
  const ctx = { me, current: () => mine === generation };
  try {
    await module.render(main, state(), ctx);
  } catch (error) {
    if (mine === generation) main.append(problem(error, module.TITLE || 'This page'));
  }
  if (mine !== generation) return;
  main.dataset.ready = String(performance.now());
  const back = focused && document.getElementById(focused);
  if (back) back.focus({ preventScroll: true });
}

function header(me) {
  const who = document.getElementById('who');
  if (!me) { who.replaceChildren(); return; }
  const vendors = me.vendors === null ? 'all vendors' : (me.vendors.length ? me.vendors.join(', ') : 'no vendors');
  const parts = [
    h('span', { title: `roles: ${me.roles.join(', ')}` }, `${me.subject} · ${me.tenant_id} · ${vendors}`),
  ];
  if (me.via !== 'dev') {
    parts.push(h('button', { type: 'button', class: 'quiet', id: 'sign-out', onclick: () => { signOut(); go('sign-in', {}); } }, 'Sign out'));
  }
  fill(who, parts);
}

// links inside the app navigate without a reload (ctrl/middle click still opens a new tab)
document.addEventListener('click', (event) => {
  const a = event.target.closest && event.target.closest('a[href^="/ui/"]');
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || a.target) return;
  event.preventDefault();
  history.pushState(null, '', a.getAttribute('href'));
  show();
});
window.addEventListener('popstate', show);
window.addEventListener(NAVIGATE, show);
window.addEventListener('unhandledrejection', (event) => {
  const main = document.getElementById('main');
  if (event.reason instanceof ApiError) main.prepend(problem(event.reason));
});

if (location.pathname === '/ui/' || location.pathname === '/ui') history.replaceState(null, '', link('curves', state()));
show().catch((error) => fill(document.getElementById('main'), notice('error', 'The dashboard could not start.', String(error))));
