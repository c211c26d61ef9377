// Sign-in: paste an API key (`aurum keys create`) or an OIDC access token. It is checked with
// GET /v1/me before it is kept; it stays in this tab unless "remember" is ticked.

import { ApiError, get, setCredential, signOut } from '../api.js';
import { field, fill, h, notice } from '../dom.js';

export const TITLE = 'Sign in';

export async function render(main, params) {
  const next = params.next && params.next.startsWith('/ui/') && !params.next.startsWith('/ui/sign-in') ? params.next : '/ui/curves';
  const token = h('input', { type: 'password', id: 'credential', name: 'credential', autocomplete: 'off', spellcheck: false, size: 60, required: true, placeholder: 'aurum_… or eyJ…' });
  const remember = h('input', { type: 'checkbox', id: 'remember', name: 'remember' });
  const status = h('div', { id: 'sign-in-status', 'aria-live': 'polite' });
  const form = h('form', { class: 'panel', id: 'sign-in-form' },
    h('h1', {}, 'Sign in to Aurum'),
    h('p', { class: 'sub' }, 'Paste an API key (an administrator makes one with ', h('code', {}, 'aurum keys create'),
      ') or an access token from your identity provider. The dashboard sends it with each of its calls to this server, and nowhere else.'),
    field('API key or bearer token', token),
    h('p', {}, h('label', {}, remember, ' Remember on this device (otherwise only this tab keeps it)')),
    h('button', { type: 'submit', id: 'sign-in-button' }, 'Sign in'),
    status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = token.value.trim();
    if (!value) { fill(status, notice('warn', 'Paste a key or a token first.')); return; }
    setCredential(value, remember.checked);
    try {
      const me = await get('/v1/me');
      fill(status, notice('info', `Signed in as ${me.subject} (${me.tenant_id}).`));
      history.pushState(null, '', next);
      window.dispatchEvent(new Event('aurum:navigate'));
    } catch (error) {
      signOut();
      const why = error instanceof ApiError && error.status === 401
        ? 'The server does not accept this credential: it may be mistyped, expired or revoked.'
        : error.message;
      fill(status, notice('error', 'Not signed in.', why));
      token.focus();
    }
  });
  main.append(form);
  token.focus();
}
