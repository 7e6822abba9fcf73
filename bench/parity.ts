// ONNX fidelity benchmark (not a test: it prints numbers). Run: npm run bench:parity [-- ROWS SEEDS]
// Trains every model family on generated data with magnitudes up to 1e9 and values that differ only in their last
// digits (bench/parity.py, the trainer's own pipelines and export), then compares scikit-learn's probabilities on
// the held-out rows with the exported model's: in onnxruntime (Python) and in onnxruntime-node, through the same
// record → feed path the endpoint uses. The limit the trainer enforces is 1e-4; exits 1 if any family is above it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot, pythonChildEnv, venvExecutable } from '../src/config/environment';
import { readRecords } from '../src/evaluation/evaluate';
import { OnnxModel, type InputContract } from '../src/model/input-contract';

const PARITY_LIMIT = 1e-4;
const rows = Number(process.argv[2] ?? 8000);
const seeds = Number(process.argv[3] ?? 3);

interface FamilyRun {
  family: string;
  python_max_abs_diff: number;
  rows: number;
  dir: string;
}

async function nodeMaxAbsDiff(run: FamilyRun): Promise<number> {
  const contract = JSON.parse(readFileSync(join(run.dir, 'input_contract.json'), 'utf8')) as InputContract;
  const expected = JSON.parse(readFileSync(join(run.dir, 'sklearn_probabilities.json'), 'utf8')) as number[];
  const model = await OnnxModel.load(join(run.dir, 'model.onnx'), contract);
  try {
    const records = await readRecords(join(run.dir, 'test_rows.csv'), contract, Number.POSITIVE_INFINITY);
    const scored = await model.probabilities(records);
    if (scored.length !== expected.length) throw new Error(`${run.family}: ${scored.length} scores for ${expected.length} rows`);
    return scored.reduce((worst, p, i) => Math.max(worst, Math.abs(p - expected[i]!)), 0);
  } finally {
    await model.release();
  }
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-bench-parity-'));
  const worst = new Map<string, { python: number; node: number; rows: number }>();
  for (let seed = 1; seed <= seeds; seed++) {
    const run = spawnSync(venvExecutable('python'), [join(projectRoot, 'bench/parity.py'), join(dir, `seed-${seed}`), String(rows), String(seed)], {
      env: pythonChildEnv(),
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    if (run.status !== 0) throw new Error(`bench/parity.py failed: ${run.stderr.slice(-2000)}`);
    for (const line of run.stdout.trim().split('\n')) {
      const result = JSON.parse(line) as FamilyRun;
      const node = await nodeMaxAbsDiff(result);
      const previous = worst.get(result.family) ?? { python: 0, node: 0, rows: 0 };
      worst.set(result.family, { python: Math.max(previous.python, result.python_max_abs_diff), node: Math.max(previous.node, node), rows: previous.rows + result.rows });
      console.log(`seed ${seed} ${result.family.padEnd(24)} python ${result.python_max_abs_diff.toExponential(2)}  node ${node.toExponential(2)}`);
    }
  }
  console.log(`\nworst max |p_sklearn − p_onnx| over ${seeds} seed(s), ${rows} generated rows each (¼ held out); limit ${PARITY_LIMIT}`);
  console.log('| family | held-out rows | Python (onnxruntime) | Node (onnxruntime-node) | ≤ 1e-4 |');
  console.log('|---|---|---|---|---|');
  let failed = false;
  for (const [family, w] of worst) {
    const ok = w.python <= PARITY_LIMIT && w.node <= PARITY_LIMIT;
    failed ||= !ok;
    console.log(`| ${family} | ${w.rows} | ${w.python.toExponential(2)} | ${w.node.toExponential(2)} | ${ok ? 'yes' : 'NO'} |`);
  }
  if (failed) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
