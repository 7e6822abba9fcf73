// Screenshot of a review page (the README's docs/review.png):
//   node --import tsx scripts/review-screenshot.ts REVIEW.html|REVIEW.json OUT.png
// A review.json is rendered to a page first, with the current code: the page is reproducible from its numbers.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReviewDocument } from '../src/review/document';
import { renderReviewHtml } from '../src/review/page';
import { launchChromium, visitReview } from '../test/support/browser';

async function main(source: string | undefined, output: string | undefined) {
  if (!source || !output) throw new Error('usage: node --import tsx scripts/review-screenshot.ts REVIEW.html|REVIEW.json OUT.png');
  let input = source;
  if (source.endsWith('.json')) {
    input = join(mkdtempSync(join(tmpdir(), 'modelship-review-')), 'review.html');
    writeFileSync(input, await renderReviewHtml(JSON.parse(readFileSync(source, 'utf8')) as ReviewDocument));
  }
  const browser = await launchChromium();
  try {
    const visit = await visitReview(browser, input, { width: 1360, height: 900 });
    await visit.page.screenshot({ path: output, fullPage: true });
    console.log(`${output}: charts ${JSON.stringify(visit.marks)}; console errors ${visit.consoleErrors.length}; requests ${visit.foreignRequests.length}`);
  } finally {
    await browser.close();
  }
}

main(process.argv[2], process.argv[3]).catch((error: unknown) => {
  console.error((error as Error).message);
  process.exit(1);
});
