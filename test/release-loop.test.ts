// The loop after the deploy, on the test run's dev server (schedules need it): monitor alarms that start a
// retraining release, a retraining schedule, a person's start — at most one release per model whatever starts it —
// unattended releases that still stop at the gate, and a release through staging then production. The release
// runs on stand-in activities (no model is trained or served); the monitor on its real activities over stand-in
// captures.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createOrchestrationActivities } from '../src/activities';
import { runMonitorNow } from '../src/client/commands/monitor';
import { operatorConfig } from '../src/client/commands/endpoints';
import { promotionConfig } from '../src/client/commands/promote';
import { ReleaseRunningError, releaseTemplate, startRelease } from '../src/client/release';
import type { ReleaseConfigInput } from '../src/config/schema';
import { DEFAULT_MONITOR_SETTINGS } from '../src/monitoring/defaults';
import type { MonitorInput, MonitorResult } from '../src/workflows/monitor-api';
import { rolloutSettingsOf, type RollbackResult } from '../src/workflows/operator-api';
import { approveUpdate, rejectUpdate, releaseWorkflowIdOf, statusQuery, type ReleaseResult, type ReleaseStatus } from '../src/workflows/release-api';
import type { ScheduledReleaseResult } from '../src/workflows/release-starter-api';
import { captureWindow, HOUR, registerMonitoredModel } from './support/monitor-fixture';
import { releaseConfig, waitForApproval } from './support/release';
import { releaseStandIns, standInCandidate, standInEndpoint, withStandIns, type StandInActivities } from './support/stand-ins';
import { connectTestEnvironment, mlflowUri, requireEnv } from './support/temporal';

const dir = mkdtempSync(join(tmpdir(), 'release-loop-'));
const stateDir = () => requireEnv('MODELSHIP_TEST_STATE_DIR');

describe('the loop: schedules, alarms, one release per model, environments', () => {
  let env: TestWorkflowEnvironment;
  let real: ReturnType<typeof createOrchestrationActivities>;
  const namespace = () => env.namespace ?? 'default';

  before(async () => {
    env = await connectTestEnvironment();
    real = createOrchestrationActivities({ mlflowUri: mlflowUri(), stateDir: stateDir(), endpointUrl: requireEnv('MODELSHIP_ENDPOINT_URL') });
  });
  after(async () => {
    await env?.teardown();
  });

  /** A release of `model` that reuses version 3 and waits for a person unless the overrides say otherwise. */
  const configOf = (model: string, overrides: Partial<ReleaseConfigInput> = {}) =>
    releaseConfig({
      input_data_path: join(dir, 'unread.csv'),
      model_name: model,
      skip_training: true,
      skip_deployment: true,
      skip_local_testing: true,
      auto_approve_deployment: false,
      ...overrides,
    });
  const queuesOf = (taskQueue: string) => ({ orchestration: taskQueue, training: `${taskQueue}-training` });

  /** Stand-ins for a release through two environments: a staging endpoint (empty) and a production one (v2 live on blue). */
  const environmentStandIns = (model: string) => {
    const stands = releaseStandIns(model);
    const staging = standInEndpoint({ modelName: model });
    const production = standInEndpoint({ modelName: model, live: { colour: 'blue', version: '2' } });
    // Each endpoint's activities go to its own stand-in; aliases are one registry.
    const aliases: string[] = [];
    const byEndpoint = (name: keyof StandInActivities) => async (input: { endpoint: string }) =>
      ((input.endpoint === 'fb-staging' ? staging : production).activities[name] as (i: unknown) => Promise<unknown>)(input);
    const endpointActivities = Object.fromEntries(
      (['describeEndpoint', 'ensureEndpoint', 'deployModel', 'healthCheck', 'setTraffic', 'analyzeBake', 'deleteDeployment'] as const).map((name) => [name, byEndpoint(name)]),
    ) as StandInActivities;
    const activities: StandInActivities = {
      ...real,
      ...stands.activities,
      ...endpointActivities,
      checkDeploymentTarget: async (input) => ({ target: input.target, reached: 'stand-in' }),
      setModelAlias: async (input) => {
        aliases.push(`${input.alias}=${input.version ?? '(none)'}`);
        return { alias: input.alias, previousVersion: input.alias === 'production' ? '2' : undefined, version: input.version };
      },
    };
    return { activities, staging, production, aliases };
  };
  const environments: ReleaseConfigInput['environments'] = [
    { name: 'staging', endpoint_name: 'fb-staging', auto_approve_deployment: true, soak_time: '1s' },
    { name: 'production', endpoint_name: 'fb-production', required_approvals: 1 },
  ];
  const deploying = { skip_deployment: false, bake_time: '0s', termination_wait: '0s', traffic_plan: [100], environments } satisfies Partial<ReleaseConfigInput>;

  /** Polls until `read` gives a value. */
  async function eventually<T>(read: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await read().catch(() => undefined);
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  it('ten alarms, a scheduled run and a person at the same moment give exactly one running release', async () => {
    const model = `loop-${randomUUID().slice(0, 8)}`;
    const monitored = await registerMonitoredModel(model);
    const base = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
    const endpoints = Array.from({ length: 10 }, (_, i) => `alarm-${i}-${randomUUID().slice(0, 6)}`);
    // Each endpoint's window: x moved by two standard deviations, so each monitor raises a drift alarm.
    endpoints.forEach((endpoint, i) =>
      captureWindow({ stateDir: stateDir(), endpoint, modelName: model, version: monitored, hourStart: base, count: 300, shift: 2, seed: 40 + i }),
    );
    const stands = releaseStandIns(model);
    await withStandIns(env, { ...real, ...stands.activities }, async (taskQueue) => {
      const template = releaseTemplate(configOf(model), namespace(), { modelUri: `models:/${model}/3`, queues: queuesOf(taskQueue) });
      const monitorInput = (endpoint: string): MonitorInput => ({
        target: 'local',
        endpoint,
        settings: { ...DEFAULT_MONITOR_SETTINGS, every: '1h' },
        windowEnd: new Date(base + HOUR).toISOString(),
        onAlarm: 'retrain',
        release: template,
      });
      const scheduleId = `retrain-${model}`;
      await env.client.schedule.create({
        scheduleId,
        spec: { intervals: [{ every: '365d' }] },
        action: { type: 'startWorkflow', workflowType: 'scheduledRelease', taskQueue, args: [{ schedule: model, release: template }] },
        state: { paused: true },
      });

      // All at once: ten monitor runs, the schedule's trigger and a person's start.
      const monitors = endpoints.map((endpoint) => runMonitorNow(env.client, monitorInput(endpoint), taskQueue).then((h) => h.result() as Promise<MonitorResult>));
      const person = startRelease(env.client, namespace(), configOf(model), { queues: queuesOf(taskQueue), modelUri: `models:/${model}/3`, startedBy: 'carol' }).then(
        (handle) => ({ started: true as const, handle }),
        (error: unknown) => {
          if (error instanceof ReleaseRunningError) return { started: false as const, error };
          throw error;
        },
      );
      const schedule = env.client.schedule.getHandle(scheduleId);
      await schedule.trigger();
      const [results, manual] = await Promise.all([Promise.all(monitors), person]);

      assert.ok(
        results.every((r) => r.alarmRaised && r.retrain),
        'every monitor raised its alarm and tried to retrain',
      );
      const scheduled = await eventually(async () => {
        const action = (await schedule.describe()).info.recentActions[0];
        if (!action) return undefined;
        const run = env.client.workflow.getHandle(action.action.workflow.workflowId);
        const { status } = await run.describe();
        // A run that started the release waits for it; one that found it running has ended.
        if (status.name === 'COMPLETED') return { ended: (await run.result()) as ScheduledReleaseResult };
        return status.name === 'RUNNING' ? { ended: undefined } : undefined;
      }, 'the scheduled run');
      const starts = [...results.map((r) => r.retrain!.started), manual.started, scheduled.ended ? scheduled.ended.started : true];
      assert.equal(starts.filter(Boolean).length, 1, `exactly one start succeeded: ${JSON.stringify(starts)}`);
      for (const r of results) if (!r.retrain!.started) assert.equal(r.retrain!.workflowId, releaseWorkflowIdOf(model));
      if (!manual.started) {
        assert.equal(manual.error.workflowId, releaseWorkflowIdOf(model));
        assert.match(manual.error.message, new RegExp(`refused: a release of this model is running: ${releaseWorkflowIdOf(model)}`));
      }

      // One execution of release-<model> in all, and it says why it started.
      const handle = env.client.workflow.getHandle(releaseWorkflowIdOf(model));
      const status = await waitForApproval(handle);
      assert.ok(status.trigger && ['alarm', 'schedule', 'person'].includes(status.trigger.kind));
      if (status.trigger.kind === 'alarm') {
        assert.ok(endpoints.includes(status.trigger.endpoint));
        assert.deepEqual(
          status.trigger.drift.map((d) => d.feature),
          ['x'],
        );
        assert.ok(status.trigger.drift[0]!.psi > status.trigger.drift[0]!.threshold);
      }
      assert.equal(status.handleId, releaseWorkflowIdOf(model));
      assert.match(status.workflowId, new RegExp(`^release-${model}-\\d{8}-\\d{6}-[0-9a-f]{4}$`));
      const executions = await eventually(async () => {
        const runs: string[] = [];
        for await (const run of env.client.workflow.list({ query: `WorkflowId = '${releaseWorkflowIdOf(model)}'` })) runs.push(run.runId);
        return runs.length > 0 ? runs : undefined;
      }, 'the release in the visibility store');
      assert.equal(executions.length, 1);

      await handle.executeUpdate(rejectUpdate, { args: [{ by: 'carol', reason: 'the loop test ends here' }] });
      assert.equal(((await handle.result()) as ReleaseResult).outcome, 'rejected');
      await schedule.delete();
    });
  });

  it('an unattended release stops at the gate even with auto_approve_deployment; unattended_approval: automatic lets it through', async () => {
    const model = `unattended-${randomUUID().slice(0, 8)}`;
    const stands = releaseStandIns(model);
    await withStandIns(env, stands.activities, async (taskQueue) => {
      const run = async (overrides: Partial<ReleaseConfigInput>) => {
        const release = releaseTemplate(configOf(model, overrides), namespace(), { modelUri: `models:/${model}/3`, queues: queuesOf(taskQueue) });
        return env.client.workflow.start('scheduledRelease', { taskQueue, workflowId: `scheduled-${randomUUID()}`, args: [{ schedule: 'nightly', release }] });
      };
      const waiting = await run({ auto_approve_deployment: true });
      const release = env.client.workflow.getHandle(releaseWorkflowIdOf(model));
      const status = await waitForApproval(release);
      assert.deepEqual(status.trigger && { kind: status.trigger.kind, schedule: 'schedule' in status.trigger && status.trigger.schedule }, {
        kind: 'schedule',
        schedule: 'nightly',
      });
      await release.executeUpdate(approveUpdate, { args: [{ by: 'dana', modelVersion: standInCandidate.version }] });
      assert.deepEqual(await waiting.result(), { started: true, workflowId: releaseWorkflowIdOf(model), releaseId: status.workflowId, outcome: 'succeeded' });

      const automatic = await run({ unattended_approval: 'automatic' });
      const result = (await automatic.result()) as ScheduledReleaseResult;
      assert.equal(result.outcome, 'succeeded');
      const decided = (await release.query(statusQuery)).approval;
      assert.deepEqual({ automatic: decided?.automatic, by: decided?.by }, { automatic: true, by: 'unattended_approval' });
    });
  });

  it('a release passes staging (automatic, soaked, smoke-tested, @staging) and waits for production, each with its own endpoint', async () => {
    const model = `envs-${randomUUID().slice(0, 8)}`;
    const { activities, staging, production, aliases } = environmentStandIns(model);
    await withStandIns(env, activities, async (taskQueue) => {
      const config = configOf(model, deploying);
      const handle: WorkflowHandle = await startRelease(env.client, namespace(), config, { queues: queuesOf(taskQueue), modelUri: `models:/${model}/3`, startedBy: 'erin' });
      const status: ReleaseStatus = await waitForApproval(handle);
      assert.deepEqual(
        status.environments?.map((e) => [e.name, e.endpoint, e.stage, e.alias ?? '']),
        [
          ['staging', 'fb-staging', 'live', '@staging'],
          ['production', 'fb-production', 'awaiting_approval', ''],
        ],
      );
      assert.equal(status.environments![0]!.approval?.by, 'environments.staging.auto_approve_deployment');
      assert.equal(status.gate?.environment, 'production');
      assert.equal(status.gate?.statementId, `${status.workflowId}@production`);
      assert.match(status.waitingFor!, new RegExp(`modelship approve ${releaseWorkflowIdOf(model)} --by NAME`));
      // Staging: deployed, health-checked, soaked and smoke-tested before its alias moved; production untouched so far.
      assert.deepEqual(
        staging.calls.filter((c) => /^(deployModel|healthCheck|analyzeBake)/.test(c)),
        ['deployModel blue', 'healthCheck blue', 'analyzeBake blue', 'analyzeBake blue', 'healthCheck blue'],
      );
      assert.deepEqual(production.calls, [] as string[]);
      assert.deepEqual(aliases, ['candidate=3', 'staging=3']);

      await handle.executeUpdate(approveUpdate, { args: [{ by: 'frank', modelVersion: standInCandidate.version }] });
      const result = (await handle.result()) as ReleaseResult;
      assert.equal(result.outcome, 'succeeded');
      assert.deepEqual(
        result.environments?.map((e) => [e.name, e.stage, e.alias]),
        [
          ['staging', 'live', '@staging'],
          ['production', 'live', '@production'],
        ],
      );
      assert.deepEqual(aliases.slice(2), ['production=3', 'previous=2']);
      assert.ok((production.calls as string[]).includes('deployModel green'), production.calls.join(', '));
      assert.deepEqual(staging.state.traffic, { blue: 100 });
      assert.deepEqual(production.state.traffic, { green: 100 });
    });
  });

  it('promote MODEL@staging --to production: the same version through production only, recorded as a promotion', async () => {
    const model = `promote-${randomUUID().slice(0, 8)}`;
    const { activities, staging, production, aliases } = environmentStandIns(model);
    await withStandIns(env, activities, async (taskQueue) => {
      const config = promotionConfig(configOf(model, deploying), { model, alias: 'staging' }, 'production');
      const trigger = { kind: 'promotion' as const, by: 'gina', from: 'staging', to: ['production'], version: standInCandidate.version };
      const handle = await startRelease(env.client, namespace(), config, { queues: queuesOf(taskQueue), modelUri: `models:/${model}/3`, startedBy: 'gina', trigger });
      const status = await waitForApproval(handle);
      assert.deepEqual(status.trigger, trigger);
      assert.deepEqual(
        status.environments?.map((e) => e.name),
        ['production'],
      );
      assert.deepEqual({ version: status.candidate?.version, sha: status.candidate?.modelSha256 }, { version: standInCandidate.version, sha: standInCandidate.modelSha256 });
      assert.equal(status.steps.find((s) => s.name === 'train')?.status, 'skipped');
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'hank', modelVersion: standInCandidate.version }] });
      assert.equal(((await handle.result()) as ReleaseResult).outcome, 'succeeded');
      assert.deepEqual(staging.calls, [] as string[], 'staging is not touched by a promotion to production');
      assert.deepEqual(aliases, ['candidate=3', 'production=3', 'previous=2']);
      assert.deepEqual(production.state.traffic, { green: 100 });
    });
  });

  it('a rollback in one environment moves only its own aliases (@staging, @staging-previous)', async () => {
    const model = `rollback-${randomUUID().slice(0, 8)}`;
    const staging = standInEndpoint({ modelName: model, live: { colour: 'blue', version: '2' } });
    // v3 went live on green with no_cleanup: blue (v2) is still there at 0 %.
    staging.state.deployments.push({ name: 'green', modelName: model, modelVersion: '3', state: 'Succeeded' });
    staging.state.traffic = { green: 100 };
    await withStandIns(env, { ...real, ...staging.activities }, async (taskQueue) => {
      const config = operatorConfig(configOf(model, deploying), 'staging');
      const handle = await env.client.workflow.start('rollbackEndpoint', {
        taskQueue,
        workflowId: `rollback-${model}`,
        args: [{ target: config.target, endpoint: config.endpoint_name, settings: { ...rolloutSettingsOf(config), alias: 'staging' } }],
      });
      const result = (await handle.result()) as RollbackResult;
      assert.equal(result.how, 'traffic');
      assert.deepEqual(staging.state.traffic, { blue: 100 });
      assert.deepEqual(
        staging.calls.filter((c) => c.startsWith('setModelAlias')),
        ['setModelAlias staging=2', 'setModelAlias staging-previous=3'],
      );
    });
    assert.equal(operatorConfig(configOf(model, deploying), 'staging').endpoint_name, 'fb-staging');
    assert.throws(() => operatorConfig(configOf(model, deploying), 'qa'), /--environment qa: the config's environments are staging, production\. Fix/);
  });
});
