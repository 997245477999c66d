// Reports: the reports covering the range, and one report in full: metadata, the policy the
// reporter found published, records, warnings, the carrying mail's SES verdicts, the raw
// mail, and the report as stored (JSON).

import { html, nothing } from 'lit';
import { api, domainPath, download } from '../api.js';
import { POLICIES, count, counted, day, moment } from '../format.js';
import { countryName } from '../countries.js';
import { navigate, range, withParams } from '../state.js';
import { Screen, errorBox, table, view } from '../widgets.js';
import { tlsPolicies } from './tls.js';

class Reports extends Screen {
  start() {
    const { domain, params } = this.route;
    const r = range(params);
    const id = params.get('report');
    this.jsonShown = false;
    if (id) {
      this.load('report', () => api.get(`/v1/reports/${encodeURIComponent(id)}`));
    } else {
      this.load('reports', () => api.get(domainPath(domain, '/reports'), {
        from: r.from, to: r.to, kind: params.get('kind') ?? undefined, reporter: params.get('reporter') ?? undefined,
        limit: 100, cursor: params.get('cursor'),
      }));
    }
  }

  render() {
    const { domain, params } = this.route;
    if (params.get('report')) {
      return html`<p><a href=${withParams({ report: null })}>← Reports of ${domain}</a></p>
        ${view(this.slot('report'), (r) => this.detail(r))}`;
    }
    const kind = params.get('kind') ?? 'all';
    return html`
      <h1>Reports of ${domain}</h1>
      <div class="toolbar"><div class="segmented" role="group" aria-label="Kind of report">
        ${[['all', 'All'], ['aggregate', 'DMARC'], ['tlsrpt', 'TLS']].map(([k, label]) => html`
          <a href=${withParams({ kind: k === 'all' ? null : k, cursor: null })} aria-current=${kind === k ? 'true' : 'false'}>${label}</a>`)}
      </div></div>
      <section class="card" aria-labelledby="reports-title">
        <h2 id="reports-title" class="visually-hidden">Reports</h2>
        ${view(this.slot('reports'), (list) => this.list(list))}
      </section>`;
  }

  updated() {
    // Opened from a TLS failure's link: the JSON is what was asked for.
    if (this.route?.params.get('json') === 'open' && this.slot('report').state === 'ready' && !this.jsonShown) {
      this.jsonShown = true;
      this.querySelector('#report-json')?.scrollIntoView();
    }
  }

  list(list) {
    return html`${table({
      caption: html`${counted(list.total, 'report', 'reports')}`,
      sort: this.route.params.get('sort') ?? 'day',
      sortHref: (next) => navigate(withParams({ sort: next })),
      rows: list.reports,
      columns: [
        { key: 'day', label: 'Day (UTC)', render: (r) => html`<a href=${withParams({ report: r.id })}>${day(r.day)}</a>` },
        { key: 'kind', label: 'Kind', render: (r) => r.kind === 'tlsrpt' ? 'TLS' : 'DMARC' },
        { key: 'reporter', label: 'Reporter' },
        { key: 'messages', label: 'Messages or sessions', num: true },
        { key: 'records', label: 'Records', num: true },
        { key: 'warnings', label: 'Warnings', num: true, render: (r) => r.warnings ? html`<span class="warn">! ${count(r.warnings)}</span>` : '0' },
        { key: 'received_at', label: 'Received', render: (r) => html`<time datetime=${r.received_at} title=${r.received_at}>${moment(r.received_at)}</time>` },
      ],
      empty: 'No report covers this range.',
    })}${list.next ? html`<p><a href=${withParams({ cursor: list.next })}>Next reports →</a></p>` : nothing}`;
  }

  detail(d) {
    const r = d.report;
    const aggregate = r.kind === 'aggregate';
    const meta = aggregate ? r.metadata : r;
    const raw = async (event) => {
      event.preventDefault();
      this.rawError = null;
      try {
        await download(`/v1/reports/${d.id}/raw`, {}, `${d.id}.eml`);
      } catch (error) {
        this.rawError = error;
      }
      this.requestUpdate();
    };
    return html`
      <h1>${aggregate ? 'DMARC' : 'TLS'} report from ${aggregate ? meta.org_name : r.organization_name ?? 'an unnamed reporter'}</h1>
      <div class="grid">
        <section class="card span-6" aria-labelledby="meta-title">
          <h2 id="meta-title">Report</h2>
          <dl class="records">
            <dt>Report id</dt><dd class="mono">${aggregate ? meta.report_id : r.report_id}</dd>
            <dt>Period</dt><dd>${d.day} (UTC), ${period(aggregate ? meta.begin : r.start, aggregate ? meta.end : r.end)}</dd>
            <dt>Received</dt><dd><time title=${d.received_at}>${moment(d.received_at)}</time></dd>
            <dt>Contact</dt><dd>${aggregate ? meta.email ?? '–' : r.contact_info ?? '–'}</dd>
            <dt>Came as</dt><dd>${(d.origin?.containers ?? []).join(' → ') || 'upload'}${d.origin?.attachment ? html` <span class="mono">${d.origin.attachment}</span>` : nothing}</dd>
          </dl>
          <p><a href="/v1/reports/${d.id}/raw" @click=${raw}>Download the raw mail</a></p>
          <div aria-live="polite">${this.rawError ? errorBox(this.rawError) : nothing}</div>
        </section>
        <section class="card span-6" aria-labelledby="mail-title">
          <h2 id="mail-title">The mail that carried it</h2>
          ${d.mail ? html`<dl class="records">
            <dt>From</dt><dd>${d.mail.from ?? '–'}</dd>
            <dt>Subject</dt><dd>${d.mail.subject ?? '–'}</dd>
            ${['spam', 'virus', 'spf', 'dkim', 'dmarc'].map((v) => html`<dt>SES ${v}</dt><dd>${d.mail.ses?.[v] ?? html`<span class="muted">not given</span>`}</dd>`)}
          </dl>` : html`<p class="muted">Uploaded over HTTPS, not mailed.</p>`}
        </section>
        ${aggregate ? html`<section class="card span-12" aria-labelledby="policy-title">
          <h2 id="policy-title">Policy the reporter found published</h2>
          <dl class="records">
            <dt>Domain</dt><dd>${r.policy.domain ?? '–'}</dd>
            <dt>p=</dt><dd>${POLICIES[r.policy.p] ?? r.policy.p ?? '–'}</dd>
            <dt>sp=</dt><dd>${r.policy.sp ?? '–'}</dd>
            <dt>pct=</dt><dd>${r.policy.pct ?? '–'}</dd>
            <dt>Alignment</dt><dd>DKIM ${r.policy.adkim ?? 'r'}, SPF ${r.policy.aspf ?? 'r'} <span class="muted">(r relaxed, s strict)</span></dd>
          </dl>
        </section>` : nothing}
        <section class="card span-12" aria-labelledby="warn-title">
          <h2 id="warn-title">Warnings</h2>
          ${(r.warnings ?? []).length === 0 ? html`<p class="pass">✓ Read as sent, nothing repaired.</p>` : html`<ul>${r.warnings.map((w) => html`<li><strong>${w.kind}</strong>: ${w.message}</li>`)}</ul>`}
        </section>
        <section class="card span-12" aria-labelledby="rec-title">
          <h2 id="rec-title">${aggregate ? 'Records' : 'Policies'}</h2>
          ${aggregate ? this.records(r) : tlsPolicies(r.policies ?? [])}
        </section>
        <section class="card span-12" aria-labelledby="json-title">
          <h2 id="json-title">As stored</h2>
          <details id="report-json" ?open=${this.route.params.get('json') === 'open'}><summary>The report as JSON</summary><pre class="raw" tabindex="0">${JSON.stringify(r, null, 2)}</pre></details>
        </section>
      </div>`;
  }

  records(r) {
    return table({
      caption: html`${counted(r.records.length, 'record', 'records')}`,
      rows: r.records.map((x) => ({ ...x, country: r.sources?.[x.source_ip]?.country ?? null })),
      columns: [
        { key: 'source_ip', label: 'Source', render: (x) => html`<span class="mono">${x.source_ip}</span>` },
        { key: 'count', label: 'Messages', num: true },
        { key: 'country', label: 'Country', render: (x) => x.country ? countryName(x.country) : '–' },
        { key: 'disposition', label: 'Disposition', value: (x) => x.policy_evaluated.disposition ?? '' },
        { key: 'dkim', label: 'DKIM (aligned)', value: (x) => x.policy_evaluated.dkim ?? '' },
        { key: 'spf', label: 'SPF (aligned)', value: (x) => x.policy_evaluated.spf ?? '' },
        { key: 'from', label: 'From', value: (x) => x.identifiers.header_from ?? '' },
        { key: 'auth', label: 'Results', render: (x) => [
          ...x.auth_results.dkim.map((a) => `DKIM ${a.domain ?? '?'} ${a.result}`),
          ...x.auth_results.spf.map((a) => `SPF ${a.domain ?? '?'} ${a.result}`),
        ].join(', ') || '–' },
      ],
    });
  }
}
customElements.define('r-reports', Reports);

function period(begin, end) {
  const at = (t) => (typeof t === 'number' ? new Date(t * 1000).toISOString().replace('.000Z', 'Z') : t ?? '?');
  return `${at(begin)} to ${at(end)}`;
}

