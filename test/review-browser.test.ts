// The review page in a real headless browser (Debian's Chromium through playwright-core): it renders, every chart
// is drawn with data, nothing is logged as an error and nothing is fetched beyond the file itself. Pages are made
// from a seeded review document with the same code the review activity runs; test/review-release.test.ts does
// the same for the review of a real release.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { COLOURS } from '../src/review/charts';
import { renderReviewHtml } from '../src/review/page';
import { launchChromium, visitReview } from './support/browser';
import { fixtureReview } from './support/review-fixture';

const dir = mkdtempSync(join(tmpdir(), 'modelship-review-browser-'));
const CANDIDATE_CHARTS = ['roc', 'precision_recall', 'calibration', 'confusion', 'score_distribution', 'importance', 'drift', 'latency'];

describe('review.html in headless Chromium', () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  const page = async (name: string, html: string) => {
    const path = join(dir, name);
    writeFileSync(path, html);
    return visitReview(browser, path);
  };

  it('while awaiting approval: every candidate chart drawn with data, the unsigned warning in red, no errors, no requests', async () => {
    const visit = await page('awaiting.html', await renderReviewHtml(fixtureReview({ phase: 'awaiting_approval' })));
    try {
      assert.deepEqual(visit.consoleErrors, []);
      assert.deepEqual(visit.foreignRequests, []);
      assert.deepEqual(Object.keys(visit.missing), []);
      assert.deepEqual(Object.keys(visit.marks).sort(), [...CANDIDATE_CHARTS].sort());
      for (const chart of CANDIDATE_CHARTS) assert.ok(visit.marks[chart]! > 0, `${chart} has drawn marks`);
      // Two models on the same rows: one line each (ROC, PR), points per calibration bin.
      for (const chart of ['roc', 'precision_recall']) {
        for (const colour of [COLOURS.candidate, COLOURS.champion]) {
          assert.equal(await visit.page.locator(`[data-chart="${chart}"] g.mark-line.role-mark > path[stroke="${colour}"]`).count(), 1, `${chart}: one curve in ${colour}`);
        }
      }
      assert.equal(await visit.page.locator('[data-chart="confusion"] g.mark-rect.role-mark > path').count(), 4);
      const warning = visit.page.locator('[data-warning="unsigned"]');
      assert.match(await warning.innerText(), /approvals are not signed: names only/);
      assert.equal(await warning.evaluate((e) => (globalThis as unknown as { getComputedStyle(e: unknown): { color: string } }).getComputedStyle(e).color), 'rgb(185, 28, 28)');
      assert.equal(await visit.page.locator('#rollout').count(), 0, 'no rollout section before the rollout');
      assert.equal(await visit.page.locator('[data-table="gates"] tr').count(), 6, 'header and five gates');
      assert.match(await visit.page.locator('[data-table="drift"]').innerText(), /Account Balance/);
    } finally {
      await visit.page.close();
    }
  });

  it('after the rollout: the timeline (traffic per colour, bake per step) and where compensations ran', async () => {
    const succeeded = await page('final.html', await renderReviewHtml(fixtureReview({ phase: 'final' })));
    try {
      assert.deepEqual([succeeded.consoleErrors, succeeded.foreignRequests], [[], []]);
      assert.ok(succeeded.marks.traffic! > 0 && succeeded.marks.bake! > 0);
      assert.equal(await succeeded.page.locator('[data-chart="traffic"] g.mark-line.role-mark > path').count(), 2, 'one line per colour');
      assert.equal(await succeeded.page.locator('[data-chart="bake"] g.mark-rect.role-mark > path').count(), 3, 'one bar per bake step');
      assert.match(await succeeded.page.locator('[data-table="approvals"]').innerText(), /alice\s+approved[\s\S]*not signed/);
    } finally {
      await succeeded.page.close();
    }
    const rolledBack = await page('rolled-back.html', await renderReviewHtml(fixtureReview({ phase: 'final', rolledBack: true })));
    try {
      assert.deepEqual([rolledBack.consoleErrors, rolledBack.foreignRequests], [[], []]);
      assert.match(await rolledBack.page.locator('[data-compensation]').innerText(), /compensations ran at .*restored traffic to \{"blue":100\}; deleted deployment green/);
      assert.ok(
        (await rolledBack.page.locator('[data-chart="traffic"] g.mark-rule.role-mark > line, [data-chart="traffic"] g.mark-rule.role-mark > path').count()) >= 1,
        'the compensation is marked on the timeline',
      );
    } finally {
      await rolledBack.page.close();
    }
  });

  it('shows a chart it cannot draw as missing, with the reason', async () => {
    const document = fixtureReview({ phase: 'awaiting_approval' });
    document.drift = { available: false, note: 'no @production model: nothing to compare with' };
    const visit = await page('no-champion.html', await renderReviewHtml(document));
    try {
      assert.deepEqual(visit.missing, { drift: 'drift: no @production model: nothing to compare with' });
      assert.equal(visit.marks.drift, undefined);
    } finally {
      await visit.page.close();
    }
  });
});
