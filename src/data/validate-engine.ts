// Data validation at engine speed: DuckDB reads the CSV once into a compact typed table (each cell trimmed and
// classified by the same rules as values.ts: missing, a number, a date, or not), the profile is a few aggregate
// queries over that table, and the two samples (the leakage check's and the review's data sketch) are the rows
// the streaming pass's reservoirs would have kept, fetched by their ordinals. The problems and the profile are
// made by the same code as the streaming pass's (concludeValidation); files DuckDB might read differently from
// csv-parse (quotes with line breaks or stray quotes, empty lines, lone CRs, a repeated header name, any CSV
// error, a number JavaScript reads but not as a decimal) go to the streaming pass, so its semantics stay exact.
import { availableParallelism, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { DataContract } from '../config/schema';
import { SKETCH_VERSION, sketchCsv, type DataSketch, type FeatureKind } from '../review/drift';
import { readCsvHeader, scanCsvLayout, type CsvLayout } from './csv';
import {
  concludeValidation,
  contractProblems,
  LEAKAGE_SAMPLE_ROWS,
  LEAKAGE_SAMPLE_SEED,
  planHeader,
  Reservoir,
  validateStreaming,
  type ColumnStats,
  type ValidationResult,
  type ValidationSettings,
} from './validate';
import { MISSING_CATEGORY } from './values';

/** Rows of the review's data sketch (a reservoir over every row, seed 42). */
export const SKETCH_ROWS = 5_000;
const SKETCH_SEED = 42;
const MAX_DISTINCT = 1_000;
const MAX_EXAMPLES = 5;

export interface EngineSettings extends ValidationSettings {
  /** DuckDB threads (default: every core). */
  threads?: number;
  /** DuckDB's memory limit (default 2GB): beyond it the table spills to a scratch folder, so a bigger file costs disk, not memory. */
  memoryLimit?: string;
  /** Progress of the read, 0–100, every few seconds. */
  onPercent?: (percent: number) => void;
}

export interface EngineValidationResult extends ValidationResult {
  /** The review's data sketch of the same rows (undefined when the file could not be profiled). */
  sketch?: DataSketch;
  /** Which pass read the file, and why the streaming one when it was. */
  pass: { engine: true } | { engine: false; reason: string };
}

// What String.prototype.trim removes: WhiteSpace and LineTerminator code points.
const JS_WHITESPACE = ' \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff';
// What Number() reads as a decimal (after trimming); DuckDB's cast alone also takes '1_000' and '+-1'.
const DECIMAL = String.raw`[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?`;
// What Number() also reads but DuckDB does not: such a file is validated by the streaming pass.
const NON_DECIMAL = '0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)';
const DATE_SQL: Record<DataContract['date_format'], { regex: string; strptime: string }> = {
  'M/D/YYYY': { regex: String.raw`\d{1,2}/\d{1,2}/\d{4}`, strptime: '%m/%d/%Y' },
  'D/M/YYYY': { regex: String.raw`\d{1,2}/\d{1,2}/\d{4}`, strptime: '%d/%m/%Y' },
  'YYYY-MM-DD': { regex: String.raw`\d{4}-\d{1,2}-\d{1,2}`, strptime: '%Y-%m-%d' },
};

// values.ts's missing tokens, and every upper/lower-case spelling of them (what lower() would map onto them).
const MISSING_TOKENS = ['', 'na', 'n/a', 'nan', 'null', 'none'];
const MISSING_SPELLINGS = MISSING_TOKENS.flatMap((token) =>
  [...token].reduce<string[]>((spellings, ch) => spellings.flatMap((head) => [...new Set([head + ch.toLowerCase(), head + ch.toUpperCase()])]), ['']),
);
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;
const n = (value: unknown) => (value === null || value === undefined ? 0 : Number(value));

/** The streaming pass, told why. */
async function streamed(path: string, settings: EngineSettings, reason: string): Promise<EngineValidationResult> {
  const result = await validateStreaming(path, settings);
  const sketch = result.profile ? await sketchCsv(path, settings.contract, result.profile.sha256) : undefined;
  return { ...result, ...(sketch ? { sketch } : {}), pass: { engine: false, reason } };
}

/** The ordinals a Reservoir of `size` (seeded) keeps of `count` offers, in slot order. */
export function reservoirOrdinals(size: number, seed: number, count: number): number[] {
  const reservoir = new Reservoir(size, seed);
  for (let i = 0; i < count; i++) reservoir.offer([i], 0);
  return reservoir.rows.map((row) => row.values[0] as number);
}

export async function validateDataset(path: string, settings: EngineSettings): Promise<EngineValidationResult> {
  const { contract } = settings;
  const problems = contractProblems(contract);
  let head: Awaited<ReturnType<typeof readCsvHeader>>;
  try {
    head = await readCsvHeader(path);
  } catch (error) {
    return { problems: [...problems, (error as Error).message], pass: { engine: false, reason: 'the file has no readable header' } };
  }
  const plan = planHeader(contract, head.header, problems);
  if (problems.length > 0 && plan.targetIndex === undefined) return { problems, pass: { engine: false, reason: 'the file has no target column' } };
  if (plan.duplicatedHeader) return streamed(path, settings, 'the header repeats a column name');

  // In memory, compressed; what does not fit in memory_limit spills to a scratch folder removed afterwards.
  const scratch = mkdtempSync(join(tmpdir(), 'modelship-validate-'));
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(settings.threads ?? availableParallelism()),
    temp_directory: scratch,
    memory_limit: settings.memoryLimit ?? '2GB',
    preserve_insertion_order: 'true',
  });
  const connection = await instance.connect();
  // The engine's answer, or why the streaming pass must give it (run once DuckDB's memory is released).
  let outcome: EngineValidationResult | string;
  try {
    await connection.run(`ATTACH ':memory:' AS profile (COMPRESS)`);
    await connection.run('USE profile');
    const layoutPromise = scanCsvLayout(path); // the digest, read beside the engine's own read of the file
    // Optimistic: most files have no whitespace at the edges of fields, and trimming every cell costs more than
    // the read. The byte scan says whether it was needed; if so the table is made again with every cell trimmed.
    let readError = '';
    const read = (trim: boolean) =>
      load(connection, path, { width: head.header.length, headerLines: head.lines, trim }, plan, contract, settings.onPercent).then(
        () => true,
        (error: Error) => {
          readError = error.message.split('\n')[0]!;
          return false;
        },
      );
    let loaded = await read(false);
    const layout = await layoutPromise;
    const irregular = irregularLayout(layout);
    if (!irregular && loaded && (layout.edgeWhitespace || layout.quotes)) loaded = await read(true);
    if (irregular) outcome = irregular;
    else if (!loaded) outcome = `DuckDB could not read the file as csv-parse does (${readError})`;
    else if (layout.quotes && (await quotedOddities(connection, path, head.header.length, head.lines))) outcome = 'a field holds a quote or a line break';
    else outcome = await profile(connection, path, head.lines, plan, settings, layout);
  } finally {
    connection.closeSync();
    instance.closeSync();
    rmSync(scratch, { recursive: true, force: true });
  }
  return typeof outcome === 'string' ? streamed(path, settings, outcome) : outcome;
}

function irregularLayout(layout: CsvLayout): string | undefined {
  if (layout.emptyLines) return 'the file has empty lines';
  if (layout.loneCarriageReturns) return 'the file has carriage returns without line feeds';
  return undefined;
}

/** With missingAsNull, every case spelling of a missing token reads as NULL (exact for untrimmed text). */
function readCsvSql(path: string, width: number, headerLines: number, missingAsNull = false): string {
  const columns = Array.from({ length: width }, (_, i) => `'c${i}': 'VARCHAR'`).join(', ');
  const nullstr = missingAsNull ? `, nullstr = [${MISSING_SPELLINGS.map(literal).join(', ')}]` : '';
  return (
    `read_csv(${literal(path)}, header = false, skip = ${headerLines}, columns = {${columns}}, delim = ',', quote = '"', escape = '"', ` +
    `auto_detect = false, strict_mode = true, null_padding = false${nullstr})`
  );
}

type Plan = ReturnType<typeof planHeader>;

/** The typed table `p`, one row per record in file order (rowid), with the columns each role needs. */
async function load(
  connection: DuckDBConnection,
  path: string,
  { width, headerLines, trim }: { width: number; headerLines: number; trim: boolean },
  plan: Plan,
  contract: DataContract,
  onPercent?: (percent: number) => void,
): Promise<boolean> {
  const ws = literal(JS_WHITESPACE);
  const edge = [...JS_WHITESPACE].map((ch) => ch.codePointAt(0)).join(', ');
  const trimmed = plan.columns
    .map(
      ({ index }, i) =>
        (trim ? `CASE WHEN ord(c${index}[1]) IN (${edge}) OR ord(c${index}[-1]) IN (${edge}) THEN trim(c${index}, ${ws}) ELSE c${index} END` : `c${index}`) + ` AS t${i}`,
    )
    .join(', ');
  const date = DATE_SQL[contract.date_format];
  // Missing: untrimmed, the reader itself turns every spelling of a missing token into NULL (nullstr); trimmed, the
  // test runs as a CASE condition (DuckDB evaluates it only for the rows still undecided).
  const missing = (t: string) => (trim ? `${t} IS NULL OR (strlen(${t}) <= 4 AND lower(${t}) IN (${MISSING_TOKENS.map(literal).join(', ')}))` : `${t} IS NULL`);
  // Three levels, each expression once: the text; the parsed value; what the table keeps.
  const parsed: string[] = [];
  const kept: string[] = [];
  plan.columns.forEach(({ name, stats }, i) => {
    const t = `t${i}`;
    parsed.push(t);
    switch (stats.role) {
      case 'numeric':
      case 'forbidden': {
        // A missing token never looks like a decimal: the missing test runs only where the value did not parse.
        parsed.push(`CASE WHEN regexp_full_match(${t}, ${literal(DECIMAL)}) THEN TRY_CAST(${t} AS DOUBLE) END AS num${i}`);
        const range = contract.ranges[name];
        const outside = [range?.min !== undefined ? `num${i} < ${range.min}` : undefined, range?.max !== undefined ? `num${i} > ${range.max}` : undefined].filter(Boolean);
        kept.push(
          `CASE WHEN isfinite(num${i}) THEN num${i} END AS v${i}`,
          `CASE WHEN isfinite(num${i}) THEN NULL WHEN ${missing(t)} THEN NULL ELSE ${t} END AS bad${i}`,
          ...(outside.length ? [`CASE WHEN isfinite(num${i}) AND (${outside.join(' OR ')}) THEN ${t} END AS oor${i}`] : []),
        );
        break;
      }
      case 'date':
        parsed.push(`CASE WHEN regexp_full_match(${t}, ${literal(date.regex)}) THEN try_strptime(${t}, ${literal(date.strptime)}) END AS ts${i}`);
        // Years below 100 are not dates to Date.UTC (it maps them to 19xx), so not to parseDate either.
        kept.push(
          `CASE WHEN year(ts${i}) >= 100 THEN CAST(date_diff('day', DATE '1970-01-01', CAST(ts${i} AS DATE)) AS DOUBLE) END AS v${i}`,
          `CASE WHEN year(ts${i}) >= 100 THEN NULL WHEN ${missing(t)} THEN NULL ELSE ${t} END AS bad${i}`,
        );
        break;
      case 'categorical':
      case 'target':
      case 'id':
        kept.push(`CASE WHEN ${missing(t)} THEN NULL ELSE ${t} END AS s${i}`);
        break;
      default:
        kept.push(`CASE WHEN ${missing(t)} THEN true ELSE false END AS m${i}`);
    }
  });
  const sql = `SELECT ${kept.join(', ')} FROM (SELECT ${parsed.join(', ')} FROM (SELECT ${trimmed} FROM ${readCsvSql(path, width, headerLines, !trim)}))`;
  const timer = onPercent && setInterval(() => onPercent(connection.progress.percentage), 5_000);
  try {
    await connection.run(`CREATE OR REPLACE TABLE p AS ${sql}`);
  } finally {
    if (timer) clearInterval(timer);
  }
  return true;
}

/** A field holding a double quote or a line break: csv-parse may read such a file otherwise (or refuse it), and its lines are not rows. */
async function quotedOddities(connection: DuckDBConnection, path: string, width: number, headerLines: number): Promise<boolean> {
  const odd = Array.from({ length: width }, (_, i) => `regexp_matches(c${i}, '["\\n\\r]')`).join(' OR ');
  const reader = await connection.runAndReadAll(`SELECT count(*) AS odd FROM ${readCsvSql(path, width, headerLines)} WHERE ${odd}`);
  return n(reader.getRowObjects()[0]!.odd) > 0;
}

/** A result's columns by position (one array per column: cheaper than an object per row for the samples). */
async function columnsOf(connection: DuckDBConnection, sql: string): Promise<unknown[][]> {
  return (await connection.runAndReadAll(sql)).getColumns() as unknown[][];
}

const sampleValue = (kind: FeatureKind, value: unknown) => (value === null || value === undefined ? null : kind === 'categorical' ? String(value) : Number(value));

async function rowsOf(connection: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  return (await connection.runAndReadAll(sql)).getRowObjects() as Record<string, unknown>[];
}

/** The profile and problems from table p, or why the streaming pass must give them. */
async function profile(
  connection: DuckDBConnection,
  path: string,
  headerLines: number,
  plan: Plan,
  settings: EngineSettings,
  layout: CsvLayout,
): Promise<EngineValidationResult | string> {
  const { contract } = settings;
  const line = (rowid: unknown) => headerLines + n(rowid) + 1;
  const targetColumn = plan.targetIndex!;

  // One scan: counts, nulls, parse failures, ranges, min/max/mean/std, distinct ids.
  const aggregates = ['count(*) AS rows', `count_if(s${targetColumn} = ${literal(contract.positive_class)}) AS positives`];
  plan.columns.forEach(({ name, stats }, i) => {
    switch (stats.role) {
      case 'numeric':
      case 'forbidden':
        aggregates.push(
          `count_if(v${i} IS NULL AND bad${i} IS NULL) AS nulls${i}`,
          `count(bad${i}) AS bad${i}`,
          `count_if(regexp_full_match(bad${i}, ${literal(NON_DECIMAL)})) AS nondecimal${i}`,
          `min(v${i}) AS min${i}`,
          `max(v${i}) AS max${i}`,
          `avg(v${i}) AS mean${i}`,
          `stddev_samp(v${i}) AS std${i}`,
          ...(contract.ranges[name] ? [`count(oor${i}) AS oor${i}`] : []),
        );
        break;
      case 'date':
        aggregates.push(`count_if(v${i} IS NULL AND bad${i} IS NULL) AS nulls${i}`, `count(bad${i}) AS bad${i}`, `min(v${i}) AS min${i}`, `max(v${i}) AS max${i}`);
        break;
      case 'categorical':
      case 'target':
        aggregates.push(`count_if(s${i} IS NULL) AS nulls${i}`);
        break;
      case 'id':
        aggregates.push(`count_if(s${i} IS NULL) AS nulls${i}`, `count(DISTINCT s${i}) AS distinct${i}`);
        break;
      default:
        aggregates.push(`count_if(m${i}) AS nulls${i}`);
    }
  });
  const totals = (await rowsOf(connection, `SELECT ${aggregates.join(', ')} FROM p`))[0]!;
  const rows = n(totals.rows);
  const nonDecimal = plan.columns.some((_, i) => n(totals[`nondecimal${i}`]) > 0);
  if (nonDecimal) return 'a number is written in hexadecimal, octal or binary';

  for (const [i, { stats }] of plan.columns.entries()) {
    fill(stats, rows, totals, i);
    const examples = async (column: string, format: (rowid: unknown, text: string) => string) =>
      (await rowsOf(connection, `SELECT rowid AS r, ${column} AS x FROM p WHERE ${column} IS NOT NULL ORDER BY rowid LIMIT ${MAX_EXAMPLES}`)).map((row) =>
        format(row.r, String(row.x)),
      );
    if (stats.unparseable > 0) stats.examples = await examples(`bad${i}`, (r, text) => `line ${line(r)}: ${JSON.stringify(text)}`);
    if (stats.outOfRange > 0) stats.rangeExamples = await examples(`oor${i}`, (r, text) => `line ${line(r)}: ${text}`);
    if (stats.role === 'id' && stats.duplicates > 0) {
      const repeated = await rowsOf(
        connection,
        `SELECT r, x FROM (SELECT rowid AS r, s${i} AS x, row_number() OVER (PARTITION BY s${i} ORDER BY rowid) AS k FROM p WHERE s${i} IS NOT NULL) ` +
          `WHERE k > 1 ORDER BY r LIMIT ${MAX_EXAMPLES}`,
      );
      stats.duplicateExamples = repeated.map((row) => `${JSON.stringify(String(row.x))} (line ${line(row.r)})`);
    }
    if (stats.role === 'categorical' || stats.role === 'target') {
      // The first MAX_DISTINCT values in order of first appearance, with their counts: what the streaming pass keeps.
      const values = await rowsOf(
        connection,
        `SELECT count(*) OVER () AS total, x, c FROM (SELECT s${i} AS x, count(*) AS c, min(rowid) AS first FROM p WHERE s${i} IS NOT NULL GROUP BY s${i}) ` +
          `ORDER BY first LIMIT ${MAX_DISTINCT}`,
      );
      stats.distinct = new Map(values.map((row) => [String(row.x), n(row.c)]));
      stats.distinctCapped = n(values[0]?.total) > MAX_DISTINCT;
    }
  }

  const targetStats = plan.columns[targetColumn]!.stats;
  const labelled = rows - targetStats.nulls;
  const sample = await leakageSample(connection, plan, contract, labelled, targetStats.nulls > 0, settings);
  const result = concludeValidation({
    path,
    settings,
    plan,
    rows,
    positives: n(totals.positives),
    sha256: layout.sha256,
    bytes: layout.bytes,
    sample,
  });
  const sketch = result.profile ? await dataSketch(connection, plan, rows, layout.sha256) : undefined;
  return { ...result, ...(sketch ? { sketch } : {}), pass: { engine: true } };
}

/** The streaming pass's running statistics, from the aggregates. */
function fill(stats: ColumnStats, rows: number, totals: Record<string, unknown>, i: number): void {
  stats.count = rows;
  stats.nulls = n(totals[`nulls${i}`]);
  if (stats.role === 'numeric' || stats.role === 'forbidden' || stats.role === 'date') {
    stats.unparseable = n(totals[`bad${i}`]);
    stats.outOfRange = n(totals[`oor${i}`]);
    const valid = rows - stats.nulls - stats.unparseable;
    if (valid > 0) {
      stats.min = n(totals[`min${i}`]);
      stats.max = n(totals[`max${i}`]);
      if (stats.role !== 'date') {
        stats.mean = n(totals[`mean${i}`]);
        const std = n(totals[`std${i}`]);
        stats.m2 = valid > 1 ? std * std * (valid - 1) : 0;
      }
    }
  }
  if (stats.role === 'id') {
    stats.ids = undefined;
    stats.idDistinct = n(totals[`distinct${i}`]);
    stats.duplicates = rows - stats.nulls - stats.idDistinct;
  }
}

/** Puts the ordinals a reservoir keeps into table `pick` (slot, ordinal). */
async function pick(connection: DuckDBConnection, table: string, ordinals: number[]): Promise<void> {
  await connection.run(`CREATE OR REPLACE TABLE ${table} (slot INTEGER, ordinal BIGINT)`);
  const appender = await connection.createAppender(table);
  ordinals.forEach((ordinal, slot) => {
    appender.appendInteger(slot);
    appender.appendBigInt(BigInt(ordinal));
    appender.endRow();
  });
  appender.closeSync();
}

function featureColumns(plan: Plan): { column: string; kind: FeatureKind; position: number }[] {
  return plan.features.map((column, k) => ({ column, kind: plan.featureKinds[k]!, position: plan.columns.findIndex((c) => c.index === plan.featureIndexes[k]) }));
}

/** The leakage check's sample: the labelled rows the streaming pass's reservoir keeps, in its slot order. */
async function leakageSample(
  connection: DuckDBConnection,
  plan: Plan,
  contract: DataContract,
  labelled: number,
  unlabelledRows: boolean,
  settings: ValidationSettings,
): Promise<Reservoir['rows']> {
  const ordinals = reservoirOrdinals(settings.sampleSize ?? LEAKAGE_SAMPLE_ROWS, settings.seed ?? LEAKAGE_SAMPLE_SEED, labelled);
  await pick(connection, 'leakage_pick', ordinals);
  const features = featureColumns(plan);
  const target = `s${plan.targetIndex!}`;
  const values = features.map(({ kind, position }, k) => (kind === 'categorical' ? `coalesce(s${position}, ${literal(MISSING_CATEGORY)}) AS f${k}` : `v${position} AS f${k}`));
  const numbered = unlabelledRows ? `(SELECT *, row_number() OVER (ORDER BY rowid) - 1 AS ordinal FROM p WHERE ${target} IS NOT NULL)` : `(SELECT *, rowid AS ordinal FROM p)`;
  const [, labels, ...columns] = await columnsOf(
    connection,
    `SELECT k.slot, (${target} = ${literal(contract.positive_class)})::INTEGER AS label${values.length ? ', ' : ''}${values.join(', ')} ` +
      `FROM leakage_pick k JOIN ${numbered} q ON q.ordinal = k.ordinal ORDER BY k.slot`,
  );
  return (labels ?? []).map((label, row) => ({ values: features.map(({ kind }, k) => sampleValue(kind, columns[k]![row])), label: n(label) }));
}

/** The review's data sketch: the rows a Reservoir(SKETCH_ROWS, 42) over every row keeps, missing and unparseable values as null. */
async function dataSketch(connection: DuckDBConnection, plan: Plan, rows: number, sha256: string): Promise<DataSketch> {
  await pick(connection, 'sketch_pick', reservoirOrdinals(SKETCH_ROWS, SKETCH_SEED, rows));
  const features = featureColumns(plan);
  const values = features.map(({ kind, position }, k) => `${kind === 'categorical' ? 's' : 'v'}${position} AS f${k}`);
  const columns = features.length
    ? (
        await columnsOf(connection, `SELECT k.slot, ${values.join(', ')} FROM sketch_pick k JOIN (SELECT *, rowid AS ordinal FROM p) q ON q.ordinal = k.ordinal ORDER BY k.slot`)
      ).slice(1)
    : [];
  return {
    sketch_version: SKETCH_VERSION,
    data_sha256: sha256,
    rows,
    sample_rows: Math.min(rows, SKETCH_ROWS),
    features: features.map(({ column, kind }) => ({ column, kind })),
    values: features.map(({ kind }, k) => columns[k]!.map((value) => sampleValue(kind, value))),
  };
}
