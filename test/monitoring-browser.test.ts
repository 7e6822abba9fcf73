// monitoring.html in a real headless browser (Debian's Chromium through playwright-core): every chart is drawn with
// data, the time axes read as times, nothing is logged as an error and nothing is fetched beyond the file itself.
// The page is the README's screenshot page (scripts/monitoring-screenshot.ts): six hourly windows counted by the
// monitor's own code, with a drift alarm and performance with its interval.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { standInMonitoringPage } from '../scripts/monitoring-screenshot';
import { COLOURS } from '../src/review/charts';
import { renderMonitoringHtml, type MonitoringPage } from '../src/monitoring/report';
import { launchChromium, visitReview } from './support/browser';

const dir = mkdtempSync(join(tmpdir(), 'modelship-monitoring-browser-'));
const CHARTS = ['drift', 'prediction', 'quality', 'performance', 'volume', 'latency'];

describe('monitoring.html in headless Chromium', () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  const open = async (name: string, page: MonitoringPage) => {
    const path = join(dir, name);
    writeFileSync(path, await renderMonitoringHtml(page));
    return visitReview(browser, path);
  };

  it('six windows with a drift alarm: every chart drawn with data, times as times, no errors, no requests', async () => {
    const visit = await open('windows.html', standInMonitoringPage());
    try {
      assert.deepEqual(visit.consoleErrors, []);
      assert.deepEqual(visit.foreignRequests, []);
      assert.deepEqual(visit.missing, {});
      assert.deepEqual(Object.keys(visit.marks).sort(), [...CHARTS].sort());
      for (const chart of CHARTS) {
        assert.equal(await visit.page.locator(`[data-chart="${chart}"] svg`).count(), 1, `${chart} is an SVG`);
        assert.ok(visit.marks[chart]! > 0, `${chart} has drawn marks`);
      }
      assert.equal(await visit.page.locator(`[data-chart="volume"] g.mark-rect.role-mark > path[fill="${COLOURS.ok}"]`).count(), 6, 'one bar of scored records per window');
      const timeLabels = await visit.page.locator('[data-chart="drift"] g.role-axis-label text').allTextContents();
      assert.ok(
        timeLabels.some((t) => /^\d\d:\d\d$/.test(t)),
        `hour labels on the window-end axis: ${timeLabels.join(' | ')}`,
      );
      assert.match(
        await visit.page
          .locator('[data-chart="drift"] g.role-axis-title')
          .allTextContents()
          .then((t) => t.join(' ')),
        /window end \(UTC, 2026-03-02\)/,
      );
      assert.match(await visit.page.locator('[data-table="windows"]').innerText(), /alarm[\s\S]*Account Balance PSI[\s\S]*raised \(sent\)/);
      assert.match(await visit.page.locator('[data-table="drift"]').innerText(), /Date Of Account Opening\s+date[^\n]*\d{4}-\d\d-\d\d/, 'date bins as dates');
    } finally {
      await visit.page.close();
    }
  });

  it('one window without enough outcomes: the time reads as a time and the missing panel keeps its width', async () => {
    const page = standInMonitoringPage();
    page.windows = page.windows.slice(-1);
    page.windows[0]!.window.end = '2026-03-02T12:00:13.193Z';
    const visit = await open('one-window.html', page);
    try {
      assert.deepEqual([visit.consoleErrors, visit.foreignRequests], [[], []]);
      assert.match(visit.missing.performance ?? '', /no window had enough labelled records/);
      const timeLabels = await visit.page.locator('[data-chart="drift"] g.role-axis-label text').allTextContents();
      assert.ok(timeLabels.includes('12:00:13'), `the window's end to the second: ${timeLabels.join(' | ')}`);
      assert.ok(!timeLabels.some((t) => t.startsWith('.')), 'no millisecond labels');
      const { width, height } = (await visit.page.locator('[data-chart="performance"] figcaption').boundingBox())!;
      assert.ok(width > 200 && height < 80, `the note of the panel without a chart is ${width}×${height}px, not one word per line`);
    } finally {
      await visit.page.close();
    }
  });
});
