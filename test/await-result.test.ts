// The watcher's wait for a release's result over many long polls, against a fake client that treats abort signals
// as the SDK does (each call made under withAbortSignal adds an abort listener to the signal and never removes it).
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { awaitResult } from '../src/client/release';
import { requireEnv } from './support/temporal';

/** A run that closes after `polls` long polls; `mostListeners` is the most abort listeners any signal had. */
function fakeRun(polls: number, options: { hang?: boolean } = {}) {
  const callSignal = new AsyncLocalStorage<AbortSignal>();
  const seen = { calls: 0, mostListeners: 0 };
  const getWorkflowExecutionHistory = async () => {
    const signal = callSignal.getStore();
    if (signal) {
      signal.addEventListener('abort', () => undefined);
      seen.mostListeners = Math.max(seen.mostListeners, getEventListeners(signal, 'abort').length);
    }
    if (options.hang) {
      await new Promise((_, reject) => signal?.addEventListener('abort', () => reject(Object.assign(new Error('1 CANCELLED: Cancelled on client'), { code: 1 }))));
    }
    await setImmediate();
    return { history: { events: seen.calls++ < polls ? [] : [{ eventId: 1 }] } };
  };
  const client = {
    options: { namespace: 'default' },
    withAbortSignal: <R>(signal: AbortSignal, fn: () => Promise<R>) => callSignal.run(signal, fn),
    workflowService: { getWorkflowExecutionHistory },
  };
  const handle = {
    workflowId: 'release-x',
    client,
    // As the SDK's result(): long polls until the close event, then the result.
    result: async () => {
      while ((await getWorkflowExecutionHistory()).history.events.length === 0);
      return 'done';
    },
  };
  return { handle: handle as unknown as Pick<WorkflowHandle, 'result' | 'workflowId' | 'client'>, seen };
}

describe('awaitResult with a stop signal', () => {
  it('waits through many long polls without piling abort listeners on any signal', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      const { handle, seen } = fakeRun(40);
      const stop = new AbortController();
      const outcome = await awaitResult<string>(handle, { signal: stop.signal });
      assert.deepEqual(outcome, { result: 'done' });
      assert.ok(seen.calls > 40, `${seen.calls} calls`);
      assert.ok(seen.mostListeners <= 2, `a signal had ${seen.mostListeners} abort listeners`);
      assert.equal(getEventListeners(stop.signal, 'abort').length, 0, 'the stop signal is let go of');
      await setImmediate();
      assert.deepEqual(
        warnings.filter((w) => /MaxListeners/.test(w)),
        [],
      );
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('stopping cancels the pending long poll', async () => {
    const { handle } = fakeRun(1, { hang: true });
    const stop = new AbortController();
    const waiting = awaitResult<string>(handle, { signal: stop.signal, retryDelayMs: 10 });
    await setImmediate();
    stop.abort();
    const outcome = await waiting;
    assert.ok('error' in outcome, 'no result after stopping');
    assert.match(outcome.error.message, /CANCELLED/);
  });

  it("on a real server: a run's end and a missing run, as the SDK says them", async () => {
    const connection = await Connection.connect({ address: requireEnv('TEMPORAL_ADDRESS') });
    try {
      const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
      const stop = new AbortController();
      // No worker polls this queue: the run ends when it is terminated.
      const handle = await client.workflow.start('modelRelease', { taskQueue: `nobody-${Date.now()}`, workflowId: `await-result-${Date.now()}`, args: [] });
      const waiting = awaitResult(handle, { signal: stop.signal });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await handle.terminate('test done');
      const ended = await waiting;
      assert.ok('error' in ended && ended.error instanceof WorkflowFailedError, String('error' in ended ? ended.error : 'a result'));
      const missing = await awaitResult(client.workflow.getHandle(`no-such-run-${Date.now()}`), { signal: stop.signal });
      assert.ok('error' in missing && missing.error instanceof WorkflowNotFoundError, String('error' in missing ? missing.error : 'a result'));
    } finally {
      await connection.close();
    }
  });
});
