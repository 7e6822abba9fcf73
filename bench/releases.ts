// Many releases at once on one machine (not a test: it prints numbers). Starts its own embedded stack on free ports
// (Temporal, MLflow, the local endpoint server and one worker, all at their defaults: one training activity per core),
// runs one release alone as the reference, then N releases of different models to different endpoints at once,
// checks they did not interfere (artifacts, MLflow runs, endpoints) and prints releases per hour and where the time
// went: each step's time, and how long training waited for the training queue's slots.
//   npm run bench:releases                 5 at once, config/default.yaml, 5,000 rows (the demo's data)
//   npm run bench:releases -- --quick       the same with n_iter 2, cv_folds 2 (the tests' search): minutes, not an hour
//   npm run bench:releases -- --releases 3 --rows 2000 --no-reference
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { EmbeddedStack, freePort } from '../src/client/embedded-stack';
import { startRelease } from '../src/client/release';
import { connectClient } from '../src/client/temporal';
import { projectRoot } from '../src/config/environment';
import { loadConfig } from '../src/config/load';
import { generateBankingCsv } from '../src/data/generate';
import { LocalTarget } from '../src/targets/local';
import { trainingConcurrencyFrom } from '../src/worker';
import { activitySpans, runningMs } from './history';
import type { ReleaseResult } from '../src/workflows/release-api';

const { values: flags } = parseArgs({
  options: {
    releases: { type: 'string', default: '5' },
    rows: { type: 'string', default: '5000' },
    config: { type: 'string', default: join(projectRoot, 'config/default.yaml') },
    'no-reference': { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
  },
});
const count = Number(flags.releases);
const seconds = (value: number) => `${(value / 1000).toFixed(1)} s`;

const TRAINING_ACTIVITIES = new Set(['prepareTrainingSearch', 'searchShard', 'finishTraining']);

/**
 * How long the release's training waited for training slots, from the run's history: the time between its first
 * training activity being scheduled and its last one ending during which none of them was running (shards run
 * side by side, so summing each one's wait would count the same seconds several times).
 */
async function trainingQueueWait(handle: WorkflowHandle): Promise<number> {
  const spans = activitySpans((await handle.fetchHistory()).events ?? []).filter((s) => TRAINING_ACTIVITIES.has(s.name) && s.ended > 0);
  if (spans.length === 0) return 0;
  return Math.max(...spans.map((s) => s.ended)) - Math.min(...spans.map((s) => s.scheduled)) - runningMs(spans);
}

interface Run {
  workflowId: string;
  result: ReleaseResult;
  wallMs: number;
  queueMs: number;
  endpoint: string;
  model: string;
}

async function runReleases(client: Client, namespace: string, dataPath: string, names: string[]): Promise<{ runs: Run[]; wallMs: number }> {
  const started = Date.now();
  const runs = await Promise.all(
    names.map(async (name) => {
      const config = loadConfig({
        path: resolve(flags.config!),
        overrides: {
          input_data_path: dataPath,
          model_name: name,
          endpoint_name: `${name}-endpoint`,
          auto_approve_deployment: true,
          ...(flags.quick ? { n_iter: 2, cv_folds: 2 } : {}),
        },
      }).config;
      const handle = await startRelease(client, namespace, config);
      let result: ReleaseResult;
      try {
        result = (await handle.result()) as ReleaseResult;
      } catch (error) {
        throw new Error(`${handle.workflowId} did not succeed: ${(error as Error).message}`, { cause: error });
      }
      return { workflowId: handle.workflowId, result, wallMs: Date.now() - started, queueMs: await trainingQueueWait(handle), endpoint: config.endpoint_name, model: name };
    }),
  );
  return { runs, wallMs: Date.now() - started };
}

/** Each release has its own artifacts folder, MLflow run and endpoint, serving its own model. */
async function checkIndependent(runs: Run[], target: LocalTarget): Promise<string[]> {
  const problems: string[] = [];
  const distinct = (what: string, values: (string | undefined)[]) => {
    if (new Set(values).size !== values.length || values.includes(undefined)) problems.push(`${what} not distinct: ${values.join(', ')}`);
  };
  distinct(
    'artifacts folders',
    runs.map((r) => r.result.artifactsDir),
  );
  distinct(
    'MLflow runs',
    runs.map((r) => JSON.parse(readFileSync(r.result.reportPath!, 'utf8')).links?.mlflow_run as string | undefined),
  );
  for (const run of runs) {
    if (run.result.outcome !== 'succeeded') problems.push(`${run.workflowId}: ${run.result.outcome}`);
    const state = await target.describeEndpoint(run.endpoint);
    const serving = state.deployments.map((d) => `${d.modelName} v${d.modelVersion} ${state.traffic[d.name] ?? 0} %`);
    if (serving.length !== 1 || serving[0] !== `${run.model} v1 100 %`) problems.push(`${run.endpoint} serves ${serving.join(', ') || 'nothing'} (expected ${run.model} v1 100 %)`);
  }
  return problems;
}

function printSteps(runs: Run[]): void {
  const names = runs[0]!.result.steps.map((s) => s.name);
  console.log(`  ${'step'.padEnd(14)} ${'mean'.padStart(8)} ${'max'.padStart(8)}`);
  for (const name of names) {
    const times = runs.map((r) => (r.result.steps.find((s) => s.name === name)?.seconds ?? 0) * 1000);
    const line = `  ${name.padEnd(14)} ${seconds(times.reduce((a, b) => a + b, 0) / times.length).padStart(8)} ${seconds(Math.max(...times)).padStart(8)}`;
    if (name !== 'train') console.log(line);
    else {
      const queued = runs.map((r) => r.queueMs);
      console.log(
        `${line}   of which none of its training running (waiting for slots): mean ${seconds(queued.reduce((a, b) => a + b, 0) / queued.length)}, max ${seconds(Math.max(...queued))}`,
      );
    }
  }
}

async function main() {
  const stateDir = mkdtempSync(join(tmpdir(), 'modelship-bench-releases-'));
  process.env.MODELSHIP_ARTIFACTS_DIR = join(stateDir, 'workflow_artifacts');
  const training = `training concurrency ${trainingConcurrencyFrom(process.env)} per worker${flags.quick ? ', --quick: n_iter 2, cv_folds 2' : ", the config's search"}`;
  console.log(`bench:releases — ${count} releases at once, ${flags.config} (auto-approved, deployed to local endpoints), ${flags.rows} rows, ${training}`);
  const stack = await EmbeddedStack.start({
    stateDir,
    ports: { temporal: await freePort(), mlflow: await freePort(), endpoint: await freePort() },
    persistTemporal: false,
    modelship: { command: process.execPath, args: ['--import', 'tsx', join(projectRoot, 'src/client/cli.ts')] },
    readyTimeoutMs: 180_000,
  });
  Object.assign(process.env, stack.env);
  // Ctrl-C stops the stack (its children run in their own process groups).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void stack.stop().finally(() => (rmSync(stateDir, { recursive: true, force: true }), process.exit(130))));
  }
  try {
    const dataPath = join(stateDir, 'bank.csv');
    await generateBankingCsv({ rows: Number(flags.rows), seed: 42, out: dataPath });
    const { client, connection, namespace } = await connectClient();
    const target = new LocalTarget(stack.endpointUrl!, join(stateDir, 'serving'));
    try {
      const stamp = Date.now().toString(36);
      let alone: number | undefined;
      if (!flags['no-reference']) {
        const reference = await runReleases(client, namespace, dataPath, [`bench-alone-${stamp}`]);
        alone = reference.wallMs;
        console.log(`\none release alone: ${seconds(alone)} → ${(3_600_000 / alone).toFixed(1)} releases/hour one after another`);
        printSteps(reference.runs);
      }
      const names = Array.from({ length: count }, (_, i) => `bench-${i + 1}-${stamp}`);
      const { runs, wallMs } = await runReleases(client, namespace, dataPath, names);
      console.log(
        `\n${count} releases at once: all done in ${seconds(wallMs)} → ${((count * 3_600_000) / wallMs).toFixed(1)} releases/hour` +
          (alone ? ` (one alone: ${(3_600_000 / alone).toFixed(1)}/hour)` : ''),
      );
      console.log(
        `  finished after: ${runs
          .map((r) => seconds(r.wallMs))
          .sort((a, b) => parseFloat(a) - parseFloat(b))
          .join(', ')}`,
      );
      printSteps(runs);
      const problems = await checkIndependent(runs, target);
      console.log(
        problems.length
          ? `\nINTERFERENCE:\n  ${problems.join('\n  ')}`
          : `\nno interference: ${count} artifact folders, ${count} MLflow runs, ${count} endpoints each serving its own model v1 at 100 %`,
      );
      if (problems.length) process.exitCode = 1;
    } finally {
      await connection.close();
    }
  } finally {
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error.stack ?? error);
  process.exit(1);
});
