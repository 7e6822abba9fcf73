// One way of validating a CSV, in its own process so its peak memory is its own (bench:scale runs each in turn).
//   node --import tsx bench/validate-data.ts <engine|engine-1|streaming|floor> <file.csv>
// Prints one JSON line: seconds, CPU seconds (every thread of the process: steadier than the wall clock on a shared
// machine), peak resident memory (MiB) and what was found.
//   engine     the release's path: DuckDB with every core, the profile, the problems, the data sketch
//   engine-1   the same with one DuckDB thread
//   streaming  the previous path: one csv-parse pass in Node, then the review's second pass for its sketch
//   floor      DuckDB alone, one thread, on the same contract: load the file, then per-column nulls, bad numbers,
//              min/max/mean/std, distinct counts, id uniqueness and date parse failures (no exact semantics, no samples)
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { projectRoot } from '../src/config/environment';
import { loadConfig } from '../src/config/load';
import { readCsvHeader } from '../src/data/csv';
import { validateStreaming } from '../src/data/validate';
import { validateDataset } from '../src/data/validate-engine';
import { sketchCsv } from '../src/review/drift';

const [mode, path] = process.argv.slice(2) as [string, string];
const contract = loadConfig({ path: join(projectRoot, 'config/default.yaml') }).config.data!;
const settings = { contract, cvFolds: 3, testSplit: 0.2 };

async function floor(): Promise<string> {
  const { header } = await readCsvHeader(path);
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  const columns = header.map((name, i) => `'c${i}': 'VARCHAR'`).join(', ');
  await connection.run(`CREATE TABLE raw AS SELECT * FROM read_csv('${path.replaceAll("'", "''")}', header = false, skip = 1, columns = {${columns}}, auto_detect = false)`);
  const format = { 'M/D/YYYY': '%m/%d/%Y', 'D/M/YYYY': '%d/%m/%Y', 'YYYY-MM-DD': '%Y-%m-%d' }[contract.date_format];
  const aggregates = header.flatMap((name, i) => {
    const c = `c${i}`;
    const nulls = `count_if(${c} IS NULL)`;
    if (contract.numeric_features.includes(name) || contract.forbidden_features.includes(name)) {
      const v = `TRY_CAST(${c} AS DOUBLE)`;
      return [nulls, `count_if(${c} IS NOT NULL AND ${v} IS NULL)`, `min(${v})`, `max(${v})`, `avg(${v})`, `stddev_samp(${v})`];
    }
    if (contract.date_features.includes(name)) {
      const d = `try_strptime(${c}, '${format}')`;
      return [nulls, `count_if(${c} IS NOT NULL AND ${d} IS NULL)`, `min(${d})`, `max(${d})`];
    }
    if (contract.categorical_features.includes(name) || contract.id_columns.includes(name) || name === contract.target) return [nulls, `count(DISTINCT ${c})`];
    return [nulls];
  });
  const reader = await connection.runAndReadAll(`SELECT count(*) AS rows, ${aggregates.join(', ')} FROM raw`);
  connection.closeSync();
  instance.closeSync();
  return `${Number(reader.getRows()[0]![0])} rows`;
}

async function main() {
  const started = performance.now();
  const cpu = process.cpuUsage();
  let found: string;
  if (mode === 'floor') found = await floor();
  else if (mode === 'streaming') {
    const { profile, problems } = await validateStreaming(path, settings);
    if (profile) await sketchCsv(path, contract, profile.sha256);
    found = `${profile?.rows ?? 0} rows, ${problems.length} problem(s)`;
  } else {
    const { profile, problems, sketch, pass } = await validateDataset(path, { ...settings, ...(mode === 'engine-1' ? { threads: 1 } : {}) });
    found = `${profile?.rows ?? 0} rows, ${problems.length} problem(s), sketch of ${sketch?.sample_rows ?? 0} rows${pass.engine ? '' : `, streamed: ${pass.reason}`}`;
  }
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  console.log(JSON.stringify({ mode, seconds, cpuSeconds: (used.user + used.system) / 1e6, peakMiB: process.resourceUsage().maxRSS / 1024, found }));
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
