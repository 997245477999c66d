// <rampart-app>: the header every screen shares (domain switcher, UTC date range with
// presets, search, theme, who is signed in), the domain's tabs, the screen the address names,
// and the token prompt when the API asks for one. Nothing asks the API for data before
// sign-in has settled (auth.js).

import { html, nothing } from 'lit';
import { api } from './api.js';
import { session, setToken, signIn, signOut, start } from './auth.js';
import { LightElement } from './widgets.js';
import { PRESETS, current, followLinks, href, navigate, range, withParams } from './state.js';
import './screens/domains.js';
import './screens/overview.js';
import './screens/readiness.js';
import './screens/sources.js';
import './screens/spoofing.js';
import './screens/explore.js';
import './screens/reports.js';
import './screens/tls.js';
import './screens/mta-sts.js';
import './screens/dns.js';
import './screens/alerts.js';
import './screens/messages.js';
import './screens/mailboxes.js';

// Screens that exist, by the name in the address, with their tab label.
const SCREENS = {
  domains: { tag: 'r-domains', label: 'Domains' },
  messages: { tag: 'r-messages', label: 'Ingest health' },
  mailboxes: { tag: 'r-mailboxes', label: 'Mailboxes' },
  overview: { tag: 'r-overview', label: 'Overview', tab: true },
  readiness: { tag: 'r-readiness', label: 'Readiness', tab: true },
  sources: { tag: 'r-sources', label: 'Sources', tab: true },
  spoofing: { tag: 'r-spoofing', label: 'Spoofing', tab: true },
  explore: { tag: 'r-explore', label: 'Explore', tab: true },
  reports: { tag: 'r-reports', label: 'Reports', tab: true },
  tls: { tag: 'r-tls', label: 'TLS', tab: true },
  'mta-sts': { tag: 'r-mta-sts', label: 'MTA-STS', tab: true },
  dns: { tag: 'r-dns', label: 'DNS', tab: true },
  alerts: { tag: 'r-alerts', label: 'Alerts', tab: true },
};

const THEMES = ['system', 'light', 'dark'];

class App extends LightElement {
  static properties = {
    route: { state: true }, domains: { state: true }, theme: { state: true }, ready: { state: true },
  };

  constructor() {
    super();
    this.route = current();
    this.theme = localStorage.getItem('rampart.theme') ?? 'system';
    this.applyTheme();
  }

  connectedCallback() {
    super.connectedCallback();
    followLinks(this);
    window.addEventListener('popstate', () => this.changed());
    window.addEventListener('rampart-navigate', () => this.changed());
    window.addEventListener('rampart-unauthorized', () => { if (session.method === 'token') this.askToken(); });
    start().then((staying) => {
      if (!staying) return; // on the way to the identity provider
      this.route = current();
      this.ready = true;
      if (session.error || session.signedOut) return;
      this.loadMe();
      this.loadDomains();
    });
  }

  // Whether the caller may change things: readers see no forms that would be refused.
  loadMe() {
    api.get('/v1/me').then(
      (me) => {
        session.admin = me.admin;
        session.name = me.name;
        this.requestUpdate();
        this.querySelector('[data-screen]')?.requestUpdate();
      },
      () => {},
    );
  }

  loadDomains() {
    api.get('/v1/domains', { limit: 1000 }).then(
      (list) => { this.domains = list.domains.map((d) => d.domain).filter(Boolean); },
      () => { this.domains = []; },
    );
  }

  changed() {
    this.route = current();
  }

  applyTheme() {
    if (this.theme === 'system') document.documentElement.removeAttribute('data-theme');
    else document.documentElement.dataset.theme = this.theme;
  }

  cycleTheme() {
    this.theme = THEMES[(THEMES.indexOf(this.theme) + 1) % THEMES.length];
    localStorage.setItem('rampart.theme', this.theme);
    this.applyTheme();
    // Charts draw on canvases with colours read once: draw them again.
    this.querySelectorAll('r-chart').forEach((c) => c.requestUpdate());
  }

  askToken() {
    const dialog = this.querySelector('#token-dialog');
    if (dialog && !dialog.open) dialog.showModal();
  }

  submitToken(event) {
    event.preventDefault();
    const input = this.querySelector('#token-input');
    setToken(input.value.trim());
    input.value = '';
    this.querySelector('#token-dialog').close();
    this.loadMe();
    this.loadDomains();
    this.querySelector('[data-screen]')?.refresh();
  }

  updated() {
    if (!this.ready) return;
    const screen = this.querySelector('[data-screen]');
    if (screen && screen.dataset.address !== location.pathname + location.search) {
      screen.dataset.address = location.pathname + location.search;
      screen.route = this.route;
      screen.refresh();
    }
    const name = SCREENS[this.route.screen]?.label ?? 'Not found';
    document.title = this.route.domain ? `${name} · ${this.route.domain} · Rampart` : `${name} · Rampart`;
  }

  render() {
    const { screen, domain, params } = this.route;
    const r = range(params);
    const known = SCREENS[screen];
    // Before sign-in, and on the sign-in panels, the header offers no data to go to.
    const signedIn = this.ready && !session.error && !session.signedOut;
    return html`
      <header class="top">
        <a class="brand" href=${href('domains', null)}>Ram<span>part</span></a>
        ${signedIn ? this.controls(screen, domain, r) : html`<span class="spacer"></span>`}
        ${this.who()}
        <button type="button" @click=${() => this.cycleTheme()} aria-label="Theme: ${this.theme}. Change theme" title="Theme: ${this.theme}">
          ${this.theme === 'dark' ? '☾' : this.theme === 'light' ? '☀' : '◐'}<span class="theme-name"> ${this.theme}</span>
        </button>
      </header>
      ${domain !== null && signedIn ? this.tabs(domain, screen) : nothing}
      <main id="main">
        ${!this.ready
          ? html`<p class="muted" role="status">Signing in…</p>`
          : session.error || session.signedOut
            ? this.signInPanel()
            : known
              ? this.screen(known.tag)
              : html`<div class="error-box" role="alert"><strong>not_found</strong>: there is no screen “${screen}”. <a href=${href('domains', null)}>All domains</a></div>`}
      </main>
      <dialog id="token-dialog" aria-labelledby="token-title">
        <form @submit=${(e) => this.submitToken(e)}>
          <h2 id="token-title">API token</h2>
          <p>This Rampart asks for its API token (the one <code>rampart serve --token-file</code> was given).
            It is kept for this tab only.</p>
          <label class="field">Token <input id="token-input" type="password" autocomplete="current-password" required></label>
          <p><button class="primary" type="submit">Use token</button></p>
        </form>
      </dialog>`;
  }

  // The domain switcher, the range, Ingest health and Mailboxes.
  controls(screen, domain, r) {
    return html`
        <form role="search" @submit=${(e) => this.search(e)}>
          <label class="field">Domain
            <input list="domain-list" name="domain" .value=${domain ?? ''} placeholder="example.com" size="18"
              aria-label="Go to domain" @change=${(e) => this.search(e)}>
          </label>
          <datalist id="domain-list">${(this.domains ?? []).map((d) => html`<option value=${d}></option>`)}</datalist>
        </form>
        <div class="presets" role="group" aria-label="Date range presets">
          ${PRESETS.map((n) => html`<a href=${withParams({ range: n, from: null, to: null })}
            aria-current=${r.days === n ? 'true' : 'false'}>${n} d</a>`)}
        </div>
        <details class="custom-range">
          <summary><span class="visually-hidden">Range: </span>${r.from} to ${r.to} <abbr title="Coordinated Universal Time">UTC</abbr></summary>
          <form class="range" @submit=${(e) => this.setRange(e)}>
            <label class="field">From (UTC)<input type="date" name="from" .value=${r.from} required></label>
            <label class="field">To (UTC)<input type="date" name="to" .value=${r.to} required></label>
            <button type="submit">Apply</button>
          </form>
        </details>
        <span class="spacer"></span>
        <a href=${href('messages', null)} aria-current=${screen === 'messages' ? 'page' : 'false'}>Ingest health</a>
        <a href=${href('mailboxes', null)} aria-current=${screen === 'mailboxes' ? 'page' : 'false'}>Mailboxes</a>`;
  }

  // Who is signed in, whether they may change things, and the way out.
  who() {
    if (!this.ready || session.signedOut || !['oidc', 'token'].includes(session.method)) return nothing;
    return html`<span class="who">
      ${session.name ? html`<span title="Signed in">${session.name}</span>` : nothing}
      ${session.admin ? nothing : html`<span class="chip" title="May read, not change: changes need the rampart-admin group">reader</span>`}
      <button type="button" @click=${() => signOut()} title=${session.name ? `Sign ${session.name} out` : 'Sign out'}>Sign out</button>
    </span>`;
  }

  signInPanel() {
    return html`<section class="card sign-in" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">${session.signedOut ? 'Signed out' : session.method === 'iam' ? 'Sign-in is not set up' : 'Not signed in'}</h1>
      ${session.error ? html`<div class="error-box" role="alert">${session.error}</div>` : html`<p>You have signed out of Rampart.</p>`}
      ${session.method === 'oidc'
        ? html`<p><button class="primary" type="button" @click=${() => signIn()}>Sign in</button></p>`
        : session.method === 'iam' ? nothing : html`<p><a href=${href('domains', null)}>Open the dashboard</a></p>`}
    </section>`;
  }

  tabs(domain, screen) {
    return html`<nav class="tabs" aria-label="Views of ${domain}">
      <a href=${href('domains', null)}>← All domains</a>
      ${Object.entries(SCREENS).filter(([, s]) => s.tab).map(([name, s]) => html`
        <a href=${href(name, domain)} aria-current=${name === screen ? 'page' : 'false'}>${s.label}</a>`)}
    </nav>`;
  }

  screen(tag) {
    // Lit cannot bind a tag name: one element per screen kind, refreshed as the address
    // changes (see updated()).
    switch (tag) {
      case 'r-domains': return html`<r-domains data-screen></r-domains>`;
      case 'r-messages': return html`<r-messages data-screen></r-messages>`;
      case 'r-mailboxes': return html`<r-mailboxes data-screen></r-mailboxes>`;
      case 'r-overview': return html`<r-overview data-screen></r-overview>`;
      case 'r-readiness': return html`<r-readiness data-screen></r-readiness>`;
      case 'r-sources': return html`<r-sources data-screen></r-sources>`;
      case 'r-spoofing': return html`<r-spoofing data-screen></r-spoofing>`;
      case 'r-explore': return html`<r-explore data-screen></r-explore>`;
      case 'r-reports': return html`<r-reports data-screen></r-reports>`;
      case 'r-tls': return html`<r-tls data-screen></r-tls>`;
      case 'r-mta-sts': return html`<r-mta-sts data-screen></r-mta-sts>`;
      case 'r-dns': return html`<r-dns data-screen></r-dns>`;
      case 'r-alerts': return html`<r-alerts data-screen></r-alerts>`;
      default: return nothing;
    }
  }

  search(event) {
    event.preventDefault();
    const value = new FormData(event.target.form ?? event.target).get('domain')?.trim().toLowerCase();
    if (!value) return;
    if ((this.domains ?? []).includes(value)) navigate(href('overview', value));
    else navigate(href('domains', null, { q: value }));
  }

  setRange(event) {
    event.preventDefault();
    event.target.closest('details').open = false;
    const form = new FormData(event.target);
    navigate(withParams({ from: form.get('from'), to: form.get('to'), range: null, cursor: null }));
  }
}
customElements.define('rampart-app', App);
