// DNS health: the latest check of the records the domain relies on (`GET …/checks`), one
// card per record family with its verdict, each finding with its fix, the hosted policy that
// would cover live MX when it does not, what each record said, and when records changed.
// Admins run a check now (`POST …/checks`) and apply the policy fix (`PUT …/mta-sts`).

import { html, nothing } from 'lit';
import { api, domainPath } from '../api.js';
import { session } from '../auth.js';
import { counted, moment } from '../format.js';
import { href } from '../state.js';
import { Screen, errorBox, table, view } from '../widgets.js';
import { copy } from './dns-records.js';

// How each severity reads: a glyph (colour is never the only sign), a word, a tone.
export const SEVERITIES = {
  critical: { glyph: '✗', word: 'Critical', tone: 'fail' },
  error: { glyph: '✗', word: 'Error', tone: 'fail' },
  warning: { glyph: '!', word: 'Warning', tone: 'warn' },
  info: { glyph: 'i', word: 'Info', tone: 'muted' },
  ok: { glyph: '✓', word: 'OK', tone: 'pass' },
};

const AREAS = [
  ['dmarc', 'DMARC'],
  ['spf', 'SPF'],
  ['mx', 'MX'],
  ['mta_sts', 'MTA-STS'],
  ['tlsrpt', 'TLS-RPT'],
  ['dkim', 'DKIM'],
];
const AREA_NAMES = Object.fromEntries(AREAS);
const RANK = ['ok', 'info', 'warning', 'error', 'critical'];

// A severity as a badge: glyph and word in its tone.
export function severity(level) {
  const s = SEVERITIES[level] ?? SEVERITIES.info;
  return html`<span class="badge ${s.tone}" data-severity=${level}>${s.glyph} ${s.word}</span>`;
}

class Dns extends Screen {
  start() {
    this.ran = null;
    this.applied = null;
    this.load('checks', () => api.get(domainPath(this.route.domain, '/checks')));
  }

  render() {
    const { domain } = this.route;
    return html`<h1>DNS health of ${domain}</h1>
      ${view(this.slot('checks'), (c) => this.body(c), { height: '14rem' })}`;
  }

  body(checks) {
    const latest = checks.latest;
    const runButton = session.admin
      ? html`<button class="primary" type="button" ?disabled=${this.ran === 'running'} @click=${() => this.run()}>${this.ran === 'running' ? 'Checking…' : 'Check now'}</button>`
      : nothing;
    const ranError = this.ran?.error ? errorBox(this.ran.error) : nothing;
    if (!latest) {
      return html`<section class="card">
        <p>No check has run yet. Rampart checks every domain once a day, and soon after its MTA-STS policy changes.</p>
        ${runButton}<div aria-live="polite">${ranError}</div></section>`;
    }
    const problems = latest.findings.filter((f) => f.severity !== 'ok');
    const passed = latest.findings.filter((f) => f.severity === 'ok');
    return html`
      <section class="card" aria-labelledby="dns-verdict" style="margin-bottom:1rem">
        <h2 id="dns-verdict" class="visually-hidden">Verdict</h2>
        <div class="copy-row" style="align-items:center;justify-content:space-between;flex-wrap:wrap">
          <p class="verdict ${SEVERITIES[latest.worst].tone}" data-worst=${latest.worst}>${this.headline(latest, problems)}</p>
          ${runButton}
        </div>
        <p class="muted">Checked <time datetime=${latest.checked_at}>${moment(latest.checked_at)}</time>.</p>
        <div aria-live="polite">${ranError}</div>
        <ul class="area-list">${AREAS.map(([key, name]) => this.area(latest, key, name))}</ul>
      </section>
      ${latest.policy_fix ? this.policyFix(latest.policy_fix) : nothing}
      <section class="card" aria-labelledby="dns-findings" style="margin-bottom:1rem">
        <h2 id="dns-findings">What to fix</h2>
        ${problems.length === 0
          ? html`<p class="pass">✓ Nothing: every record Rampart relies on is right.</p>`
          : html`<ol class="findings">${problems.map((f) => this.finding(f))}</ol>`}
        ${passed.length ? html`<details><summary>${counted(passed.length, 'check passed', 'checks passed')}</summary>
          <ul class="findings">${passed.map((f) => this.finding(f))}</ul></details>` : nothing}
      </section>
      <div class="grid">
        <section class="card span-6" aria-labelledby="dns-seen">
          <h2 id="dns-seen">Records seen</h2>
          ${this.seen(latest.seen)}
        </section>
        <section class="card span-6" aria-labelledby="dns-history">
          <h2 id="dns-history">History</h2>
          ${table({
            caption: 'Check runs, newest first, and the records that changed since the run before',
            rows: checks.history,
            empty: 'No run yet.',
            columns: [
              { key: 'checked_at', label: 'Checked', render: (h) => html`<time datetime=${h.checked_at}>${moment(h.checked_at)}</time>` },
              { key: 'worst', label: 'Verdict', render: (h) => severity(h.worst) },
              { key: 'changed', label: 'Records changed', render: (h) => h.changed.length ? h.changed.map((a) => AREA_NAMES[a]).join(', ') : html`<span class="muted">none</span>` },
            ],
          })}
        </section>
      </div>`;
  }

  headline(latest, problems) {
    if (latest.worst === 'ok' || latest.worst === 'info') return '✓ Every record Rampart relies on is right.';
    const worst = problems.filter((f) => f.severity === latest.worst);
    const word = SEVERITIES[latest.worst];
    return `${word.glyph} ${counted(worst.length, `${word.word.toLowerCase()}`, `${word.word.toLowerCase()}s`)}: ${worst[0].message}`;
  }

  area(latest, key, name) {
    const found = latest.findings.filter((f) => f.area === key);
    const level = found.reduce((w, f) => (RANK.indexOf(f.severity) > RANK.indexOf(w) ? f.severity : w), 'ok');
    const label = found.length ? severity(level) : html`<span class="badge muted">not checked</span>`;
    return html`<li data-area=${key}><strong>${name}</strong> ${label}</li>`;
  }

  finding(f) {
    return html`<li class="finding" data-code=${f.code}>
      ${severity(f.severity)} <span class="muted">${AREA_NAMES[f.area]}</span>
      <p>${f.message}</p>
      ${f.fix ? html`<div class="copy-row"><code>${f.fix}</code>
        <button type="button" @click=${(e) => copy(e, f.fix)} aria-label="Copy the fix for ${f.code}">Copy</button></div>` : nothing}
    </li>`;
  }

  seen(seen) {
    const rows = AREAS.flatMap(([key, name]) => (seen[key] ?? []).map((value) => ({ name, value })));
    return table({
      caption: 'What each record said at the latest check',
      rows,
      empty: 'No record found.',
      columns: [
        { key: 'name', label: 'Record', sortable: false },
        { key: 'value', label: 'Value', sortable: false, render: (r) => html`<code>${r.value}</code>` },
      ],
    });
  }

  policyFix(fix) {
    const body = { mode: fix.mode, mx: fix.mx, max_age: fix.max_age };
    return html`<section class="card notice" aria-labelledby="dns-fix" style="margin-bottom:1rem">
      <h2 id="dns-fix">Cover the live MX hosts</h2>
      <p>${fix.uncovered.join(', ')} ${fix.uncovered.length === 1 ? 'is' : 'are'} not in the hosted policy. This policy covers every live MX host (mode ${fix.mode}):</p>
      <pre class="raw">${fix.mx.map((m) => `mx: ${m}`).join('\n')}</pre>
      ${session.admin ? html`<button class="primary" type="button" @click=${() => this.apply(body)}>Publish this policy</button>` : nothing}
      <a href=${href('mta-sts', this.route.domain)}>Open the MTA-STS policy</a>
      <div aria-live="polite">${this.applied?.error ? errorBox(this.applied.error) : this.applied?.done ? html`<p class="pass">✓ Published: Rampart serves it now and moves the id in DNS once caches hold it.</p>` : nothing}</div>
    </section>`;
  }

  async run() {
    this.ran = 'running';
    this.requestUpdate();
    try {
      const checks = await api.post(domainPath(this.route.domain, '/checks'));
      this.ran = null;
      this.slots = { ...this.slots, checks: { state: 'ready', data: checks } };
    } catch (error) {
      this.ran = { error };
    }
    this.requestUpdate();
  }

  async apply(body) {
    try {
      await api.put(domainPath(this.route.domain, '/mta-sts'), body);
      this.applied = { done: true };
    } catch (error) {
      this.applied = { error };
    }
    this.requestUpdate();
  }
}
customElements.define('r-dns', Dns);
