// Ingest health: how each mail that reached Rampart ended, the problems first (rejected,
// held, failed) with their reasons, and the raw mail to download.

import { html, nothing } from 'lit';
import { api, download } from '../api.js';
import { count, counted, moment, utc } from '../format.js';
import { withParams } from '../state.js';
import { Screen, errorBox, table, view } from '../widgets.js';

const VIEWS = [
  ['problems', 'Rejected, held, failed', 'rejected,held,failed'],
  ['stored', 'Stored', 'stored'],
  ['duplicate', 'Duplicates', 'duplicate'],
  ['all', 'All', 'stored,duplicate,rejected,held,failed'],
];

const OUTCOMES = {
  stored: { glyph: '✓', cls: 'pass', text: 'stored' },
  duplicate: { glyph: '=', cls: 'muted', text: 'duplicate' },
  held: { glyph: '‖', cls: 'warn', text: 'held: its domain is not registered' },
  rejected: { glyph: '✗', cls: 'fail', text: 'rejected' },
  failed: { glyph: '!', cls: 'fail', text: 'failed' },
};

class Messages extends Screen {
  current() {
    return VIEWS.find(([name]) => name === this.route.params.get('show')) ?? VIEWS[0];
  }

  start() {
    const [, , outcome] = this.current();
    this.load('messages', () => api.get('/v1/messages', { outcome, limit: 100, cursor: this.route.params.get('cursor') }));
  }

  render() {
    const [name] = this.current();
    return html`<h1>Ingest health</h1>
      <p class="muted">Every mail sent to Rampart ends stored, duplicate, held (its domain is not registered yet) or rejected with a reason; its raw bytes are kept.</p>
      <div class="toolbar"><div class="segmented" role="group" aria-label="Which mails">
        ${VIEWS.map(([v, label]) => html`<a href=${withParams({ show: v === 'problems' ? null : v, cursor: null })} aria-current=${v === name ? 'true' : 'false'}>${label}</a>`)}
      </div></div>
      <div aria-live="polite">${this.rawError ? errorBox(this.rawError) : nothing}</div>
      <section class="card" aria-labelledby="messages-title">
        <h2 id="messages-title" class="visually-hidden">Mails</h2>
        ${view(this.slot('messages'), (m) => this.list(m, name))}
      </section>`;
  }

  list(m, name) {
    return html`${table({
      caption: html`${counted(m.messages.length, 'mail', 'mails')}${m.next ? ' on this page' : ''}, newest first`,
      rows: m.messages,
      columns: [
        { key: 'processed_at', label: 'Processed', render: (x) => html`<time title=${utc(x.processed_at)}>${moment(x.processed_at)}</time>` },
        { key: 'outcome', label: 'Outcome', render: (x) => { const o = OUTCOMES[x.outcome] ?? { glyph: '?', cls: '', text: x.outcome }; return html`<span class=${o.cls}>${o.glyph} ${o.text}</span>`; } },
        { key: 'reason', label: 'Why', render: (x) => x.reason ?? '–' },
        { key: 'from', label: 'From', render: (x) => x.from ?? '–' },
        { key: 'subject', label: 'Subject', render: (x) => x.subject ?? '–' },
        { key: 'size', label: 'Bytes', num: true },
        { key: 'key', label: 'Raw', sortable: false, render: (x) => html`<a href="/v1/messages/${x.key}" @click=${(e) => this.raw(e, x.key)}>download</a>` },
      ],
      empty: name === 'problems' ? '✓ No mail was rejected, held or failed.' : 'No mail.',
    })}${m.next ? html`<p><a href=${withParams({ cursor: m.next })}>Older mails →</a></p>` : nothing}`;
  }

  async raw(event, key) {
    event.preventDefault();
    this.rawError = null;
    try {
      await download(`/v1/messages/${key}`, {}, `${key.replaceAll('/', '-')}.eml`);
    } catch (error) {
      this.rawError = error;
    }
    this.requestUpdate();
  }
}
customElements.define('r-messages', Messages);
