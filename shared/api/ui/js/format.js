// How numbers, shares, days and verdicts are written, the same on every screen.

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });

export function count(n) {
  return n === null || n === undefined ? '–' : integer.format(n);
}

// A count with its noun: "1 message", "2 messages".
export function counted(n, singular, plural = `${singular}s`) {
  return `${count(n)} ${n === 1 ? singular : plural}`;
}

// A share from 0 to 1; "–" when there is nothing to share.
export function share(x) {
  return x === null || x === undefined ? '–' : percent.format(x);
}

export function ratio(part, whole) {
  return whole > 0 ? part / whole : null;
}

// A UTC day as the API gives it, written out with its weekday: "Mon 30 Nov 2026".
export function day(d) {
  if (!d) return '–';
  const date = new Date(`${d}T00:00:00Z`);
  return date.toLocaleDateString(undefined, { timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });
}

// A moment in the viewer's own zone, with the offset; `utc` gives the UTC form for a
// tooltip. The API gives ISO 8601 text or, for a few fields, epoch seconds.
function asDate(t) {
  return typeof t === 'number' ? new Date(t * 1000) : new Date(t);
}

export function moment(t) {
  if (t === null || t === undefined) return '–';
  return asDate(t).toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' });
}

export function utc(t) {
  if (t === null || t === undefined) return '';
  return asDate(t).toISOString().replace('.000Z', 'Z');
}

// Classification: colour for fills (Okabe-Ito), a glyph and a word, never colour alone.
export const CLASSES = {
  compliant: { label: 'Compliant', glyph: '✓', color: 'var(--pass)' },
  forwarded: { label: 'Forwarded', glyph: '↪', color: 'var(--forwarded)' },
  misconfigured: { label: 'Misconfigured', glyph: '!', color: 'var(--warn)' },
  suspicious: { label: 'Suspicious', glyph: '✗', color: 'var(--fail)' },
};

export const POLICIES = {
  none: 'p=none (monitor)',
  quarantine: 'p=quarantine',
  reject: 'p=reject',
  unknown: 'not reported',
  other: 'unreadable',
};

// A CSS custom property as a colour Chart.js can draw with (it paints on a canvas): the
// properties hold `light-dark()` pairs, which only the browser resolves, so a probe element
// takes the colour and its computed value is read back.
let probe;
export function cssColor(name) {
  if (!probe) {
    probe = document.createElement('span');
    probe.hidden = true;
    document.body.append(probe);
  }
  probe.style.color = `var(${name})`;
  return getComputedStyle(probe).color || '#888';
}
