// The dashboard in a real browser: Debian's Chromium, driven by playwright-core, against
// `rampart serve` over the bundled samples. Every screen is opened by its address in light
// and dark, on a desktop and a phone; each must settle with no console error, no request
// beyond the origin and no serious accessibility violation (axe-core), and show the same
// numbers as the API answers for the same query. Screenshots go to tests/ui/screenshots/.
//
//   RAMPART_BIN=target/debug/rampart node --test tests/ui/dashboard.test.mjs

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(process.env.RAMPART_BIN ?? path.join(here, '../../target/debug/rampart'));
const CHROMIUM = process.env.RAMPART_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = path.join(here, 'screenshots');
const AXE = fs.readFileSync(path.join(here, 'node_modules/axe-core/axe.min.js'), 'utf8');

// A domain of the samples with DMARC reports from three reporters in late 2022.
const DOMAIN = 'stalw.art';
const RANGE = 'from=2022-10-29&to=2022-11-27';

const DEVICES = {
  desktop: { viewport: { width: 1280, height: 900 } },
  phone: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
};

// `rampart serve` on a fresh data folder and a free port; resolves with its origin.
async function serve(extra = [], env = {}) {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'rampart-ui-'));
  const child = spawn(BIN, ['serve', '--data', data, '--listen', '127.0.0.1:0', ...extra], {
    env: { ...process.env, RAMPART_RESOLVER: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const origin = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`rampart serve did not start:\n${seen}`)), 120_000);
    const read = (chunk) => {
      seen += chunk;
      const m = seen.match(/http:\/\/(127\.0\.0\.1:\d+)\//);
      if (m) {
        clearTimeout(timer);
        resolve(`http://${m[1]}`);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('exit', (code) => reject(new Error(`rampart serve exited with ${code}:\n${seen}`)));
  });
  return { origin, stop: () => { child.kill(); fs.rmSync(data, { recursive: true, force: true }); } };
}

let server;
let browser;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  server = await serve();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  server?.stop();
});

async function api(pathAndQuery, origin = server.origin) {
  const response = await fetch(origin + pathAndQuery);
  assert.equal(response.status, 200, pathAndQuery);
  return response.json();
}

// A page that fails the test on a console error, a page error or a request that leaves
// the origin (which is aborted, so nothing leaves even when the test would pass).
async function open(address, { scheme = 'light', device = 'desktop', origin = server.origin } = {}) {
  const context = await browser.newContext({ ...DEVICES[device], colorScheme: scheme });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.origin === origin || url.protocol === 'data:') return route.continue();
    problems.push(`left the origin: ${url.href}`);
    return route.abort();
  });
  await page.goto(origin + address);
  await settled(page);
  return { page, context, problems };
}

async function settled(page) {
  await page.waitForSelector('[data-screen][data-ready]', { timeout: 30_000 });
}

async function axe(page) {
  await page.addScriptTag({ content: AXE });
  const result = await page.evaluate(() => window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}

// Text of the cells of the table whose caption contains `caption`, by row.
async function tableRows(page, caption) {
  return page.evaluate((caption) => {
    const table = [...document.querySelectorAll('table')].find((t) => t.caption?.textContent.includes(caption));
    if (!table) return null;
    return [...table.tBodies[0].rows].map((r) => [...r.cells].map((c) => c.textContent.trim()));
  }, caption);
}

const number = (text) => Number(text.replace(/[^\d.-]/g, ''));
const percent = (share) => new Intl.NumberFormat('en-US', { style: 'percent', maximumFractionDigits: 1 }).format(share);

const SCREENS = [
  ['domains', '/ui/domains?from=2022-01-01&to=2022-12-31'],
  ['domains-default', '/'],
  ['overview', `/ui/d/${DOMAIN}/overview?${RANGE}`],
  ['overview-latest', `/ui/d/${DOMAIN}/overview`],
];

describe('every screen, light and dark, desktop and phone', () => {
  for (const [name, address] of SCREENS) {
    for (const scheme of ['light', 'dark']) {
      for (const device of Object.keys(DEVICES)) {
        test(`${name} ${scheme} ${device}`, async () => {
          const { page, context, problems } = await open(address, { scheme, device });
          await page.screenshot({ path: path.join(SHOTS, `${name}-${scheme}-${device}.png`), fullPage: true });
          assert.deepEqual(await axe(page), [], 'axe-core: serious or critical violations');
          // Nothing wider than the screen but tables, which scroll inside their card.
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
          assert.deepEqual(problems, []);
          await context.close();
        });
      }
    }
  }
});

describe('the numbers on screen are the API\'s', () => {
  test('domains', async () => {
    const { page, context, problems } = await open('/ui/domains?from=2022-01-01&to=2022-12-31');
    const overview = await api('/v1/overview?from=2022-01-01&to=2022-12-31&limit=200');
    const rows = await tableRows(page, 'domains');
    assert.equal(rows.length, overview.domains.length);
    for (const d of overview.domains) {
      const name = d.domain || '(reports naming no domain)';
      const row = rows.find((r) => r[0] === name);
      assert.ok(row, `no row for ${name}`);
      assert.equal(number(row[3]), d.messages, `${name} messages`);
      if (d.dmarc_pass_share !== null) assert.ok(row[4].endsWith(percent(d.dmarc_pass_share)), `${name}: ${row[4]}`);
    }
    assert.equal(rows.find((r) => r[0] === DOMAIN)[2], 'p=none (monitor)');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('overview', async () => {
    const { page, context, problems } = await open(`/ui/d/${DOMAIN}/overview?${RANGE}`);
    const summary = await api(`/v1/domains/${DOMAIN}/summary?${RANGE}`);
    const tile = (id) => page.locator(`[data-tile="${id}"] .value`).textContent();
    assert.equal(number(await tile('messages')), summary.messages);
    assert.equal(await tile('dmarc'), percent(summary.dmarc_pass_share));
    assert.equal(await tile('spf'), percent(summary.spf_aligned_share));
    assert.equal(await tile('dkim'), percent(summary.dkim_aligned_share));
    assert.equal(number(await tile('reporters')), summary.reporters);

    const countries = await api(`/v1/domains/${DOMAIN}/stats?${RANGE}&group_by=country&sort=-messages`);
    const shown = await tableRows(page, 'Countries');
    assert.deepEqual(shown.map((r) => number(r[1])), countries.groups.map((g) => g.messages));

    const reporters = await api(`/v1/domains/${DOMAIN}/stats?${RANGE}&group_by=reporter&sort=-messages&limit=10`);
    const listed = await tableRows(page, 'reporter');
    assert.deepEqual(listed.map((r) => [r[0], number(r[1])]).sort(), reporters.groups.map((g) => [g.key.reporter, g.messages]).sort());

    // The chart's numbers, as its table twin gives them, add up to the API's messages.
    const daily = await tableRows(page, 'by classification');
    const charted = daily.flatMap((r) => r.slice(1).map(number)).reduce((a, b) => a + b, 0);
    assert.equal(charted, summary.messages);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('a domain with nothing recent opens on the range of its latest report and says so', async () => {
    const { page, context } = await open(`/ui/d/${DOMAIN}/overview`);
    const setup = await api(`/v1/domains/${DOMAIN}`);
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('to'), setup.latest_day);
    assert.equal(url.searchParams.get('auto'), 'latest');
    await page.getByRole('status').filter({ hasText: 'latest report' }).waitFor();
    assert.ok(number(await page.locator('[data-tile="messages"] .value').textContent()) > 0);
    await context.close();
  });
});

describe('interactions', () => {
  test('a country filter round-trips through the address', async () => {
    const { page, context, problems } = await open(`/ui/d/${DOMAIN}/overview?${RANGE}`);
    await page.getByRole('link', { name: 'United States' }).click();
    await settled(page);
    assert.equal(new URL(page.url()).searchParams.get('country'), 'US');
    const filtered = await api(`/v1/domains/${DOMAIN}/stats?${RANGE}&group_by=dmarc&country=US`);
    const messages = filtered.groups.reduce((n, g) => n + g.messages, 0);
    assert.equal(number(await page.locator('[data-tile="messages"] .value').textContent()), messages);
    await page.getByRole('link', { name: 'Remove filter country' }).click();
    await settled(page);
    assert.equal(new URL(page.url()).searchParams.get('country'), null);
    // Back restores the filter: the history is the address.
    await page.goBack();
    await settled(page);
    assert.equal(new URL(page.url()).searchParams.get('country'), 'US');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('sorting a column is in the address and in aria-sort', async () => {
    const { page, context } = await open('/ui/domains?from=2022-01-01&to=2022-12-31');
    const header = page.getByRole('columnheader', { name: 'Domain' });
    await header.getByRole('button').click();
    await settled(page);
    assert.equal(new URL(page.url()).searchParams.get('sort'), 'domain');
    assert.equal(await header.getAttribute('aria-sort'), 'ascending');
    const names = (await tableRows(page, 'domains')).map((r) => r[0]);
    assert.deepEqual(names, [...names].sort((a, b) => a.localeCompare(b)));
    await header.getByRole('button').click();
    await settled(page);
    assert.equal(await header.getAttribute('aria-sort'), 'descending');
    await context.close();
  });

  test('adding a domain shows its records, and a bad name the API\'s message in place', async () => {
    const { page, context } = await open('/ui/domains');
    const form = page.getByRole('region', { name: 'Add a domain' });
    await form.getByLabel('Domain name').fill('not a domain');
    await form.getByRole('button', { name: 'Add domain' }).click();
    const alert = form.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.textContent(), /^invalid_domain: /);
    await form.getByLabel('Domain name').fill('newly-added.example');
    await form.getByRole('button', { name: 'Add domain' }).click();
    await form.getByText('_dmarc.newly-added.example').waitFor();
    const setup = await api('/v1/domains/newly-added.example');
    const rows = await tableRows(page, 'DNS records to publish');
    assert.deepEqual(rows.map((r) => r[0]), setup.dns.map((d) => d.name));
    await context.close();
  });
});

describe('with a token', () => {
  let guarded;
  let tokenFile;
  before(async () => {
    tokenFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rampart-token-')), 'token');
    fs.writeFileSync(tokenFile, 'ui-test-token\n', { mode: 0o600 });
    guarded = await serve(['--token-file', tokenFile]);
  });
  after(() => guarded?.stop());

  test('the files are public, the data asks for the token once per tab', async () => {
    const context = await browser.newContext(DEVICES.desktop);
    const page = await context.newPage();
    await page.goto(`${guarded.origin}/ui/domains?from=2022-01-01&to=2022-12-31`);
    const dialog = page.getByRole('dialog', { name: 'API token' });
    await dialog.waitFor();
    await dialog.getByLabel('Token').fill('ui-test-token');
    await dialog.getByRole('button', { name: 'Use token' }).click();
    await page.getByRole('link', { name: DOMAIN }).waitFor();
    // Another screen of the same tab needs no prompt.
    await page.getByRole('link', { name: DOMAIN }).click();
    await settled(page);
    assert.equal(await dialog.isVisible(), false);
    assert.equal(await page.evaluate(() => localStorage.length), 0, 'the token is not kept beyond the tab');
    await context.close();
  });
});
