// The dashboard in a real browser: Debian's Chromium, driven by playwright-core, against
// `rampart serve` over the bundled samples. Every screen is opened by its address in light
// and dark, on a desktop and a phone; each must settle with no console error, no request
// beyond the origin and no serious accessibility violation (axe-core), and show the same
// numbers as the API answers for the same query. Screenshots go to tests/ui/screenshots/.
//
//   RAMPART_BIN=target/debug/rampart node --test tests/ui/dashboard.test.mjs

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serveDns } from './dns-server.mjs';
import { serveSmtp } from './smtp-server.mjs';
import { serveImap, USER as IMAP_USER, PASSWORD as IMAP_PASSWORD } from './imap-server.mjs';

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
  // Through DevTools, not as an inline script: the page's CSP allows none.
  await page.evaluate(AXE);
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

// A domain of the samples with a TLS report of 5,629 sessions, 303 failed, in 2016.
const TLS_DOMAIN = 'company-y.example';
const TLS_RANGE = 'from=2016-03-01&to=2016-04-01';
// A domain of the samples with one suspicious source (Korea Telecom) in July 2024.
const SPOOFED = 'foobar.de';
const SPOOF_RANGE = 'from=2024-06-19&to=2024-07-18';
const YEAR = 'from=2021-11-28&to=2022-11-27';

const SCREENS = [
  ['domains', '/ui/domains?from=2022-01-01&to=2022-12-31'],
  ['domains-default', '/'],
  ['overview', `/ui/d/${DOMAIN}/overview?${RANGE}`],
  ['overview-latest', `/ui/d/${DOMAIN}/overview`],
  ['readiness', `/ui/d/${DOMAIN}/readiness?${YEAR}`],
  ['sources', `/ui/d/${DOMAIN}/sources?${YEAR}`],
  ['sources-by-address', `/ui/d/${DOMAIN}/sources?${YEAR}&by=ip`],
  ['spoofing', `/ui/d/${SPOOFED}/spoofing?${SPOOF_RANGE}`],
  ['explore', `/ui/d/${DOMAIN}/explore?${YEAR}&group_by=reporter,dmarc`],
  ['reports', `/ui/d/${DOMAIN}/reports?${YEAR}`],
  ['tls', `/ui/d/${TLS_DOMAIN}/tls?${TLS_RANGE}`],
  ['tls-empty', `/ui/d/${DOMAIN}/tls?${YEAR}`],
  ['mta-sts', `/ui/d/${DOMAIN}/mta-sts`],
  ['dns-unchecked', `/ui/d/${DOMAIN}/dns`],
  ['alerts', `/ui/d/${DOMAIN}/alerts`],
  ['messages', '/ui/messages?show=all'],
  ['mailboxes-none', '/ui/mailboxes'],
];

function screenTests(schemes, devices, prefix = '') {
  describe(`every screen, ${schemes.join(' and ')}, ${devices.join(' and ')}`, () => {
  for (const [name, address] of SCREENS) {
    for (const scheme of schemes) {
      for (const device of devices) {
        test(`${name} ${scheme} ${device}`, async () => {
          const { page, context, problems } = await open(address, { scheme, device });
          await page.screenshot({ path: path.join(SHOTS, `${prefix}${name}-${scheme}-${device}.png`), fullPage: true });
          assert.deepEqual(await axe(page), [], 'axe-core: serious or critical violations');
          // Nothing wider than the screen but tables, which scroll inside their card.
          const overflow = await page.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - document.documentElement.clientWidth);
          assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
          assert.deepEqual(problems, []);
          await context.close();
        });
      }
    }
  }
});
}

function numberTests() {
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

describe('the numbers on every other screen are the API\'s', () => {
  test('readiness', async () => {
    const { page, context, problems } = await open(`/ui/d/${DOMAIN}/readiness?${YEAR}`);
    const stats = await api(`/v1/domains/${DOMAIN}/stats?${YEAR}&group_by=classification`);
    const failing = Object.fromEntries(stats.groups.map((g) => [g.key.classification, g.dmarc_fail]));
    const rows = await tableRows(page, 'Mail failing DMARC by who sent it');
    assert.deepEqual(rows.map((r) => number(r[1])), [failing.misconfigured ?? 0, failing.forwarded ?? 0, failing.suspicious ?? 0]);
    // 3 of 5 messages from the domain's own services fail: more than 1 %.
    assert.equal(await page.locator('[data-verdict]').getAttribute('data-verdict'), 'fix-first');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('sources, by service and by address', async () => {
    for (const by of ['service', 'ip']) {
      const { page, context, problems } = await open(`/ui/d/${DOMAIN}/sources?${YEAR}&by=${by}`);
      const answer = await api(`/v1/domains/${DOMAIN}/sources?${YEAR}&by=${by}&limit=100`);
      const rows = await tableRows(page, by === 'ip' ? 'address' : 'service');
      assert.equal(rows.length, answer.sources.length, by);
      const messagesColumn = by === 'ip' ? 4 : 2;
      assert.deepEqual(rows.map((r) => number(r[messagesColumn])).sort(), answer.sources.map((x) => x.messages).sort(), by);
      assert.deepEqual(problems, []);
      await context.close();
    }
  });

  test('spoofing', async () => {
    const { page, context, problems } = await open(`/ui/d/${SPOOFED}/spoofing?${SPOOF_RANGE}`);
    const answer = await api(`/v1/domains/${SPOOFED}/spoofing?${SPOOF_RANGE}`);
    const rows = await tableRows(page, 'suspicious address');
    assert.deepEqual(rows.map((r) => [r[0], number(r[1])]), answer.sources.map((x) => [x.ip, x.messages]));
    assert.equal(rows[0][2], 'South Korea');
    const countries = await tableRows(page, 'Suspicious messages by country');
    assert.deepEqual(countries, [['South Korea', '1']]);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('tls', async () => {
    const { page, context, problems } = await open(`/ui/d/${TLS_DOMAIN}/tls?${TLS_RANGE}`);
    const answer = await api(`/v1/domains/${TLS_DOMAIN}/tls?${TLS_RANGE}&limit=100`);
    const tile = (id) => page.locator(`[data-tile="${id}"] .value`).textContent();
    assert.equal(number(await tile('sessions')), answer.successful_sessions + answer.failed_sessions);
    assert.equal(number(await tile('failed')), answer.failed_sessions);
    const types = await tableRows(page, 'Failed sessions by result type');
    assert.deepEqual(types.map((r) => [r[0], number(r[1])]), answer.by_result_type.map((g) => [g.value, g.failed_sessions]));
    const details = await tableRows(page, 'failure detail');
    assert.equal(details.length, answer.failures.length);
    assert.match(details.find((r) => r[0].startsWith('certificate-expired'))[0], /certificate has expired/);
    // The raw JSON is one click away.
    await page.getByRole('link', { name: "the report's JSON" }).first().click();
    await settled(page);
    const json = page.locator('#report-json pre');
    await json.waitFor();
    assert.equal(JSON.parse(await json.textContent()).policies[0].summary.total_failure_session_count, 303);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('reports, and each report in full', async () => {
    const list = await api(`/v1/domains/${TLS_DOMAIN}/reports?${TLS_RANGE}`);
    const { page, context, problems } = await open(`/ui/d/${TLS_DOMAIN}/reports?${TLS_RANGE}`);
    assert.equal((await tableRows(page, ' report')).length, list.total);
    await page.getByRole('link', { name: /2016/ }).first().click();
    await settled(page);
    assert.equal(new URL(page.url()).searchParams.get('report'), list.reports[0].id);
    await page.getByText('5,326 successful, 303 failed sessions.').waitFor();
    await page.screenshot({ path: path.join(SHOTS, 'report-tls-light-desktop.png'), fullPage: true });
    assert.deepEqual(await axe(page), []);

    const aggregate = (await api(`/v1/domains/${DOMAIN}/reports?${YEAR}`)).reports[0];
    await page.goto(`${server.origin}/ui/d/${DOMAIN}/reports?${YEAR}&report=${aggregate.id}`);
    await settled(page);
    const detail = await api(`/v1/reports/${aggregate.id}`);
    const records = await tableRows(page, 'record');
    assert.deepEqual(records.map((r) => [r[0], number(r[1])]), detail.report.records.map((x) => [x.source_ip, x.count]));
    await page.screenshot({ path: path.join(SHOTS, 'report-aggregate-light-desktop.png'), fullPage: true });
    // The raw mail downloads with the API's bytes.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download the raw mail' }).click()]);
    const raw = await fetch(`${server.origin}/v1/reports/${aggregate.id}/raw`).then((r) => r.arrayBuffer());
    assert.deepEqual(fs.readFileSync(await download.path()), Buffer.from(raw));
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('ingest health', async () => {
    const { page, context, problems } = await open('/ui/messages?show=all');
    const answer = await api('/v1/messages?outcome=stored,duplicate,rejected,held,failed&limit=100');
    const rows = await tableRows(page, 'newest first');
    assert.equal(rows.length, answer.messages.length);
    assert.deepEqual(rows.map((r) => number(r[5])), answer.messages.map((m) => m.size));
    // The samples hold no rejected mail: the default view says so.
    await page.goto(`${server.origin}/ui/messages`);
    await settled(page);
    await page.getByText('No mail was rejected, held or failed.').waitFor();
    assert.deepEqual(problems, []);
    await context.close();
  });
});
}

screenTests(['light', 'dark'], Object.keys(DEVICES));
numberTests();

describe('the first screens read counters, not records', () => {
  // Record-reading routes; `stats` says in `counted` which way it answered.
  const RECORD_ROUTES = /\/(records|sources|spoofing|reports|tls)(\?|$)/;
  for (const address of ['/ui/domains?from=2022-01-01&to=2022-12-31', `/ui/d/${DOMAIN}/overview?${RANGE}`, `/ui/d/${DOMAIN}/readiness?${YEAR}`]) {
    test(address, async () => {
      const context = await browser.newContext(DEVICES.desktop);
      const page = await context.newPage();
      const answers = [];
      page.on('response', (r) => { if (new URL(r.url()).pathname.startsWith('/v1/')) answers.push(r); });
      await page.goto(server.origin + address);
      await settled(page);
      const paths = answers.map((r) => new URL(r.url()).pathname + new URL(r.url()).search);
      assert.deepEqual(paths.filter((p) => RECORD_ROUTES.test(new URL(p, server.origin).pathname)), []);
      for (const r of answers.filter((a) => new URL(a.url()).pathname.endsWith('/stats'))) {
        assert.equal((await r.json()).counted, true, r.url());
      }
      assert.ok(answers.length > 0);
      await context.close();
    });
  }
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
    // Its overview teaches: the records to publish, before any report.
    await page.getByRole('link', { name: 'Open newly-added.example' }).click();
    await settled(page);
    const first = page.getByRole('region', { name: 'No report has arrived for newly-added.example yet' });
    await first.waitFor();
    assert.deepEqual((await tableRows(page, 'DNS records to publish')).map((r) => [r[0], r[1]]), setup.dns.map((d) => [d.name, d.type]));
    await page.screenshot({ path: path.join(SHOTS, 'overview-new-domain-light-desktop.png'), fullPage: true });
    assert.deepEqual(await axe(page), []);
    await context.close();
  });
});

describe('more interactions', () => {
  test('the records page through the address, and the CSV is the API\'s', async () => {
    const { page, context, problems } = await open(`/ui/d/${DOMAIN}/explore?${YEAR}&limit=2`);
    const first = (await tableRows(page, 'record')).map((r) => r[0] + r[2]);
    await page.getByRole('link', { name: 'Next records →' }).click();
    await settled(page);
    const cursor = new URL(page.url()).searchParams.get('cursor');
    const second = await api(`/v1/domains/${DOMAIN}/records?${YEAR}&limit=2&cursor=${cursor}`);
    const shown = (await tableRows(page, 'record')).map((r) => r[0] + r[2]);
    assert.deepEqual(shown, second.records.map((r) => r.source_ip + r.day));
    assert.notDeepEqual(shown, first);

    const link = page.getByRole('link', { name: 'CSV of this query' });
    const href = await link.getAttribute('href');
    assert.equal(href, `/v1/domains/${DOMAIN}/records?${YEAR}&format=csv`);
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const expected = await fetch(server.origin + href).then((r) => r.text());
    assert.equal(fs.readFileSync(await download.path(), 'utf8'), expected);
    assert.equal(download.suggestedFilename(), `${DOMAIN}-records.csv`);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('the MTA-STS form shows errors in place and asks before enforce', async () => {
    const domain = 'policy-test.example';
    const { page, context } = await open(`/ui/d/${domain}/mta-sts`);
    // An unknown domain: the API's message in place.
    await page.getByRole('alert').filter({ hasText: 'unknown_domain' }).waitFor();
    await context.close();

    await fetch(`${server.origin}/v1/domains`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ domain }) });
    const second = await open(`/ui/d/${domain}/mta-sts`);
    const form = second.page.getByRole('region', { name: 'Host a policy' });
    await form.getByLabel('MX hosts, one per line').fill('mx1.policy-test.example\nbad host!');
    await form.getByRole('button', { name: 'Host this policy' }).click();
    await form.getByText('“bad host!” is not a host name').waitFor();
    assert.equal((await fetch(`${server.origin}/v1/domains/${domain}/mta-sts`)).status, 404, 'nothing was sent');

    await form.getByLabel('MX hosts, one per line').fill('mx1.policy-test.example');
    await form.getByRole('button', { name: 'Host this policy' }).click();
    await second.page.getByText('Version 1 published').waitFor();
    const hosted = await api(`/v1/domains/${domain}/mta-sts`);
    assert.deepEqual([hosted.current.mode, hosted.current.mx, hosted.current.max_age], ['testing', ['mx1.policy-test.example'], 604800]);

    const change = second.page.getByRole('region', { name: 'Change the policy' });
    await change.getByRole('radio', { name: /Enforce/ }).check();
    await change.getByRole('button', { name: 'Publish this policy' }).click();
    const dialog = second.page.getByRole('dialog', { name: `Switch ${domain} to enforce?` });
    await dialog.waitFor();
    await second.page.screenshot({ path: path.join(SHOTS, 'mta-sts-enforce-light-desktop.png') });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await api(`/v1/domains/${domain}/mta-sts`)).current.mode, 'testing', 'cancel changes nothing');
    await change.getByRole('button', { name: 'Publish this policy' }).click();
    await dialog.getByRole('button', { name: 'Switch to enforce' }).click();
    await second.page.getByText('Version 2 published').waitFor();
    assert.equal((await api(`/v1/domains/${domain}/mta-sts`)).current.mode, 'enforce');
    assert.deepEqual(second.problems, []);
    await second.context.close();
  });
});

describe('alerts', () => {
  test('who is told: recipients, the webhook secret shown once, a snooze, errors in place', async () => {
    const { page, context, problems } = await open(`/ui/d/${DOMAIN}/alerts`);
    await page.getByRole('heading', { name: 'No open alert' }).waitFor();
    const who = page.getByRole('region', { name: 'Who is told' });
    await who.getByLabel(/Recipients, one address per line/).fill('owner@stalw.art\nnot an address');
    await who.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('alert').filter({ hasText: '"not an address" is not an e-mail address' }).waitFor();
    assert.deepEqual((await api(`/v1/domains/${DOMAIN}/alert-settings`)).recipients, [], 'nothing was kept');

    await who.getByLabel(/Recipients, one address per line/).fill('owner@stalw.art\nops@stalw.art');
    await who.getByLabel('Webhook URL (JSON, signed with HMAC-SHA256)').fill('https://hooks.example/rampart');
    await who.getByRole('button', { name: 'Save' }).click();
    const secret = await page.locator('[data-secret]').textContent();
    assert.match(secret, /^[0-9a-f]{64}$/);
    const saved = await api(`/v1/domains/${DOMAIN}/alert-settings`);
    assert.deepEqual(saved.recipients, ['owner@stalw.art', 'ops@stalw.art']);
    assert.deepEqual(saved.webhook, { url: 'https://hooks.example/rampart', secret: null });

    const snooze = page.getByRole('region', { name: 'Snoozes' });
    await snooze.getByLabel('Rule').selectOption('silent_reporter');
    await snooze.getByLabel('For').selectOption({ label: 'a week' });
    await snooze.getByRole('button', { name: 'Snooze' }).click();
    await snooze.locator('[data-snooze="silent_reporter"]').waitFor();
    const snoozed = (await api(`/v1/domains/${DOMAIN}/alert-settings`)).snoozes;
    assert.equal(snoozed.length, 1);
    assert.equal(snoozed[0].rule, 'silent_reporter');
    assert.ok(Math.abs(snoozed[0].until - (Date.now() / 1000 + 7 * 86400)) < 120);
    await page.screenshot({ path: path.join(SHOTS, 'alerts-saved-light-desktop.png'), fullPage: true });
    // The refused save is the one failed request Chromium reports.
    assert.deepEqual(problems.filter((p) => !p.includes('400')), []);
    await context.close();
  });
});

// Mail refused for good: `rampart serve --smtp` mails the week's digest to a domain's two
// recipients through an SMTP server on 127.0.0.1 that refuses one with 550; the Alerts tab
// shows that address as not mailed, with the server's words, and mails it again on request.
describe('alerts: an address refused for good', () => {
  const domain = 'alerts-test.example';
  const gone = `gone@${domain}`;
  let smtp;
  let mailing;
  before(async () => {
    smtp = await serveSmtp([gone]);
    mailing = await serve(['--smtp', smtp.url, '--alerts-from', 'Rampart <alerts@rampart.example>']);
    const json = { 'content-type': 'application/json' };
    const post = await fetch(`${mailing.origin}/v1/domains`, { method: 'POST', headers: json, body: JSON.stringify({ domain }) });
    assert.equal(post.status, 201);
    const put = await fetch(`${mailing.origin}/v1/domains/${domain}/alert-settings`, {
      method: 'PUT', headers: json, body: JSON.stringify({ recipients: [`owner@${domain}`, gone] }),
    });
    assert.equal(put.status, 200);
  });
  after(() => {
    mailing?.stop();
    smtp?.close();
  });

  test('is shown with why, in place, and mailed again on request', async () => {
    // The mail loop runs every 30 s: the digest goes out at its next run.
    let settings;
    for (let i = 0; i < 90; i += 1) {
      settings = await api(`/v1/domains/${domain}/alert-settings`, mailing.origin);
      if (settings.suppressed.length) break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    assert.deepEqual(smtp.received, [[`owner@${domain}`]], 'the digest reached the other recipient');
    assert.deepEqual(settings.suppressed.map((s) => s.address), [gone]);
    const reason = settings.suppressed[0].reason;
    assert.equal(reason, `refused: permanent error (550): 5.1.1 <${gone}>: Recipient address rejected: User unknown`);

    // Light desktop last: it mails the address again.
    for (const [scheme, device] of [['dark', 'desktop'], ['light', 'phone'], ['light', 'desktop']]) {
      const { page, context, problems } = await open(`/ui/d/${domain}/alerts`, { scheme, device, origin: mailing.origin });
      const item = page.locator(`[data-suppressed] li[data-address="${gone}"]`);
      await item.waitFor();
      assert.ok((await item.textContent()).includes(reason), 'the reason is the API\'s');
      assert.deepEqual(await axe(page), [], `${scheme} ${device}`);
      await page.screenshot({ path: path.join(SHOTS, `alerts-suppressed-${scheme}-${device}.png`), fullPage: true });
      if (scheme === 'light' && device === 'desktop') {
        await item.getByRole('button', { name: `Mail ${gone} again` }).click();
        const who = page.getByRole('region', { name: 'Who is told' });
        await who.getByText('✓ Saved.').waitFor();
        assert.equal(await page.locator('[data-suppressed]').count(), 0);
        assert.deepEqual((await api(`/v1/domains/${domain}/alert-settings`, mailing.origin)).suppressed, []);
      }
      assert.deepEqual(problems, []);
      await context.close();
    }
  });
});

// Mailboxes: `rampart serve --mailbox` with two sources, Dovecot on 127.0.0.1 holding two
// report mails, and a server that is not there; the screen shows each as the API does and
// pauses one in place.
describe('mailboxes', () => {
  let imap;
  let reading;
  let dns;
  before(async () => {
    imap = await serveImap();
    const fixtures = path.join(here, '..', 'fixtures');
    imap.deliver(fs.readFileSync(path.join(fixtures, 'corpus/email/parsedmarc/twilight.eml')));
    imap.deliver(fs.readFileSync(path.join(fixtures, 'generated/outlook-20-single-line.eml')));
    const closed = await new Promise((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address();
        probe.close(() => resolve(port));
      });
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rampart-mailbox-'));
    const file = path.join(dir, 'mailbox.toml');
    fs.writeFileSync(file, `[[mailbox]]
id = "reports"
url = "imap+insecure://127.0.0.1:${imap.port}/INBOX"
user = "${IMAP_USER}"
password = "${IMAP_PASSWORD}"

[[mailbox]]
id = "old-server"
url = "imap+insecure://127.0.0.1:${closed}/DMARC"
user = "reports@example.net"
password = "unused"
`, { mode: 0o600 });
    // Testing a source reaches the network: on, with a DNS server on 127.0.0.1 that knows
    // nothing (the checks of the corpus's domains end there).
    dns = await serveDns([]);
    reading = await serve(['--mailbox', file], { RAMPART_RESOLVER: dns.address });
  });
  after(() => {
    reading?.stop();
    imap?.close();
    dns?.close();
  });

  test('each source shows where it reads and its last run as the API gives it, and pauses in place', async () => {
    let listed;
    for (let i = 0; i < 60; i += 1) {
      listed = await api('/v1/mailboxes', reading.origin);
      if (listed.mailboxes.every((m) => m.last_run)) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const byId = Object.fromEntries(listed.mailboxes.map((m) => [m.id, m]));
    assert.deepEqual([byId.reports.last_run.taken, byId.reports.last_run.outcomes, byId.reports.last_run.error], [2, { stored: 2 }, null]);
    assert.match(byId['old-server'].last_run.error, /^127\.0\.0\.1:\d+: cannot connect: /);

    // Light desktop last: it pauses a source.
    for (const [scheme, device] of [['dark', 'desktop'], ['light', 'phone'], ['light', 'desktop']]) {
      const { page, context, problems } = await open('/ui/mailboxes', { scheme, device, origin: reading.origin });
      await page.locator('[data-source]').first().waitFor();
      assert.deepEqual(await page.locator('[data-mailbox]').evaluateAll((els) => els.map((x) => x.dataset.mailbox)), ['old-server', 'reports']);
      const taken = await page.locator('[data-taken]').evaluateAll((spans) => spans.map((x) => Number(x.dataset.taken)));
      assert.deepEqual(taken, [byId['old-server'].last_run.taken, byId.reports.last_run.taken]);
      assert.equal(await page.locator('[data-outcome="stored"]').textContent().then((t) => number(t)), byId.reports.last_run.outcomes.stored);
      assert.equal((await page.locator('[data-run-error]').textContent()).trim(), `✗ ${byId['old-server'].last_run.error}`);
      assert.deepEqual(await axe(page), [], `${scheme} ${device}`);
      await page.screenshot({ path: path.join(SHOTS, `mailboxes-${scheme}-${device}.png`), fullPage: true });
      if (scheme === 'light' && device === 'desktop') {
        await page.getByRole('button', { name: 'Pause old-server' }).click();
        await page.getByRole('button', { name: 'Resume old-server' }).waitFor();
        const now = await api('/v1/mailboxes', reading.origin);
        assert.equal(now.mailboxes.find((m) => m.id === 'old-server').paused, true);
      }
      assert.deepEqual(problems, []);
      await context.close();
    }
  });

  test('an admin adds a mailbox, sees its test in place, and removes it; the server then reads it', async () => {
    const { page, context, problems } = await open('/ui/mailboxes', { scheme: 'light', device: 'desktop', origin: reading.origin });
    const form = page.locator('form.mailbox-form');
    const add = async (id, password) => {
      await form.getByLabel('Server and folder').fill(`imap+insecure://127.0.0.1:${imap.port}/INBOX`);
      await form.getByLabel('User').fill(IMAP_USER);
      await form.getByLabel('Password').fill(password);
      await form.getByLabel('Name (optional)').fill(id);
      await form.getByRole('button', { name: 'Add mailbox' }).click();
      await page.locator(`[data-test-result="${id}"] [data-test-ok]`).waitFor();
    };

    // A wrong password: the test runs as soon as it is added, and says so in the server's words.
    await add('added', 'not-the-password');
    const refused = await fetch(`${reading.origin}/v1/mailboxes/added/test`, { method: 'POST' }).then((r) => r.json());
    assert.equal(refused.ok, false);
    assert.equal((await page.locator('[data-test-result="added"]').textContent()).trim(), `✗ ${refused.error}`);
    assert.deepEqual((await api('/v1/mailboxes', reading.origin)).mailboxes.map((m) => m.id), ['added', 'old-server', 'reports']);
    // The password is not in the page nor in what the API shows.
    assert.equal((await page.content()).includes('not-the-password'), false);
    assert.equal(JSON.stringify(await api('/v1/mailboxes', reading.origin)).includes('not-the-password'), false);

    // Removed after a confirmation; then added again with the right password.
    await page.getByRole('button', { name: 'Remove added' }).click();
    await page.getByRole('group', { name: 'Remove added?' }).getByRole('button', { name: 'Remove' }).click();
    await page.locator('[data-source="added"]').waitFor({ state: 'detached' });
    assert.deepEqual((await api('/v1/mailboxes', reading.origin)).mailboxes.map((m) => m.id), ['old-server', 'reports']);
    await add('added', IMAP_PASSWORD);
    const counted = await fetch(`${reading.origin}/v1/mailboxes/added/test`, { method: 'POST' }).then((r) => r.json());
    assert.deepEqual(counted, { ok: true, messages: 2, new: 2, error: null });
    const shown = page.locator('[data-test-result="added"]');
    assert.deepEqual([
      Number(await shown.locator('[data-messages]').getAttribute('data-messages')),
      Number(await shown.locator('[data-new]').getAttribute('data-new')),
    ], [counted.messages, counted.new]);
    assert.deepEqual(await axe(page), []);
    await page.screenshot({ path: path.join(SHOTS, 'mailboxes-added-light-desktop.png'), fullPage: true });

    // `rampart serve` reads a source added through the API: the two mails are the ones the
    // file's source stored already.
    let run;
    for (let i = 0; i < 60 && !run; i += 1) {
      run = (await api('/v1/mailboxes', reading.origin)).mailboxes.find((m) => m.id === 'added').last_run;
      if (!run) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.deepEqual([run.error, run.taken, run.outcomes], [null, 2, { duplicate: 2 }]);

    // Microsoft 365's fields are one click away, and the kind is in the address.
    await page.getByRole('link', { name: 'Microsoft 365' }).click();
    await form.getByLabel('Tenant').waitFor();
    assert.equal(new URL(page.url()).searchParams.get('kind'), 'graph');
    assert.deepEqual(await form.locator('input').evaluateAll((xs) => xs.map((x) => x.name)), ['tenant', 'client_id', 'secret', 'user', 'folder', 'move_to', 'id']);
    assert.deepEqual(problems, []);
    await context.close();

    // The same in dark and on a phone, the test's answer beside the source.
    for (const [scheme, device] of [['dark', 'desktop'], ['light', 'phone']]) {
      const other = await open('/ui/mailboxes?kind=graph', { scheme, device, origin: reading.origin });
      await other.page.getByRole('button', { name: 'Test added' }).click();
      await other.page.locator('[data-test-result="added"] [data-test-ok="true"]').waitFor();
      assert.deepEqual(await axe(other.page), [], `${scheme} ${device}`);
      await other.page.screenshot({ path: path.join(SHOTS, `mailboxes-added-${scheme}-${device}.png`), fullPage: true });
      assert.deepEqual(other.problems, []);
      await other.context.close();
    }
    const removed = await fetch(`${reading.origin}/v1/mailboxes/added`, { method: 'DELETE' });
    assert.equal(removed.status, 200);
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

// DNS health against a DNS server on 127.0.0.1: `rampart serve` asks it (RAMPART_RESOLVER),
// the DNS screen shows the API's findings, the Domains screen its verdict, and an enforced
// policy that leaves a live MX host out is refused in place, forced, then fixed from the
// DNS screen's offer.
describe('DNS health', () => {
  const domain = 'dns-test.example';
  let dns;
  let checked;
  before(async () => {
    dns = await serveDns([
      [`_dmarc.${domain}`, 'TXT', 'v=DMARC1; p=none; rua=mailto:reports@rua.rampart.example'],
      [`${domain}._report._dmarc.rua.rampart.example`, 'TXT', 'v=DMARC1'],
      [domain, 'TXT', `v=spf1 include:_spf.${domain} ?all`],
      [`_spf.${domain}`, 'TXT', 'v=spf1 ip4:192.0.2.0/24 ~all'],
      [domain, 'MX', `10 mx1.${domain}`],
      [domain, 'MX', '20 mx.other.example'],
      [`mx1.${domain}`, 'A', '192.0.2.25'],
      ['mx.other.example', 'A', '198.51.100.25'],
    ]);
    // Not the default rampart.localhost: resolvers answer *.localhost themselves (RFC 6761).
    checked = await serve([], { RAMPART_RESOLVER: dns.address, RAMPART_INBOUND_ADDRESS: 'reports@rua.rampart.example' });
    const post = await fetch(`${checked.origin}/v1/domains`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ domain }) });
    assert.equal(post.status, 201);
  });
  after(() => {
    checked?.stop();
    dns?.close();
  });

  test('a check run from the screen shows the API\'s findings, each with its fix', async () => {
    const { page, context, problems } = await open(`/ui/d/${domain}/dns`, { origin: checked.origin });
    // The server's own loop checks a newly registered domain within 30 s: the screen may
    // open before or after that run.
    await page.getByText('No check has run yet').or(page.locator('[data-worst]')).waitFor();
    const before = (await api(`/v1/domains/${domain}/checks`, checked.origin)).history.length;
    await page.getByRole('button', { name: 'Check now' }).click();
    await page.locator('[data-worst]').waitFor();
    await page.getByRole('button', { name: 'Check now' }).waitFor();
    const shown = await api(`/v1/domains/${domain}/checks`, checked.origin);
    assert.ok(shown.history.length > before, 'the click ran a check');
    assert.equal(await page.locator('[data-worst]').getAttribute('data-worst'), shown.latest.worst);
    const toFix = shown.latest.findings.filter((f) => f.severity !== 'ok').map((f) => [f.code, f.severity]);
    const onScreen = await page.locator('ol.findings > li').evaluateAll((items) => items.map((li) => [li.dataset.code, li.querySelector('[data-severity]').dataset.severity]));
    assert.deepEqual(onScreen, toFix);
    assert.deepEqual(toFix, [['spf.neutral_all', 'warning'], ['tlsrpt.missing', 'warning'], ['dmarc.monitoring', 'info'], ['mta_sts.none', 'info']]);
    // Each fix is shown as the API gives it.
    const fix = shown.latest.findings.find((f) => f.code === 'tlsrpt.missing').fix;
    await page.locator('[data-code="tlsrpt.missing"] code').getByText(fix, { exact: true }).waitFor();
    assert.equal(await page.locator('[data-area="spf"] [data-severity]').getAttribute('data-severity'), 'warning');
    assert.equal((await tableRows(page, 'Check runs')).length, shown.history.length);
    for (const [scheme, device] of [['light', 'desktop'], ['dark', 'desktop'], ['light', 'phone']]) {
      const shot = await open(`/ui/d/${domain}/dns`, { origin: checked.origin, scheme, device });
      await shot.page.screenshot({ path: path.join(SHOTS, `dns-${scheme}-${device}.png`), fullPage: true });
      assert.deepEqual(await axe(shot.page), [], `axe-core ${scheme} ${device}`);
      const overflow = await shot.page.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `${scheme} ${device}: the page is ${overflow}px wider than the screen`);
      assert.deepEqual(shot.problems, []);
      await shot.context.close();
    }
    // The Domains screen carries the verdict, linked to this screen.
    const domains = await open('/ui/domains?from=2022-01-01&to=2022-12-31', { origin: checked.origin });
    const badge = domains.page.getByRole('link', { name: `DNS health of ${domain}: ${shown.latest.worst}` });
    await badge.waitFor();
    const overview = await api('/v1/overview?from=2022-01-01&to=2022-12-31', checked.origin);
    assert.equal(overview.domains.find((d) => d.domain === domain).dns_health.worst, shown.latest.worst);
    await domains.context.close();
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('enforce that leaves a live MX host out is refused in place, forced, then fixed from the DNS screen', async () => {
    const { page, context, problems } = await open(`/ui/d/${domain}/mta-sts`, { origin: checked.origin });
    const form = page.getByRole('region', { name: 'Host a policy' });
    await form.getByLabel('MX hosts, one per line').fill(`mx1.${domain}`);
    await form.getByRole('radio', { name: /Enforce/ }).check();
    await form.getByRole('button', { name: 'Host this policy' }).click();
    const dialog = page.getByRole('dialog', { name: `Switch ${domain} to enforce?` });
    await dialog.getByRole('button', { name: 'Switch to enforce' }).click();
    const alert = form.getByText(/^mx_not_covered: /);
    await alert.waitFor();
    assert.match(await alert.textContent(), /its live MX host mx\.other\.example is not covered by mx/);
    assert.equal((await fetch(`${checked.origin}/v1/domains/${domain}/mta-sts`)).status, 404, 'nothing was stored');
    await page.screenshot({ path: path.join(SHOTS, 'mta-sts-refused-light-desktop.png'), fullPage: true });
    await form.getByRole('button', { name: 'Enforce anyway' }).click();
    await page.getByText('Version 1 published').waitFor();
    assert.equal((await api(`/v1/domains/${domain}/mta-sts`, checked.origin)).current.mode, 'enforce');
    await context.close();

    const dnsPage = await open(`/ui/d/${domain}/dns`, { origin: checked.origin });
    await dnsPage.page.getByRole('button', { name: 'Check now' }).click();
    const offer = dnsPage.page.getByRole('region', { name: 'Cover the live MX hosts' });
    await offer.waitFor();
    assert.equal(await dnsPage.page.locator('[data-worst]').getAttribute('data-worst'), 'critical');
    await dnsPage.page.screenshot({ path: path.join(SHOTS, 'dns-drift-light-desktop.png'), fullPage: true });
    assert.deepEqual(await axe(dnsPage.page), []);
    await offer.getByRole('button', { name: 'Publish this policy' }).click();
    await offer.getByText('Published').waitFor();
    const hosted = await api(`/v1/domains/${domain}/mta-sts`, checked.origin);
    assert.deepEqual([hosted.current.mode, hosted.current.mx], ['enforce', [`mx1.${domain}`, 'mx.other.example']]);
    // The refusal is the one failed request, which Chromium logs.
    assert.deepEqual([...problems, ...dnsPage.problems], ['console: Failed to load resource: the server responded with a status of 409 (Conflict)']);
    await dnsPage.context.close();
  });
});

// The same screens and numbers over DynamoDB + S3 (moto): the samples ingested with
// `rampart ingest --backend aws`, served by `rampart serve --backend aws`.
describe('on DynamoDB and S3', { skip: !process.env.RAMPART_TEST_AWS_ENDPOINT && 'RAMPART_TEST_AWS_ENDPOINT is not set' }, () => {
  let embedded;
  before(async () => {
    embedded = server;
    const name = `rampart-ui-${process.pid}`;
    const env = {
      AWS_ENDPOINT_URL: process.env.RAMPART_TEST_AWS_ENDPOINT,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: 'us-east-1',
      RAMPART_TABLE: name,
      RAMPART_BUCKET: name,
      RAMPART_RESOLVER: 'off',
    };
    const run = (args) => {
      const done = spawnSync(BIN, args, { env: { ...process.env, ...env }, encoding: 'utf8' });
      assert.equal(done.status, 0, `rampart ${args.join(' ')}: ${done.stderr}`);
    };
    run(['setup', '--backend', 'aws']);
    const corpus = path.join(here, '../fixtures/corpus');
    run(['ingest', '--backend', 'aws', '--accept', 'any', ...['email', 'tlsrpt', 'aggregate/cry-inc'].map((d) => path.join(corpus, d))]);
    server = await serve(['--backend', 'aws'], env);
  });
  after(() => {
    server?.stop();
    server = embedded;
  });
  screenTests(['light'], ['desktop'], 'aws-');
  numberTests();
});
