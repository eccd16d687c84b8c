// The console's router: hash routes, one page at a time. The key is asked
// for first and checked with GET /v1/info; a wrong one sends the user back
// to the key page with the API's answer.
import { ApiError, api, key } from './api.js';
import { detailPage, leaveDetail } from './detail.js';
import { h, replace, say } from './dom.js';
import { hostsPage, keyPage, latencyPage, listPage, templatesPage } from './pages.js';

const main = document.getElementById('main');
let info = null; // GET /v1/info for the current key

async function whoAmI() {
  if (info) return info;
  info = await api('/v1/info');
  const nav = document.getElementById('nav');
  nav.hidden = false;
  document.getElementById('forget').hidden = false;
  const who = info.key ? `${info.key.name} (${info.key.role})` : '';
  document.getElementById('who').textContent = who;
  // Only a control plane has hosts (its /v1/info says role "control").
  document.getElementById('nav-hosts').hidden = info.role !== 'control';
  return info;
}

async function route() {
  leaveDetail();
  say('');
  if (!key.get()) { keyPage(main, null, route); return; }
  const [, page, arg] = location.hash.split('/');
  for (const a of document.querySelectorAll('nav a'))
    a.toggleAttribute('aria-current', a.getAttribute('href') === `#/${page}`);
  try {
    const me = await whoAmI();
    if (page === 'sandbox' && arg) await detailPage(main, decodeURIComponent(arg));
    else if (page === 'templates') await templatesPage(main);
    else if (page === 'hosts') await hostsPage(main);
    else if (page === 'latency') await latencyPage(main, me);
    else await listPage(main);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      info = null;
      key.forget();
      keyPage(main, `That key was refused: ${e.message}`, route);
      return;
    }
    replace(main, h('p', { class: 'error', role: 'alert' }, e.message));
  }
}

document.getElementById('forget').addEventListener('click', () => {
  key.forget();
  info = null;
  document.getElementById('nav').hidden = true;
  document.getElementById('forget').hidden = true;
  document.getElementById('who').textContent = '';
  location.hash = '#/';
  route();
});
window.addEventListener('hashchange', route);
route();
