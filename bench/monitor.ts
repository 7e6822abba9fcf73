// Benchmark of the monitor's statistics (not a test: it prints numbers against the issue's goals). Run: npm run bench:monitor
//   false alarms: 200 windows of 1,000 records of the training distribution against a 5,000-row sketch of another draw;
//   power: half a standard deviation added to one numeric feature, 20 points moved to one category, per feature;
//   scale: one window of 1,000,000 captured records on disk, analysed in a child process (time, peak RSS).
// Scores come from a fixed logistic function of a few fields (a stand-in model): the reference's held-out scores are
// its values on rows of the reference draw. Set BENCH_MONITOR_RECORDS to change the scale window's size.
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { projectRoot } from '../src/config/environment';
import { loadConfig } from '../src/config/load';
import { openCsv } from '../src/data/csv';
import { generateBankingCsv } from '../src/data/generate';
import { DEFAULT_MONITOR_SETTINGS } from '../src/monitoring/defaults';
import type { MonitorReference } from '../src/monitoring/statistics';
import { analyzeWindow, WindowCounts } from '../src/monitoring/window';
import { sketchCsv } from '../src/review/drift';
import { percentile } from '../src/shared/percentile';
import { CAPTURE_DIR, capturePartition, FEEDBACK_DIR, type CaptureRecord, type OutcomeRecord } from '../src/shared/capture';
import type { MonitorWindow } from '../src/workflows/monitor-api';

const WINDOW_START = Date.UTC(2025, 5, 2, 10);
const WINDOW_END = Date.UTC(2025, 5, 2, 12);
const window: MonitorWindow = { id: 'bench', index: 0, start: new Date(WINDOW_START).toISOString(), end: new Date(WINDOW_END).toISOString() };
const settings = DEFAULT_MONITOR_SETTINGS;

if (process.argv[2] === '--analyze') {
  // The scale run's child: only the analysis in this process, so its peak RSS is the analysis's.
  void (async () => {
    const [, , , root, referencePath] = process.argv;
    const reference = JSON.parse(readFileSync(referencePath!, 'utf8')) as MonitorReference;
    const baseline = process.memoryUsage().rss;
    const started = performance.now();
    const result = await analyzeWindow(join(root!, CAPTURE_DIR), join(root!, FEEDBACK_DIR), 'bench', window, reference, settings);
    const seconds = (performance.now() - started) / 1000;
    const rest = result;
    const summary = {
      seconds,
      baselineRssMb: baseline / 2 ** 20,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      records: rest.records,
      labelled: rest.performance.labelled,
      alarms: rest.alarms.map((a) => a.kind),
    };
    process.stdout.write(JSON.stringify(summary));
  })();
} else {
  void main();
}

type Row = Record<string, string>;

async function readRows(path: string): Promise<Row[]> {
  const csv = await openCsv(path);
  const rows: Row[] = [];
  for await (const { fields } of csv.records) rows.push(Object.fromEntries(csv.header.map((column, i) => [column, fields[i] ?? ''])));
  return rows;
}

/** The stand-in model: a fixed logistic function of wealth, credit and account type. */
function score(input: Record<string, unknown>): number {
  const log = (name: string) => Math.log(Math.max(1, Number(input[name]) || 1));
  const z = -3 + 0.9 * (log('Account Balance') - 8.6) + 0.7 * (log('Credit Limit') - 8.5) + (input['Account Type'] === 'Current' ? 0.6 : 0);
  return 1 / (1 + Math.exp(-z));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-bench-monitor-'));
  const contract = loadConfig({ path: join(projectRoot, 'config/default.yaml') }).config.data;
  if (!contract) throw new Error('config/default.yaml has no data contract');
  const features = [...contract.numeric_features, ...contract.date_features, ...contract.categorical_features];
  const numeric = new Set(contract.numeric_features);

  let started = performance.now();
  const referenceCsv = await generateBankingCsv({ rows: 20_000, seed: 101, out: join(dir, 'reference.csv') });
  const sketch = await sketchCsv(referenceCsv.path, contract, 'bench');
  const toInput = (row: Row) => Object.fromEntries(features.map((f) => [f, numeric.has(f) ? (row[f] === '' ? null : Number(row[f])) : row[f]]));
  const heldOut = (await readRows(referenceCsv.path)).slice(0, 4000).map((row) => score(toInput(row)));
  const threshold = percentile(
    [...heldOut].sort((a, b) => a - b),
    0.9,
  );
  const reference: MonitorReference = { sketch, dateFormat: contract.date_format, scores: heldOut, threshold, positiveClass: 1, rocAuc: 0.9 };
  const liveCsv = await generateBankingCsv({ rows: 200_000, seed: 202, out: join(dir, 'live.csv') });
  const live = (await readRows(liveCsv.path)).map(toInput);
  console.log(
    `data: reference sketch of ${sketch.sample_rows} rows (of a ${referenceCsv.rows}-row draw), ${live.length} live rows of another draw, ${features.length} features (${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );

  const analyze = (inputs: Record<string, unknown>[]) => {
    const counts = new WindowCounts(reference, { start: WINDOW_START, end: WINDOW_END }, { start: WINDOW_START, end: WINDOW_END }, new Map());
    const time = new Date(WINDOW_START).toISOString();
    inputs.forEach((input, i) =>
      counts.addRecord({
        format: 1,
        inference_id: String(i),
        time,
        endpoint: 'bench',
        deployment: 'blue',
        model: { name: 'm', version: '1', sha256: '' },
        input,
        prediction: { label: 0, probability: score(input) },
        latency_ms: 1,
      }),
    );
    return counts.result('bench', window, settings, { torn: 0, invalid: 0, unknownFormat: 0 });
  };
  const windows = 200;
  const windowOf = (w: number) => live.slice(w * 1000, (w + 1) * 1000);

  // False alarms
  started = performance.now();
  let driftAlarms = 0;
  let predictionAlarms = 0;
  let fixedThresholdAlarms = 0;
  const falseByFeature = new Map<string, number>();
  for (let w = 0; w < windows; w++) {
    const result = analyze(windowOf(w));
    const drift = result.alarms.find((a) => a.kind === 'drift');
    if (drift) {
      driftAlarms++;
      for (const f of drift.features) falseByFeature.set(f, (falseByFeature.get(f) ?? 0) + 1);
    }
    if (result.alarms.some((a) => a.kind === 'prediction_drift')) predictionAlarms++;
    if (result.drift.some((d) => d.psi > 0.1)) fixedThresholdAlarms++;
  }
  const rate = (n: number) => `${((100 * n) / windows).toFixed(1)} %`;
  console.log(
    `\nfalse alarms (${windows} windows × 1,000 unchanged records, α = ${settings.falseAlarmRate} over ${features.length} features + the score; ${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
  console.log(`  drift alarm: ${rate(driftAlarms)} of windows (goal ≤ 5 %) ${driftAlarms / windows <= 0.05 ? 'MET' : 'MISSED'}`);
  console.log(`  prediction drift alarm: ${rate(predictionAlarms)}; any drift-type alarm goal shared with the above`);
  console.log(`  for comparison, a fixed PSI 0.1 on the same windows and bins: ${rate(fixedThresholdAlarms)}`);
  if (falseByFeature.size) console.log(`  features behind them: ${[...falseByFeature].map(([f, n]) => `${f} ${n}`).join(', ')}`);

  // Power
  const powerWindows = 100;
  const column = (name: string) => sketch.values[sketch.features.findIndex((f) => f.column === name)]!;
  const sd = (name: string) => {
    const values = column(name).filter((v): v is number => typeof v === 'number');
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    return Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1));
  };
  const topCategory = (name: string) => {
    const counts = new Map<string, number>();
    for (const v of column(name)) if (v !== null) counts.set(String(v), (counts.get(String(v)) ?? 0) + 1);
    const [category, count] = [...counts].sort((a, b) => b[1] - a[1])[0]!;
    return { category, share: count / column(name).length };
  };
  console.log(`\npower (${powerWindows} windows of 1,000 records per feature: flagged in the window / flagged and ranked first; goal ≥ 95 % ranked first)`);
  const report = (label: string, transform: (input: Record<string, unknown>, i: number) => Record<string, unknown>, feature: string) => {
    let flagged = 0;
    let first = 0;
    for (let w = 0; w < powerWindows; w++) {
      const result = analyze(windowOf(w).map(transform));
      const drift = result.alarms.find((a) => a.kind === 'drift');
      if (drift?.features.includes(feature)) flagged++;
      if (drift?.features[0] === feature) first++;
    }
    const met = first / powerWindows >= 0.95;
    console.log(`  ${label.padEnd(52)} ${String(flagged).padStart(3)} % / ${String(first).padStart(3)} % ${met ? 'MET' : 'MISSED'}`);
    return met;
  };
  let powerMet = 0;
  let powerCases = 0;
  for (const feature of contract.numeric_features) {
    const shift = 0.5 * sd(feature);
    powerCases++;
    if (report(`${feature} + ${shift.toPrecision(3)} (½ sd)`, (input) => ({ ...input, [feature]: input[feature] === null ? null : Number(input[feature]) + shift }), feature))
      powerMet++;
  }
  for (const feature of contract.categorical_features) {
    const { category, share } = topCategory(feature);
    const moveProbability = 0.2 / (1 - share);
    powerCases++;
    // Deterministic thinning: every record not in the category moves to it with probability 0.2 / (1 − share).
    const transform = (input: Record<string, unknown>, i: number) =>
      input[feature] !== category && (i * 0.6180339887) % 1 < moveProbability ? { ...input, [feature]: category } : input;
    if (report(`${feature} "${category}" ${(share * 100).toFixed(0)} % → ${((share + 0.2) * 100).toFixed(0)} %`, transform, feature)) powerMet++;
  }
  console.log(`  ${powerMet} of ${powerCases} shifts met the goal`);

  // Scale
  const total = Number(process.env.BENCH_MONITOR_RECORDS ?? 1_000_000);
  const root = join(dir, 'state');
  started = performance.now();
  let bytes = 0;
  const perHour = Math.ceil(total / 2);
  const labelledEvery = 10;
  mkdirSync(join(root, FEEDBACK_DIR, 'bench'), { recursive: true });
  const feedback = createWriteStream(join(root, FEEDBACK_DIR, 'bench', 'outcomes.jsonl'));
  for (let hour = 0; hour < 2; hour++) {
    const hourStart = WINDOW_START + hour * 3_600_000;
    const folder = join(root, CAPTURE_DIR, capturePartition('bench', 'blue', new Date(hourStart)));
    mkdirSync(folder, { recursive: true });
    const files = 5;
    for (let f = 0; f < files; f++) {
      const out = createWriteStream(join(folder, `part-${f}.jsonl`));
      const from = hour * perHour + Math.floor((f * perHour) / files);
      const to = Math.min(total, hour * perHour + Math.floor(((f + 1) * perHour) / files));
      let batch = '';
      let outcomes = '';
      for (let i = from; i < to; i++) {
        const input = live[i % live.length]!;
        const probability = score(input);
        const record: CaptureRecord = {
          format: 1,
          inference_id: `id-${i}`,
          time: new Date(hourStart + Math.floor(((i - hour * perHour) / perHour) * 3_600_000)).toISOString(),
          endpoint: 'bench',
          deployment: 'blue',
          model: { name: 'financial-behavior-model', version: '7', sha256: 'f'.repeat(64) },
          input,
          prediction: { label: probability >= threshold ? 1 : 0, probability },
          latency_ms: 2 + (i % 97) / 10,
        };
        batch += JSON.stringify(record) + '\n';
        if (i % labelledEvery === 0) {
          const outcome: OutcomeRecord = { format: 1, inference_id: record.inference_id, actual: probability > 0.3 ? 1 : 0, received: record.time };
          outcomes += JSON.stringify(outcome) + '\n';
        }
        if (batch.length > 1 << 20) {
          bytes += batch.length;
          if (!out.write(batch)) await once(out, 'drain');
          batch = '';
          if (!feedback.write(outcomes)) await once(feedback, 'drain');
          outcomes = '';
        }
      }
      bytes += batch.length;
      out.end(batch);
      feedback.write(outcomes);
      await once(out, 'finish');
    }
  }
  feedback.end();
  await once(feedback, 'finish');
  console.log(
    `\nscale: wrote ${total.toLocaleString('en')} captured records (${(bytes / 2 ** 20).toFixed(0)} MiB in 10 files, 2 hour folders) and ${Math.ceil(total / labelledEvery).toLocaleString('en')} outcomes in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  const referencePath = join(dir, 'reference.json');
  writeFileSync(referencePath, JSON.stringify(reference));
  const child = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', __filename, '--analyze', root, referencePath], { encoding: 'utf8', maxBuffer: 1 << 24 })) as {
    seconds: number;
    baselineRssMb: number;
    peakRssMb: number;
    records: number;
    labelled: number;
    alarms: string[];
  };
  console.log(
    `  analysed ${child.records.toLocaleString('en')} records (${child.labelled.toLocaleString('en')} labelled) in ${child.seconds.toFixed(1)} s (goal ≤ 60 s) ${child.seconds <= 60 ? 'MET' : 'MISSED'}`,
  );
  console.log(`  peak RSS ${child.peakRssMb.toFixed(0)} MiB (the process before analysing: ${child.baselineRssMb.toFixed(0)} MiB); alarms: ${child.alarms.join(', ') || 'none'}`);
  rmSync(dir, { recursive: true, force: true });
}
