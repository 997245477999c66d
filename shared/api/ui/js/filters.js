// Filters of the record dimensions, as the address and the API both name them: a form that
// writes them into the address, and chips that show and remove them.

import { html, nothing } from 'lit';
import { CLASSES } from './format.js';
import { countryName } from './countries.js';
import { navigate, withParams } from './state.js';

// Every dimension the API filters by (docs/query.md), with how the form asks for it.
export const DIMENSIONS = [
  { name: 'classification', label: 'Classification', options: Object.keys(CLASSES) },
  { name: 'dmarc', label: 'DMARC', options: ['pass', 'fail'] },
  { name: 'disposition', label: 'Disposition', options: ['none', 'quarantine', 'reject', 'pass', 'other'] },
  { name: 'service', label: 'Service', placeholder: 'Google Workspace' },
  { name: 'country', label: 'Country', placeholder: 'US,DE' },
  { name: 'asn', label: 'AS number', placeholder: '15169' },
  { name: 'source_ip', label: 'Address or CIDR', placeholder: '192.0.2.0/24' },
  { name: 'reporter', label: 'Reporter', placeholder: 'google.com' },
  { name: 'header_from', label: 'From domain', placeholder: 'example.com' },
  { name: 'spf_result', label: 'SPF result', options: ['pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror'] },
  { name: 'spf_domain', label: 'SPF domain', placeholder: 'bounce.example.com' },
  { name: 'dkim_result', label: 'DKIM result', options: ['pass', 'fail', 'neutral', 'none', 'policy', 'temperror', 'permerror'] },
  { name: 'dkim_domain', label: 'DKIM domain', placeholder: 'example.com' },
  { name: 'dkim_selector', label: 'DKIM selector', placeholder: 'selector1' },
  { name: 'day', label: 'Day (UTC)', placeholder: '2026-11-30' },
];

// The filters set in the address, restricted to `names`.
export function activeFilters(params, names = DIMENSIONS.map((d) => d.name)) {
  return Object.fromEntries(names.filter((n) => params.get(n)).map((n) => [n, params.get(n)]));
}

export function chips(filters) {
  const entries = Object.entries(filters);
  if (entries.length === 0) return nothing;
  const cleared = Object.fromEntries(entries.map(([n]) => [n, null]));
  return html`<div class="chips" aria-label="Active filters">Showing:
    ${entries.map(([name, value]) => html`<span class="chip">${label(name)}: ${name === 'country' ? value.split(',').map(countryName).join(', ') : value}
      <a href=${withParams({ [name]: null, cursor: null })} aria-label="Remove filter ${label(name)}">×</a></span>`)}
    <a href=${withParams({ ...cleared, cursor: null })}>clear filters</a></div>`;
}

function label(name) {
  return DIMENSIONS.find((d) => d.name === name)?.label ?? name;
}

// A form over `names`; submitting writes every field into the address (empty ones removed).
export function filterForm(params, names) {
  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const changes = { cursor: null };
    for (const name of names) changes[name] = (form.get(name) ?? '').toString().trim() || null;
    navigate(withParams(changes));
  };
  return html`<form class="filters" @submit=${submit}>
    ${DIMENSIONS.filter((d) => names.includes(d.name)).map((d) => d.options
      ? html`<label class="field">${d.label}<select name=${d.name}>
          <option value="">any</option>
          ${d.options.map((o) => html`<option value=${o} ?selected=${params.get(d.name) === o}>${CLASSES[o]?.label ?? o}</option>`)}
        </select></label>`
      : html`<label class="field">${d.label}<input name=${d.name} .value=${params.get(d.name) ?? ''} placeholder=${d.placeholder} size="14"></label>`)}
    <button type="submit" class="primary">Filter</button>
  </form>`;
}
