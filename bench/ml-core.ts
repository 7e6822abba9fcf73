// Benchmark of the ML core (not a test: it prints numbers). Run: npm run bench:ml
//   generation of 1,000,000 rows; training at the default search on 5,000 and 50,000 rows; evaluation rows/second
//   on 100,000 rows; the default model's metrics on the default data; ONNX/scikit-learn parity (Python and Node).
// Training runs the trainer's modes one process after another, as a release does on one training worker that
// takes one activity at a time: prepare, every shard, finish. No MLflow: the files stay on disk.
// Set BENCH_SKIP_50K=1 to skip the long 50,000-row training.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { z } from 'zod';
import { trainerBudget } from '../src/activities/training';
import { preparedFile, readTrainerFile, resultFile, shardFile, TRAINER_CONTRACT_VERSION, trainerEvent, type ResultFile } from '../src/activities/trainer-protocol';
import { loadConfig } from '../src/config/load';
import { projectRoot, pythonChildEnv, venvExecutable } from '../src/config/environment';
import { generateBankingCsv } from '../src/data/generate';
import { scoreLabelledCsv } from '../src/evaluation/evaluate';
import { classificationMetrics } from '../src/evaluation/metrics';
import { OnnxModel, type InputContract } from '../src/model/input-contract';

const dir = mkdtempSync(join(tmpdir(), 'modelship-bench-'));
const config = loadConfig({ path: join(projectRoot, 'config/default.yaml') }).config;
const seconds = (start: number) => ((performance.now() - start) / 1000).toFixed(2);

/** Runs one trainer mode on `request` in outputDir; returns the file its `done` line names, read as `schema`. */
function runMode<T>(outputDir: string, request: Record<string, unknown>, schema: z.ZodType<T>): { path: string; file: T } {
  mkdirSync(outputDir, { recursive: true });
  const requestPath = join(outputDir, 'request.json');
  writeFileSync(requestPath, JSON.stringify({ ...request, output_dir: outputDir }));
  const run = spawnSync(venvExecutable('python'), ['-m', 'modelship_trainer', requestPath], {
    cwd: join(projectRoot, 'python'),
    env: { ...pythonChildEnv(), PYTHONPATH: join(projectRoot, 'python') },
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  const events = run.stdout.split('\n').flatMap((line) => {
    try {
      const event = trainerEvent.safeParse(JSON.parse(line));
      return event.success ? [event.data] : [];
    } catch {
      return []; // not a protocol line
    }
  });
  const last = events.at(-1);
  if (run.status !== 0 || last?.event !== 'done') {
    const refusal = last?.event === 'error' ? `${last.kind}: ${last.message}` : run.stderr.slice(-2000);
    throw new Error(`trainer mode ${String(request.mode)} failed (exit ${run.status}): ${refusal}`);
  }
  const file = readTrainerFile(schema, last.result);
  if (file === undefined) throw new Error(`trainer mode ${String(request.mode)} wrote ${last.result}, which is not what the trainer protocol says`);
  return { path: last.result, file };
}

/** Prepare, every shard, then finish, one after another; the time is the three steps' together. */
function train(dataPath: string, name: string): { result: ResultFile; shards: number; seconds: string } {
  const out = join(dir, name);
  const base = {
    contract_version: TRAINER_CONTRACT_VERSION,
    data_path: dataPath,
    data: config.data,
    test_data_split: config.test_data_split,
    n_iter: config.n_iter,
    cv_folds: config.cv_folds,
    random_state: config.random_state,
    scoring: config.scoring,
    model_families: config.model_families,
    training_budget: trainerBudget(config.training_budget),
    mlflow: null,
  };
  const start = performance.now();
  const prepared = runMode(join(out, 'prepare'), { ...base, mode: 'prepare' }, preparedFile).file;
  // The search's time limit counts from the end of prepare, as in a release (src/workflows/distributed-training.ts).
  const deadline = prepared.budget.time_limit_s === null ? null : Date.now() / 1000 + prepared.budget.time_limit_s;
  const shardPaths = prepared.shards.map(
    (shard) => runMode(join(out, 'shards', shard.id), { ...base, mode: 'shard', sample: prepared.sample, shard, deadline, completed: {} }, shardFile).path,
  );
  const finished = runMode(join(out, 'finish'), { ...base, mode: 'finish', split_digest: prepared.split_digest, shard_paths: shardPaths }, resultFile);
  return { result: finished.file, shards: prepared.shards.length, seconds: seconds(start) };
}

async function main() {
  let start = performance.now();
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  await generateBankingCsv({ rows: 1_000_000, seed: 1, out: join(dir, 'bank-1m.csv') });
  clearInterval(sampler);
  console.log(`generate 1,000,000 rows: ${seconds(start)} s, peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`);

  await generateBankingCsv({ rows: 5_000, seed: 42, out: join(dir, 'bank-5k.csv') });
  await generateBankingCsv({ rows: 50_000, seed: 42, out: join(dir, 'bank-50k.csv') });
  const fit = (label: string, t: ReturnType<typeof train>) =>
    console.log(
      `train ${label} (n_iter ${config.n_iter}, cv ${config.cv_folds}, ${config.model_families.length} families, ${t.shards} shards, ${t.result.fits} fits): ${t.seconds} s — best ${t.result.best_family}, CV ${config.scoring} ${Object.entries(
        t.result.cv,
      )
        .map(([k, v]) => `${k} ${v.toFixed(4)}`)
        .join(', ')}; ONNX/scikit-learn max |Δp| (Python) ${t.result.parity_max_abs_diff.toExponential(2)}`,
    );
  const small = train(join(dir, 'bank-5k.csv'), 'train-5k');
  fit('5,000 rows', small);
  if (process.env.BENCH_SKIP_50K !== '1') fit('50,000 rows', train(join(dir, 'bank-50k.csv'), 'train-50k'));

  const { files } = small.result;
  const contract = JSON.parse(readFileSync(files['model/input_contract.json']!.path, 'utf8')) as InputContract;
  const model = await OnnxModel.load(files['model/model.onnx']!.path, contract);
  const held = await scoreLabelledCsv(model, files['data/test_rows.csv']!.path);
  const golden = (JSON.parse(readFileSync(files['data/test_predictions.json']!.path, 'utf8')) as { probabilities: number[] }).probabilities;
  const nodeParity = golden.reduce((max, p, i) => Math.max(max, Math.abs(p - held.probabilities[i]!)), 0);
  const metrics = classificationMetrics(held.labels, held.probabilities, contract.threshold);
  console.log(
    `default model on the default data (${metrics.rows} held-out rows, threshold ${contract.threshold}): ` +
      `ROC AUC ${metrics.roc_auc.toFixed(4)}, PR AUC ${metrics.average_precision.toFixed(4)}, F1 ${metrics.f1.toFixed(4)}, precision ${metrics.precision.toFixed(4)}, ` +
      `recall ${metrics.recall.toFixed(4)}, accuracy ${metrics.accuracy.toFixed(4)} (majority baseline ${metrics.majority_baseline_accuracy.toFixed(4)}), ` +
      `balanced accuracy ${metrics.balanced_accuracy.toFixed(4)}, log loss ${metrics.log_loss.toFixed(4)}, confusion ${JSON.stringify(metrics.confusion_matrix)}`,
  );
  console.log(`ONNX Runtime (Node) vs scikit-learn max |Δp| on held-out rows: ${nodeParity.toExponential(2)}`);

  const evalRows = join(dir, 'bank-100k.csv');
  await generateBankingCsv({ rows: 100_000, seed: 3, out: evalRows });
  start = performance.now();
  const scored = await scoreLabelledCsv(model, evalRows);
  const evalSeconds = (performance.now() - start) / 1000;
  console.log(`evaluate 100,000 rows (${small.result.best_family}): ${evalSeconds.toFixed(2)} s, ${(scored.labels.length / evalSeconds).toFixed(0)} rows/s`);
  await model.release();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
