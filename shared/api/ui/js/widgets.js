// Building blocks every screen uses: a screen base class that loads its widgets one
// request each and says when all have settled, sortable tables, charts with their numbers
// beside them, and the country map.

import { LitElement, html, svg, nothing } from 'lit';
import { ApiError } from './api.js';
import { count, counted, cssColor } from './format.js';
import { COUNTRIES, BY_NUMERIC, countryName } from './countries.js';

// Light DOM: the one stylesheet applies, and tests and assistive tools see one tree.
export class LightElement extends LitElement {
  createRenderRoot() {
    return this;
  }
}

// A screen: `load(name, fn)` runs one widget's request; `slot(name)` is its state. The
// element carries `data-ready` once every widget has an answer or an error, and
// `aria-busy` until then.
export class Screen extends LightElement {
  static properties = { route: { attribute: false } };

  constructor() {
    super();
    this.slots = {};
    this.generation = 0;
  }

  // Called by the app on every address change; starts the screen's requests.
  refresh() {
    this.generation += 1;
    this.slots = {};
    this.removeAttribute('data-ready');
    this.setAttribute('aria-busy', 'true');
    this.start();
    this.settle();
  }

  start() {}

  load(name, fn) {
    const generation = this.generation;
    this.slots[name] = { state: 'loading' };
    const done = (slot) => {
      if (generation !== this.generation) return;
      this.slots = { ...this.slots, [name]: slot };
      this.requestUpdate();
      this.settle();
    };
    Promise.resolve()
      .then(fn)
      .then((data) => done({ state: 'ready', data }), (error) => done({ state: 'error', error }));
  }

  slot(name) {
    return this.slots[name] ?? { state: 'loading' };
  }

  settle() {
    const pending = Object.values(this.slots).some((s) => s.state === 'loading');
    if (!pending) {
      this.updateComplete.then(() => {
        this.removeAttribute('aria-busy');
        this.setAttribute('data-ready', '');
      });
    }
  }
}

// A widget's body: skeleton while loading, the API's message in place on error.
export function view(slot, ready, { height = '6rem' } = {}) {
  if (slot.state === 'loading') {
    return html`<div class="skeleton" style="height:${height}" aria-hidden="true"></div>`;
  }
  if (slot.state === 'error') return errorBox(slot.error);
  return ready(slot.data);
}

export function errorBox(error) {
  const code = error instanceof ApiError ? error.code : 'error';
  const hint = error instanceof ApiError && error.status === 503 ? ' Try again in a moment.' : '';
  return html`<div class="error-box" role="alert"><strong>${code}</strong>: ${error.message}${hint}</div>`;
}

// A sortable table. `columns`: {key, label, num?, render?(row), value?(row)}; `sort` is
// "key" or "-key"; `href(sort)` gives the address of another order (the URL is the state).
export function table({ caption, columns, rows, sort, sortHref, empty = 'Nothing in this range.' }) {
  const [field, descending] = sort?.startsWith('-') ? [sort.slice(1), true] : [sort, false];
  const column = columns.find((c) => c.key === field);
  const sorted = column ? [...rows].sort((a, b) => compare(value(column, a), value(column, b)) * (descending ? -1 : 1)) : rows;
  return html`<div class="table-wrap" tabindex="0"><table>
    <caption>${caption}</caption>
    <thead><tr>${columns.map((c) => {
      const current = c.key === field ? (descending ? 'descending' : 'ascending') : null;
      const next = c.key === field && !descending ? `-${c.key}` : c.key === field ? c.key : c.num ? `-${c.key}` : c.key;
      return html`<th scope="col" class=${c.num ? 'num' : ''} aria-sort=${current ?? nothing}>${
        sortHref && c.sortable !== false
          ? html`<button type="button" @click=${() => sortHref(next)}>${c.label}</button>`
          : c.label
      }</th>`;
    })}</tr></thead>
    <tbody>${sorted.length === 0
      ? html`<tr><td colspan=${columns.length} class="muted">${empty}</td></tr>`
      : sorted.map((row) => html`<tr>${columns.map((c, i) => {
          const cell = c.render ? c.render(row) : c.num ? count(value(c, row)) : value(c, row) ?? '–';
          return i === 0 ? html`<th scope="row" class=${c.num ? 'num' : ''}>${cell}</th>` : html`<td class=${c.num ? 'num' : ''}>${cell}</td>`;
        })}</tr>`)}</tbody>
  </table></div>`;
}

function value(column, row) {
  return column.value ? column.value(row) : row[column.key];
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}

// A Chart.js chart on a canvas that states its numbers (`summary`), with the same numbers
// as a table under it. `spec`: {type, labels, series: [{label, data, color}], stacked}.
export class ChartView extends LightElement {
  static properties = { spec: { attribute: false }, summary: {}, caption: {} };

  render() {
    const s = this.spec;
    if (!s) return nothing;
    return html`
      <div class="chart-box"><canvas role="img" aria-label=${this.summary ?? this.caption}></canvas></div>
      <details class="data"><summary>Numbers of this chart</summary>
        <div class="table-wrap" tabindex="0"><table>
          <caption class="visually-hidden">${this.caption}</caption>
          <thead><tr><th scope="col">${s.labelName ?? 'Day'}</th>${s.series.map((x) => html`<th scope="col" class="num">${x.label}</th>`)}</tr></thead>
          <tbody>${s.labels.map((label, i) => html`<tr><th scope="row">${label}</th>${s.series.map((x) => html`<td class="num">${count(x.data[i])}</td>`)}</tr>`)}</tbody>
        </table></div>
      </details>`;
  }

  updated() {
    const s = this.spec;
    if (!s || !window.Chart) return;
    const canvas = this.querySelector('canvas');
    this.chart?.destroy();
    const text = cssColor('--muted');
    const grid = cssColor('--border');
    this.chart = new window.Chart(canvas, {
      type: s.type,
      data: {
        labels: s.labels,
        datasets: s.series.map((x) => ({
          label: x.label,
          data: x.data,
          backgroundColor: cssColor(x.color),
          borderColor: cssColor(x.color),
          borderWidth: s.type === 'line' ? 2 : 0,
          pointRadius: s.type === 'line' ? 0 : undefined,
          stack: s.stacked ? 'all' : undefined,
        })),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        responsive: true,
        onClick: (_, elements) => {
          if (!elements.length || !this.onSelect) return;
          const { index, datasetIndex } = elements[0];
          this.onSelect({ label: s.labels[index], key: s.keys?.[index], series: s.series[datasetIndex] });
        },
        scales: {
          x: { stacked: !!s.stacked, ticks: { color: text, maxRotation: 0, autoSkip: true }, grid: { display: false } },
          y: { stacked: !!s.stacked, beginAtZero: true, ticks: { color: text, precision: 0 }, grid: { color: grid } },
        },
        plugins: { legend: { labels: { color: text, boxWidth: 12 } } },
      },
    });
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.chart?.destroy();
  }
}
customElements.define('r-chart', ChartView);

// The country map: an Equal Earth projection of Natural Earth's 1:50m countries, shaded by
// messages, one <title> per country. The shapes are loaded once, when a map is first shown.
let shapes;
async function countryShapes() {
  shapes ??= (async () => {
    const [atlas, geo] = await Promise.all([
      fetch('/ui/vendor/world-atlas/countries-50m.json').then((r) => r.json()),
      import('d3-geo'),
    ]);
    const features = window.topojson.feature(atlas, atlas.objects.countries).features;
    const projection = geo.geoEqualEarth().fitSize([960, 470], { type: 'Sphere' });
    const path = geo.geoPath(projection);
    return features.map((f) => ({ alpha2: BY_NUMERIC[f.id] ?? null, name: f.properties.name, d: path(f) }));
  })();
  return shapes;
}

export class CountryMap extends LightElement {
  static properties = { rows: { attribute: false }, active: {}, tone: {}, paths: { state: true }, caption: {} };

  connectedCallback() {
    super.connectedCallback();
    countryShapes().then((paths) => { this.paths = paths; }, () => { this.paths = []; });
  }

  render() {
    if (!this.paths) return html`<div class="skeleton" style="height:240px" aria-hidden="true"></div>`;
    const by = new Map((this.rows ?? []).map((r) => [r.country, r.messages]));
    const max = Math.max(1, ...by.values());
    return html`<svg class="map" viewBox="0 0 960 470" role="img" aria-label=${this.caption ?? 'Messages by source country'}>
      ${this.paths.map((p) => {
        const n = p.alpha2 ? by.get(p.alpha2) ?? 0 : 0;
        const tone = this.tone === 'threat' ? 'var(--fail)' : 'var(--accent)';
        const fill = n > 0 ? `color-mix(in srgb, ${tone} ${Math.round(25 + 75 * Math.sqrt(n / max))}%, var(--map-empty))` : 'var(--map-empty)';
        return svgPath(p, n, fill, Boolean(this.active) && this.active === p.alpha2, () => p.alpha2 && n > 0 && this.onSelect?.(p.alpha2));
      })}
    </svg>`;
  }
}
customElements.define('r-map', CountryMap);

// Lit's `html` cannot build SVG children; `svg` can.
function svgPath(p, n, fill, active, onClick) {
  return svg`<path d=${p.d} style=${`fill:${fill}`} data-country=${p.alpha2 ?? ''} data-active=${active ? 'true' : 'false'} @click=${onClick}><title>${p.name}: ${counted(n, 'message', 'messages')}</title></path>`;
}

export { COUNTRIES, countryName };
