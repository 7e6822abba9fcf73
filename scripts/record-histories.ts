// `npm run histories:record`: records one history of every path a modelship workflow can take, with the code of
// this checkout, into test/histories/<build id>/ (see test/histories/README.md). It starts its own Temporal dev
// server, MLflow and endpoint server on free ports (like `npm test`), runs workers in this process (and one in a
// child process, to kill it mid-training), and keeps data small so the whole run takes a few minutes.
//   npm run histories:record                       → test/histories/<package version>-<commit>/
//   npm run histories:record -- --label NAME       → test/histories/NAME/ (MODELSHIP_BUILD_ID works too)
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, NativeConnection } from '@temporalio/worker';
import { buildId } from '../src/build-id';
import { EmbeddedStack, freePort } from '../src/client/embedded-stack';
import { releaseTemplate, startRelease } from '../src/client/release';
import { projectRoot, type TaskQueues } from '../src/config/environment';
import { loadConfig } from '../src/config/load';
import type { ReleaseConfigInput } from '../src/config/schema';
import { generateBankingCsv } from '../src/data/generate';
import { adminToken } from '../src/serving/admin-token';
import type { Faults } from '../src/serving/endpoint-server';
import { createWorkers, runWorkers } from '../src/worker';
import { DEFAULT_MONITOR_SETTINGS } from '../src/monitoring/defaults';
import type { MonitorInput } from '../src/workflows/monitor-api';
import { rolloutSettingsOf } from '../src/workflows/operator-api';
import { approveSignal, approveUpdate, rejectUpdate, releaseWorkflowIdOf, statusQuery, type ReleaseTrigger } from '../src/workflows/release-api';
import { HISTORIES_ROOT, MANIFEST_FILE, type HistoryManifest, type RecordedWorkflow } from '../test/support/histories';
import { PASSING_GATES } from '../test/support/release';

const MODEL = 'histories';
const ENDPOINT = 'histories-ep';

interface Context {
  client: Client;
  queues: TaskQueues;
  dataPath: string;
  servingDir: string;
  endpointUrl: string;
  /** Starts a release; the handle's result is awaited by the scenario. */
  release: (overrides?: Partial<ReleaseConfigInput>, modelUri?: string, trigger?: ReleaseTrigger) => Promise<WorkflowHandle>;
  /** Starts a retraining schedule's run (the workflow a Schedule starts) of that release. */
  scheduled: (overrides?: Partial<ReleaseConfigInput>, modelUri?: string) => Promise<WorkflowHandle>;
  /** Runs the monitor with on_alarm: retrain and thresholds that alarm on any change. */
  monitorRetrain: (windowEnd: string) => Promise<WorkflowHandle>;
  operator: (type: 'deployRegisteredModel' | 'rollbackEndpoint', input: unknown) => Promise<WorkflowHandle>;
  faults: (deployment: string, faults: Faults) => Promise<void>;
  crashTraining: () => Promise<WorkflowHandle>;
  /** Runs the endpoint monitor once over the window that ends at `windowEnd`. */
  monitor: (windowEnd: string) => Promise<WorkflowHandle>;
}

interface Scenario {
  name: string;
  description: string;
  /** Returns the top-level run; its children are recorded with it. */
  run: (ctx: Context) => Promise<WorkflowHandle>;
}

const settled = async (handle: WorkflowHandle) => {
  await handle.result().catch(() => undefined);
  return handle;
};

async function waitForApproval(handle: WorkflowHandle): Promise<string> {
  for (let i = 0; i < 480; i++) {
    const status = await handle.query(statusQuery).catch(() => undefined);
    if (status?.waitingFor) return status.candidate!.version;
    if (status && status.outcome !== 'running') throw new Error(`${handle.workflowId} ended before approval: ${status.outcome} ${status.error ?? ''}`);
    await sleep(250);
  }
  throw new Error(`${handle.workflowId} never waited for approval`);
}

/** Waits until a worker has started one of the activities `types` (the trainer subprocess is running). */
async function waitForActivityStarted(handle: WorkflowHandle, types: string[]): Promise<void> {
  let seen = '';
  // Minutes, not seconds: a fresh worker process compiles and bundles before it polls, slowly on a busy machine.
  for (let i = 0; i < 1200; i++) {
    const description = await handle.describe().catch(() => undefined);
    const pending = description?.raw.pendingActivities ?? [];
    if (pending.some((a) => types.includes(a.activityType?.name ?? '') && a.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED)) return;
    seen = `${description?.status.name ?? '(not described)'}, pending ${pending.map((a) => a.activityType?.name).join(', ') || 'none'}`;
    if (description && description.status.name !== 'RUNNING') break;
    await sleep(250);
  }
  throw new Error(`${handle.workflowId}: ${types.join(' or ')} never started on a worker (last seen: ${seen})`);
}

// Order matters: later scenarios use the model versions and endpoint colours earlier ones leave.
const scenarios: Scenario[] = [
  {
    name: 'success-train-auto-approve-first-deploy',
    description: 'trains, passes everything, auto-approved, first blue-green rollout to an empty endpoint (v1 on blue)',
    run: async (ctx) => settled(await ctx.release({})),
  },
  {
    name: 'success-approved-by-update-stepped-rollout',
    description: 'reuses v1, approved by an Update after a refused one, rollout with shadow phase and traffic steps (green), old colour deleted',
    run: async (ctx) => {
      const handle = await ctx.release(
        { skip_training: true, auto_approve_deployment: false, approvers: ['alice'], traffic_plan: [50, 100], shadow_percent: 50, shadow_time: '1s' },
        `models:/${MODEL}/1`,
      );
      const version = await waitForApproval(handle);
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'mallory', modelVersion: version }] }).catch(() => undefined);
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', modelVersion: version, comment: 'recorded' }] });
      return settled(handle);
    },
  },
  {
    name: 'success-approved-by-signal',
    description: 'approved by a Signal after a refused Signal, deployment skipped',
    run: async (ctx) => {
      const handle = await ctx.release({ skip_training: true, skip_deployment: true, auto_approve_deployment: false, approvers: ['alice'] }, `models:/${MODEL}/1`);
      const version = await waitForApproval(handle);
      await handle.signal(approveSignal, { by: 'bob', modelVersion: version });
      await handle.signal(approveSignal, { by: 'alice', modelVersion: version });
      return settled(handle);
    },
  },
  {
    name: 'rejected',
    description: 'rejected by an Update with a reason; nothing deployed',
    run: async (ctx) => {
      const handle = await ctx.release({ skip_training: true, auto_approve_deployment: false }, `models:/${MODEL}/1`);
      await waitForApproval(handle);
      await handle.executeUpdate(rejectUpdate, { args: [{ by: 'carol', reason: 'recorded rejection' }] });
      return settled(handle);
    },
  },
  {
    name: 'approval-expired',
    description: 'nobody answers within approval_timeout (the approval timer fires)',
    run: async (ctx) => settled(await ctx.release({ skip_training: true, auto_approve_deployment: false, approval_timeout: '1s' }, `models:/${MODEL}/1`)),
  },
  {
    name: 'gate-failure',
    description: 'fails at the gates (thresholds out of reach)',
    run: async (ctx) => settled(await ctx.release({ skip_training: true, min_roc_auc: 0.999, min_f1: 0.999 }, `models:/${MODEL}/1`)),
  },
  {
    name: 'local-test-failure',
    description: 'fails at the local tests (latency limit out of reach)',
    run: async (ctx) => settled(await ctx.release({ skip_training: true, max_latency_ms: 0.000001 }, `models:/${MODEL}/1`)),
  },
  {
    name: 'data-validation-failure',
    description: 'fails at data validation (not a data file); nothing downstream runs',
    run: async (ctx) => settled(await ctx.release({ input_data_path: join(projectRoot, 'package.json') })),
  },
  {
    name: 'rollout-rollback-health-check',
    description: 'the new colour (blue) answers errors: health checks fail, the deployment is deleted, traffic untouched',
    run: async (ctx) => {
      await ctx.faults('blue', { errorRate: 1 });
      const handle = await settled(await ctx.release({ skip_training: true }, `models:/${MODEL}/1`));
      await ctx.faults('blue', {});
      return handle;
    },
  },
  {
    name: 'rollout-rollback-crash-on-load',
    description: 'the new colour (blue) fails to load: deployModel fails, the rollout undoes what it did',
    run: async (ctx) => {
      await ctx.faults('blue', { crashOnLoad: true });
      const handle = await settled(await ctx.release({ skip_training: true }, `models:/${MODEL}/1`));
      await ctx.faults('blue', {});
      return handle;
    },
  },
  {
    name: 'cancelled-waiting-for-approval',
    description: 'cancelled while waiting for approval: the report is still written, the run ends cancelled',
    run: async (ctx) => {
      const handle = await ctx.release({ skip_training: true, auto_approve_deployment: false }, `models:/${MODEL}/1`);
      await waitForApproval(handle);
      await handle.cancel();
      return settled(handle);
    },
  },
  {
    name: 'cancelled-during-rollout-bake',
    description: 'cancelled during the bake of a rollout: the child rolls back in a non-cancellable scope, the release ends cancelled',
    run: async (ctx) => {
      const handle = await ctx.release({ skip_training: true, bake_time: '20s' }, `models:/${MODEL}/1`);
      // The rollout is named after the release's own id (its status's workflowId), not release-<model>.
      const releaseId = (await handle.query(statusQuery)).workflowId;
      const rollout = ctx.client.workflow.getHandle(`${releaseId}-rollout`);
      for (let i = 0; i < 480; i++) {
        const events = (await rollout.fetchHistory().catch(() => undefined))?.events ?? [];
        if (events.some((e) => e.timerStartedEventAttributes)) break;
        await sleep(250);
      }
      await handle.cancel();
      return settled(handle);
    },
  },
  {
    name: 'crash-retry-training',
    description: 'the worker is killed (SIGKILL) mid-training; the training activity times out on heartbeat and succeeds on attempt 2 on a new worker',
    run: async (ctx) => settled(await ctx.crashTraining()),
  },
  {
    name: 'operator-deploy-keep-old-colour',
    description: 'modelship deploy of a registered version with no_cleanup (the old colour stays at 0 %)',
    run: async (ctx) => settled(await ctx.operator('deployRegisteredModel', { modelUri: `models:/${MODEL}/2`, noCleanup: true })),
  },
  {
    name: 'operator-rollback-by-traffic',
    description: 'modelship rollback while the previous colour is still deployed: traffic moves back, aliases swap',
    run: async (ctx) => settled(await ctx.operator('rollbackEndpoint', {})),
  },
  {
    name: 'operator-rollback-by-redeploy',
    description: 'modelship rollback after the old colour was deleted: a blue-green rollout of @previous',
    run: async (ctx) => {
      await settled(await ctx.operator('deployRegisteredModel', { modelUri: `models:/${MODEL}/2`, noCleanup: false }));
      return settled(await ctx.operator('rollbackEndpoint', {}));
    },
  },
  {
    name: 'monitor-window',
    description: 'the endpoint monitor analyses the window since the deployment (the health checks and bakes were captured)',
    run: async (ctx) => settled(await ctx.monitor(new Date().toISOString())),
  },
  {
    name: 'monitor-empty-window',
    description: 'the next monitor run finds nothing served since the last window: an empty window, not an error',
    run: async (ctx) => settled(await ctx.monitor(new Date(Date.now() + 1000).toISOString())),
  },
  {
    name: 'operator-rollback-nothing-deployed',
    description: 'modelship rollback of an endpoint with nothing deployed fails with NothingToRollBack',
    run: async (ctx) => settled(await ctx.operator('rollbackEndpoint', { endpoint: `${ENDPOINT}-empty` })),
  },
  {
    name: 'scheduled-release-unattended-automatic',
    description: "a retraining schedule's run starts release-<model> (unattended_approval: automatic) and waits for its end",
    run: async (ctx) => settled(await ctx.scheduled({ skip_training: true, skip_deployment: true, unattended_approval: 'automatic' }, `models:/${MODEL}/1`)),
  },
  {
    name: 'scheduled-release-finds-one-running',
    description: "a schedule's run finds the model's release running (started by a person) and ends without starting another",
    run: async (ctx) => {
      const person = await ctx.release({ skip_training: true, skip_deployment: true, auto_approve_deployment: false }, `models:/${MODEL}/1`);
      await waitForApproval(person);
      const scheduled = await settled(await ctx.scheduled({ skip_training: true, skip_deployment: true }, `models:/${MODEL}/1`));
      await person.executeUpdate(rejectUpdate, { args: [{ by: 'carol', reason: 'recorded: the schedule found me running' }] });
      await settled(person);
      return scheduled;
    },
  },
  {
    name: 'environments-staging-then-production',
    description: 'staging (automatic, soaked, smoke-tested, @staging) on its own endpoint, then production approved by an Update',
    run: async (ctx) => {
      const handle = await ctx.release(
        {
          skip_training: true,
          auto_approve_deployment: false,
          environments: [
            { name: 'staging', endpoint_name: `${ENDPOINT}-staging`, auto_approve_deployment: true, soak_time: '1s' },
            { name: 'production', endpoint_name: ENDPOINT },
          ],
        },
        `models:/${MODEL}/1`,
      );
      const version = await waitForApproval(handle);
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', modelVersion: version, comment: 'recorded: production' }] });
      return settled(handle);
    },
  },
  {
    name: 'promotion-staging-to-production',
    description: 'modelship promote histories@staging --to production: the staged version through the production gate and rollout',
    run: async (ctx) => {
      const handle = await ctx.release(
        { skip_training: true, auto_approve_deployment: false, environments: [{ name: 'production', endpoint_name: ENDPOINT }] },
        `models:/${MODEL}/1`,
        { kind: 'promotion', by: 'alice', from: 'staging', to: ['production'], version: '1' },
      );
      const version = await waitForApproval(handle);
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', modelVersion: version }] });
      return settled(handle);
    },
  },
  {
    name: 'monitor-alarm-starts-retraining',
    description: 'a monitor window raises an alarm (thresholds made sensitive) and, with on_alarm: retrain, starts release-<model>, which waits for a person',
    run: async (ctx) => {
      const monitor = await settled(await ctx.monitorRetrain(new Date(Date.now() + 2000).toISOString()));
      const result = (await monitor.result()) as { retrain?: { started: boolean } };
      if (!result.retrain?.started) throw new Error(`the monitor started no retraining release (${JSON.stringify(result.retrain)}): record again`);
      const release = ctx.client.workflow.getHandle(releaseWorkflowIdOf(MODEL));
      await waitForApproval(release);
      await release.executeUpdate(rejectUpdate, { args: [{ by: 'carol', reason: 'recorded: retraining not needed' }] });
      await settled(release);
      return monitor;
    },
  },
  {
    name: 'operator-rollback-staging-environment',
    description: 'modelship deploy then rollback --environment staging on the staging endpoint: only @staging and @staging-previous move',
    run: async (ctx) => {
      const staging = `${ENDPOINT}-staging`;
      await settled(await ctx.operator('deployRegisteredModel', { endpoint: staging, modelUri: `models:/${MODEL}/2`, noCleanup: true, alias: 'staging' }));
      return settled(await ctx.operator('rollbackEndpoint', { endpoint: staging, alias: 'staging' }));
    },
  },
  {
    name: 'stack-check',
    description: 'the readiness check of modelship dev: one activity on each task queue',
    run: async (ctx) => {
      const handle = await ctx.client.workflow.start('stackCheck', {
        taskQueue: ctx.queues.orchestration,
        workflowId: `histories-stack-check-${Date.now()}`,
        args: [{ trainingTaskQueue: ctx.queues.training }],
      });
      return settled(handle);
    },
  },
];

/** The run and every child it started, depth first, each with its own history. */
async function collect(client: Client, scenario: string, workflowId: string, into: RecordedWorkflow[], histories: Map<string, string>): Promise<void> {
  const handle = client.workflow.getHandle(workflowId);
  const [description, history] = await Promise.all([handle.describe(), handle.fetchHistory()]);
  const file = `${scenario}/${description.type}${into.some((w) => w.file === `${scenario}/${description.type}.json`) ? `-${into.length}` : ''}.json`;
  into.push({ file, scenario, workflowId, workflowType: description.type, status: description.status.name });
  histories.set(file, historyToJSON(history));
  for (const event of history.events ?? []) {
    const child = event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
    if (child) await collect(client, scenario, child, into, histories);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { label: { type: 'string' } } });
  const uncommitted = execFileSync('git', ['status', '--porcelain', '--', 'src/workflows'], { cwd: projectRoot, encoding: 'utf8' }).trim();
  if (uncommitted && !values.label && !process.env.MODELSHIP_BUILD_ID) {
    throw new Error(
      `src/workflows has uncommitted changes:\n${uncommitted}\nFix: commit them first, so the folder's build id names the code that recorded it (or pass --label NAME).`,
    );
  }
  const label = values.label ?? buildId();
  const outDir = join(HISTORIES_ROOT, label);
  const stateDir = mkdtempSync(join(tmpdir(), 'modelship-histories-'));
  Runtime.install({ logger: new DefaultLogger('WARN') });
  console.log(`recording ${scenarios.length} paths into ${relative(process.cwd(), outDir)} (servers in ${stateDir})`);
  const stack = await EmbeddedStack.start({
    stateDir,
    ports: { temporal: await freePort(), mlflow: await freePort(), endpoint: await freePort() },
    persistTemporal: false,
    modelship: { command: process.execPath, args: ['--import', 'tsx', resolve(projectRoot, 'src/client/cli.ts')] },
    worker: false,
    endpointArgs: ['--allow-faults'],
    readyTimeoutMs: 120_000,
  });
  const children: ReturnType<typeof spawn>[] = [];
  const stopAll = async () => {
    for (const child of children) child.kill('SIGKILL');
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    Object.assign(process.env, stack.env, { MODELSHIP_ARTIFACTS_DIR: join(stateDir, 'workflow_artifacts') });
    const connection = await Connection.connect({ address: stack.temporalAddress });
    const client = new Client({ connection, namespace: stack.namespace });
    const workerConnection = await NativeConnection.connect({ address: stack.temporalAddress });
    const queues: TaskQueues = { orchestration: 'histories', training: 'histories-training' };
    const workers = await createWorkers({
      connection: workerConnection,
      namespace: stack.namespace,
      queues,
      mlflowUri: stack.mlflowUri,
      stateDir,
      endpointUrl: stack.endpointUrl,
      shutdownGraceTime: '1s',
    });
    const running = runWorkers(workers);

    const dataPath = join(stateDir, 'bank.csv');
    await generateBankingCsv({ rows: 800, seed: 11, out: dataPath });
    const servingDir = join(stateDir, 'serving');
    const configOf = (overrides: Partial<ReleaseConfigInput> = {}) =>
      loadConfig({
        path: join(projectRoot, 'config/default.yaml'),
        overrides: {
          input_data_path: dataPath,
          model_name: MODEL,
          endpoint_name: ENDPOINT,
          n_iter: 1,
          cv_folds: 2,
          test_data_split: 0.25,
          model_families: ['logistic_regression'],
          auto_approve_deployment: true,
          bake_time: '1s',
          termination_wait: '0s',
          ...PASSING_GATES,
          ...overrides,
        },
      }).config;
    const ctx: Context = {
      client,
      queues,
      dataPath,
      servingDir,
      endpointUrl: stack.endpointUrl!,
      release: (overrides, modelUri, trigger) => startRelease(client, stack.namespace, configOf(overrides), { queues, modelUri, trigger }),
      scheduled: (overrides, modelUri) =>
        client.workflow.start('scheduledRelease', {
          taskQueue: queues.orchestration,
          workflowId: `histories-scheduled-${Date.now()}`,
          args: [{ schedule: 'histories-nightly', release: releaseTemplate(configOf(overrides), stack.namespace, { modelUri, queues }) }],
        }),
      monitorRetrain: (windowEnd) => {
        const release = releaseTemplate(configOf({ skip_training: true, skip_deployment: true, auto_approve_deployment: true }), stack.namespace, {
          modelUri: `models:/${MODEL}/1`,
          queues,
        });
        const settings = { ...DEFAULT_MONITOR_SETTINGS, falseAlarmRate: 0.99, qualityRate: 0, minRecords: 1 };
        const input: MonitorInput = { target: 'local', endpoint: ENDPOINT, settings, windowEnd, onAlarm: 'retrain', release };
        return client.workflow.start('endpointMonitor', { taskQueue: queues.orchestration, workflowId: `histories-monitor-retrain-${Date.now()}`, args: [input] });
      },
      operator: (type, input) => {
        const { endpoint, modelUri, noCleanup, alias } = input as { endpoint?: string; modelUri?: string; noCleanup?: boolean; alias?: string };
        const settings = { ...rolloutSettingsOf(configOf()), ...(noCleanup !== undefined ? { noCleanup } : {}), ...(alias ? { alias } : {}) };
        return client.workflow.start(type, {
          taskQueue: queues.orchestration,
          workflowId: `histories-${type}-${Date.now()}`,
          args: [{ target: 'local', endpoint: endpoint ?? ENDPOINT, settings, ...(modelUri ? { modelUri } : {}) }],
        });
      },
      faults: async (deployment, faults) => {
        const response = await fetch(`${stack.endpointUrl}/admin/endpoints/${ENDPOINT}/deployments/${deployment}/faults`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${adminToken(servingDir)}` },
          body: JSON.stringify(faults),
        });
        if (response.status !== 200) throw new Error(`fault injection answered ${response.status}`);
      },
      monitor: (windowEnd) => {
        const input: MonitorInput = { target: 'local', endpoint: ENDPOINT, settings: DEFAULT_MONITOR_SETTINGS, windowEnd };
        return client.workflow.start('endpointMonitor', { taskQueue: queues.orchestration, workflowId: `histories-monitor-${Date.now()}`, args: [input] });
      },
      crashTraining: async () => {
        // Its own queues and a worker in a child process, killed with SIGKILL once training reports progress.
        const crashQueues = { orchestration: 'histories-crash', training: 'histories-crash-training' };
        const workerEnv = {
          ...process.env,
          MODELSHIP_TASK_QUEUE: crashQueues.orchestration,
          MODELSHIP_TRAINING_TASK_QUEUE: crashQueues.training,
          MODELSHIP_HOME: stateDir,
          MODELSHIP_SHUTDOWN_GRACE: '1s',
          MODELSHIP_WORKER_VERSIONING: 'off',
        };
        const first = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'src/worker.ts')], { env: workerEnv, stdio: 'ignore' });
        children.push(first);
        const handle = await startRelease(client, stack.namespace, configOf({ skip_deployment: true, n_iter: 3 }), { queues: crashQueues });
        // Killed while a shard of the search is being scored.
        await waitForActivityStarted(handle, ['searchShard']);
        first.kill('SIGKILL');
        await new Promise((done) => first.once('exit', done));
        const second = await createWorkers({
          connection: workerConnection,
          namespace: stack.namespace,
          queues: crashQueues,
          mlflowUri: stack.mlflowUri,
          stateDir,
          endpointUrl: stack.endpointUrl,
          shutdownGraceTime: '1s',
        });
        const secondRunning = runWorkers(second);
        await handle.result().catch(() => undefined);
        for (const worker of second) worker.shutdown();
        await secondRunning;
        const attempts = ((await handle.fetchHistory()).events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
        if (Math.max(...attempts) < 2) throw new Error(`${handle.workflowId}: no activity was retried, so the kill missed the training. Record again.`);
        return handle;
      },
    };

    const recorded: RecordedWorkflow[] = [];
    const histories = new Map<string, string>();
    for (const scenario of scenarios) {
      const started = Date.now();
      const handle = await scenario.run(ctx);
      const before = recorded.length;
      await collect(client, scenario.name, handle.workflowId, recorded, histories);
      const runs = recorded
        .slice(before)
        .map((w) => `${w.workflowType} ${w.status.toLowerCase()}`)
        .join(', ');
      console.log(`  ${scenario.name}: ${runs} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
    // Per-endpoint lock workflows are started by signal-with-start from activities, not as children: gather every
    // one the paths above created (each ends once nobody holds or waits).
    const lockScenario = 'endpoint-locks';
    for await (const lock of client.workflow.list({ query: `WorkflowType = 'endpointLock'` })) {
      await collect(client, lockScenario, lock.workflowId, recorded, histories).catch((error: unknown) => {
        throw new Error(`${lock.workflowId}: ${(error as Error).message}`);
      });
    }
    if (recorded.some((w) => w.scenario === lockScenario)) {
      scenarios.push({
        name: lockScenario,
        description: 'the per-endpoint lock workflows of the paths above (grant in order, release, end when free)',
        run: async () => {
          throw new Error('gathered, not run');
        },
      });
    }
    for (const worker of workers) worker.shutdown();
    await running;
    await workerConnection.close();
    await connection.close();

    rmSync(outDir, { recursive: true, force: true });
    for (const [file, json] of histories) {
      mkdirSync(join(outDir, file, '..'), { recursive: true });
      writeFileSync(join(outDir, file), `${json}\n`);
    }
    const manifest: HistoryManifest = {
      build: label,
      recordedAt: new Date().toISOString(),
      temporal: 'dev server of the Temporal CLI in .venv (python/requirements.txt)',
      scenarios: Object.fromEntries(scenarios.map((s) => [s.name, s.description])),
      workflows: recorded.sort((a, b) => a.file.localeCompare(b.file)),
    };
    writeFileSync(join(outDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    console.log(`wrote ${histories.size} histories and ${relative(process.cwd(), join(outDir, MANIFEST_FILE))}`);
  } finally {
    await stopAll();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`recording failed: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
