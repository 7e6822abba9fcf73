// Upgrading the worker while a release waits for approval, with real Worker Deployment Versioning on the test
// run's Temporal dev server: the release starts on build A, build B (this checkout's workflows plus a new step
// behind patched(), test/fixtures/build-b) becomes current and A stops; the approval is handled by B and the
// release finishes there, running B's new step. Each test uses its own deployment name and task queues.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { decodeVersioningBehavior, type WorkerDeploymentVersion } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { startRelease } from '../src/client/release';
import { projectRoot, type TaskQueues } from '../src/config/environment';
import { loadConfig } from '../src/config/load';
import type { ReleaseConfigInput } from '../src/config/schema';
import { generateBankingCsv } from '../src/data/generate';
import { createWorkers, runWorkers } from '../src/worker';
import { describeDeployment, makeCurrentVersion } from '../src/worker-deployment';
import { approveUpdate, statusQuery, type ReleaseResult } from '../src/workflows/release-api';
import { POST_RELEASE_CHECK_PATCH } from './fixtures/build-b/post-release-check';
import { workflowBundle, type BuildVariant } from './support/bundles';
import { connectTestEnvironment, mlflowUri, uniqueQueues } from './support/temporal';
import { PASSING_GATES } from './support/release';

const dir = mkdtempSync(join(tmpdir(), 'modelship-upgrade-'));
const dataPath = join(dir, 'bank.csv');
const modelName = `upgrade-test-${Date.now()}`;
process.env.MODELSHIP_ARTIFACTS_DIR = join(dir, 'workflow_artifacts');

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** For each workflow task the history records as completed: the build id that completed it ('' if unversioned). */
const taskBuilds = (events: HistoryEvent[]) =>
  events
    .filter((e) => e.workflowTaskCompletedEventAttributes)
    .map((e) => ({ eventId: Number(e.eventId), build: e.workflowTaskCompletedEventAttributes!.deploymentVersion?.buildId ?? '' }));

/** Which build completed the workflow task that scheduled activity `name` (the task right before it). */
function buildThatScheduled(events: HistoryEvent[], name: string): string | undefined {
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === name);
  if (!scheduled) return undefined;
  return taskBuilds(events)
    .filter((t) => t.eventId < Number(scheduled.eventId))
    .pop()?.build;
}

describe('upgrading the worker while a release waits for approval', () => {
  let env: TestWorkflowEnvironment;
  const running: { workers: Worker[]; done: Promise<void> }[] = [];

  before(async () => {
    env = await connectTestEnvironment();
    await generateBankingCsv({ rows: 600, seed: 3, out: dataPath });
  });
  after(async () => {
    for (const group of running) for (const worker of group.workers) if (worker.getState() === 'RUNNING') worker.shutdown();
    await Promise.all(running.map((group) => group.done));
    await env?.teardown();
  });

  const service = () => env.client.workflowService;
  const namespace = () => env.namespace ?? 'default';

  /** Runs workers of one build on `queues`; stop() drains them. */
  async function startBuild(queues: TaskQueues, variant: BuildVariant, version?: WorkerDeploymentVersion) {
    const workers = await createWorkers({
      connection: env.nativeConnection,
      namespace: namespace(),
      queues,
      mlflowUri: mlflowUri(),
      stateDir: process.env.MODELSHIP_TEST_STATE_DIR,
      shutdownGraceTime: '1s',
      workflowBundle: await workflowBundle(variant),
      version,
    });
    const group = { workers, done: runWorkers(workers) };
    running.push(group);
    return {
      stop: async () => {
        for (const worker of workers) worker.shutdown();
        await group.done;
      },
    };
  }

  const release = (queues: TaskQueues, overrides: Partial<ReleaseConfigInput>, modelUri?: string) =>
    startRelease(
      env.client,
      namespace(),
      loadConfig({
        path: join(projectRoot, 'config/default.yaml'),
        overrides: {
          input_data_path: dataPath,
          model_name: modelName,
          n_iter: 1,
          cv_folds: 2,
          test_data_split: 0.25,
          model_families: ['logistic_regression'],
          ...PASSING_GATES,
          skip_deployment: true,
          auto_approve_deployment: false,
          ...overrides,
        },
      }).config,
      { queues, modelUri },
    );

  async function waitForApproval(handle: WorkflowHandle): Promise<string> {
    for (let i = 0; i < 480; i++) {
      const status = await handle.query(statusQuery).catch(() => undefined);
      if (status?.waitingFor) return status.candidate!.version;
      if (status && status.outcome !== 'running') assert.fail(`the release ended before approval: ${status.outcome} ${status.error ?? ''}`);
      await sleep(250);
    }
    assert.fail('the release never waited for approval');
  }

  /** The upgrade itself: B polls, B becomes current, A drains and stops; returns when A is gone. */
  async function upgrade(queues: TaskQueues, stopA: () => Promise<void>, versionB: WorkerDeploymentVersion, previous: string | undefined) {
    await startBuild(queues, 'build-b-guarded', versionB);
    const made = await makeCurrentVersion(service(), namespace(), versionB, { timeoutMs: 30_000 });
    assert.deepEqual(made, { buildId: versionB.buildId, previous, changed: true });
    await stopA();
  }

  /** Approves on B, waits for the result and checks where each workflow task ran. */
  async function approveOnB(handle: WorkflowHandle, version: string, buildA: string, buildB: string) {
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', modelVersion: version }] });
    const result = (await handle.result()) as ReleaseResult;
    assert.equal(result.outcome, 'succeeded', result.error);

    const events = (await handle.fetchHistory()).events ?? [];
    // The tasks ran on A until the upgrade, then only on B; B's first task is the one that took the approval.
    const builds = taskBuilds(events).map((t) => t.build);
    const firstOnB = builds.indexOf(buildB);
    assert.ok(firstOnB > 0, `tasks ran on A, then on B: ${builds.join(' ')}`);
    assert.deepEqual([...new Set(builds.slice(0, firstOnB))], [buildA], `every task before the upgrade ran on build ${buildA || '(unversioned)'}`);
    assert.deepEqual([...new Set(builds.slice(firstOnB))], [buildB], 'every task after it ran on build B');
    const accepted = Number(events.find((e) => e.workflowExecutionUpdateAcceptedEventAttributes)!.eventId);
    assert.equal(
      taskBuilds(events)
        .filter((t) => t.eventId < accepted)
        .pop()?.build,
      buildB,
      'B accepted the approval',
    );
    assert.equal(buildThatScheduled(events, 'registerModel') ?? buildThatScheduled(events, 'setModelAlias'), buildA, 'the candidate was registered on A');
    assert.equal(buildThatScheduled(events, 'tagApproval'), buildB, 'the approval was recorded on B');
    const marker = events.find((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch');
    assert.ok(marker, `B recorded its patch marker (${POST_RELEASE_CHECK_PATCH})`);
    const checks = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'resolveRegisteredModel');
    assert.ok(Number(checks.at(-1)?.eventId) > Number(marker.eventId), "B's new step ran after its marker");

    const description = await handle.describe();
    const versioning = description.raw.workflowExecutionInfo?.versioningInfo;
    assert.equal(versioning?.deploymentVersion?.buildId, buildB, 'the run now reports build B');
    assert.equal(decodeVersioningBehavior(versioning?.behavior), 'AUTO_UPGRADE', 'modelRelease auto-upgrades');
  }

  it('versioned build A → build B: the waiting release moves to B, is approved there and runs B’s patched step', async () => {
    const queues = uniqueQueues();
    const deploymentName = `modelship-test-${randomUUID().slice(0, 8)}`;
    const versionA = { deploymentName, buildId: 'A' };
    const versionB = { deploymentName, buildId: 'B' };
    const a = await startBuild(queues, 'current', versionA);
    assert.deepEqual(await makeCurrentVersion(service(), namespace(), versionA, { timeoutMs: 30_000 }), { buildId: 'A', previous: undefined, changed: true });

    const handle = await release(queues, {});
    const version = await waitForApproval(handle);
    const waiting = (await handle.describe()).raw.workflowExecutionInfo?.versioningInfo;
    assert.equal(waiting?.deploymentVersion?.buildId, 'A', 'the release waits on build A');

    await upgrade(queues, a.stop, versionB, 'A');
    const state = await describeDeployment(service(), namespace(), deploymentName);
    assert.equal(state?.current, 'B');
    assert.deepEqual(state?.versions.map((v) => v.buildId).sort(), ['A', 'B']);

    await approveOnB(handle, version, 'A', 'B');
  });

  it('unversioned worker (modelship before versioning) → versioned build B: the waiting release moves to B and finishes', async () => {
    const queues = uniqueQueues();
    const versionB = { deploymentName: `modelship-test-${randomUUID().slice(0, 8)}`, buildId: 'B' };
    const a = await startBuild(queues, 'current');
    const handle = await release(queues, { skip_training: true }, `models:/${modelName}/1`);
    const version = await waitForApproval(handle);
    await upgrade(queues, a.stop, versionB, undefined);
    await approveOnB(handle, version, '', 'B');
  });
});
