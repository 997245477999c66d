// MTA-STS: the hosted policy as a form (mode, MX hosts checked line by line, max_age
// presets), what is served now and the id published in DNS, every version, and retiring.
// Switching to enforce first shows the domain's recent TLS failures and asks to confirm.

import { html, nothing } from 'lit';
import { ApiError, api, domainPath } from '../api.js';
import { session } from '../auth.js';
import { count, counted, moment } from '../format.js';
import { addDays, href, utcToday } from '../state.js';
import { Screen, errorBox, table, view } from '../widgets.js';
import { explain } from './tls.js';

const MAX_AGES = [
  [86400, '1 day'],
  [604800, '1 week'],
  [2592000, '30 days'],
  [31557600, '1 year (the most allowed)'],
];

const HOST = /^(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

// What is wrong with one MX line, or null.
export function mxProblem(line) {
  if (!HOST.test(line)) return `“${line}” is not a host name like mx1.example.com or *.mail.example.com`;
  if (line.startsWith('*.') && line.split('.').length < 4) return `“${line}” would match any host of a whole domain; a wildcard covers one label, as in *.mail.example.com`;
  return null;
}

class MtaSts extends Screen {
  start() {
    const { domain } = this.route;
    this.problems = null;
    this.saved = null;
    // Asked only when one is hosted: a 404 would be a console error in every browser.
    this.load('policy', async () => {
      const setup = await api.get(domainPath(domain));
      return setup.hosted_policy ? api.get(domainPath(domain, '/mta-sts')) : null;
    });
    this.load('tls', () => api.get(domainPath(domain, '/tls'), { from: addDays(utcToday(), -29), to: utcToday(), limit: 20 }));
  }

  render() {
    const { domain } = this.route;
    return html`<h1>MTA-STS for ${domain}</h1>
      ${view(this.slot('policy'), (p) => this.body(p), { height: '16rem' })}`;
  }

  body(p) {
    const current = p?.current;
    const mode = this.draftMode ?? current?.mode ?? 'testing';
    return html`
      ${p ? nothing : html`<div class="notice">No policy is hosted for this domain yet. Start in <strong>testing</strong>: senders report
        TLS failures (TLS tab) but deliver anyway. Move to <strong>enforce</strong> after a week or two without failures.</div>`}
      <div class="grid">
        ${session.admin ? this.form(p, current, mode) : html`<section class="card span-6" aria-labelledby="form-title">
          <h2 id="form-title">Change the policy</h2>
          <p class="muted">You may read this policy; changing it needs the <code>rampart-admin</code> group.</p>
        </section>`}
        <section class="card span-6" aria-labelledby="served-title">
          <h2 id="served-title">Served now</h2>
          ${p ? this.served(p) : html`<p class="muted">Nothing yet.</p>`}
        </section>
        ${p ? html`<section class="card span-12" aria-labelledby="history-title">
          <h2 id="history-title">History</h2>
          ${table({
            caption: html`${counted(p.versions.length, 'version', 'versions')}`,
            rows: p.versions,
            columns: [
              { key: 'version', label: 'Version', num: true },
              { key: 'created_at', label: 'Published', render: (v) => html`<time title=${v.created_at}>${moment(v.created_at)}</time>` },
              { key: 'mode', label: 'Mode' },
              { key: 'mx', label: 'MX', render: (v) => html`<span class="mono">${(v.mx ?? []).join(', ') || '–'}</span>` },
              { key: 'max_age', label: 'max_age', num: true },
              { key: 'id', label: 'Policy id', render: (v) => html`<span class="mono">${v.id}</span>` },
            ],
          })}
          ${p.state === 'active' && session.admin ? html`<p><button type="button" @click=${() => this.confirmRetire()}>Retire hosting…</button></p>` : nothing}
        </section>` : nothing}
      </div>
      ${this.enforceDialog()}
      ${this.retireDialog(p)}`;
  }

  // The form that hosts or changes the policy: admins only.
  form(p, current, mode) {
    return html`<section class="card span-6" aria-labelledby="form-title">
          <h2 id="form-title">${p ? 'Change the policy' : 'Host a policy'}</h2>
          <form @submit=${(e) => this.submit(e, current)} novalidate>
            <fieldset><legend>Mode</legend>
              ${[['testing', 'Testing: report failures, deliver anyway'], ['enforce', 'Enforce: senders refuse to deliver without valid TLS'], ['none', 'None: tell senders to forget the policy']].map(([m, label]) => html`
                <label style="display:block"><input type="radio" name="mode" value=${m} ?checked=${mode === m}
                  @change=${() => { this.draftMode = m; this.requestUpdate(); }}> ${label}</label>`)}
            </fieldset>
            <label class="field" for="mx-input">MX hosts, one per line${mode === 'none' ? ' (not needed for none)' : ''}</label>
            <textarea id="mx-input" name="mx" rows="4" style="width:100%" aria-describedby="mx-hint mx-errors"
              @input=${() => { this.problems = null; this.requestUpdate(); }}>${(current?.mx ?? []).join('\n')}</textarea>
            <p id="mx-hint" class="muted">Wildcards cover one label: <code>*.mail.protection.outlook.com</code> matches Microsoft 365's hosts.</p>
            <div id="mx-errors" role="alert">${(this.problems?.mx ?? []).map((m) => html`<div class="field-error">✗ ${m}</div>`)}</div>
            <fieldset><legend>How long senders keep it (max_age)</legend>
              ${MAX_AGES.map(([s, label]) => html`<label style="display:block"><input type="radio" name="max_age" value=${s} ?checked=${(current?.max_age ?? 604800) === s}> ${label}</label>`)}
              <label style="display:block"><input type="radio" name="max_age" value="custom" ?checked=${current && !MAX_AGES.some(([s]) => s === current.max_age)}> Seconds:
                <input name="max_age_custom" type="number" min="0" max="31557600" .value=${String(current?.max_age ?? '')} aria-label="max_age in seconds"></label>
              ${(this.problems?.max_age ?? []).map((m) => html`<div class="field-error" role="alert">✗ ${m}</div>`)}
            </fieldset>
            ${(this.problems?.other ?? []).length ? html`<div class="error-box" role="alert">${this.problems.other.map((m) => html`<div>${m}</div>`)}</div>` : nothing}
            ${this.problems?.force ? html`<p>The live MX hosts are Rampart's reading of DNS now; if you are about to move them, you may enforce anyway.
              <button type="button" @click=${() => this.publish(true)}>Enforce anyway</button></p>` : nothing}
            <p><button class="primary" type="submit">${p ? 'Publish this policy' : 'Host this policy'}</button></p>
            <div aria-live="polite">${this.saved ? html`<p class="pass">✓ Version ${this.saved.current.version} published; senders see it once the id below is in DNS.</p>` : nothing}</div>
          </form>
        </section>`;
  }

  served(p) {
    return html`<dl class="records">
        <dt>State</dt><dd>${p.state}${p.current.retire_at ? html` until <time title=${p.current.retire_at}>${moment(p.current.retire_at)}</time>` : nothing}</dd>
        <dt>URL</dt><dd class="mono">${p.url}</dd>
        <dt>TXT now</dt><dd><span class="mono">${p.txt.name}</span>: ${p.txt.value ? html`<code>${p.txt.value}</code>` : html`<span class="muted">not published yet</span>`}</dd>
        ${p.txt.next_value ? html`<dt>TXT next</dt><dd><code>${p.txt.next_value}</code> at <time title=${p.txt.next_at}>${moment(p.txt.next_at)}</time></dd>` : nothing}
      </dl>
      ${p.body ? html`<pre class="raw" tabindex="0" aria-label="The policy file served now">${p.body}</pre>` : html`<p class="muted">No file is served (retired).</p>`}`;
  }

  read(form) {
    const data = new FormData(form);
    const mx = (data.get('mx') ?? '').split('\n').map((l) => l.trim().toLowerCase()).filter(Boolean);
    const choice = data.get('max_age');
    const maxAge = choice === 'custom' ? Number.parseInt(data.get('max_age_custom'), 10) : Number(choice);
    const mode = data.get('mode');
    const problems = { mx: [], max_age: [], other: [] };
    if (mode !== 'none' && mx.length === 0) problems.mx.push('Name at least one MX host (or choose none).');
    problems.mx.push(...mx.map(mxProblem).filter(Boolean));
    if (!Number.isInteger(maxAge) || maxAge < 0 || maxAge > 31557600) problems.max_age.push('max_age is a number of seconds from 0 to 31557600 (one year).');
    return { request: { mode, mx, max_age: maxAge }, problems };
  }

  submit(event, current) {
    event.preventDefault();
    const { request, problems } = this.read(event.target);
    if (problems.mx.length + problems.max_age.length) {
      this.problems = problems;
      this.requestUpdate();
      return;
    }
    this.pending = request;
    if (request.mode === 'enforce' && current?.mode !== 'enforce') {
      this.updateComplete.then(() => this.querySelector('#enforce-dialog')?.showModal());
      this.requestUpdate();
      return;
    }
    this.publish();
  }

  // `force`: past the guard that refuses enforce while live MX hosts are not covered.
  async publish(force = false) {
    this.querySelector('#enforce-dialog')?.close();
    try {
      const body = force ? { ...this.pending, force: true } : this.pending;
      this.saved = await api.put(domainPath(this.route.domain, '/mta-sts'), body);
      this.slots = { ...this.slots, policy: { state: 'ready', data: this.saved } };
      this.draftMode = null;
      this.problems = null;
    } catch (error) {
      this.saved = null;
      this.problems = placeProblems(error);
    }
    this.requestUpdate();
  }

  enforceDialog() {
    const tls = this.slot('tls');
    return html`<dialog id="enforce-dialog" aria-labelledby="enforce-title">
      <h2 id="enforce-title">Switch ${this.route.domain} to enforce?</h2>
      <p>Senders that honour MTA-STS will refuse to deliver to a host that fails TLS. In the last 30 days:</p>
      ${view(tls, (t) => t.failed_sessions === 0
        ? html`<p class="pass">✓ ${counted(t.successful_sessions, 'session', 'sessions')}, no failure reported.</p>`
        : html`<p class="fail">✗ ${count(t.failed_sessions)} of ${counted(t.failed_sessions + t.successful_sessions, 'session')} failed. Under enforce, that mail would not be delivered:</p>
          <ul>${t.by_result_type.map((g) => html`<li><strong>${g.value}</strong> (${count(g.failed_sessions)}): ${explain(g.value)}</li>`)}</ul>`)}
      <p><a href=${href('tls', this.route.domain)}>TLS reports</a></p>
      <p><button class="primary" type="button" @click=${() => this.publish()}>Switch to enforce</button>
        <button type="button" @click=${() => this.querySelector('#enforce-dialog').close()}>Cancel</button></p>
    </dialog>`;
  }

  confirmRetire() {
    this.querySelector('#retire-dialog')?.showModal();
  }

  retireDialog(p) {
    if (!p) return nothing;
    const retire = async () => {
      this.querySelector('#retire-dialog').close();
      try {
        const done = await api.delete(domainPath(this.route.domain, '/mta-sts'));
        this.slots = { ...this.slots, policy: { state: 'ready', data: done } };
        this.problems = null;
      } catch (error) {
        this.problems = { mx: [], max_age: [], other: [errorBox(error)] };
      }
      this.requestUpdate();
    };
    return html`<dialog id="retire-dialog" aria-labelledby="retire-title">
      <h2 id="retire-title">Retire the hosted policy?</h2>
      <p>Senders may keep the policy for max_age (${counted(p.current.max_age, 'second', 'seconds')}). Rampart therefore serves
        <code>mode: none</code> for that long (RFC 8461 section 8.3), then nothing; remove the DNS records after that.</p>
      <p><button class="primary" type="button" @click=${retire}>Retire</button>
        <button type="button" @click=${() => this.querySelector('#retire-dialog').close()}>Cancel</button></p>
    </dialog>`;
  }
}
customElements.define('r-mta-sts', MtaSts);

// The API's `invalid_policy` message names each field ("mx: ...; max_age: ..."): each part
// goes beside its field; anything else is shown above the button.
function placeProblems(error) {
  const problems = { mx: [], max_age: [], other: [] };
  if (error instanceof ApiError && error.code === 'invalid_policy') {
    for (const part of error.message.split('; ')) {
      const [field, ...rest] = part.split(': ');
      if (field in problems && rest.length) problems[field].push(rest.join(': '));
      else problems.other.push(part);
    }
  } else {
    problems.other.push(errorBox(error));
    // Enforce refused because live MX is outside the policy (or unreadable): the owner may
    // know better (a move under way) and override.
    problems.force = error instanceof ApiError && ['mx_not_covered', 'mx_unverified'].includes(error.code);
  }
  return problems;
}
