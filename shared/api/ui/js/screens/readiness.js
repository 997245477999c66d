// Enforcement readiness: of the mail failing DMARC, how much comes from the domain's own
// misconfigured services, from forwarders and from strangers; what p=quarantine and
// p=reject would do to each; and a plain recommendation with its reasons.

import { html, nothing } from 'lit';
import { api, domainPath } from '../api.js';
import { CLASSES, POLICIES, count, counted, ratio, share } from '../format.js';
import { href, range } from '../state.js';
import { Screen, table, view } from '../widgets.js';

// Above this share of all mail, failing mail of the domain's own services blocks moving on.
const OWN_FAILURE_LIMIT = 0.01;
// Above this share, failing forwarded mail earns a warning about DKIM.
const FORWARDED_WARNING = 0.05;

const GROUPS = [
  { key: 'misconfigured', who: 'Your own services, misconfigured', quarantine: 'legitimate mail goes to spam', reject: 'legitimate mail is refused', tone: 'fail' },
  { key: 'forwarded', who: 'Forwarders and mailing lists', quarantine: 'some forwarded mail may go to spam', reject: 'some forwarded mail may be refused', tone: 'warn' },
  { key: 'suspicious', who: 'Strangers (spoofing)', quarantine: 'spoofed mail goes to spam', reject: 'spoofed mail is refused', tone: 'pass' },
];

class Readiness extends Screen {
  start() {
    const { domain, params } = this.route;
    const r = range(params);
    const span = { from: r.from, to: r.to };
    this.load('classes', () => api.get(domainPath(domain, '/stats'), { ...span, group_by: 'classification', limit: 10 }));
    this.load('setup', () => api.get(domainPath(domain)));
    // From the day counters (service by classification), not the records.
    this.load('own', () => api.get(domainPath(domain, '/stats'), { ...span, classification: 'misconfigured', group_by: 'service', sort: '-messages', limit: 10 }));
  }

  render() {
    const { domain } = this.route;
    return html`<h1>Enforcement readiness of ${domain}</h1>
      ${view(this.slot('classes'), (s) => this.body(s), { height: '14rem' })}`;
  }

  body(stats) {
    const by = Object.fromEntries(stats.groups.map((g) => [g.key.classification, g]));
    const total = stats.groups.reduce((n, g) => n + g.messages, 0);
    const failing = stats.groups.reduce((n, g) => n + g.dmarc_fail, 0);
    const setup = this.slot('setup');
    const policy = setup.state === 'ready' ? setup.data.policy : null;
    const rows = GROUPS.map((g) => ({ ...g, failing: by[g.key]?.dmarc_fail ?? 0, share: ratio(by[g.key]?.dmarc_fail ?? 0, total) }));
    const advice = recommend(total, rows, policy);
    return html`
      <section class="card" aria-labelledby="verdict-title" style="margin-bottom:1rem">
        <h2 id="verdict-title">Recommendation</h2>
        <p class="verdict ${advice.tone}" data-verdict=${advice.code}>${advice.glyph} ${advice.title}</p>
        <ul>${advice.reasons.map((r) => html`<li>${r}</li>`)}</ul>
        <p class="muted">Published policy: ${policy ? POLICIES[policy] ?? policy : 'not known yet'}. ${count(failing)} of ${counted(total, 'message')} failed DMARC in this range.</p>
      </section>
      <div class="grid">
        <section class="card span-12" aria-labelledby="impact-title">
          <h2 id="impact-title">Who fails DMARC, and what a stricter policy would do</h2>
          ${table({
            caption: 'Mail failing DMARC by who sent it',
            rows,
            columns: [
              { key: 'who', label: 'Sent by', render: (g) => html`<span class="swatch" style="background:${CLASSES[g.key].color}" aria-hidden="true"></span>${CLASSES[g.key].glyph} ${g.who}` },
              { key: 'failing', label: 'Failing messages', num: true },
              { key: 'share', label: 'Share of all mail', num: true, render: (g) => share(g.share) },
              { key: 'quarantine', label: 'At p=quarantine', sortable: false, render: (g) => g.failing ? html`<span class=${g.tone}>${counted(g.failing, 'message', 'messages')}: ${g.quarantine}</span>` : '–' },
              { key: 'reject', label: 'At p=reject', sortable: false, render: (g) => g.failing ? html`<span class=${g.tone}>${counted(g.failing, 'message', 'messages')}: ${g.reject}</span>` : '–' },
            ],
          })}
          <p class="muted">Compliant mail (${counted(by.compliant?.messages ?? 0, 'message', 'messages')}) passes DMARC and is not touched by either policy.</p>
        </section>
        <section class="card span-12" aria-labelledby="own-title">
          <h2 id="own-title">Your services that fail, and why</h2>
          ${view(this.slot('own'), (s) => s.groups.length === 0
            ? html`<p class="pass">✓ None of your services fails DMARC in this range.</p>`
            : html`<ul>${s.groups.map((g) => html`<li><strong>${g.key.service ?? 'Senders Rampart does not recognise'}</strong>:
                ${counted(g.messages, 'message')} fail DMARC.
                <a href=${href('sources', this.route.domain, { classification: 'misconfigured', ...(g.key.service ? { service: g.key.service } : {}) })}>Which SPF and DKIM results fail, and why</a></li>`)}</ul>`)}
        </section>
      </div>`;
  }
}
customElements.define('r-readiness', Readiness);

// The advice, from the shares of failing mail and the published policy.
export function recommend(total, rows, policy) {
  const own = rows.find((r) => r.key === 'misconfigured');
  const forwarded = rows.find((r) => r.key === 'forwarded');
  const strangers = rows.find((r) => r.key === 'suspicious');
  const reasons = [];
  if (total === 0) {
    return { code: 'no-data', glyph: '…', tone: 'muted', title: 'No DMARC report in this range yet: nothing to judge.', reasons: ['Reports usually arrive within 24 to 48 hours of publishing the DMARC record.'] };
  }
  if (strangers.failing) reasons.push(`${counted(strangers.failing, 'message', 'messages')} (${share(strangers.share)}) came from strangers using your domain: a stricter policy stops them.`);
  if (forwarded.share > FORWARDED_WARNING) reasons.push(`${share(forwarded.share)} of your mail is forwarded and fails DMARC: make sure every service signs with DKIM for your domain, which survives forwarding.`);
  if (own.share > OWN_FAILURE_LIMIT) {
    reasons.unshift(`${counted(own.failing, 'message', 'messages')} (${share(own.share)}) from your own services fail DMARC: fix them first (below), or ${policy === 'reject' ? 'p=reject refuses them now' : 'a stricter policy would hide them from recipients'}.`);
    return { code: 'fix-first', glyph: '✗', tone: 'fail', title: `Not ready for a stricter policy: fix your failing services first.`, reasons };
  }
  reasons.unshift(own.failing ? `Only ${share(own.share)} of your mail from your own services fails DMARC (under ${share(OWN_FAILURE_LIMIT)}).` : 'None of your own services fails DMARC.');
  if (policy === 'reject') return { code: 'enforced', glyph: '✓', tone: 'pass', title: 'p=reject is in place and your own mail passes.', reasons };
  if (policy === 'quarantine') return { code: 'reject', glyph: '✓', tone: 'pass', title: 'Ready for p=reject.', reasons: [...reasons, 'Keep watching for new services for two to four weeks after the change.'] };
  return { code: 'quarantine', glyph: '✓', tone: 'pass', title: 'Ready for p=quarantine.', reasons: [...reasons, 'Move to p=reject after two to four weeks without new failing services.'] };
}
