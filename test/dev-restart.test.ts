// `modelship dev` as a user runs it, interrupted and killed at the worst moments:
// - Ctrl-C during start-up stops every part;
// - kill -9 of every process of the stack during training, then a new start: ready although the resumed training
//   holds the training queue's only slot;
// - kill -9 of the supervisor alone: every child exits on its own, the trainer included;
// - kill -9 of MLflow under a running `modelship dev`: it is started again;
// and the release finishes with exactly one model version. Each test kills whatever it started, pass or fail.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { parse, stringify } from 'yaml';
import { freePort, isPortFree } from '../src/client/embedded-stack';
import { activityProgress } from '../src/client/release';
import { projectRoot } from '../src/config/environment';
import { generateBankingCsv } from '../src/data/generate';
import { MlflowClient } from '../src/registry/mlflow';
import type { ReleaseResult } from '../src/workflows/release-api';
import { runCli } from './support/cli';
import { groupAlive, trainerProcesses } from './support/processes';
import { PASSING_GATES } from './support/release';
import { workerNodeArgs } from './support/bundles';

function childGroups(stateDir: string): Record<string, number> {
  const runDir = join(stateDir, 'run');
  if (!existsSync(runDir)) return {};
  return Object.fromEntries(
    readdirSync(runDir)
      .filter((f) => f.endsWith('.pid'))
      .map((f) => [f.replace(/\.pid$/, ''), (JSON.parse(readFileSync(join(runDir, f), 'utf8')) as { pid: number }).pid]),
  );
}

async function until(what: string, test: () => boolean | Promise<boolean>, seconds: number, output?: () => string): Promise<void> {
  for (let i = 0; i < seconds * 4; i++) {
    if (
      await Promise.resolve()
        .then(test)
        .catch(() => false)
    )
      return;
    await sleep(250);
  }
  assert.fail(`timed out waiting for ${what}${output ? `:\n${output()}` : ''}`);
}

interface Dev {
  process: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Runs `modelship dev`; the test's cleanup SIGKILLs it and every group it started. */
function startDev(t: TestContext, stateDir: string, ports: number[]): Dev {
  const [temporal, ui, mlflow, endpoint] = ports.map(String);
  const args = [
    ...workerNodeArgs(), // `dev` starts its worker with the same flags
    join(projectRoot, 'src/client/cli.ts'),
    'dev',
    '--state-dir',
    stateDir,
    '--temporal-port',
    temporal!,
    '--ui-port',
    ui!,
    '--mlflow-port',
    mlflow!,
    '--endpoint-port',
    endpoint!,
  ];
  // A worker stopped by its supervisor's death drains for MODELSHIP_SHUTDOWN_GRACE (30 s by default) before it
  // cancels the training it runs, and a killed worker's runs wait MODELSHIP_STICKY_QUEUE_TIMEOUT (10 s) for it
  // before the next worker may take them: 1 s each here, so the test waits on neither.
  const env = { ...process.env, MODELSHIP_SHUTDOWN_GRACE: '1s', MODELSHIP_STICKY_QUEUE_TIMEOUT: '1s' };
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  t.after(() => {
    child.kill('SIGKILL');
    for (const pgid of Object.values(childGroups(stateDir))) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  return { process: child, output: () => output, exited: new Promise((resolve) => child.once('exit', resolve)) };
}

async function ready(dev: Dev): Promise<Record<string, string>> {
  await until('modelship dev to be ready', () => dev.output().includes('Press Ctrl-C to stop.') || dev.process.exitCode !== null, 240);
  assert.match(dev.output(), /modelship embedded stack is ready/, dev.output());
  // The exports a second terminal is told to use.
  const line = /^\s*export (.+)$/m.exec(dev.output())?.[1] ?? '';
  return Object.fromEntries(line.split(' ').map((pair) => pair.split('=', 2) as [string, string]));
}

describe('modelship dev restarts', () => {
  it('Ctrl-C during start-up stops every part that had started', async (t) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'modelship-ctrlc-'));
    const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
    const dev = startDev(t, stateDir, ports);
    await until(
      'Temporal and MLflow to be starting',
      () => dev.output().includes('waiting for Temporal and MLflow') && Object.keys(childGroups(stateDir)).length >= 2,
      60,
      dev.output,
    );
    const groups = childGroups(stateDir);
    dev.process.kill('SIGINT');
    assert.equal(await dev.exited, 130, dev.output());
    assert.match(dev.output(), /interrupted during start-up[\s\S]*modelship: stopped\./);
    for (const [name, pgid] of Object.entries(groups)) assert.equal(groupAlive(pgid), false, `${name} (group ${pgid}) still running`);
    for (const port of ports) assert.equal(await isPortFree(port), true, `port ${port} still taken`);
  });

  it('kill -9 of the whole stack, then of the supervisor alone, during training: ready each time, one model version', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'modelship-kill-'));
    const stateDir = join(dir, 'state');
    const artifactsDir = join(dir, 'workflow_artifacts');
    const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
    const modelName = `killed-${Date.now().toString(36)}`;
    await generateBankingCsv({ rows: 2000, seed: 5, out: join(dir, 'bank.csv') });
    const defaults = parse(readFileSync(join(projectRoot, 'config/default.yaml'), 'utf8')) as Record<string, unknown>;
    writeFileSync(
      join(dir, 'release.yaml'),
      stringify({
        ...defaults,
        input_data_path: join(dir, 'bank.csv'),
        model_name: modelName,
        n_iter: 2,
        cv_folds: 2,
        skip_deployment: true,
        auto_approve_deployment: true,
        skip_local_testing: true,
        ...PASSING_GATES,
      }),
    );

    let dev = startDev(t, stateDir, ports);
    const env = await ready(dev);
    assert.equal(env.MODELSHIP_HOME, stateDir, 'the exports name the state dir');
    const started = await runCli(['start', '--config', join(dir, 'release.yaml'), '--json'], { ...env, MODELSHIP_ARTIFACTS_DIR: artifactsDir });
    assert.equal(started.code, 0, started.stderr);
    const { workflowId } = JSON.parse(started.stdout) as { workflowId: string };

    const temporal = async <T>(use: (client: Client) => Promise<T>): Promise<T> => {
      const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS! });
      try {
        return await use(new Client({ connection }));
      } finally {
        await connection.close();
      }
    };
    const watch = () => temporal((client) => activityProgress(client.workflow.getHandle(workflowId)));
    await until('training under way', async () => /searchShard: fit \d+\//.test((await watch()) ?? ''), 240);
    // A second attempt of a training activity, running or done: the resumed training can finish before the new stack
    // says it is ready (the worker starts first), so it is read from the run's history, not watched live.
    const training = new Set(['prepareTrainingSearch', 'searchShard', 'finishTraining']);
    const retried = () =>
      temporal(async (client) => {
        const handle = client.workflow.getHandle(workflowId);
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        if (pending.some((activity) => training.has(activity.activityType?.name ?? '') && (activity.attempt ?? 1) >= 2)) return true;
        const events = (await handle.fetchHistory()).events ?? [];
        const types = new Map(events.map((event) => [String(event.eventId), event.activityTaskScheduledEventAttributes?.activityType?.name ?? '']));
        return events.some((event) => {
          const started = event.activityTaskStartedEventAttributes;
          return started && (started.attempt ?? 1) >= 2 && training.has(types.get(String(started.scheduledEventId)) ?? '');
        });
      });

    // 1. Every process of the stack at once: supervisor, servers, worker, trainer.
    const groups = childGroups(stateDir);
    dev.process.kill('SIGKILL');
    for (const pgid of Object.values(groups)) process.kill(-pgid, 'SIGKILL');
    await dev.exited;
    await until('every process to be gone', () => Object.values(groups).every((pgid) => !groupAlive(pgid)) && trainerProcesses(stateDir).length === 0, 30);

    dev = startDev(t, stateDir, ports);
    await ready(dev);
    await until('training to run again (a retry)', retried, 240, () => dev.output().slice(-3000));

    // 2. The supervisor alone: its children notice and exit on their own, the trainer's fork server included (and a
    // training run, when one is under way).
    const orphans = childGroups(stateDir);
    dev.process.kill('SIGKILL');
    await dev.exited;
    await until(
      'the children of a killed supervisor to exit on their own',
      () => Object.values(orphans).every((pgid) => !groupAlive(pgid)) && trainerProcesses(stateDir).length === 0,
      90,
      () => JSON.stringify(Object.fromEntries(Object.entries(orphans).map(([name, pgid]) => [name, groupAlive(pgid)]))),
    );

    dev = startDev(t, stateDir, ports);
    await ready(dev);
    const result = await temporal((client) => client.workflow.getHandle(workflowId).result() as Promise<ReleaseResult>);
    assert.equal(result.outcome, 'succeeded', result.error);
    // 3. A part that dies under a running `modelship dev` is started again.
    process.kill(-childGroups(stateDir).mlflow!, 'SIGKILL');
    await until('MLflow to be started again', () => dev.output().includes('modelship: mlflow is back'), 240, dev.output);
    assert.match(dev.output(), /mlflow exited unexpectedly[\s\S]*starting mlflow again \(restart 1 of 3/);
    const versions = await new MlflowClient(env.MLFLOW_TRACKING_URI!).searchVersions(`name='${modelName}'`);
    assert.equal(versions.length, 1, 'exactly one model version');
    dev.process.kill('SIGINT');
    assert.equal(await dev.exited, 0, dev.output());
  });
});
