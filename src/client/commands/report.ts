// `modelship report <id> [--open]`: where a release's review is (the file, and the same page in MLflow), and
// optionally open it with the system's opener.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { statusQuery } from '../../workflows/release-api';
import type { ReviewRef } from '../../workflows/review-api';
import { artifactsRoot } from '../release';
import { withClient } from '../temporal';

/** xdg-open (Linux), open (macOS): the first one on PATH, if any. */
export function systemOpener(): string | undefined {
  const candidates = process.platform === 'darwin' ? ['open'] : ['xdg-open'];
  return candidates.find((command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0);
}

/** The review as the release's status has it; when the workflow cannot be asked (no worker), the local folder. */
async function findReview(workflowId: string): Promise<ReviewRef | undefined> {
  let review: ReviewRef | undefined;
  try {
    review = await withClient(async (client) => (await client.workflow.getHandle(workflowId).query(statusQuery)).review);
  } catch {
    review = undefined;
  }
  const local = join(artifactsRoot(), workflowId, 'review.html');
  if (!review?.path && existsSync(local)) return { ...review, phase: review?.phase ?? 'final', path: local };
  return review;
}

export function registerReportCommand(program: Command): void {
  program
    .command('report <workflowId>')
    .description("where a release's review report is (review.html, with its review.json), and its page in MLflow")
    .option('--open', "open review.html with the system's opener (xdg-open / open)")
    .action(async (workflowId: string, options: { open?: boolean }) => {
      const review = await findReview(workflowId);
      if (!review?.path) {
        console.error(
          review?.error
            ? `${workflowId}: ${review.error}`
            : `${workflowId} has no review yet: it is written once the candidate is registered and tested (see modelship status ${workflowId}).`,
        );
        process.exitCode = 1;
        return;
      }
      console.log(review.path);
      if (review.mlflowUrl) console.log(`in MLflow: ${review.mlflowUrl}`);
      if (review.error) console.log(`note: ${review.error}`);
      if (!options.open) return;
      if (!existsSync(review.path)) {
        console.error(`cannot open ${review.path}: not on this machine (it was written by the worker's machine; open it in MLflow instead)`);
        process.exitCode = 1;
        return;
      }
      const opener = systemOpener();
      if (!opener) {
        console.error('no opener found (xdg-open or open): open the path above in a browser');
        process.exitCode = 1;
        return;
      }
      spawn(opener, [review.path], { detached: true, stdio: 'ignore' }).unref();
      console.log(`opened with ${opener}`);
    });
}
