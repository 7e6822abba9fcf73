// What release tests share: a config from config/default.yaml with the test's settings, and waiting until a
// release asks for approval.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { failureMessage } from '../../src/client/temporal';
import { projectRoot } from '../../src/config/environment';
import { loadConfig } from '../../src/config/load';
import type { ReleaseConfigInput } from '../../src/config/schema';
import { statusQuery, type ReleaseStatus } from '../../src/workflows/release-api';

/** Training small enough for a test: a couple of fits on a few hundred rows. */
export const quickTraining = { n_iter: 2, cv_folds: 2, test_data_split: 0.25 } satisfies Partial<ReleaseConfigInput>;

/** Gates any model passes: for tests about what happens after them. */
export const lenientGates = { min_f1: 0, min_roc_auc: 0.5, min_accuracy: 0, max_regression: 1 } satisfies Partial<ReleaseConfigInput>;

/** The default config with `overrides` (what `modelship start` would run with those keys set). */
/** Gates any trained candidate passes, for tests and recordings about what comes after the gates. */
export const PASSING_GATES = { min_f1: 0, min_roc_auc: 0.5, min_accuracy: 0, max_regression: 1 } satisfies Partial<ReleaseConfigInput>;

export function releaseConfig(overrides: Partial<ReleaseConfigInput>) {
  return loadConfig({ path: join(projectRoot, 'config/default.yaml'), overrides }).config;
}

/** Polls the release's status until it waits for a decision (failing at once if the release failed first). */
export async function waitForApproval(handle: WorkflowHandle, timeoutMs = 120_000): Promise<ReleaseStatus> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await handle.query(statusQuery).catch(() => undefined);
    if (status?.waitingFor) return status;
    if (status?.outcome === 'failed') assert.fail(`release failed before approval: ${status.error}`);
    await sleep(100);
  }
  assert.fail('the release never waited for approval');
}

/** Asserts that `attempt` is an Update the workflow refused, with a message matching `pattern`. */
export const refusedUpdate = (attempt: Promise<unknown>, pattern: RegExp) =>
  assert.rejects(attempt, (error: unknown) => {
    assert.ok(error instanceof WorkflowUpdateFailedError, `expected a refused Update, got ${String(error)}`);
    assert.match(failureMessage(error), pattern);
    return true;
  });
