// Drives the Plugboard web console in the system's headless Chromium, the
// way a person would, and asserts on what the page shows.
//
//   node console.mjs <server-url>
//
// Environment: CONSOLE_USER, CONSOLE_PASSWORD (a local user's sign-in),
// PAT_BASE_URL, PAT_TOKEN (a loopback API that takes that bearer token),
// CHROMIUM (default /usr/bin/chromium). Secrets come from the environment,
// never argv. Prints one JSON line of findings for the Rust test
// (host/server/tests/console.rs), which checks the server's state; exits
// non-zero with the reason on the first failed step.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [, , serverUrl] = process.argv;
const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`set ${name}`);
  return v;
};
const user = env('CONSOLE_USER');
const password = env('CONSOLE_PASSWORD');
const patBaseUrl = env('PAT_BASE_URL');
const patToken = env('PAT_TOKEN');
if (!serverUrl) throw new Error('usage: node console.mjs <server-url>');

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const profile = mkdtempSync(join(tmpdir(), 'plugboard-console-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
  ],
});
context.setDefaultTimeout(15000);
const findings = { csp_violations: [], page_errors: [] };

try {
  const page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) findings.csp_violations.push(m.text());
  });
  page.on('pageerror', (e) => findings.page_errors.push(String(e)));

  // `/` redirects to the console, which asks us to sign in.
  await page.goto(serverUrl);
  check(new URL(page.url()).pathname === '/console/', `landed on ${page.url()}`);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();

  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText(`Signed in as ${user}`).waitFor();
  const personal = page.locator('section.folder', { hasText: 'Personal workspace' });
  await personal.waitFor();
  // The shared folder the test made is listed too, empty.
  const team = page.locator('section.folder', { hasText: 'Shared folder' });
  check((await team.locator('.folder-name').textContent()) === 'Team', 'the shared folder is listed');
  check(await team.getByText('No connections in this folder yet.').isVisible(), 'and shown empty');

  // Create two PAT connections in the personal workspace.
  const row = (name) => personal.locator('tr.connection', { has: page.locator('td.name', { hasText: new RegExp(`^${name}$`) }) });
  async function createPat(name) {
    await personal.getByRole('button', { name: 'New connection' }).click();
    const form = personal.locator('.create-slot form');
    await form.getByLabel('Connector').selectOption('pat');
    await form.getByLabel('API base URL').fill(patBaseUrl);
    check(!(await form.getByLabel('Auth type').count()), 'pat has one auth type: no chooser');
    await form.getByLabel('Personal access token').fill(patToken);
    await form.getByLabel('Name').fill(name);
    await form.getByRole('button', { name: 'Create' }).click();
    await row(name).waitFor();
  }
  await createPat('Console PAT');
  const first = row('Console PAT');
  check((await first.locator('.status').textContent()) === 'Connected', 'the new connection is Connected');
  check((await first.textContent()).includes('Ada Lovelace'), 'the account is shown');
  check((await first.locator('td.default').textContent()) === 'Default', 'the first one is the default');
  await createPat('Second PAT');
  check((await row('Second PAT').locator('td.default').textContent()) === '', 'the second is not default');
  check(!(await page.content()).includes(patToken), 'the token is not on the page');

  // Rename and set the polling frequency.
  await row('Second PAT').getByRole('button', { name: 'Edit' }).click();
  const edit = personal.locator('tr.row-panel form');
  await edit.getByLabel('Name').fill('Renamed PAT');
  await edit.getByLabel('Polling frequency (seconds)').fill('300');
  await edit.getByRole('button', { name: 'Save' }).click();
  await page.locator('#notice', { hasText: 'Saved Renamed PAT' }).waitFor();
  check((await row('Renamed PAT').textContent()).includes('every 300 s'), 'polling frequency shown');

  // A bad polling frequency shows the API's message and changes nothing.
  await row('Renamed PAT').getByRole('button', { name: 'Edit' }).click();
  await edit.getByLabel('Polling frequency (seconds)').fill('5');
  await edit.getByRole('button', { name: 'Save' }).click();
  await edit.locator('.form-error').waitFor();
  findings.polling_error = await edit.locator('.form-error').textContent();
  await edit.getByRole('button', { name: 'Cancel' }).click();

  // Set default.
  await row('Renamed PAT').getByRole('button', { name: 'Set default' }).click();
  await page.locator('#notice', { hasText: 'is now the default' }).waitFor();
  await row('Renamed PAT').locator('td.default', { hasText: 'Default' }).waitFor();
  check((await row('Console PAT').locator('td.default').textContent()) === '', 'old default cleared');

  // Check.
  await row('Renamed PAT').getByRole('button', { name: 'Check' }).click();
  await page.locator('#notice', { hasText: 'Connected as Ada Lovelace' }).waitFor();

  // Reconnect: a refused token shows the API's message and changes nothing;
  // the right one reconnects.
  await row('Renamed PAT').getByRole('button', { name: 'Reconnect' }).click();
  const reconnect = personal.locator('tr.row-panel form');
  await reconnect.getByLabel('Personal access token').fill('not-the-token');
  await reconnect.getByRole('button', { name: 'Reconnect' }).click();
  await reconnect.locator('.form-error').waitFor();
  findings.reconnect_error = await reconnect.locator('.form-error').textContent();
  check((await row('Renamed PAT').locator('.status').textContent()) === 'Connected', 'a refused reconnect changes nothing');
  await reconnect.getByLabel('Personal access token').fill(patToken);
  await reconnect.getByRole('button', { name: 'Reconnect' }).click();
  await page.locator('#notice', { hasText: 'Renamed PAT reconnected: Connected' }).waitFor();

  // Something references the first connection (another system registers it
  // through the public API); deleting it shows the reference and offers force.
  const firstId = await first.getAttribute('data-connection-id');
  const added = await page.evaluate(async (id) => {
    const r = await fetch(`/api/v1/connections/${id}/references`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Plugboard-CSRF': '1' },
      body: JSON.stringify({ kind: 'process', id: 'p-7', name: 'Payroll' }),
    });
    return r.status;
  }, firstId);
  check(added === 201 || added === 200, `adding a reference answered ${added}`);
  await first.getByRole('button', { name: 'Delete' }).click();
  const del = personal.locator('tr.row-panel form');
  await del.getByRole('button', { name: 'Confirm delete' }).click();
  await del.locator('.form-error').waitFor();
  findings.delete_error = await del.locator('.form-error').textContent();
  check((await del.locator('.references').textContent()).includes('Payroll'), 'the reference is listed');
  check(await first.isVisible(), 'still there after the refused delete');
  await del.getByRole('button', { name: 'Delete anyway' }).click();
  await page.locator('#notice', { hasText: 'Deleted Console PAT' }).waitFor();
  check((await row('Console PAT').count()) === 0, 'the deleted connection is gone');

  // An OAuth connector: the API's answer is shown (no OAuth flow in this
  // build: 501 oauth_not_available), and nothing is added.
  await personal.getByRole('button', { name: 'New connection' }).click();
  const oauth = personal.locator('.create-slot form');
  await oauth.getByLabel('Connector').selectOption('zoom');
  await oauth.getByLabel('Auth type').waitFor();
  findings.zoom_auth_kinds = await oauth.getByLabel('Auth type').locator('option').evaluateAll((os) => os.map((o) => o.value));
  await oauth.getByRole('button', { name: 'Create' }).click();
  await oauth.locator('.form-error').waitFor();
  findings.oauth_error = await oauth.locator('.form-error').textContent();
  check((await personal.locator('tr.connection').count()) === 1, 'no connection added by the failed OAuth create');

  findings.rows = await personal.locator('tr.connection td.name').allTextContents();

  // Sign out, then a wrong password is refused with the API's message.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.locator('#notice', { hasText: 'signed out' }).waitFor();
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill('definitely-not-it');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const signInError = page.locator('#sign-in-form .form-error');
  await signInError.waitFor();
  findings.sign_in_error = await signInError.textContent();
  check(await page.locator('#folders-view').isHidden(), 'still signed out');
  // After a reload the session is still gone.
  await page.reload();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  const html = await page.content();
  check(!html.includes(password) && !html.includes(patToken), 'no secret on the page');

  check(findings.csp_violations.length === 0, `CSP violations: ${findings.csp_violations.join('; ')}`);
  check(findings.page_errors.length === 0, `page errors: ${findings.page_errors.join('; ')}`);
  findings.ok = true;
  console.log(JSON.stringify(findings));
} catch (e) {
  console.log(JSON.stringify({ ...findings, ok: false, error: String(e && e.stack || e) }));
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
