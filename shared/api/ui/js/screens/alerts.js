// Alerts: what Rampart told (or will tell) the owner about this domain (`GET …/alerts`),
// open ones first with what happened and what to do, resolved ones after; and who is told
// (`PUT …/alert-settings`): recipients, the weekly digest, a signed webhook (its secret
// shown once), and snoozes. Thresholds are changed through the API (docs/alerts.md).

import { html, nothing } from 'lit';
import { api, domainPath } from '../api.js';
import { session } from '../auth.js';
import { counted, moment, utc } from '../format.js';
import { Screen, errorBox, view } from '../widgets.js';
import { copy } from './dns-records.js';
import { severity } from './dns.js';

const RULES = {
  dns: 'DNS finding',
  new_source: 'New failing source',
  source_band: 'Known source out of its band',
  domain_pass_drop: 'Pass share drop',
  silent_reporter: 'Silent reporter',
  new_reporter: 'New reporter',
  tls_failure_spike: 'TLS failure spike',
  tls_new_failure: 'New TLS failure',
};
const SNOOZE_FOR = [
  [86_400, 'a day'],
  [7 * 86_400, 'a week'],
  [30 * 86_400, '30 days'],
];

class Alerts extends Screen {
  start() {
    this.saved = null;
    this.load('alerts', () => api.get(domainPath(this.route.domain, '/alerts')));
  }

  render() {
    const { domain } = this.route;
    return html`<h1>Alerts of ${domain}</h1>
      ${view(this.slot('alerts'), (a) => this.body(a), { height: '14rem' })}`;
  }

  body(data) {
    const open = data.alerts.filter((a) => a.status === 'open');
    const resolved = data.alerts.filter((a) => a.status === 'resolved');
    return html`
      <section class="card" aria-labelledby="alerts-open" style="margin-bottom:1rem">
        <h2 id="alerts-open">${open.length ? counted(open.length, 'open alert') : 'No open alert'}</h2>
        ${open.length
          ? html`<ol class="findings">${open.map((a) => this.alert(a))}</ol>`
          : html`<p class="pass">✓ Nothing needs you: no rule holds for ${data.domain} now.</p>`}
        ${resolved.length ? html`<details><summary>${counted(resolved.length, 'resolved alert')} (kept 90 days)</summary>
          <ol class="findings">${resolved.map((a) => this.alert(a))}</ol></details>` : nothing}
      </section>
      <div class="grid">
        ${this.settings(data.settings)}
        ${this.snoozes(data.settings)}
      </div>`;
  }

  alert(a) {
    const when = a.status === 'open'
      ? html`opened <time datetime=${utc(a.opened_at)}>${moment(a.opened_at)}</time>`
      : html`resolved <time datetime=${utc(a.resolved_at)}>${moment(a.resolved_at)}</time>`;
    const mailed = a.pending
      ? html`<span class="badge warn">mail not sent yet</span>`
      : a.mailed_at ? html`<span class="muted">mailed <time datetime=${utc(a.mailed_at)}>${moment(a.mailed_at)}</time></span>` : html`<span class="muted">in the digest</span>`;
    return html`<li class="finding" data-rule=${a.rule} data-status=${a.status}>
      ${severity(a.severity)} <span class="muted">${RULES[a.rule] ?? a.rule}</span>
      <p><strong>${a.title}</strong></p>
      <p style="white-space:pre-line">${a.detail}</p>
      <p class="muted">${when} · ${mailed}</p>
    </li>`;
  }

  settings(s) {
    const saved = this.saved?.section === 'who' ? this.saved : null;
    return html`<section class="card span-6" aria-labelledby="alerts-who">
      <h2 id="alerts-who">Who is told</h2>
      ${session.admin ? html`<form @submit=${(e) => this.save(e)} novalidate>
        <label class="field" for="recipients">Recipients, one address per line${s.recipients.length ? '' : ' (none: the all-domains recipients are told)'}</label>
        <textarea id="recipients" name="recipients" rows="3" style="width:100%">${s.recipients.join('\n')}</textarea>
        <label style="display:block"><input type="checkbox" name="digest" ?checked=${s.digest}> Send the weekly digest (Mondays)</label>
        <label class="field" for="webhook">Webhook URL (JSON, signed with HMAC-SHA256)</label>
        <input id="webhook" name="webhook" type="url" style="width:100%" .value=${s.webhook?.url ?? ''} placeholder="https://hooks.example.com/rampart">
        <p><button class="primary" type="submit">Save</button></p>
      </form>` : html`<p>${s.recipients.length ? s.recipients.join(', ') : 'No recipients: the all-domains recipients are told.'}</p>
        <p>Weekly digest: ${s.digest ? 'on' : 'off'}. Webhook: ${s.webhook?.url ?? 'none'}.</p>`}
      <div aria-live="polite">
        ${this.status(saved)}
        ${saved?.secret ? html`<div class="notice"><p>The webhook's signing secret, shown this once:</p>
          <div class="copy-row"><code data-secret>${saved.secret}</code>
          <button type="button" @click=${(e) => copy(e, saved.secret)} aria-label="Copy the webhook secret">Copy</button></div></div>` : nothing}
      </div>
      ${s.suppressed.length ? this.suppressed(s.suppressed) : nothing}
    </section>`;
  }

  // Addresses a hard bounce, a spam complaint or a refusal at sending took off the list:
  // why, since when, and (for admins) a way to mail them again.
  suppressed(list) {
    return html`<div class="notice" data-suppressed>
      <p><strong>Not mailed</strong>: a mail server refused these, or their owner reported Rampart's mail as spam.</p>
      <ul class="plain">${list.map((x) => html`<li data-address=${x.address}>
        <strong>${x.address}</strong> <span class="muted">${x.reason} · <time datetime=${utc(x.at)}>${moment(x.at)}</time></span>
        ${session.admin ? html`<button type="button" @click=${() => this.change({ resume: [x.address] }, 'who')} aria-label=${`Mail ${x.address} again`}>Mail again</button>` : nothing}
      </li>`)}</ul>
    </div>`;
  }

  status(saved) {
    if (saved?.error) return errorBox(saved.error);
    return saved?.done ? html`<p class="pass">✓ Saved.</p>` : nothing;
  }

  snoozes(s) {
    const now = Date.now() / 1000;
    const active = s.snoozes.filter((z) => z.until > now);
    return html`<section class="card span-6" aria-labelledby="alerts-snooze">
      <h2 id="alerts-snooze">Snoozes</h2>
      ${active.length
        ? html`<ul>${active.map((z) => html`<li data-snooze=${z.rule ?? 'all'}>${z.rule ? RULES[z.rule] ?? z.rule : 'Every rule'} until <time datetime=${utc(z.until)}>${moment(z.until)}</time></li>`)}</ul>`
        : html`<p class="muted">None: every rule may mail.</p>`}
      ${session.admin ? html`<form @submit=${(e) => this.snooze(e, active)} novalidate>
        <label class="field" for="snooze-rule">Rule</label>
        <select id="snooze-rule" name="rule">
          <option value="">Every rule</option>
          ${Object.entries(RULES).map(([k, label]) => html`<option value=${k}>${label}</option>`)}
        </select>
        <label class="field" for="snooze-for">For</label>
        <select id="snooze-for" name="for">${SNOOZE_FOR.map(([secs, label]) => html`<option value=${secs}>${label}</option>`)}</select>
        <p><button type="submit">Snooze</button>
          ${active.length ? html`<button type="button" @click=${() => this.change({ snoozes: [] }, 'snooze')}>End all snoozes</button>` : nothing}</p>
      </form>` : nothing}
      <div aria-live="polite">${this.status(this.saved?.section === 'snooze' ? this.saved : null)}</div>
    </section>`;
  }

  async save(event) {
    event.preventDefault();
    const form = new FormData(event.target);
    const recipients = String(form.get('recipients') ?? '').split('\n').map((r) => r.trim()).filter(Boolean);
    await this.change({
      recipients,
      digest: form.get('digest') === 'on',
      webhook_url: String(form.get('webhook') ?? '').trim(),
    }, 'who');
  }

  async snooze(event, active) {
    event.preventDefault();
    const form = new FormData(event.target);
    const rule = String(form.get('rule') ?? '');
    const until = Math.floor(Date.now() / 1000) + Number(form.get('for'));
    const kept = active.filter((z) => (z.rule ?? '') !== rule).map((z) => (z.rule ? { rule: z.rule, until: z.until } : { until: z.until }));
    await this.change({ snoozes: [...kept, rule ? { rule, until } : { until }] }, 'snooze');
  }

  // `section` says where the answer shows: 'who' or 'snooze'.
  async change(body, section) {
    try {
      const settings = await api.put(domainPath(this.route.domain, '/alert-settings'), body);
      this.saved = { section, done: true, secret: settings.webhook?.secret ?? null };
      const data = this.slot('alerts').data;
      this.slots = { ...this.slots, alerts: { state: 'ready', data: { ...data, settings } } };
    } catch (error) {
      this.saved = { section, error };
    }
    this.requestUpdate();
  }
}
customElements.define('r-alerts', Alerts);
