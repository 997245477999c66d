// Overview of one domain: tiles, daily volume by classification, dispositions over time,
// top sources and reporters, and a country map with its table. Clicking a bar, a reporter
// or a country filters the grouped widgets; the filter is a chip, and in the address.

import { html, nothing } from 'lit';
import { api, domainPath } from '../api.js';
import { CLASSES, count, counted, day, ratio, share } from '../format.js';
import { addDays, href, navigate, range, utcToday, withParams } from '../state.js';
import { Screen, countryName, table, view } from '../widgets.js';
import { dnsRecords } from './dns-records.js';

// The filters this screen takes from the address, as the stats API names them.
const FILTERS = ['classification', 'country', 'reporter'];

const DISPOSITIONS = {
  none: { label: 'Delivered (none)', color: '--pass' },
  quarantine: { label: 'Quarantined', color: '--warn' },
  reject: { label: 'Rejected', color: '--fail' },
  pass: { label: 'Pass', color: '--forwarded' },
  unknown: { label: 'Not reported', color: '--neutral' },
  other: { label: 'Other', color: '--neutral' },
};

// Every page of a stats query (a 366-day range by four classifications is two pages).
async function allGroups(domain, params) {
  const groups = [];
  let cursor = null;
  do {
    const page = await api.get(domainPath(domain, '/stats'), { ...params, limit: 1000, cursor });
    groups.push(...page.groups);
    cursor = page.next;
  } while (cursor && groups.length < 5000);
  return groups;
}

class Overview extends Screen {
  filters() {
    const p = this.route.params;
    return Object.fromEntries(FILTERS.filter((f) => p.get(f)).map((f) => [f, p.get(f)]));
  }

  start() {
    const { domain, params } = this.route;
    const r = range(params);
    const span = { from: r.from, to: r.to };
    const filters = this.filters();
    const setup = api.get(domainPath(domain));
    this.load('setup', () => setup);
    this.load('summary', async () => {
      const summary = await api.get(domainPath(domain, '/summary'), span);
      // Nothing in the default range: open on the 30 days up to the latest report.
      if (!r.explicit && summary.messages === 0 && summary.tls.successful_sessions + summary.tls.failed_sessions === 0) {
        const { latest_day: latest } = await setup;
        if (latest && latest < r.from) {
          navigate(withParams({ from: addDays(latest, -29), to: latest, range: null, auto: 'latest' }), { replace: true });
        }
      }
      return summary;
    });
    this.load('filtered', () => Object.keys(filters).length ? allGroups(domain, { ...span, ...filters, group_by: 'dmarc' }) : null);
    this.load('daily', () => allGroups(domain, { ...span, ...filters, group_by: 'day,classification' }));
    this.load('timeseries', () => api.get(domainPath(domain, '/timeseries'), span));
    // From the day counters (service by classification), not the records.
    this.load('sources', () => allGroups(domain, { ...span, ...filters, group_by: 'service,classification' }));
    this.load('reporters', () => api.get(domainPath(domain, '/stats'), { ...span, ...filters, group_by: 'reporter', sort: '-messages', limit: 10 }));
    this.load('countries', () => allGroups(domain, { ...span, ...filters, group_by: 'country', sort: '-messages' }));
  }

  render() {
    const { domain, params } = this.route;
    const r = range(params);
    const filters = this.filters();
    return html`
      <h1>${domain}</h1>
      <p class="muted">${day(r.from)} to ${day(r.to)}, UTC days.</p>
      ${params.get('auto') === 'latest' ? html`<div class="notice" role="status">Nothing arrived for ${domain} in the last 30 days; this shows the 30 days up to its latest report (${day(r.to)}). <a href=${withParams({ from: addDays(utcToday(), -29), to: utcToday(), auto: null })}>Show the last 30 days</a></div>` : nothing}
      ${Object.keys(filters).length ? html`<div class="chips" aria-label="Active filters">Showing:
        ${Object.entries(filters).map(([name, value]) => html`<span class="chip">${name}: ${name === 'country' ? countryName(value) : value}
          <a href=${withParams({ [name]: null })} aria-label="Remove filter ${name}">×</a></span>`)}
        <a href=${withParams(Object.fromEntries(FILTERS.map((f) => [f, null])))}>clear filters</a></div>` : nothing}
      ${this.firstSteps()}
      ${this.tiles(filters)}
      <div class="grid">
        <section class="card span-8" aria-labelledby="daily-title">
          <h2 id="daily-title">Messages per day by classification</h2>
          ${view(this.slot('daily'), (groups) => this.daily(groups, r), { height: '260px' })}
        </section>
        <section class="card span-4" aria-labelledby="disp-title">
          <h2 id="disp-title">What receivers did</h2>
          ${view(this.slot('timeseries'), (t) => this.dispositions(t), { height: '260px' })}
        </section>
        <section class="card span-6" aria-labelledby="sources-title">
          <h2 id="sources-title">Top sending services</h2>
          ${view(this.slot('sources'), (s) => this.sources(s))}
        </section>
        <section class="card span-6" aria-labelledby="reporters-title">
          <h2 id="reporters-title">Top reporters</h2>
          ${view(this.slot('reporters'), (s) => this.reporters(s))}
        </section>
        <section class="card span-12" aria-labelledby="map-title">
          <h2 id="map-title">Where the mail came from</h2>
          ${view(this.slot('countries'), (groups) => this.countries(groups), { height: '240px' })}
        </section>
      </div>`;
  }

  // A domain no report has arrived for yet: the records that send them here.
  firstSteps() {
    const setup = this.slot('setup');
    if (setup.state !== 'ready' || setup.data.latest_day) return nothing;
    return html`<section class="card" aria-labelledby="first-title" style="margin-bottom:1rem">
      <h2 id="first-title">No report has arrived for ${setup.data.domain} yet</h2>
      <p>Publish these records. Mailbox providers send their first reports within 24 to 48 hours.</p>
      ${dnsRecords(setup.data.dns)}
    </section>`;
  }

  tiles(filters) {
    const filtered = Object.keys(filters).length > 0;
    return view(this.slot('summary'), (s) => {
      const f = this.slot('filtered');
      let messages = s.messages;
      let pass = s.dmarc_pass;
      if (filtered && f.state === 'ready') {
        messages = f.data.reduce((n, g) => n + g.messages, 0);
        pass = f.data.reduce((n, g) => n + g.dmarc_pass, 0);
      }
      const tile = (label, value, sub, id) => html`<div class="tile" data-tile=${id}><div class="label">${label}</div><div class="value">${value}</div><div class="sub">${sub}</div></div>`;
      const all = filtered ? 'all mail, unfiltered' : '';
      return html`<div class="tiles">
        ${tile('Messages', count(messages), filtered ? 'matching the filters' : `${counted(s.reports, 'report', 'reports')}`, 'messages')}
        ${tile('DMARC pass', share(ratio(pass, messages)), `${count(pass)} of ${count(messages)}`, 'dmarc')}
        ${tile('SPF aligned', share(s.spf_aligned_share), all || `${counted(s.spf_aligned_pass, 'message', 'messages')}`, 'spf')}
        ${tile('DKIM aligned', share(s.dkim_aligned_share), all || `${counted(s.dkim_aligned_pass, 'message', 'messages')}`, 'dkim')}
        ${tile('Reporters', count(s.reporters), `${count(s.reports)} DMARC reports`, 'reporters')}
        ${tile('TLS sessions', count(s.tls.successful_sessions + s.tls.failed_sessions), html`<span class=${s.tls.failed_sessions ? 'fail' : ''}>${count(s.tls.failed_sessions)} failed</span>`, 'tls')}
      </div>`;
    }, { height: '84px' });
  }

  daily(groups, r) {
    const days = [];
    for (let d = r.from; d <= r.to; d = addDays(d, 1)) days.push(d);
    const by = new Map(groups.map((g) => [`${g.key.day}|${g.key.classification}`, g.messages]));
    const classes = Object.keys(CLASSES);
    const series = classes.map((c) => ({
      label: `${CLASSES[c].glyph} ${CLASSES[c].label}`,
      data: days.map((d) => by.get(`${d}|${c}`) ?? 0),
      color: `--${{ compliant: 'pass', forwarded: 'forwarded', misconfigured: 'warn', suspicious: 'fail' }[c]}`,
      key: c,
    }));
    const totals = series.map((s) => `${s.label}: ${count(s.data.reduce((a, b) => a + b, 0))}`).join(', ');
    const chart = document.createElement('r-chart');
    chart.caption = 'Messages per day by classification';
    chart.summary = `Messages per day by classification, ${r.from} to ${r.to}. Totals: ${totals}.`;
    chart.spec = { type: 'bar', stacked: true, labels: days, series };
    chart.onSelect = ({ series: s }) => navigate(withParams({ classification: s.key }));
    // The totals are links too: the chart's filter without a mouse.
    return html`${chart}<p class="muted">Keep only one classification (or click its bar):
      ${series.map((x, i) => html`${i ? ', ' : ''}<a href=${withParams({ classification: x.key })}>${x.label}: ${count(x.data.reduce((a, b) => a + b, 0))}</a>`)}.</p>`;
  }

  dispositions(t) {
    const names = [...new Set(t.days.flatMap((d) => Object.keys(d.dispositions)))].sort();
    if (names.length === 0) return html`<p class="muted">No DMARC reports in this range.</p>`;
    const series = names.map((n) => ({
      label: DISPOSITIONS[n]?.label ?? n,
      data: t.days.map((d) => d.dispositions[n] ?? 0),
      color: DISPOSITIONS[n]?.color ?? '--neutral',
    }));
    const totals = series.map((s) => `${s.label}: ${count(s.data.reduce((a, b) => a + b, 0))}`).join(', ');
    const chart = document.createElement('r-chart');
    chart.caption = 'Dispositions per day';
    chart.summary = `Dispositions per day. Totals: ${totals}.`;
    chart.spec = { type: 'bar', stacked: true, labels: t.days.map((d) => d.day), series };
    return html`${chart}<p class="muted">${totals}.</p>`;
  }

  sources(groups) {
    const by = new Map();
    for (const g of groups) {
      const key = g.key.service ?? '';
      const row = by.get(key) ?? { service: g.key.service, messages: 0, dmarc_pass: 0, classifications: {} };
      row.messages += g.messages;
      row.dmarc_pass += g.dmarc_pass;
      row.classifications[g.key.classification] = (row.classifications[g.key.classification] ?? 0) + g.messages;
      by.set(key, row);
    }
    const rows = [...by.values()].sort((a, b) => b.messages - a.messages);
    const { domain } = this.route;
    return table({
      caption: rows.length > 10 ? html`The 10 of ${count(rows.length)} services with the most messages` : html`${counted(rows.length, 'service')}`,
      rows: rows.slice(0, 10),
      columns: [
        { key: 'service', label: 'Service', render: (x) => html`<a href=${href('sources', domain, x.service ? { service: x.service } : {})}>${x.service ?? 'not recognised'}</a>` },
        { key: 'messages', label: 'Messages', num: true },
        { key: 'share', label: 'DMARC pass', num: true, render: (x) => passShare(ratio(x.dmarc_pass, x.messages)) },
        { key: 'classifications', label: 'Classification', render: (x) => classMix(x.classifications) },
      ],
      empty: 'No DMARC report in this range.',
    });
  }

  reporters(s) {
    return table({
      caption: html`${count(s.total_groups)} ${s.total_groups === 1 ? 'reporter' : 'reporters'}`,
      rows: s.groups.map((g) => ({ reporter: g.key.reporter, messages: g.messages, share: ratio(g.dmarc_pass, g.messages) })),
      columns: [
        { key: 'reporter', label: 'Reporter', render: (g) => html`<a href=${withParams({ reporter: g.reporter })}>${g.reporter || '(unnamed)'}</a>` },
        { key: 'messages', label: 'Messages', num: true },
        { key: 'share', label: 'DMARC pass', num: true, render: (g) => passShare(g.share) },
      ],
    });
  }

  countries(groups) {
    const rows = groups.map((g) => ({ country: g.key.country, messages: g.messages, share: ratio(g.dmarc_pass, g.messages) }));
    const known = rows.filter((r) => r.country);
    const active = this.route.params.get('country');
    const map = document.createElement('r-map');
    map.rows = known;
    map.active = active;
    map.caption = `Messages by source country: ${known.slice(0, 5).map((r) => `${countryName(r.country)} ${count(r.messages)}`).join(', ')}`;
    map.onSelect = (c) => navigate(withParams({ country: c }));
    return html`<div class="grid">
      <div class="span-8">${map}</div>
      <div class="span-4">${table({
        caption: 'Countries',
        rows,
        columns: [
          { key: 'country', label: 'Country', render: (r) => r.country ? html`<a href=${withParams({ country: r.country })}>${countryName(r.country)}</a>` : html`<span class="muted">unknown</span>` },
          { key: 'messages', label: 'Messages', num: true },
          { key: 'share', label: 'DMARC pass', num: true, render: (r) => passShare(r.share) },
        ],
      })}</div>
    </div>`;
  }
}
customElements.define('r-overview', Overview);

export function passShare(x) {
  if (x === null || x === undefined) return '–';
  const cls = x >= 0.95 ? 'pass' : x < 0.8 ? 'fail' : '';
  const glyph = x >= 0.95 ? '✓ ' : x < 0.8 ? '✗ ' : '';
  return html`<span class=${cls}>${glyph}${share(x)}</span>`;
}

export function classMix(mix) {
  return Object.entries(mix ?? {}).map(([c, n]) => html`<span class="badge" title=${CLASSES[c]?.label ?? c}>
    <span class="swatch" style="background:${CLASSES[c]?.color ?? 'var(--neutral)'}" aria-hidden="true"></span>${CLASSES[c]?.glyph ?? ''} ${CLASSES[c]?.label ?? c} ${count(n)}</span> `);
}
