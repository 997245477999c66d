// Mailboxes: the owners' own mailboxes Rampart reads (`GET /v1/mailboxes`), where each reads,
// whether it is paused, and its last run: the mails it took and how they ended, what it left
// and why it stopped. Admins pause and resume a source here (`PATCH /v1/mailboxes/{id}`);
// sources are added in the mailbox file of `rampart serve --mailbox` (docs/mailbox.md).

import { html, nothing } from 'lit';
import { api } from '../api.js';
import { session } from '../auth.js';
import { count, moment, utc } from '../format.js';
import { Screen, errorBox, view } from '../widgets.js';

// How a kept mail ended, in the order Ingest health lists them.
const OUTCOMES = [
  ['stored', 'pass', '✓'],
  ['duplicate', 'muted', '='],
  ['queued', 'muted', '→'],
  ['held', 'warn', '⏸'],
  ['rejected', 'fail', '✗'],
];

class Mailboxes extends Screen {
  start() {
    this.load('mailboxes', () => api.get('/v1/mailboxes'));
  }

  render() {
    return html`<h1>Mailboxes</h1>
      <p class="muted">Owners' own mailboxes Rampart reads, beside its own address: each mail is kept and ingested as if Rampart had received it, and the mailbox's flags are left as they were.</p>
      <section class="card" aria-labelledby="mailboxes-title">
        <h2 id="mailboxes-title" class="visually-hidden">Mailbox sources</h2>
        <div aria-live="polite">${this.failed ? errorBox(this.failed) : nothing}</div>
        ${view(this.slot('mailboxes'), (m) => this.list(m.mailboxes))}
      </section>`;
  }

  // One row per source: where it reads, its last run, its state. The rows stack on a phone.
  list(mailboxes) {
    if (!mailboxes.length) {
      return html`<p class="muted">No mailbox is read. Name one in a mailbox file and start <code>rampart serve --mailbox FILE</code>.</p>`;
    }
    return html`<p class="caption"><strong>${count(mailboxes.length)} ${mailboxes.length === 1 ? 'mailbox' : 'mailboxes'}</strong></p>
      <ol class="mailboxes">${mailboxes.map((x) => html`<li data-source=${x.id}>
        <div>${this.where(x)}</div>
        <div>${this.lastRun(x)}</div>
        <div>${this.state(x)}</div>
      </li>`)}</ol>`;
  }

  where(x) {
    return html`<strong data-mailbox=${x.id}>${x.id}</strong> <span class="muted">${x.kind === 'graph' ? 'Microsoft 365' : 'IMAP'}</span>
      <br>${x.user}
      <br><code>${x.kind === 'graph' ? x.folder : x.location}</code>
      ${x.move_to ? html`<br><span class="muted">then moved to ${x.move_to}</span>` : nothing}`;
  }

  lastRun(x) {
    const run = x.last_run;
    if (!run) return html`<span class="muted">not run yet</span>`;
    return html`<time datetime=${utc(run.started_at)}>${moment(run.started_at)}</time>
      ${run.error ? html`<br><span class="fail" data-run-error>✗ ${run.error}</span>` : html`<br><span class="pass">✓ ran through</span>`}
      ${run.renumbered ? html`<br><span class="warn">the folder was renumbered and read again</span>` : nothing}
      <br><span data-taken=${run.taken}>${count(run.taken)} ${run.taken === 1 ? 'mail' : 'mails'} taken</span>${outcomes(run)}
      <br><span class="muted">left: ${left(run)}</span>`;
  }

  state(x) {
    const word = x.paused ? html`<span class="warn">⏸ paused</span>` : html`<span class="pass">● reading</span>`;
    if (!session.admin) return word;
    const action = x.paused ? 'Resume' : 'Pause';
    return html`${word}<br><button type="button" aria-label=${`${action} ${x.id}`} @click=${() => this.pause(x.id, !x.paused)}>${action}</button>`;
  }

  async pause(id, paused) {
    this.failed = null;
    try {
      const changed = await api.patch(`/v1/mailboxes/${encodeURIComponent(id)}`, { paused });
      const data = this.slot('mailboxes').data;
      const mailboxes = data.mailboxes.map((m) => (m.id === id ? changed : m));
      this.slots = { ...this.slots, mailboxes: { state: 'ready', data: { mailboxes } } };
    } catch (error) {
      this.failed = error;
    }
    this.requestUpdate();
  }
}

// `✓ 2 stored · = 1 duplicate`, each with its glyph and class, never colour alone.
function outcomes(run) {
  const shown = OUTCOMES.filter(([o]) => run.outcomes[o]);
  if (!shown.length) return nothing;
  return html`<br>${shown.map(([o, cls, glyph], i) => html`${i ? ' · ' : ''}<span class=${cls} data-outcome=${o}>${glyph} ${count(run.outcomes[o])} ${o}</span>`)}`;
}

function left(run) {
  const parts = [];
  if (run.left) parts.push(`${count(run.left)} for the next run`);
  if (run.too_large) parts.push(`${count(run.too_large)} too large to read`);
  return parts.length ? parts.join(', ') : 'none';
}

customElements.define('r-mailboxes', Mailboxes);
