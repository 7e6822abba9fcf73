// Watchers (`start --wait`, `demo`, `rollback --wait`) against a fake workflow handle: a transient gRPC error is
// ridden out and never read as the release's end or status (the "reading 'find'" crash), a real failure is not.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServiceError, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError, type RetryState } from '@temporalio/common';
import { exportLine } from '../src/client/commands/dev';
import { awaitResult, describePendingActivity, failedReleaseStatus, isTransientRpcError, watchRelease, type WatchedHandle } from '../src/client/release';
import type { ReleaseResult, ReleaseStatus } from '../src/workflows/release-api';

/** What the client throws when the server restarts under a call: a ServiceError whose cause has a string `details`. */
const unavailable = () =>
  new ServiceError('Unexpected error while making gRPC request', {
    cause: Object.assign(new Error('14 UNAVAILABLE: Connection dropped'), { code: 14, details: 'Connection dropped', metadata: {} }),
  });

const status: ReleaseStatus = {
  workflowId: 'release-x',
  stage: 'deploy',
  outcome: 'running',
  steps: [{ name: 'deploy', status: 'running' }],
  refused: [],
};
const finished: ReleaseResult = {
  ...status,
  stage: 'done',
  outcome: 'succeeded',
  steps: [{ name: 'deploy', status: 'succeeded', summary: 'blue serves v1' }],
  artifactsDir: '/tmp/a',
};

function fakeHandle(results: (() => Promise<unknown>)[]): WatchedHandle & { calls: number } {
  const handle = {
    workflowId: 'release-x',
    calls: 0,
    result: async () => results[Math.min(handle.calls++, results.length - 1)]!(),
    query: async () => status,
    describe: async () => ({ raw: { pendingActivities: [], pendingChildren: [] } }),
  };
  return handle as unknown as WatchedHandle & { calls: number };
}

describe('release watcher', () => {
  it('rides out a transient gRPC error from result() and returns the real result', async () => {
    const handle = fakeHandle([() => Promise.reject(unavailable()), () => Promise.resolve(finished)]);
    const lines: string[] = [];
    const outcome = await watchRelease(handle, (line) => lines.push(line), { pollMs: 20, retryDelayMs: 10 });
    assert.equal(outcome.error, undefined, String(outcome.error));
    assert.equal(outcome.result?.outcome, 'succeeded');
    assert.equal(handle.calls, 2, 'result() was asked again after the error');
    assert.ok(
      lines.some((line) => /lost contact with Temporal \(.*UNAVAILABLE/.test(line)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((line) => /back in contact/.test(line)),
      lines.join('\n'),
    );
  });

  it('returns a workflow failure at once, with its release status; a gRPC error never passes for one', async () => {
    const failure = new WorkflowFailedError(
      'Workflow execution failed',
      ApplicationFailure.nonRetryable('release failed at deploy', 'ReleaseFailed', finished),
      'NON_RETRYABLE_FAILURE' as RetryState,
    );
    const handle = fakeHandle([() => Promise.reject(failure)]);
    const outcome = await awaitResult(handle);
    assert.equal(handle.calls, 1);
    assert.ok('error' in outcome && outcome.error === failure);
    assert.equal(failedReleaseStatus(failure)?.steps[0]?.summary, 'blue serves v1');
    // The crash: a gRPC error's cause.details is a string, once read as the release status.
    assert.equal(failedReleaseStatus(unavailable()), undefined);
    const stringDetails = new WorkflowFailedError('failed', ApplicationFailure.nonRetryable('x', 'X', 'not a status'), 'NON_RETRYABLE_FAILURE' as RetryState);
    assert.equal(failedReleaseStatus(stringDetails), undefined);
  });

  it('gives up after a long silence with a message that says the release may still run', async () => {
    const handle = fakeHandle([() => Promise.reject(unavailable())]);
    const outcome = await awaitResult(handle, { giveUpAfterMs: 50, retryDelayMs: 10 });
    assert.ok('error' in outcome);
    assert.match(outcome.error.message, /no answer from Temporal .*may still be running/);
    assert.ok(handle.calls > 2);
  });

  it('tells transient errors from final ones', () => {
    assert.equal(isTransientRpcError(unavailable()), true);
    const deadline = new ServiceError('x', { cause: Object.assign(new Error('4 DEADLINE_EXCEEDED'), { code: 4 }) });
    assert.equal(isTransientRpcError(deadline), true);
    const invalid = new ServiceError('x', { cause: Object.assign(new Error('3 INVALID_ARGUMENT'), { code: 3 }) });
    assert.equal(isTransientRpcError(invalid), false);
    assert.equal(isTransientRpcError(new WorkflowNotFoundError('gone', 'w', undefined)), false);
    assert.equal(isTransientRpcError(new TypeError("Cannot read properties of undefined (reading 'find')")), false);
  });

  it("names a retried activity's last error and attempt", () => {
    const line = describePendingActivity({
      activityType: { name: 'registerModel' },
      attempt: 3,
      lastFailure: { message: 'MLflow at http://127.0.0.1:5000 is unreachable (fetch failed)' },
    });
    assert.equal(line, 'registerModel: MLflow at http://127.0.0.1:5000 is unreachable (fetch failed), retrying (attempt 3)');
    assert.equal(describePendingActivity({ activityType: { name: 'searchShard' }, attempt: 1 }), undefined);
  });
});

describe('modelship dev export line', () => {
  it('exports every variable a second terminal needs, quoted when needed', () => {
    const line = exportLine({ TEMPORAL_ADDRESS: '127.0.0.1:7300', MODELSHIP_HOME: "/tmp/my state/o'k", MLFLOW_TRACKING_URI: 'http://127.0.0.1:5001' });
    assert.equal(line, `export TEMPORAL_ADDRESS=127.0.0.1:7300 MODELSHIP_HOME='/tmp/my state/o'\\''k' MLFLOW_TRACKING_URI=http://127.0.0.1:5001`);
  });
});
