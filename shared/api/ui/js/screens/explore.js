// Explore: every dimension as a filter, free-text search, a pivot by one or two dimensions,
// and the records themselves a page at a time; CSV and JSON of the same query.

import { html, nothing } from 'lit';
import { api, apiUrl, domainPath, download } from '../api.js';
import { count, counted } from '../format.js';
import { DIMENSIONS, activeFilters, chips, filterForm } from '../filters.js';
import { href, navigate, range, withParams } from '../state.js';
import { Screen, errorBox, table, view } from '../widgets.js';
import { passShare } from './overview.js';

const GROUPS = ['reporter', 'source_ip', 'header_from', 'disposition', 'dmarc', 'spf_result', 'spf_domain',
  'dkim_result', 'dkim_domain', 'dkim_selector', 'day', 'country', 'asn', 'service', 'classification'];
const NAMES = DIMENSIONS.map((d) => d.name);

class Explore extends Screen {
  query() {
    const { params } = this.route;
    const r = range(params);
    return { from: r.from, to: r.to, q: params.get('q') ?? undefined, ...activeFilters(params, NAMES) };
  }

  groupBy() {
    const g = (this.route.params.get('group_by') ?? 'classification').split(',').filter((x) => GROUPS.includes(x));
    return g.length ? g.slice(0, 2) : ['classification'];
  }

  start() {
    const { domain, params } = this.route;
    const q = this.query();
    this.load('stats', () => api.get(domainPath(domain, '/stats'), {
      ...q, q: undefined, group_by: this.groupBy().join(','), sort: params.get('sort') ?? '-messages', limit: 100,
      cursor: params.get('group_cursor'),
    }));
    // The page size is in the address too (`limit`), so a shared link shows the same page.
    this.load('records', () => api.get(domainPath(domain, '/records'), { ...q, limit: params.get('limit') ?? 50, cursor: params.get('cursor') }));
  }

  render() {
    const { domain, params } = this.route;
    const q = this.query();
    const [a, b] = this.groupBy();
    const search = (event) => {
      event.preventDefault();
      navigate(withParams({ q: new FormData(event.target).get('q').trim() || null, cursor: null }));
    };
    const group = (event) => {
      event.preventDefault();
      const form = new FormData(event.target);
      navigate(withParams({ group_by: [form.get('a'), form.get('b')].filter(Boolean).join(','), group_cursor: null, sort: null }));
    };
    return html`
      <h1>Explore ${domain}</h1>
      <form class="toolbar" role="search" @submit=${search}>
        <label class="field" style="flex:1">Search records (address, domain, organisation, report id)
          <input name="q" type="search" .value=${params.get('q') ?? ''} placeholder="203.0.113.7 or google.com"></label>
        <button type="submit">Search</button>
      </form>
      <details ?open=${Object.keys(activeFilters(params, NAMES)).length > 0}><summary>Filters</summary>${filterForm(params, NAMES)}</details>
      ${chips({ ...activeFilters(params, NAMES), ...(params.get('q') ? { q: params.get('q') } : {}) })}
      <section class="card" aria-labelledby="pivot-title" style="margin:1rem 0">
        <h2 id="pivot-title">Messages by ${a}${b ? ` and ${b}` : ''}</h2>
        <form class="filters" @submit=${group}>
          <label class="field">Group by<select name="a">${GROUPS.map((g) => html`<option ?selected=${g === a}>${g}</option>`)}</select></label>
          <label class="field">then by<select name="b"><option value="">nothing</option>${GROUPS.map((g) => html`<option ?selected=${g === b}>${g}</option>`)}</select></label>
          <button type="submit">Group</button>
        </form>
        ${view(this.slot('stats'), (s) => this.pivot(s, [a, b].filter(Boolean)))}
      </section>
      <section class="card" aria-labelledby="records-title">
        <h2 id="records-title">Records</h2>
        <div class="toolbar">
          <a href=${apiUrl(domainPath(domain, '/records'), { ...q, format: 'csv' })} data-csv
            @click=${(e) => this.save(e, domain, { ...q, format: 'csv' }, 'csv')}>CSV of this query</a>
          <a href=${apiUrl(domainPath(domain, '/records'), q)} data-json
            @click=${(e) => this.save(e, domain, q, 'json')}>JSON of this query</a>
        </div>
        <div aria-live="polite">${this.saveError ? errorBox(this.saveError) : nothing}</div>
        ${view(this.slot('records'), (r) => this.records(r))}
      </section>`;
  }

  async save(event, domain, params, kind) {
    event.preventDefault();
    this.saveError = null;
    try {
      await download(domainPath(domain, '/records'), params, `${domain}-records.${kind}`);
    } catch (error) {
      this.saveError = error;
    }
    this.requestUpdate();
  }

  pivot(s, dims) {
    return html`${table({
      caption: html`${counted(s.total_groups, 'group', 'groups')}`,
      rows: s.groups.map((g) => ({ ...Object.fromEntries(dims.map((d) => [d, g.key[d]])), messages: g.messages, dmarc_fail: g.dmarc_fail, share: g.messages ? g.dmarc_pass / g.messages : null })),
      sort: this.route.params.get('sort') ?? '-messages',
      // The API sorts (by a count or the key): a header asks it again.
      sortHref: (next) => navigate(withParams({ sort: ['messages', '-messages', 'dmarc_fail', '-dmarc_fail', 'key', '-key'].includes(next) ? next : `${next.startsWith('-') ? '-' : ''}key`, group_cursor: null })),
      columns: [
        ...dims.map((d) => ({ key: d, label: d, render: (g) => g[d] === null || g[d] === undefined
          ? html`<span class="muted">(none)</span>`
          : html`<a href=${withParams({ [d]: g[d], cursor: null, group_cursor: null })}>${g[d]}</a>` })),
        { key: 'messages', label: 'Messages', num: true },
        { key: 'dmarc_fail', label: 'DMARC fail', num: true },
        { key: 'share', label: 'DMARC pass', num: true, sortable: false, render: (g) => passShare(g.share) },
      ],
    })}${s.next ? html`<p><a href=${withParams({ group_cursor: s.next })}>Next groups →</a></p>` : nothing}`;
  }

  records(r) {
    return html`${table({
      caption: html`${counted(r.total, 'record', 'records')}`,
      rows: r.records,
      columns: [
        { key: 'source_ip', label: 'Source', render: (x) => html`<span class="mono">${x.source_ip}</span>` },
        { key: 'count', label: 'Messages', num: true },
        { key: 'day', label: 'Day (UTC)' },
        { key: 'reporter', label: 'Reporter' },
        { key: 'header_from', label: 'From' },
        { key: 'dmarc', label: 'DMARC', render: (x) => x.dmarc === 'pass' ? html`<span class="pass">✓ pass</span>` : html`<span class="fail">✗ fail</span>` },
        { key: 'disposition', label: 'Disposition' },
        { key: 'spf', label: 'SPF', render: (x) => (x.spf ?? []).map((s) => `${s.domain ?? '?'} ${s.result}`).join(', ') || '–' },
        { key: 'dkim', label: 'DKIM', render: (x) => (x.dkim ?? []).map((d) => `${d.domain ?? '?'} ${d.result}`).join(', ') || '–' },
        { key: 'report', label: 'Report', render: (x) => html`<a href=${href('reports', this.route.domain, { report: x.report })}>${x.report_id}</a>` },
      ],
      empty: 'No record matches.',
    })}${r.next ? html`<p><a href=${withParams({ cursor: r.next })}>Next records →</a></p>` : nothing}`;
  }
}
customElements.define('r-explore', Explore);
