// Benchmark of training at scale (not a test: it prints numbers). Run: npm run bench:scale
//   For each size (BENCH_ROWS, default 5000,50000,1000000 generated rows): one whole release with the default
//   config apart from the data path (validate → train → evaluate → gates → register → local tests, auto-approved,
//   no deployment), with one orchestration worker and one training worker (its default: one training activity at
//   a time per core); prints each step's time, the training
//   activities' times, each process's peak memory (VmHWM) and the held-out ROC AUC; from 1,000,000 to 2,000,000 rows, then one
//   HistGradientBoostingClassifier fit (native categoricals, early stopping) on the same rows with every core and
//   with one thread, each in its own process, and the release's time as a multiple of it. The 10,000,000-row
//   release: BENCH_ROWS=10000000 BENCH_SEARCH_ROWS=0 BENCH_VALIDATE_ROWS=0 (about 3.3 GB of CSV in BENCH_DIR).
//   Then the search's wall time with one and with two training workers, each pinned to its own core with taskset
//   and running one training activity at a time,
//   on BENCH_SEARCH_ROWS rows (default 50000; 0 skips it), with training_budget 60m so no time limit cuts it.
//   First the data path alone, on BENCH_VALIDATE_ROWS rows (default 1000000; 0 skips it): validation (profile,
//   problems and the review's data sketch) by the release's DuckDB path with every core and with one thread, by
//   DuckDB alone computing the same profile single-threaded (the floor), and by the previous streaming path
//   (BENCH_STREAMING=0 skips it: it takes about a minute per million rows), each in its own process with its peak memory.
//   BENCH_ROWS= and BENCH_SEARCH_ROWS=0 run only that.
// The machine may be shared: the load average is printed before each run; compare numbers taken alike.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { EmbeddedStack, freePort } from '../src/client/embedded-stack';
import { startRelease } from '../src/client/release';
import { projectRoot, venvExecutable } from '../src/config/environment';
import { loadConfig } from '../src/config/load';
import { generateBankingCsv } from '../src/data/generate';
import { trainingConcurrencyFrom } from '../src/worker';
import { statusQuery, type ReleaseResult } from '../src/workflows/release-api';
import { activitySpans, type ActivitySpan } from './history';

const REFERENCE = {
  5000: 'before: training 48 s (bench:ml, idle machine); goal: no slower',
  50000: 'before: training 367 s; goal: whole release ≤ 90 s',
  1000000: 'goal: whole release ≤ 12× one HistGradientBoostingClassifier fit on the same rows (below), peak ≤ 4 GiB',
  10000000: 'goal: whole release ≤ 600 s, peak ≤ 4 GiB, held-out ROC AUC ≥ 0.9050 (the 1,000,000-row result)',
} as Record<number, string>;
/** Sizes at which a release is compared with one HistGradientBoostingClassifier fit on the same rows (the goal is at 1,000,000). */
const ONE_FIT_ROWS = { min: 1_000_000, max: 2_000_000 };

const dir = process.env.BENCH_DIR ?? join(tmpdir(), 'modelship-bench-scale');
const sizes = (process.env.BENCH_ROWS ?? '5000,50000,1000000').split(',').filter(Boolean).map(Number);
const searchRows = Number(process.env.BENCH_SEARCH_ROWS ?? 50000);
const validateRows = (process.env.BENCH_VALIDATE_ROWS ?? '1000000')
  .split(',')
  .filter(Boolean)
  .map(Number)
  .filter((rows) => rows > 0);
const MiB = 2 ** 20;
const running = new Set<ChildProcess>();

/** Peak resident memory (VmHWM) of every process below the given roots, sampled every 200 ms, by label. */
class MemoryWatch {
  private peaks = new Map<number, { label: string; kib: number }>();
  private timer: NodeJS.Timeout;
  constructor(private roots: Map<number, string>) {
    this.timer = setInterval(() => this.sample(), 200);
  }
  private sample() {
    const parents = new Map<number, number>();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      } catch {
        /* gone */
      }
    }
    for (const pid of parents.keys()) {
      let root = pid;
      while (root && !this.roots.has(root)) root = parents.get(root) ?? 0;
      if (!root) continue;
      try {
        const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
        if (!hwm) continue; // exiting, or not yet running
        const label = pid === root ? this.roots.get(root)! : `${this.roots.get(root)} › ${this.trainerLabel(pid)}`;
        const known = this.peaks.get(pid);
        if (!known || hwm > known.kib) this.peaks.set(pid, { label, kib: hwm });
      } catch {
        /* gone */
      }
    }
  }
  private trainerLabel(pid: number): string {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const request = cmd.find((arg) => arg.endsWith('request.json'));
    if (!request) return cmd[0]!.split('/').pop()!;
    const mode = /\/(prepare|finish|training)\/request\.json$/.exec(request)?.[1] ?? (request.includes('/shards/') ? 'shard' : 'trainer');
    return `trainer ${mode}`;
  }
  stop(): Map<string, number> {
    clearInterval(this.timer);
    this.sample();
    const byLabel = new Map<string, number>();
    for (const { label, kib } of this.peaks.values()) byLabel.set(label, Math.max(byLabel.get(label) ?? 0, kib * 1024));
    return byLabel;
  }
}

function startWorker(stack: EmbeddedStack, name: string, role: string, queues: { orchestration: string; training: string }, core?: number): ChildProcess {
  const args = [process.execPath, join(projectRoot, 'dist/worker.js')];
  const command = core === undefined ? args : ['taskset', '-c', String(core), ...args];
  const worker = spawn(command[0]!, command.slice(1), {
    env: {
      ...process.env,
      ...stack.env,
      MODELSHIP_HOME: join(dir, 'workers', name),
      MODELSHIP_TASK_QUEUE: queues.orchestration,
      MODELSHIP_TRAINING_TASK_QUEUE: queues.training,
      MODELSHIP_WORKER_QUEUES: role,
      MODELSHIP_SHUTDOWN_GRACE: '1s',
      // Pinned to one core: one trainer at a time. Unpinned: the worker's default (one per core).
      ...(core === undefined ? {} : { MODELSHIP_TRAINING_CONCURRENCY: '1' }),
    },
    stdio: 'ignore',
  });
  running.add(worker);
  worker.once('exit', () => running.delete(worker));
  return worker;
}

/** The training activities of a run, from its history. */
async function releaseSpans(client: Client, workflowId: string): Promise<ActivitySpan[]> {
  return activitySpans((await client.workflow.getHandle(workflowId).fetchHistory()).events ?? []);
}

function searchWall(spans: ActivitySpan[]): number {
  const shards = spans.filter((s) => s.name === 'searchShard');
  return (Math.max(...shards.map((s) => s.ended)) - Math.min(...shards.map((s) => s.scheduled))) / 1000;
}

async function release(stack: EmbeddedStack, client: Client, dataPath: string, trainingCores: (number | undefined)[], tag: string, budget?: string) {
  const queues = { orchestration: `bench-${tag}`, training: `bench-${tag}-training` };
  const roots = new Map<number, string>();
  const workers = [startWorker(stack, `${tag}-orchestration`, 'orchestration', queues)];
  roots.set(workers[0]!.pid!, 'orchestration worker');
  trainingCores.forEach((core, i) => {
    const worker = startWorker(stack, `${tag}-training-${i + 1}`, 'training', queues, core);
    workers.push(worker);
    roots.set(worker.pid!, `training worker ${i + 1}${core === undefined ? '' : ` (core ${core})`}`);
  });
  const memory = new MemoryWatch(roots);
  try {
    const config = loadConfig({
      path: join(projectRoot, 'config/default.yaml'),
      overrides: {
        input_data_path: dataPath,
        model_name: `bench-scale-${tag}`,
        skip_deployment: true,
        auto_approve_deployment: true,
        ...(budget ? { training_budget: budget } : {}),
      },
    }).config;
    const started = performance.now();
    const handle = await startRelease(client, stack.namespace, config, { queues });
    // A failed release still has its steps (and the error) in its status.
    const result = ((await handle.result().catch(() => undefined)) as ReleaseResult | undefined) ?? { ...(await handle.query(statusQuery)), artifactsDir: '' };
    const seconds = (performance.now() - started) / 1000;
    return { result, seconds, spans: await releaseSpans(client, handle.workflowId), memory: memory.stop() };
  } finally {
    memory.stop();
    for (const worker of workers) worker.kill('SIGTERM');
  }
}

/** One HistGradientBoostingClassifier fit (native categoricals, early stopping) on every row of the file, in its own process (bench/one-fit.py). */
async function oneFit(dataPath: string, threads: number): Promise<{ seconds: number; iterations: number }> {
  const contractPath = join(dir, 'data-contract.json');
  writeFileSync(contractPath, JSON.stringify(loadConfig({ path: join(projectRoot, 'config/default.yaml') }).config.data));
  const { stdout } = await promisify(execFile)(venvExecutable('python'), [join(projectRoot, 'bench/one-fit.py'), dataPath, contractPath, String(threads)], {
    cwd: join(projectRoot, 'python'),
    env: { ...process.env, PYTHONPATH: join(projectRoot, 'python') },
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as { seconds: number; iterations: number };
}

async function dataFile(rows: number): Promise<string> {
  const path = join(dir, `bank-${rows}.csv`);
  if (!existsSync(path)) await generateBankingCsv({ rows, seed: 42, out: path });
  return path;
}

/** The data path alone: each way of validating the same file in its own process (bench/validate-data.ts). */
async function dataPath(rows: number): Promise<void> {
  const path = await dataFile(rows);
  const modes = ['engine', 'engine-1', 'floor', ...(process.env.BENCH_STREAMING === '0' ? [] : ['streaming'])];
  console.log(`\nvalidation of ${rows.toLocaleString('en')} rows (${(statSync(path).size / MiB).toFixed(0)} MiB of CSV; load average ${loadavg()[0]!.toFixed(1)} at start):`);
  const seconds = new Map<string, number>();
  const cpu = new Map<string, number>();
  for (const mode of modes) {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(projectRoot, 'bench/validate-data.ts'), mode, path], { maxBuffer: 1 << 20 });
    const run = JSON.parse(stdout.trim().split('\n').pop()!) as { seconds: number; cpuSeconds: number; peakMiB: number; found: string };
    seconds.set(mode, run.seconds);
    cpu.set(mode, run.cpuSeconds);
    const label = {
      engine: 'DuckDB path, every core',
      'engine-1': 'DuckDB path, one thread',
      floor: 'DuckDB alone, one thread (floor)',
      streaming: 'streaming path (before), with the review’s second pass',
    }[mode];
    console.log(
      `  ${label!.padEnd(56)} ${run.seconds.toFixed(1).padStart(6)} s  CPU ${run.cpuSeconds.toFixed(1).padStart(6)} s  peak ${run.peakMiB.toFixed(0).padStart(5)} MiB  (${run.found})`,
    );
  }
  const floor = seconds.get('floor')!;
  console.log(
    `  against the floor: ${(seconds.get('engine')! / floor).toFixed(2)}× with every core, ${(seconds.get('engine-1')! / floor).toFixed(2)}× with one thread (goal ≤ 1.5×); ` +
      `in CPU time ${(cpu.get('engine-1')! / cpu.get('floor')!).toFixed(2)}× with one thread` +
      (seconds.has('streaming') ? `; the streaming path took ${(seconds.get('streaming')! / seconds.get('engine')!).toFixed(1)}× the DuckDB path` : ''),
  );
}

async function main() {
  mkdirSync(dir, { recursive: true });
  for (const rows of validateRows) await dataPath(rows);
  if (sizes.length === 0 && searchRows <= 0) return;
  if (!existsSync(join(projectRoot, 'dist/worker.js'))) throw new Error('run npm run build first');
  const stack = await EmbeddedStack.start({
    stateDir: join(dir, `stack-${Date.now()}`),
    ports: { temporal: await freePort(), mlflow: await freePort() },
    persistTemporal: false,
    worker: false,
    readyTimeoutMs: 180_000,
  });
  const stopAll = (signal: NodeJS.Signals) => {
    for (const worker of running) worker.kill('SIGKILL');
    void stack.stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', stopAll);
  process.once('SIGTERM', stopAll);
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection, namespace: stack.namespace });
  console.log(
    `bench:scale — one orchestration worker and one training worker running ${trainingConcurrencyFrom(process.env)} training activities at once (${availableParallelism()} cores here)`,
  );
  try {
    for (const rows of sizes) {
      const dataPath = await dataFile(rows);
      const load = loadavg()[0]!.toFixed(1);
      const run = await release(stack, client, dataPath, [undefined], `r${rows}-${Date.now().toString(36)}`);
      const { result } = run;
      console.log(
        `\n${rows.toLocaleString('en')} rows — whole release ${run.seconds.toFixed(1)} s, outcome ${result.outcome}${result.error ? ` (${result.error})` : ''} (load average ${load} at start)`,
      );
      console.log(`  ${REFERENCE[rows] ?? ''}`);
      console.log(
        `  steps: ${result.steps
          .filter((s) => s.seconds !== undefined)
          .map((s) => `${s.name} ${s.seconds!.toFixed(1)} s`)
          .join(' · ')}`,
      );
      const byName = (name: string) => run.spans.filter((s) => s.name === name);
      const span = (s: ActivitySpan) => (s.ended - s.started) / 1000;
      const shards = byName('searchShard');
      console.log(
        `  training: prepare ${byName('prepareTrainingSearch')
          .map((s) => span(s).toFixed(1))
          .join('+')} s · search ${shards.length ? searchWall(run.spans).toFixed(1) : '-'} s wall over ${shards.length} shards · finish (refit, export, parity, MLflow) ${byName(
          'finishTraining',
        )
          .map((s) => span(s).toFixed(1))
          .join('+')} s`,
      );
      // The review (goal: ≤ 5 s at any size, its data sketch from validation): the first section, then the final one.
      console.log(
        `  review: ${
          byName('writeReview')
            .map((s) => `${span(s).toFixed(1)} s`)
            .join(' + ') || 'not written'
        }`,
      );
      console.log(
        `  peak memory: ${[...run.memory]
          .sort()
          .map(([label, bytes]) => `${label} ${(bytes / MiB).toFixed(0)} MiB`)
          .join(' · ')}`,
      );
      const train = result.steps.find((s) => s.name === 'train');
      console.log(`  train: ${train?.summary}`);
      if (result.metrics)
        console.log(
          `  held-out ROC AUC ${result.metrics.roc_auc.toFixed(4)} on ${result.metrics.rows} rows (PR AUC ${result.metrics.average_precision.toFixed(4)}, F1 ${result.metrics.f1.toFixed(4)})`,
        );
      if (rows >= ONE_FIT_ROWS.min && rows <= ONE_FIT_ROWS.max) {
        const every = await oneFit(dataPath, availableParallelism());
        const single = await oneFit(dataPath, 1);
        console.log(
          `  one HistGradientBoostingClassifier fit on the same ${rows.toLocaleString('en')} rows (native categoricals, early stopping): ${every.seconds.toFixed(1)} s with ` +
            `${availableParallelism()} threads, ${single.seconds.toFixed(1)} s with one (${every.iterations} iterations); the release took ${(run.seconds / every.seconds).toFixed(1)}× ` +
            `the fit with every core, ${(run.seconds / single.seconds).toFixed(1)}× with one (goal ≤ 12×; load average ${loadavg()[0]!.toFixed(1)})`,
        );
      }
    }
    if (searchRows > 0) {
      const dataPath = await dataFile(searchRows);
      // The default sample with a limit that never cuts in, so both runs do the same work.
      console.log(`\nsearch wall time on ${searchRows.toLocaleString('en')} rows (training_budget 60m: the default sample, no cut-off), training workers pinned with taskset:`);
      for (const cores of [[0], [0, 1]]) {
        const load = loadavg()[0]!.toFixed(1);
        const run = await release(stack, client, dataPath, cores, `s${cores.length}-${Date.now().toString(36)}`, '60m');
        const shards = run.spans.filter((s) => s.name === 'searchShard');
        console.log(
          `  ${cores.length} training worker${cores.length > 1 ? 's' : ''}: search ${searchWall(run.spans).toFixed(1)} s over ${shards.length} shards, whole release ${run.seconds.toFixed(1)} s (load average ${load} at start)`,
        );
      }
    }
  } finally {
    await connection.close();
    await stack.stop();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
