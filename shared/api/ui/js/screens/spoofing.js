// Spoofing: the sources classified suspicious (failing DMARC, no known service, no
// forwarding signs), with where they are, who reported them and what receivers did; the map
// and country table show the same mail.

import { html, nothing } from 'lit';
import { api, domainPath } from '../api.js';
import { count, counted, moment } from '../format.js';
import { countryName } from '../countries.js';
import { activeFilters, chips } from '../filters.js';
import { navigate, range, withParams } from '../state.js';
import { Screen, table, view } from '../widgets.js';
import { reverseDns } from './sources.js';

const FILTERS = ['country', 'asn', 'source_ip', 'reporter'];

class Spoofing extends Screen {
  start() {
    const { domain, params } = this.route;
    const r = range(params);
    const span = { from: r.from, to: r.to, ...activeFilters(params, FILTERS) };
    this.load('spoofing', () => api.get(domainPath(domain, '/spoofing'), { ...span, limit: 100, cursor: params.get('cursor') }));
    this.load('countries', () => api.get(domainPath(domain, '/stats'), { ...span, classification: 'suspicious', group_by: 'country', sort: '-messages', limit: 300 }));
  }

  render() {
    const { domain, params } = this.route;
    return html`
      <h1>Spoofing of ${domain}</h1>
      <p class="muted">Sources that fail DMARC, belong to no known sending service and show no sign of forwarding.</p>
      ${chips(activeFilters(params, FILTERS))}
      <section class="card" aria-labelledby="spoof-map-title" style="margin-bottom:1rem">
        <h2 id="spoof-map-title">Where it came from</h2>
        ${view(this.slot('countries'), (s) => this.countries(s), { height: '240px' })}
      </section>
      <section class="card" aria-labelledby="spoof-title">
        <h2 id="spoof-title">Suspicious sources</h2>
        ${view(this.slot('spoofing'), (s) => this.list(s))}
      </section>`;
  }

  countries(s) {
    if (s.groups.length === 0) return html`<p class="pass">✓ No suspicious mail in this range.</p>`;
    const rows = s.groups.map((g) => ({ country: g.key.country, messages: g.messages }));
    const map = document.createElement('r-map');
    map.rows = rows.filter((r) => r.country);
    map.tone = 'threat';
    map.active = this.route.params.get('country');
    map.caption = `Suspicious messages by country: ${rows.slice(0, 5).map((r) => `${countryName(r.country)} ${count(r.messages)}`).join(', ')}`;
    map.onSelect = (c) => navigate(withParams({ country: c, cursor: null }));
    return html`<div class="grid"><div class="span-8">${map}</div><div class="span-4">${table({
      caption: 'Suspicious messages by country',
      rows,
      columns: [
        { key: 'country', label: 'Country', render: (r) => r.country ? html`<a href=${withParams({ country: r.country, cursor: null })}>${countryName(r.country)}</a>` : html`<span class="muted">unknown</span>` },
        { key: 'messages', label: 'Messages', num: true },
      ],
    })}</div></div>`;
  }

  list(s) {
    return html`<p>${counted(s.messages, 'message', 'messages')} from ${counted(s.total, 'address', 'addresses')}.</p>
    ${table({
      caption: html`${counted(s.total, 'suspicious address', 'suspicious addresses')}`,
      sort: this.route.params.get('sort') ?? '-messages',
      sortHref: (next) => navigate(withParams({ sort: next })),
      rows: s.sources,
      columns: [
        { key: 'ip', label: 'Address', render: (x) => html`<span class="mono">${x.ip}</span>` },
        { key: 'messages', label: 'Messages', num: true },
        { key: 'country', label: 'Country', render: (x) => x.country ? countryName(x.country) : '–' },
        { key: 'asn', label: 'AS', render: (x) => x.asn ? html`AS${x.asn} <span class="muted">${x.as_org ?? ''}</span>` : '–' },
        { key: 'reverse_dns', label: 'Reverse DNS', sortable: false, render: (x) => reverseDns(x.reverse_dns) },
        { key: 'first_seen', label: 'First seen', render: (x) => html`<time datetime=${x.first_seen ?? ''} title=${x.first_seen ?? ''}>${moment(x.first_seen)}</time>` },
        { key: 'last_seen', label: 'Last seen', render: (x) => html`<time datetime=${x.last_seen ?? ''} title=${x.last_seen ?? ''}>${moment(x.last_seen)}</time>` },
        { key: 'reporters', label: 'Reporters', sortable: false, render: (x) => (x.reporters ?? []).join(', ') },
        { key: 'header_from', label: 'From domains', sortable: false, render: (x) => (x.header_from ?? []).join(', ') },
        { key: 'dispositions', label: 'Receivers did', sortable: false, render: (x) => Object.entries(x.dispositions ?? {}).map(([d, n]) => `${d} ${count(n)}`).join(', ') },
      ],
      empty: 'No suspicious source in this range.',
    })}
    ${s.next ? html`<p><a href=${withParams({ cursor: s.next })}>Next addresses →</a></p>` : nothing}`;
  }
}
customElements.define('r-spoofing', Spoofing);
