// The address is the state: the screen and domain are in the path, every filter, range,
// sort, tab and page in the query string, so any view can be bookmarked and shared.
//
//   /ui/domains?range=90
//   /ui/d/example.com/overview?from=2026-11-01&to=2026-11-30&country=CN


// Parameters every screen keeps when moving to another one.
const GLOBAL = ['from', 'to', 'range'];

export const PRESETS = [7, 30, 90, 365];
export const DEFAULT_DAYS = 30;

export function current() {
  const url = new URL(location.href);
  const parts = url.pathname.replace(/^\/ui\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  let route;
  if (parts[0] === 'd' && parts.length >= 2) {
    route = { screen: parts[2] ?? 'overview', domain: parts[1] };
  } else if (parts[0] === 'messages' || parts[0] === 'mailboxes') {
    route = { screen: parts[0], domain: null };
  } else {
    route = { screen: 'domains', domain: null };
  }
  return { ...route, params: url.searchParams };
}

// The address of a screen; `keep` carries the range over, `params` adds or replaces.
export function href(screen, domain, params = {}, keep = current().params) {
  const path = domain === null || domain === undefined
    ? `/ui/${screen}`
    : `/ui/d/${encodeURIComponent(domain)}/${screen}`;
  const query = new URLSearchParams();
  for (const name of GLOBAL) {
    if (keep.has(name)) query.set(name, keep.get(name));
  }
  for (const [name, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === '') query.delete(name);
    else query.set(name, value);
  }
  const q = query.toString();
  return q ? `${path}?${q}` : path;
}

// The same screen with some parameters changed (null removes one).
export function withParams(changes) {
  const url = new URL(location.href);
  for (const [name, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === '') url.searchParams.delete(name);
    else url.searchParams.set(name, value);
  }
  return url.pathname + (url.search || '');
}

export function navigate(to, { replace = false } = {}) {
  const screenChanged = new URL(to, location.href).pathname !== location.pathname;
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  // A new screen starts at its top; a filter or a sort keeps the reader's place.
  if (screenChanged) window.scrollTo(0, 0);
  window.dispatchEvent(new CustomEvent('rampart-navigate'));
}

// Follows same-origin links inside the app without reloading the page.
export function followLinks(root) {
  root.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    const a = event.composedPath().find((el) => el.tagName === 'A');
    if (!a || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith('/ui/')) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
}

export function utcToday() {
  return new Date().toISOString().slice(0, 10);
}

export function addDays(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

// The range a screen shows: `from`/`to` when given, else the preset (`range`, in days)
// ending today. `explicit` is false for the default, which a screen may move to where a
// domain's reports are.
export function range(params, today = utcToday()) {
  const from = params.get('from');
  const to = params.get('to');
  if (from && DAY.test(from) && to && DAY.test(to)) return { from, to, days: null, explicit: true };
  const days = Number.parseInt(params.get('range') ?? '', 10);
  const n = PRESETS.includes(days) ? days : DEFAULT_DAYS;
  return { from: addDays(today, 1 - n), to: today, days: n, explicit: params.has('range') };
}
