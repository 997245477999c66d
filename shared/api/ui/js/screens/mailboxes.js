// Mailboxes: the owners' own mailboxes Rampart reads (`GET /v1/mailboxes`), where each reads,
// whether it is paused, and its last run: the mails it took and how they ended, what it left
// and why it stopped. Admins add a source (`POST /v1/mailboxes`; the kind, IMAP or Microsoft
// 365, is in the address: `?kind=graph`), test it (a login and a count of the folder), pause,
// resume and remove it.

import { html, nothing } from 'lit';
import { api } from '../api.js';
import { session } from '../auth.js';
import { count, moment, utc } from '../format.js';
import { withParams } from '../state.js';
import { Screen, errorBox, view } from '../widgets.js';

// How a kept mail ended, in the order Ingest health lists them.
const OUTCOMES = [
  ['stored', 'pass', '✓'],
  ['duplicate', 'muted', '='],
  ['queued', 'muted', '→'],
  ['held', 'warn', '‖'],
  ['rejected', 'fail', '✗'],
];

class Mailboxes extends Screen {
  start() {
    // Per source: a test's answer, a removal waiting for its confirmation.
    this.tests = {};
    this.confirming = null;
    this.added = null;
    this.load('mailboxes', () => api.get('/v1/mailboxes'));
  }

  render() {
    return html`<h1>Mailboxes</h1>
      <p class="muted">Owners' own mailboxes Rampart reads, beside its own address: each mail is kept and ingested as if Rampart had received it, and the mailbox's flags are left as they were.</p>
      <section class="card" aria-labelledby="mailboxes-title">
        <h2 id="mailboxes-title" class="visually-hidden">Mailbox sources</h2>
        <div aria-live="polite">${this.failed ? errorBox(this.failed) : nothing}</div>
        ${view(this.slot('mailboxes'), (m) => this.list(m.mailboxes))}
      </section>
      ${session.admin ? this.addForm() : nothing}`;
  }

  // One row per source: where it reads, its last run, its state. The rows stack on a phone.
  list(mailboxes) {
    if (!mailboxes.length) {
      return html`<p class="muted">No mailbox is read yet. ${session.admin ? 'Add one below, or' : 'An admin adds one here, or'} names it in the mailbox file of <code>rampart serve --mailbox FILE</code>.</p>`;
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
    const word = x.paused ? html`<span class="warn">‖ paused</span>` : html`<span class="pass">● reading</span>`;
    if (!session.admin) return word;
    const action = x.paused ? 'Resume' : 'Pause';
    const removal = this.confirming === x.id
      ? html`<span class="actions" role="group" aria-label=${`Remove ${x.id}?`}>Remove it and its password?
          <button type="button" class="danger" @click=${() => this.remove(x.id)}>Remove</button>
          <button type="button" @click=${() => { this.confirming = null; this.requestUpdate(); }}>Keep</button></span>`
      : html`<button type="button" aria-label=${`Remove ${x.id}`} @click=${() => { this.confirming = x.id; this.requestUpdate(); }}>Remove</button>`;
    return html`${word}
      <div class="actions">
        <button type="button" aria-label=${`Test ${x.id}`} ?disabled=${this.tests[x.id]?.running} @click=${() => this.test(x.id)}>Test</button>
        <button type="button" aria-label=${`${action} ${x.id}`} @click=${() => this.pause(x.id, !x.paused)}>${action}</button>
        ${removal}
      </div>
      <div aria-live="polite" data-test-result=${x.id}>${this.testResult(this.tests[x.id])}</div>`;
  }

  testResult(t) {
    if (!t) return nothing;
    if (t.running) return html`<span class="muted">logging in…</span>`;
    if (t.error) return errorBox(t.error);
    const r = t.result;
    if (!r.ok) return html`<span class="fail" data-test-ok="false">✗ ${r.error}</span>`;
    return html`<span class="pass" data-test-ok="true">✓ logged in: <span data-messages=${r.messages}>${count(r.messages)} ${r.messages === 1 ? 'mail' : 'mails'}</span> in the folder, <span data-new=${r.new}>${count(r.new)} new</span></span>`;
  }

  async test(id) {
    this.tests = { ...this.tests, [id]: { running: true } };
    this.requestUpdate();
    let done;
    try {
      done = { result: await api.post(`/v1/mailboxes/${encodeURIComponent(id)}/test`) };
    } catch (error) {
      done = { error };
    }
    this.tests = { ...this.tests, [id]: done };
    this.requestUpdate();
  }

  async remove(id) {
    this.failed = null;
    this.confirming = null;
    try {
      await api.delete(`/v1/mailboxes/${encodeURIComponent(id)}`);
      this.replace((list) => list.filter((m) => m.id !== id));
    } catch (error) {
      this.failed = error;
    }
    this.requestUpdate();
  }

  // The list as `change` makes it, without asking the server again.
  replace(change) {
    const mailboxes = change(this.slot('mailboxes').data.mailboxes);
    this.slots = { ...this.slots, mailboxes: { state: 'ready', data: { mailboxes } } };
  }

  addForm() {
    const graph = this.route.params.get('kind') === 'graph';
    const kind = (k, label) => html`<a href=${withParams({ kind: k === 'imap' ? null : k })} aria-current=${String(graph === (k === 'graph'))}>${label}</a>`;
    return html`<section class="card" style="margin-top:1rem" aria-labelledby="add-mailbox-title">
      <h2 id="add-mailbox-title">Add a mailbox</h2>
      <p class="muted">Rampart reads it every few minutes, keeps each report mail as if it had received it, and tests the login as soon as it is added. The ${graph ? 'client secret' : 'password'} is kept apart from the source and never shown again.</p>
      <nav class="presets" aria-label="Kind of mailbox">${kind('imap', 'IMAP')}${kind('graph', 'Microsoft 365')}</nav>
      <form class="mailbox-form" @submit=${(e) => this.add(e, graph)}>
        ${graph ? html`
          <label class="field">Tenant<input name="tenant" required placeholder="contoso.onmicrosoft.com" autocomplete="off"></label>
          <label class="field">Application (client) ID<input name="client_id" required autocomplete="off"></label>
          <label class="field">Client secret<input name="secret" type="password" required autocomplete="new-password"></label>
          <label class="field">Mailbox<input name="user" required placeholder="dmarc@contoso.com" autocomplete="off"></label>
          <label class="field">Folder<input name="folder" placeholder="inbox" autocomplete="off"></label>` : html`
          <label class="field">Server and folder<input name="url" required placeholder="imaps://imap.example.com/INBOX" autocomplete="off"></label>
          <label class="field">User<input name="user" required placeholder="dmarc@example.com" autocomplete="off"></label>
          <label class="field">Password<input name="secret" type="password" required autocomplete="new-password"></label>`}
        <label class="field">Move read mail to (optional)<input name="move_to" placeholder="DMARC/Done" autocomplete="off"></label>
        <label class="field">Name (optional)<input name="id" placeholder="from the user and folder" autocomplete="off" pattern="[a-z0-9\\-]{1,64}" title="lower-case letters, digits and -"></label>
        <button class="primary" type="submit">Add mailbox</button>
      </form>
      <div aria-live="polite">${this.added?.error ? errorBox(this.added.error) : nothing}</div>
    </section>`;
  }

  async add(event, graph) {
    event.preventDefault();
    const form = event.target;
    const fields = graph ? ['tenant', 'client_id', 'secret', 'user', 'folder'] : ['url', 'user', 'secret'];
    const data = new FormData(form);
    const body = {};
    for (const name of [...fields, 'move_to', 'id']) {
      const value = (data.get(name) ?? '').trim();
      if (value) body[name] = value;
    }
    try {
      const added = await api.post('/v1/mailboxes', body);
      this.added = null;
      form.reset();
      this.replace((list) => [...list, added].sort((a, b) => a.id.localeCompare(b.id)));
      this.requestUpdate();
      // A source is only useful once it logs in: say so at once, beside it.
      await this.test(added.id);
      return;
    } catch (error) {
      this.added = { error };
    }
    this.requestUpdate();
  }

  async pause(id, paused) {
    this.failed = null;
    try {
      const changed = await api.patch(`/v1/mailboxes/${encodeURIComponent(id)}`, { paused });
      this.replace((list) => list.map((m) => (m.id === id ? changed : m)));
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
