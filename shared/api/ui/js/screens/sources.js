// Sources: who sends as the domain, per service (or per address), with the SPF results and
// DKIM signatures that gave no aligned pass, filtered by any dimension; the CSV is the
// records behind exactly this view.

import { html, nothing } from 'lit';
import { api, apiUrl, domainPath, download } from '../api.js';
import { count, counted } from '../format.js';
import { countryName } from '../countries.js';
import { activeFilters, chips, filterForm } from '../filters.js';
import { navigate, range, withParams } from '../state.js';
import { Screen, errorBox, table, view } from '../widgets.js';
import { classMix, passShare } from './overview.js';

const FILTERS = ['classification', 'service', 'country', 'asn', 'source_ip', 'dmarc', 'reporter'];

class Sources extends Screen {
  by() {
    return this.route.params.get('by') === 'ip' ? 'ip' : 'service';
  }

  start() {
    const { domain, params } = this.route;
    const r = range(params);
    this.load('sources', () => api.get(domainPath(domain, '/sources'), {
      from: r.from, to: r.to, by: this.by(), limit: 100, cursor: params.get('cursor'), ...activeFilters(params, FILTERS),
    }));
  }

  render() {
    const { domain, params } = this.route;
    const r = range(params);
    const filters = activeFilters(params, FILTERS);
    const csv = { from: r.from, to: r.to, format: 'csv', ...filters };
    return html`
      <h1>Sources of ${domain}</h1>
      <div class="toolbar">
        <div class="segmented" role="group" aria-label="Group by">
          <a href=${withParams({ by: null, cursor: null })} aria-current=${this.by() === 'service' ? 'true' : 'false'}>By service</a>
          <a href=${withParams({ by: 'ip', cursor: null })} aria-current=${this.by() === 'ip' ? 'true' : 'false'}>By address</a>
        </div>
        <span class="spacer"></span>
        <a href=${apiUrl(domainPath(domain, '/records'), csv)} data-csv
          @click=${(e) => this.csv(e, domain, csv)}>Download CSV of these records</a>
      </div>
      ${filterForm(params, FILTERS)}
      ${chips(filters)}
      <div aria-live="polite">${this.csvError ? errorBox(this.csvError) : nothing}</div>
      <section class="card" aria-labelledby="sources-title">
        <h2 id="sources-title" class="visually-hidden">Sources</h2>
        ${view(this.slot('sources'), (s) => this.list(s))}
      </section>`;
  }

  async csv(event, domain, params) {
    event.preventDefault();
    this.csvError = null;
    try {
      await download(domainPath(domain, '/records'), params, `${domain}-records.csv`);
    } catch (error) {
      this.csvError = error;
    }
    this.requestUpdate();
  }

  list(s) {
    const byIp = s.by === 'ip';
    const sort = this.route.params.get('sort') ?? '-messages';
    const columns = [
      byIp
        ? { key: 'key', label: 'Address', render: (x) => html`<span class="mono">${x.key}</span>` }
        : { key: 'service', label: 'Service', value: (x) => x.service?.name ?? '', render: (x) => x.service ? x.service.name : html`<span class="muted">not recognised</span>` },
      ...(byIp ? [
        { key: 'country', label: 'Country', value: (x) => x.source?.country ?? '', render: (x) => x.source?.country ? countryName(x.source.country) : '–' },
        { key: 'asn', label: 'AS', value: (x) => x.source?.asn ?? null, render: (x) => x.source?.asn ? html`AS${x.source.asn} <span class="muted">${x.source.as_org ?? ''}</span>` : '–' },
        { key: 'ptr', label: 'Reverse DNS', value: (x) => x.source?.reverse_dns?.name ?? '', render: (x) => reverseDns(x.source?.reverse_dns) },
      ] : [{ key: 'addresses', label: 'Addresses', num: true }]),
      { key: 'messages', label: 'Messages', num: true },
      { key: 'dmarc_pass_share', label: 'DMARC pass', num: true, render: (x) => passShare(x.dmarc_pass_share) },
      { key: 'spf_aligned_share', label: 'SPF aligned', num: true, render: (x) => passShare(x.spf_aligned_share) },
      { key: 'dkim_aligned_share', label: 'DKIM aligned', num: true, render: (x) => passShare(x.dkim_aligned_share) },
      { key: 'classifications', label: 'Classification', sortable: false, render: (x) => classMix(x.classifications) },
      { key: 'why', label: 'Why it fails', sortable: false, render: (x) => this.why(x, byIp) },
    ];
    return html`${table({
      caption: html`${count(s.total)} ${byIp ? 'addresses' : 'services'}`,
      sort,
      sortHref: (next) => navigate(withParams({ sort: next })),
      rows: s.sources,
      columns,
      empty: 'No source matches in this range. Clear a filter or widen the range.',
    })}
    ${s.next ? html`<p><a href=${withParams({ cursor: s.next })}>Next ${byIp ? 'addresses' : 'services'} →</a></p>` : nothing}`;
  }

  why(x, byIp) {
    const spf = x.spf_failures ?? [];
    const dkim = x.dkim_failures ?? [];
    const drill = !byIp && x.key
      ? html`<a href=${withParams({ by: 'ip', service: x.key, cursor: null })}>addresses of ${x.service?.name ?? x.key}</a>`
      : nothing;
    if (spf.length + dkim.length === 0) return html`<span class="pass">✓ aligned</span> ${drill}`;
    return html`<details class="row"><summary>${counted(spf.length + dkim.length, 'result', 'results')} without an aligned pass</summary>
      <ul class="plain">
        ${spf.map((f) => html`<li>SPF <span class="mono">${f.domain ?? '(none)'}</span>: ${f.result} <span class="muted">(${counted(f.messages, 'message', 'messages')})${f.result === 'pass' ? ', passes but not aligned with the From domain' : ''}</span></li>`)}
        ${dkim.map((f) => html`<li>DKIM <span class="mono">${f.domain ?? '(none)'}${f.selector ? ` s=${f.selector}` : ''}</span>: ${f.result} <span class="muted">(${counted(f.messages, 'message', 'messages')})${f.result === 'pass' ? ', passes but not aligned with the From domain' : ''}</span></li>`)}
      </ul></details> ${drill}`;
  }
}
customElements.define('r-sources', Sources);

export function reverseDns(r) {
  if (!r) return '–';
  if (r.name) return html`<span class="mono">${r.name}</span>${r.status && r.status !== 'confirmed' ? html` <span class="muted">(${r.status})</span>` : nothing}`;
  return html`<span class="muted">${r.status ?? '–'}</span>`;
}

