// Domains: every domain with its range's messages, DMARC pass share, published policy, TLS
// failures and latest report, from one request (`GET /v1/overview`); and adding a domain,
// which answers with the DNS records to publish.

import { html, nothing } from 'lit';
import { api } from '../api.js';
import { session } from '../auth.js';
import { POLICIES, count, counted, day, ratio, share } from '../format.js';
import { addDays, href, navigate, range, withParams } from '../state.js';
import { Screen, errorBox, table, view } from '../widgets.js';
import { dnsRecords } from './dns-records.js';
import { severity } from './dns.js';

class Domains extends Screen {
  start() {
    const p = this.route.params;
    const r = range(p);
    this.load('overview', () => api.get('/v1/overview', { from: r.from, to: r.to, limit: 200, cursor: p.get('cursor') }));
  }

  render() {
    const p = this.route.params;
    const r = range(p);
    const q = (p.get('q') ?? '').toLowerCase();
    const sort = p.get('sort') ?? '-messages';
    return html`
      <h1>Domains</h1>
      <p class="muted">${day(r.from)} to ${day(r.to)}, UTC days.</p>
      ${q ? html`<div class="chips">Showing domains containing <span class="chip">“${q}” <a href=${withParams({ q: null })} aria-label="Clear search">×</a></span></div>` : nothing}
      <section class="card" aria-labelledby="domains-title">
        <h2 id="domains-title" class="visually-hidden">All domains</h2>
        ${view(this.slot('overview'), (o) => this.list(o, q, sort, r))}
      </section>
      ${session.admin ? this.addForm() : nothing}`;
  }

  addForm() {
    return html`
      <section class="card" style="margin-top:1rem" aria-labelledby="add-title">
        <h2 id="add-title">Add a domain</h2>
        <p class="muted">Rampart answers with the DNS records that send the domain's reports here.</p>
        <form @submit=${(e) => this.add(e)} class="copy-row">
          <label class="field" style="flex:1">Domain name<input name="domain" required placeholder="example.com" autocomplete="off"></label>
          <button class="primary" type="submit" style="align-self:flex-end">Add domain</button>
        </form>
        <div aria-live="polite">${this.added ? this.addedView() : nothing}</div>
      </section>`;
  }

  list(o, q, sort, r) {
    const rows = o.domains.filter((d) => d.domain.includes(q));
    if (o.domains.length === 0) {
      return session.admin
        ? html`<p>No domain yet. Add one below: Rampart shows the records to publish, and reports usually arrive within 24 to 48 hours.</p>`
        : html`<p>No domain yet. An admin adds domains; reports usually arrive within 24 to 48 hours of that.</p>`;
    }
    const domainLink = (d) => {
      if (!d.domain) return html`<span class="muted">(reports naming no domain)</span>`;
      // A domain with nothing in the range opens on the 30 days up to its latest report.
      const quiet = d.messages === 0 && d.tls_successful_sessions + d.tls_failed_sessions === 0 && d.latest_day && !r.explicit;
      const params = quiet ? { from: addDays(d.latest_day, -29), to: d.latest_day, range: null, auto: 'latest' } : {};
      return html`<a href=${href('overview', d.domain, params)}>${d.domain}</a>`;
    };
    const latest = o.domains.map((d) => d.latest_day).filter(Boolean).sort().pop();
    const quietRange = !r.explicit && latest && latest < r.from && o.domains.every((d) => d.messages === 0);
    return html`
      ${quietRange ? html`<div class="notice" role="status">No report covers these days. The latest one is from ${day(latest)}:
        <a href=${withParams({ from: addDays(latest, -364), to: latest, range: null, cursor: null })}>show the year up to it</a>.</div>` : nothing}
      ${table({
        caption: html`${counted(rows.length, 'domain', 'domains')}`,
        sort,
        sortHref: (s) => navigate(withParams({ sort: s })),
        rows,
        columns: [
          { key: 'domain', label: 'Domain', render: domainLink },
          { key: 'registered', label: 'Registered', render: (d) => d.registered ? 'yes' : html`<span class="muted">no (reports arrived)</span>` },
          { key: 'policy', label: 'Policy', render: (d) => d.policy ? POLICIES[d.policy] ?? d.policy : html`<span class="muted">–</span>` },
          { key: 'messages', label: 'Messages', num: true },
          {
            key: 'dmarc_pass_share', label: 'DMARC pass', num: true,
            render: (d) => d.dmarc_pass_share === null ? '–' : html`<span class=${d.dmarc_pass_share >= 0.95 ? 'pass' : d.dmarc_pass_share < 0.8 ? 'fail' : ''}>${d.dmarc_pass_share >= 0.95 ? '✓ ' : d.dmarc_pass_share < 0.8 ? '✗ ' : ''}${share(d.dmarc_pass_share)}</span>`,
          },
          {
            key: 'tls_failed_sessions', label: 'TLS failures', num: true,
            render: (d) => {
              const all = d.tls_failed_sessions + d.tls_successful_sessions;
              if (all === 0) return html`<span class="muted">–</span>`;
              return html`<span class=${d.tls_failed_sessions ? 'fail' : 'pass'}>${count(d.tls_failed_sessions)}</span> <span class="muted">(${share(ratio(d.tls_failed_sessions, all))})</span>`;
            },
          },
          {
            key: 'dns', label: 'DNS', value: (d) => d.dns_health ? ['ok', 'info', 'warning', 'error', 'critical'].indexOf(d.dns_health.worst) : null,
            render: (d) => d.dns_health
              ? html`<a href=${href('dns', d.domain)} aria-label="DNS health of ${d.domain}: ${d.dns_health.worst}">${severity(d.dns_health.worst)}</a>`
              : html`<span class="muted">not checked</span>`,
          },
          { key: 'latest_day', label: 'Latest report', render: (d) => d.latest_day ? html`<time datetime=${d.latest_day}>${day(d.latest_day)}</time>` : html`<span class="muted">none yet</span>` },
        ],
      })}
      ${o.next ? html`<p><a href=${withParams({ cursor: o.next })}>Next domains →</a></p>` : nothing}`;
  }

  async add(event) {
    event.preventDefault();
    const form = event.target;
    const name = new FormData(form).get('domain').trim();
    try {
      this.added = { setup: await api.post('/v1/domains', { domain: name }) };
      form.reset();
    } catch (error) {
      this.added = { error };
    }
    this.requestUpdate();
  }

  addedView() {
    if (this.added.error) return errorBox(this.added.error);
    const setup = this.added.setup;
    return html`<h3>Publish these records for ${setup.domain}</h3>${dnsRecords(setup.dns)}
      <p><a href=${href('overview', setup.domain)}>Open ${setup.domain}</a></p>`;
  }
}
customElements.define('r-domains', Domains);

