// End-to-end tests of the web console: the real service in-process (temp-dir PGlite) and
// Debian's Chromium driven by playwright-core. Each test leaves a screenshot in test-results/ui/.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ExcelJS from 'exceljs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/server/config.ts';
import { startService, type Service } from '../../src/server/main.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];
const SHOTS = join('test-results', 'ui');

const SERVERS = [
  'name,ip_address,os,environment,application',
  'web01,10.0.0.1,Ubuntu 22.04,prod,shop',
  'db01,10.0.0.2,Windows Server 2019,prod,shop',
  'app01,10.0.0.3,RHEL 8,test,crm',
  '',
].join('\n');
const RELATIONS = ['parent,child,type', 'web01,db01,Depends on::Used by', 'app01,ext.example.com,Connects to', ''].join('\n');

interface View {
  id: string;
  status: string;
  phase: string;
}

async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}: run \`apt-get install -y chromium\` (.ci/run does), or set CHROMIUM_PATH.`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

async function startConsoleService(dataDir: string, env: Record<string, string> = {}): Promise<Service> {
  // An explicit environment: never CI's DATABASE_URL or FAULT_INJECTION.
  const config = loadConfig({ PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'silent', LOG_PRETTY: '0', INSTANCE_ID: `ui-test-${process.pid}`, ...env });
  return startService(config);
}

/** Chromium's own accessibility tree: every control a person can operate must have a name. */
async function unnamedControls(page: Page): Promise<string[]> {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = await cdp.send('Accessibility.getFullAXTree');
    const roles = new Set(['button', 'textbox', 'searchbox', 'combobox', 'checkbox', 'spinbutton', 'tab', 'link', 'radio', 'slider', 'switch', 'listbox', 'meter']);
    return nodes
      .filter((n) => !n.ignored && roles.has(String(n.role?.value)) && String(n.name?.value ?? '').trim() === '')
      .map((n) => `${String(n.role?.value)} (backend node ${n.backendDOMNodeId ?? '?'})`);
  } finally {
    await cdp.detach();
  }
}

/** Presses Tab until `selector` has focus; fails when it never gets there. */
async function tabTo(page: Page, selector: string, max = 60): Promise<void> {
  for (let i = 0; i < max; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate<boolean>(`document.activeElement?.matches(${JSON.stringify(selector)}) ?? false`)) return;
  }
  throw new Error(`Tab never reached ${selector}`);
}

describe('web console in Chromium', () => {
  let dataDir: string;
  let service: Service;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];

  const api = async <T>(path: string, init: RequestInit = {}): Promise<T> => {
    const res = await fetch(`${service.url}${path}`, { ...init, headers: { 'content-type': 'application/json', ...(init.headers ?? {}) } });
    if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path} answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as T;
  };
  const create = (options: Record<string, unknown> = {}, name = 'api workflow') =>
    api<View>('/workflows', {
      method: 'POST',
      body: JSON.stringify({ name, files: [{ name: 'servers.csv', content: SERVERS }, { name: 'relations.csv', content: RELATIONS }], options }),
    });
  const waitForStatus = async (id: string, status: string): Promise<View> => {
    for (let i = 0; i < 300; i += 1) {
      const view = await api<View>(`/workflows/${id}`);
      if (view.status === status) return view;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`workflow ${id} never reached ${status}`);
  };
  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const detailStatus = (status: string) => page.waitForSelector(`.detail[data-status="${status}"]`, { timeout: 20_000 });

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    dataDir = mkdtempSync(join(tmpdir(), 'discovery-ui-'));
    [browser, service] = await Promise.all([launchBrowser(), startConsoleService(dataDir)]);
  });

  afterAll(async () => {
    await browser?.close();
    await service?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    page = await context.newPage();
    problems = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });
  });

  afterEach(async () => {
    await context.close();
    // CSP violations and script errors show up here.
    expect(problems).toEqual([]);
  });

  it('serves the console at / and creates a workflow from dropped files that reaches completed without a reload', async () => {
    const res = await fetch(`${service.url}/`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/ui/');

    await page.goto(`${service.url}/`);
    await expect.poll(() => page.url()).toBe(`${service.url}/ui/`);
    await page.getByRole('heading', { name: 'Workflows', level: 1 }).waitFor();
    await page.evaluate('window.__sameDocument = true');

    // Drop two files on the drop zone, as a person dragging them from a file manager would.
    const transfer = await page.evaluateHandle(`(() => {
      const dt = new DataTransfer();
      dt.items.add(new File([${JSON.stringify(SERVERS)}], 'servers.csv', { type: 'text/csv' }));
      dt.items.add(new File([${JSON.stringify(RELATIONS)}], 'relations.csv', { type: 'text/csv' }));
      return dt;
    })()`);
    await page.getByTestId('dropzone').dispatchEvent('drop', { dataTransfer: transfer });
    await expect.poll(() => page.getByRole('list', { name: 'Files to upload' }).getByRole('listitem').count()).toBe(2);
    await page.getByLabel('Name', { exact: true }).fill('dc1 from the browser');
    await page.getByRole('button', { name: 'Create and start' }).click();

    await page.waitForURL(/\/ui\/workflows\/[0-9a-f-]{36}$/);
    await detailStatus('completed');
    const id = page.url().split('/').pop()!;
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    expect(await page.getByTestId('current-state').textContent()).toBe('completed');

    // The list shows it, and picks up a workflow created elsewhere, live.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Workflows' }).click();
    await page.locator(`tr[data-id="${id}"][data-status="completed"]`).waitFor();
    const other = await create({}, 'created by curl');
    await page.locator(`tr[data-id="${other.id}"][data-status="completed"]`).waitFor({ timeout: 20_000 });
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    await page.getByLabel('Status').selectOption('completed');
    await expect.poll(() => page.url()).toContain('status=completed');
    await shot('01-list-live');
  });

  it('uploads an .xlsx workbook (sent as base64) with a retry policy', async () => {
    const workbook = new ExcelJS.Workbook();
    const sheet = workbook.addWorksheet('servers');
    for (const line of SERVERS.trim().split('\n')) sheet.addRow(line.split(','));
    const xlsx = Buffer.from((await workbook.xlsx.writeBuffer()) as ArrayBuffer);

    await page.goto(`${service.url}/ui/`);
    await page.locator('#file-input').setInputFiles([{ name: 'servers.xlsx', mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', buffer: xlsx }]);
    await page.getByText('Retry policy', { exact: true }).click();
    await page.getByLabel('Retries').fill('5');
    await page.getByLabel('First delay (ms)').fill('200');
    await page.getByRole('button', { name: 'Create and start' }).click();
    await detailStatus('completed');
    const id = page.url().split('/').pop()!;
    const view = await api<View & { options: { retry?: Record<string, number> }; context: { cmdb_data: { tables: { rows: number }[] } } }>(`/workflows/${id}`);
    expect(view.options.retry).toEqual({ retries: 5, initialDelayMs: 200 });
    expect(view.context.cmdb_data.tables[0]!.rows).toBe(3);
    await shot('02-xlsx-completed');
  });

  it('approves mappings at the review point with one target changed and shows it applied', async () => {
    await page.goto(`${service.url}/ui/`);
    await page.locator('#file-input').setInputFiles([{ name: 'servers.csv', mimeType: 'text/csv', buffer: Buffer.from(SERVERS) }]);
    await page.getByLabel('Stop for a mapping review before classification').check();
    await page.getByRole('button', { name: 'Create and start' }).click();
    await detailStatus('awaiting_review');
    const id = page.url().split('/').pop()!;

    await expect.poll(() => page.locator('svg [data-state="field_mapping.review"]').getAttribute('data-active')).toBe('true');
    const select = page.getByLabel('Target field for application (servers.csv)');
    await expect.poll(() => select.inputValue()).toBe('application');
    await select.selectOption('business_service');
    await expect.poll(() => page.getByTestId('approve').textContent()).toContain('1 changed');
    await shot('03-review-changed');
    await page.getByTestId('approve').click();
    await detailStatus('completed');

    const mappings = await api<{ items: { source: string; target: string; reason: string }[] }>(`/workflows/${id}/mappings`);
    expect(mappings.items.find((m) => m.source === 'application')).toMatchObject({ target: 'business_service', reason: 'override' });
    await page.getByRole('tab', { name: /Mappings/ }).click();
    const row = page.locator('#panel-mappings tr[data-column="application"]');
    await expect.poll(() => row.getAttribute('data-target')).toBe('business_service');
    expect(await row.textContent()).toContain('override');
    await shot('04-mappings-applied');
  });

  it('cancels at the review point, then retries the failed workflow from an earlier phase', async () => {
    const created = await create({ reviewMappings: true }, 'to be retried');
    await waitForStatus(created.id, 'awaiting_review');
    await page.goto(`${service.url}/ui/workflows/${created.id}`);
    await detailStatus('awaiting_review');

    // Only what the state accepts: no START and no RETRY while awaiting review.
    expect(await page.getByRole('button', { name: 'Start' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Retry' }).count()).toBe(0);
    await page.getByLabel('Reason').fill('wrong export');
    await page.getByLabel('Reason').press('Enter');
    await detailStatus('failed');
    expect(await page.locator('svg [data-state="failed"]').getAttribute('data-active')).toBe('true');
    expect(await page.locator('.failure-banner').textContent()).toContain('wrong export');
    expect(await page.getByRole('button', { name: 'Cancel workflow' }).count()).toBe(0);
    await shot('05-failed');

    await page.getByLabel('Restart from').selectOption('data_validation');
    await page.getByRole('button', { name: 'Retry' }).click();
    // From data_validation it runs again up to the review point (the workflow asks for review).
    await detailStatus('awaiting_review');
    const history = await api<{ items: { eventType: string; event: { fromPhase?: string } }[] }>(`/workflows/${created.id}/history`);
    expect(history.items.find((h) => h.eventType === 'RETRY')?.event.fromPhase).toBe('data_validation');

    await page.getByRole('tab', { name: /Timeline/ }).click();
    await page.locator('.tl-row[data-phase="data_validation"] .tl-bar[data-attempt="2"]').waitFor();
    expect(await page.locator('.tl-row[data-phase="data_source_analysis"] .tl-bar').count()).toBe(1);
    await shot('06-retried-timeline');
  });

  it('draws the statechart with the current state highlighted and the dependency graph', async () => {
    const created = await create({}, 'graph');
    await waitForStatus(created.id, 'completed');
    await page.goto(`${service.url}/ui/workflows/${created.id}`);
    await detailStatus('completed');

    const chart = page.locator('figure.statechart svg');
    // Every top-level state and the retry and review sub-states are drawn; only `completed` is lit.
    for (const state of ['pending', 'data_source_analysis', 'data_validation', 'field_mapping', 'asset_classification', 'dependency_analysis', 'database_integration', 'failed', 'retrying', 'completed']) {
      await chart.locator(`g[data-state="${state}"]`).waitFor();
    }
    for (const state of ['field_mapping.running', 'field_mapping.backoff', 'field_mapping.review', 'database_integration.backoff']) {
      expect(await chart.locator(`g[data-state="${state}"]`).count()).toBe(1);
    }
    expect(await chart.locator('g.sc-state[data-active="true"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')))).toEqual(['completed']);
    expect(await chart.locator('g.sc-edge').count()).toBeGreaterThan(15);
    await shot('07-statechart');

    await page.getByRole('tab', { name: /Results/ }).click();
    const graph = page.getByTestId('dependency-graph');
    await page.locator('[data-testid="dependency-graph"][data-state="ready"]').waitFor({ timeout: 15_000 });
    // web01, db01, app01, the applications shop and crm, and the unresolved ext.example.com.
    expect(await graph.getAttribute('data-nodes')).toBe('6');
    // Cytoscape draws on its canvases just after the graph reports ready (and again if a late stream message re-renders it).
    await graph.locator('canvas').first().waitFor({ timeout: 15_000 });
    expect(await graph.locator('canvas').count()).toBeGreaterThan(0);
    expect(await page.locator('.asset-table tbody tr').count()).toBe(3);
    await page.getByLabel('OS family').selectOption('windows');
    expect(await page.locator('.asset-table tbody tr').count()).toBe(1);
    await page.getByRole('button', { name: /Name/ }).click();
    expect(await page.locator('.asset-table th').first().getAttribute('aria-sort')).toBe('descending');
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download assets as CSV' }).click();
    expect((await download).suggestedFilename()).toBe('graph-assets.csv');
    await graph.scrollIntoViewIfNeeded();
    await shot('08-results-graph');
  });

  it('works from the keyboard and names every control', async () => {
    const created = await create({ reviewMappings: true }, 'keyboard');
    await waitForStatus(created.id, 'awaiting_review');
    await page.goto(`${service.url}/ui/`);
    await page.locator(`tr[data-id="${created.id}"]`).waitFor();
    expect(await unnamedControls(page)).toEqual([]);

    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
    await tabTo(page, `a[href="/ui/workflows/${created.id}"]`);
    await page.keyboard.press('Enter');
    await detailStatus('awaiting_review');
    await expect.poll(() => page.evaluate('document.activeElement?.id')).toBe('page-title');
    await page.locator('.mapping-table select').first().waitFor();
    expect(await unnamedControls(page)).toEqual([]);

    // The tab list follows the ARIA pattern: arrows, Home and End move and select.
    await tabTo(page, '[role="tab"][aria-selected="true"]');
    await page.keyboard.press('ArrowRight');
    expect(await page.evaluate('document.activeElement?.id')).toBe('tab-timeline');
    expect(page.url()).toContain('#timeline');
    await page.keyboard.press('End');
    expect(await page.evaluate('document.activeElement?.id')).toBe('tab-results');
    await page.keyboard.press('Home');
    expect(await page.evaluate('document.activeElement?.id')).toBe('tab-overview');

    // Change a mapping target and approve it with keys only.
    await tabTo(page, 'select[aria-label="Target field for os (servers.csv)"]');
    await page.keyboard.press('ArrowDown');
    expect(await page.getByLabel('Target field for os (servers.csv)').inputValue()).toBe('os_version');
    await tabTo(page, '[data-testid="approve"]');
    await shot('09-keyboard-review');
    await page.keyboard.press('Enter');
    await detailStatus('completed');
    await page.getByRole('tab', { name: /Results/ }).click();
    await page.locator('.asset-table').waitFor();
    expect(await unnamedControls(page)).toEqual([]);
    await shot('10-keyboard-results');
  });
});

describe('web console with API keys', () => {
  const READER = 'reader-token-0123456789';
  const WRITER = 'writer-token-0123456789';
  let dataDir: string;
  let service: Service;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    dataDir = mkdtempSync(join(tmpdir(), 'discovery-ui-keys-'));
    [browser, service] = await Promise.all([launchBrowser(), startConsoleService(dataDir, { API_KEYS: `reader:${READER}:read,writer:${WRITER}:write` })]);
  });

  afterAll(async () => {
    await browser?.close();
    await service?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('asks for a key once, sends it as a Bearer token, and shows a read-only key no actions', async () => {
    const headers = { authorization: `Bearer ${WRITER}`, 'content-type': 'application/json' };
    const res = await fetch(`${service.url}/workflows`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'secured', files: [{ name: 'servers.csv', content: SERVERS }], options: { reviewMappings: true } }),
    });
    const created = (await res.json()) as View;

    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    const page = await context.newPage();
    try {
      // The page and its modules load without a key; the API asks for one.
      await page.goto(`${service.url}/ui/`);
      const dialog = page.getByRole('dialog', { name: 'API key needed' });
      await dialog.waitFor();
      await dialog.getByLabel('API key').fill('not-a-valid-token-at-all');
      await dialog.getByRole('button', { name: 'Use key' }).click();
      await expect.poll(() => dialog.textContent()).toContain('not accepted');
      await dialog.getByLabel('API key').fill(READER);
      await dialog.getByRole('button', { name: 'Use key' }).click();
      await page.locator(`tr[data-id="${created.id}"]`).waitFor();
      expect(await page.getByRole('heading', { name: 'Read-only key' }).count()).toBe(1);
      expect(await page.getByRole('button', { name: 'Create and start' }).count()).toBe(0);

      await page.goto(`${service.url}/ui/workflows/${created.id}`);
      await page.locator('.detail[data-status="awaiting_review"]').waitFor({ timeout: 20_000 });
      expect(await dialog.isVisible()).toBe(false);
      await page.getByTestId('read-only').waitFor();
      // The mapping table is shown, but not for editing.
      await page.locator('#review .mapping-table tbody tr').first().waitFor();
      expect(await page.locator('#review select').count()).toBe(0);
      expect(await page.getByRole('button', { name: /Cancel workflow|Approve mappings|Retry|Start/ }).count()).toBe(0);
      await page.screenshot({ path: join(SHOTS, '11-read-only-key.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });
});
