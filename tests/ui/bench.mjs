// Time to a settled screen in Debian's Chromium: for each screen, five fresh browser
// contexts (no cache) open its address and wait for `data-ready`; printed are the median
// time, the bytes transferred (the page, its files and the API answers, as sent: compressed
// where the server compressed), and the slowest API request behind the screen with its
// server-side time (Resource Timing: request start to response end).
//
//   node tests/ui/bench.mjs http://127.0.0.1:PORT bench.example
// Run by `./scripts/bench --bench dashboard` (tests/benches/dashboard.rs).

import { chromium } from 'playwright-core';

const [origin, domain] = process.argv.slice(2);
const RANGE = 'from=2026-06-01&to=2026-06-30';
const SCREENS = [
  ['Domains', `/ui/domains?${RANGE}`],
  ['Overview', `/ui/d/${domain}/overview?${RANGE}`],
  ['Readiness', `/ui/d/${domain}/readiness?${RANGE}`],
  ['Explore', `/ui/d/${domain}/explore?${RANGE}`],
];
const RUNS = 5;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const browser = await chromium.launch({
  executablePath: process.env.RAMPART_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
});
const rows = [];
for (const [name, address] of SCREENS) {
  const runs = [];
  for (let i = 0; i < RUNS; i += 1) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const start = performance.now();
    await page.goto(origin + address);
    await page.waitForSelector('[data-screen][data-ready]', { timeout: 600_000 });
    const settled = performance.now() - start;
    const timing = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const resources = performance.getEntriesByType('resource');
      const api = resources.filter((r) => new URL(r.name).pathname.startsWith('/v1/'));
      const slowest = api.reduce((a, r) => (!a || r.duration > a.duration ? r : a), null);
      return {
        bytes: nav.transferSize + resources.reduce((n, r) => n + r.transferSize, 0),
        apiBytes: api.reduce((n, r) => n + r.transferSize, 0),
        requests: api.length,
        slowest: slowest && { path: new URL(slowest.name).pathname.split('/').pop() + new URL(slowest.name).search.replace(/from=[^&]*&to=[^&]*&?/, ''), ms: slowest.responseEnd - slowest.requestStart },
      };
    });
    runs.push({ settled, ...timing });
    await context.close();
  }
  const slowest = runs.map((r) => r.slowest?.ms ?? 0);
  rows.push({
    name,
    settled: median(runs.map((r) => r.settled)),
    bytes: median(runs.map((r) => r.bytes)),
    apiBytes: median(runs.map((r) => r.apiBytes)),
    requests: runs[0].requests,
    slowestMs: median(slowest),
    slowestPath: runs[0].slowest?.path ?? '–',
  });
}
await browser.close();

console.log(`\n${domain}, ${RANGE}, median of ${RUNS} cold loads in Chromium\n`);
console.log('| screen | settled | transferred (all / API) | API requests | slowest API request (server time) |');
console.log('|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.name} | ${(r.settled / 1000).toFixed(2)} s | ${(r.bytes / 1024).toFixed(0)} KiB / ${(r.apiBytes / 1024).toFixed(1)} KiB | ${r.requests} | \`${r.slowestPath}\` ${r.slowestMs.toFixed(0)} ms |`);
}
