// Opening a review page in Debian's headless Chromium with playwright-core: what rendered, what the page logged,
// and every request it made. Missing Chromium is an error with the install command, never a skip.
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the review's browser tests need Debian's Chromium. Install it with: apt-get install -y chromium`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
}

export interface PageVisit {
  page: Page;
  consoleErrors: string[];
  /** Every request other than the page's own file:// URL. */
  foreignRequests: string[];
  /** Per chart (data-chart): the number of drawn data marks (vega's role-mark paths, symbols, texts). */
  marks: Record<string, number>;
  /** Charts shown as "not available" with their note. */
  missing: Record<string, string>;
}

export async function visitReview(browser: Browser, htmlPath: string, viewport = { width: 1280, height: 900 }): Promise<PageVisit> {
  const page = await browser.newPage({ viewport });
  const consoleErrors: string[] = [];
  const foreignRequests: string[] = [];
  const url = pathToFileURL(htmlPath).href;
  page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  page.on('request', (request) => request.url() !== url && foreignRequests.push(request.url()));
  await page.goto(url, { waitUntil: 'load' });
  const marks = await page.$$eval('figure.chart', (figures) =>
    Object.fromEntries(
      figures.map((f) => [
        f.getAttribute('data-chart')!,
        f.querySelectorAll('svg g.role-mark > path, svg g.role-mark > text, svg g.role-mark > line, svg g.role-mark > rect').length,
      ]),
    ),
  );
  const missing = await page.$$eval('figure.chart-missing', (figures) => Object.fromEntries(figures.map((f) => [f.getAttribute('data-chart')!, f.textContent ?? ''])));
  return { page, consoleErrors, foreignRequests, marks, missing };
}
