// TLS: sessions per day, failures by result type, receiving MX, sending MTA and reporter,
// and each failure told in words for someone who has never read RFC 8460; the report's JSON
// is one click away (the report's page).

import { html, nothing } from 'lit';
import { api, domainPath } from '../api.js';
import { count, counted, ratio, share } from '../format.js';
import { href, range, withParams } from '../state.js';
import { Screen, table, view } from '../widgets.js';

// RFC 8460 section 4.3 result types, in words.
export const RESULT_TYPES = {
  'starttls-not-supported': 'The receiving server did not offer STARTTLS, so mail could not be encrypted.',
  'certificate-host-mismatch': 'The server’s certificate does not name the MX host the sender connected to.',
  'certificate-expired': 'The server’s certificate has expired.',
  'certificate-not-trusted': 'The server’s certificate is not signed by an authority the sender trusts (self-signed or an incomplete chain).',
  'validation-failure': 'The certificate could not be validated for another reason (see the reason code).',
  'tlsa-invalid': 'The DANE TLSA record does not match the certificate.',
  'dnssec-invalid': 'The DNSSEC signatures of the domain’s records did not validate.',
  'dane-required': 'DANE was required, but the MX host offers no TLSA record.',
  'sts-policy-fetch-error': 'The sender could not fetch the MTA-STS policy (https://mta-sts.<domain>/.well-known/mta-sts.txt).',
  'sts-policy-invalid': 'The MTA-STS policy file could not be read as a policy.',
  'sts-webpki-invalid': 'The MTA-STS policy host’s HTTPS certificate is not valid.',
};

export function explain(resultType) {
  return RESULT_TYPES[resultType] ?? 'A result type RFC 8460 does not define; the reporter’s own words are in the details.';
}

class Tls extends Screen {
  start() {
    const { domain, params } = this.route;
    const r = range(params);
    this.load('tls', () => api.get(domainPath(domain, '/tls'), { from: r.from, to: r.to, limit: 100, cursor: params.get('cursor') }));
    this.load('timeseries', () => api.get(domainPath(domain, '/timeseries'), { from: r.from, to: r.to }));
    this.load('setup', () => api.get(domainPath(domain)));
  }

  render() {
    const { domain } = this.route;
    return html`
      <h1>TLS reports of ${domain}</h1>
      ${view(this.slot('tls'), (t) => t.reports === 0 ? this.empty() : this.body(t), { height: '12rem' })}`;
  }

  empty() {
    const setup = this.slot('setup');
    const record = setup.state === 'ready' ? setup.data.dns.find((d) => d.name.startsWith('_smtp._tls.')) : null;
    return html`<div class="card"><p>No TLS report covers this range. Senders that support SMTP TLS reporting
      (Google, Microsoft and others) send one a day once this record is published:</p>
      ${record ? html`<p><code>${record.name} TXT "${record.value}"</code></p>` : nothing}
      <p><a href=${withParams({ range: 365, from: null, to: null })}>Look at the last year</a></p></div>`;
  }

  body(t) {
    const all = t.successful_sessions + t.failed_sessions;
    return html`
      <div class="tiles">
        <div class="tile" data-tile="sessions"><div class="label">Sessions</div><div class="value">${count(all)}</div><div class="sub">${counted(t.reports, 'report')}</div></div>
        <div class="tile" data-tile="successful"><div class="label">Successful</div><div class="value pass">✓ ${count(t.successful_sessions)}</div><div class="sub">${share(ratio(t.successful_sessions, all))}</div></div>
        <div class="tile" data-tile="failed"><div class="label">Failed</div><div class="value ${t.failed_sessions ? 'fail' : ''}">${t.failed_sessions ? '✗ ' : ''}${count(t.failed_sessions)}</div><div class="sub">${share(ratio(t.failed_sessions, all))}</div></div>
      </div>
      <div class="grid">
        <section class="card span-8" aria-labelledby="tls-daily-title">
          <h2 id="tls-daily-title">Sessions per day</h2>
          ${view(this.slot('timeseries'), (s) => this.daily(s), { height: '260px' })}
        </section>
        <section class="card span-4" aria-labelledby="tls-types-title">
          <h2 id="tls-types-title">Failures by result type</h2>
          ${table({
            caption: 'Failed sessions by result type',
            rows: t.by_result_type,
            columns: [
              { key: 'value', label: 'Result type', render: (g) => html`<span title=${explain(g.value)}>${g.value}</span>` },
              { key: 'failed_sessions', label: 'Failed', num: true },
            ],
            empty: '✓ No failure.',
          })}
        </section>
        ${[['by_receiving_mx', 'Receiving MX', 'receiving MX'], ['by_sending_mta_ip', 'Sending MTA', 'sending MTA']].map(([k, label, phrase]) => html`
          <section class="card span-6" aria-label="Failures by ${phrase}">${table({
            caption: `Failed sessions by ${phrase}`,
            rows: t[k],
            columns: [
              { key: 'value', label, render: (g) => html`<span class="mono">${g.value ?? '(not given)'}</span>` },
              { key: 'failed_sessions', label: 'Failed', num: true },
            ],
            empty: '✓ No failure.',
          })}</section>`)}
        ${[['by_reporter', 'Reporter'], ['by_policy_type', 'Policy type']].map(([k, label]) => html`
          <section class="card span-6" aria-label="Sessions by ${label}">${table({
            caption: `Sessions by ${label.toLowerCase()}`,
            rows: t[k],
            columns: [
              { key: 'value', label },
              { key: 'successful_sessions', label: 'Successful', num: true },
              { key: 'failed_sessions', label: 'Failed', num: true },
            ],
          })}</section>`)}
        <section class="card span-12" aria-labelledby="tls-failures-title">
          <h2 id="tls-failures-title">What failed, and what it means</h2>
          ${failureList(t.failures, this.route.domain)}
          ${t.next ? html`<p><a href=${withParams({ cursor: t.next })}>Next failures →</a></p>` : nothing}
        </section>
      </div>`;
  }

  daily(s) {
    const chart = document.createElement('r-chart');
    const ok = s.days.map((d) => d.tls_successful_sessions);
    const failed = s.days.map((d) => d.tls_failed_sessions);
    const sum = (xs) => xs.reduce((a, b) => a + b, 0);
    chart.caption = 'TLS sessions per day';
    chart.summary = `TLS sessions per day: ${count(sum(ok))} successful, ${count(sum(failed))} failed.`;
    chart.spec = {
      type: 'bar', stacked: true, labels: s.days.map((d) => d.day),
      series: [
        { label: '✓ Successful', data: ok, color: '--pass' },
        { label: '✗ Failed', data: failed, color: '--fail' },
      ],
    };
    return chart;
  }
}
customElements.define('r-tls', Tls);

export function failureList(failures, domain) {
  return table({
    caption: html`${counted(failures.length, 'failure detail', 'failure details')}`,
    rows: failures,
    columns: [
      { key: 'result_type', label: 'What happened', render: (f) => html`<strong>${f.result_type}</strong><br><span class="muted">${explain(f.result_type)}</span>` },
      { key: 'failed_sessions', label: 'Sessions', num: true },
      { key: 'receiving_mx_hostname', label: 'Receiving MX', render: (f) => html`<span class="mono">${f.receiving_mx_hostname ?? '–'}</span>${f.receiving_ip ? html`<br><span class="mono muted">${f.receiving_ip}</span>` : nothing}` },
      { key: 'sending_mta_ip', label: 'Sending MTA', render: (f) => html`<span class="mono">${f.sending_mta_ip ?? '–'}</span>` },
      { key: 'reporter', label: 'Reporter', render: (f) => f.report ? html`<a href=${href('reports', domain, { report: f.report })}>${f.reporter ?? 'report'}</a>` : f.reporter ?? '–' },
      { key: 'detail', label: 'Details', sortable: false, render: (f) => html`${[f.failure_reason_code, f.additional_information].filter(Boolean).join(' · ') || '–'}
        ${f.report && domain ? html`<br><a href=${href('reports', domain, { report: f.report, json: 'open' })}>the report's JSON</a>` : nothing}` },
    ],
    empty: '✓ No failure in this range.',
  });
}

// A TLS report's policies, for the report's page.
export function tlsPolicies(policies) {
  return html`${policies.map((p) => html`
    <h3>${p.policy.policy_type} policy for ${p.policy.policy_domain}</h3>
    <p>${count(p.summary.total_successful_session_count)} successful, ${count(p.summary.total_failure_session_count)} failed sessions.</p>
    ${p.policy.policy_string?.length ? html`<pre class="raw" tabindex="0">${p.policy.policy_string.join('\n')}</pre>` : nothing}
    ${failureList((p.failure_details ?? []).map((f) => ({ ...f, failed_sessions: f.failed_session_count })), null)}`)}`;
}
