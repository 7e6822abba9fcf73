// Screenshot of a review page (the README's docs/review.png): node --import tsx scripts/review-screenshot.ts REVIEW.html OUT.png
import { launchChromium, visitReview } from '../test/support/browser';

async function main(input: string | undefined, output: string | undefined) {
  if (!input || !output) throw new Error('usage: node --import tsx scripts/review-screenshot.ts REVIEW.html OUT.png');
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
