// The engine path (DuckDB) against the streaming pass (csv-parse) on generated files with injected faults: the
// same problems, word for word, the same profile (means and deviations to 1e-9, as the two sum in another order),
// the same data sketch; and the files DuckDB might read otherwise go to the streaming pass, saying why.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createDataActivities, DATA_SKETCH_FILE, type ValidateDataResult } from '../src/activities/data';
import { loadConfig } from '../src/config/load';
import { projectRoot } from '../src/config/environment';
import type { DataContract } from '../src/config/schema';
import { generateBankingCsv } from '../src/data/generate';
import { validateStreaming, type ValidationResult } from '../src/data/validate';
import { reservoirOrdinals, validateDataset, type EngineValidationResult } from '../src/data/validate-engine';
import { Reservoir } from '../src/data/validate';
import { sketchCsv } from '../src/review/drift';
import { seededRandom } from './support/random';

const dir = mkdtempSync(join(tmpdir(), 'modelship-engine-'));
const contract = loadConfig({ path: join(projectRoot, 'config/default.yaml') }).config.data!;
const settings = { contract, cvFolds: 3, testSplit: 0.2, threads: 1 };
let header: string[];
let rows: string[][];

const FAULTS: Record<'numeric' | 'date' | 'missing' | 'category', string[]> = {
  numeric: ['abc', '1_000', '+-1', 'Infinity', '-inf', '1e400', '12;5', '٣', '1.2.3', 'e5', '.', '+.5', '1.', '-0', '1e-400', '007'],
  date: ['2/30/2020', '13/1/2020', '1/1/0099', '2020-01-01', '1/1/20201', '1//2020', '0/1/2020', '2/29/2021', '2/29/2024', '12/31/9999', '1/1/0100'],
  missing: ['', 'NA', 'n/a', 'NaN', 'null', 'None', 'NULL', 'nOnE'],
  category: ['Other', 'other', 'Ünïcode', 'x y', 'NA ', 'Male'],
};

function write(name: string, lines: string[][], options: { eol?: string; bom?: boolean } = {}): string {
  const path = join(dir, name);
  const eol = options.eol ?? '\n';
  writeFileSync(path, `${options.bom ? '\ufeff' : ''}${[header, ...lines].map((fields) => fields.join(',')).join(eol)}${eol}`);
  return path;
}

/** A copy of the rows with faults in random cells of every kind of column. */
function faulty(seed: number, share: number): string[][] {
  const next = seededRandom(seed);
  const pickFrom = <T>(list: T[]) => list[Math.floor(next() * list.length)]!;
  const at = (column: string) => header.indexOf(column);
  const numeric = [...contract.numeric_features, ...contract.forbidden_features].map(at);
  const dates = contract.date_features.map(at);
  const categorical = contract.categorical_features.map(at);
  const ids = contract.id_columns.map(at);
  const ignored = contract.ignored_columns.map(at);
  const target = at(contract.target);
  return rows.map((original) => {
    const fields = [...original];
    if (next() < share) fields[pickFrom(numeric)] = pickFrom(FAULTS.numeric);
    if (next() < share) fields[pickFrom(dates)] = pickFrom(FAULTS.date);
    if (next() < share) fields[pickFrom([...numeric, ...dates, ...categorical, ...ignored])] = pickFrom(FAULTS.missing);
    if (next() < share) fields[pickFrom(categorical)] = pickFrom(FAULTS.category);
    if (next() < share / 4) {
      const id = pickFrom(ids);
      fields[id] = pickFrom(rows)[id]!; // another row's id: a duplicate
    }
    if (next() < share / 2) fields[at('Age')] = pickFrom(['150', '17', '-3', '18', '120', '120.0001']);
    if (next() < share / 2) fields[at('Interest Rate')] = pickFrom(['101', '-0.5', '100']);
    if (next() < share / 8) fields[target] = pickFrom(FAULTS.missing);
    return fields;
  });
}

function close(a: unknown, b: unknown, path: string): void {
  if (typeof a === 'number' && typeof b === 'number') {
    // -0 and 0 are one number here, as in the JSON the profile is written to ("-0" injected: which one a minimum keeps differs).
    assert.ok(a === b || (!Number.isInteger(a) && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b))), `${path}: ${a} ≠ ${b}`);
  } else if (a && b && typeof a === 'object' && typeof b === 'object') {
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), path);
    for (const key of Object.keys(a)) close((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${path}.${key}`);
  } else assert.deepEqual(a, b, path);
}

async function same(path: string, override: Partial<DataContract> = {}): Promise<{ engine: EngineValidationResult; streaming: ValidationResult }> {
  const options = { ...settings, contract: { ...contract, ...override } };
  const [engine, streaming] = [await validateDataset(path, options), await validateStreaming(path, options)];
  assert.deepEqual(engine.problems, streaming.problems);
  close(engine.profile, streaming.profile, 'profile');
  if (streaming.profile) assert.deepEqual(engine.sketch, await sketchCsv(path, options.contract, streaming.profile.sha256));
  return { engine, streaming };
}

describe('validation by DuckDB against the streaming pass', () => {
  before(async () => {
    const base = join(dir, 'base.csv');
    await generateBankingCsv({ rows: 3000, seed: 11, out: base });
    const lines = readFileSync(base, 'utf8').trimEnd().split('\n');
    header = lines[0]!.split(',');
    rows = lines.slice(1).map((line) => line.split(','));
  });

  it('keeps the reservoirs: the ordinals it fetches are the rows the streaming pass keeps', () => {
    const kept = new Reservoir(50, 42);
    for (let i = 0; i < 1234; i++) kept.offer([`row ${i}`], 0);
    assert.deepEqual(
      reservoirOrdinals(50, 42, 1234).map((i) => `row ${i}`),
      kept.rows.map((row) => row.values[0]),
    );
  });

  it('agrees on a clean file, in the engine', async () => {
    const { engine } = await same(write('clean.csv', rows));
    assert.deepEqual(engine.pass, { engine: true });
    assert.deepEqual(engine.problems, []);
  });

  for (const seed of [1, 2, 3, 4]) {
    it(`agrees on injected faults (seed ${seed}): bad numbers, missing values, bad dates, new categories, duplicate ids, ranges, unlabelled rows`, async () => {
      const { engine } = await same(write(`faults-${seed}.csv`, faulty(seed, 0.05)));
      assert.deepEqual(engine.pass, { engine: true });
      const text = engine.problems.join('\n');
      for (const expected of ['that are not numbers', 'that are not dates', 'duplicate value(s)', 'outside [18, 120]', 'the target "HighAmount" is empty']) {
        assert.ok(text.includes(expected), expected);
      }
    });
  }

  it('agrees on leakage, a non-binary target, a wrong positive class and a feature emptier than allowed', async () => {
    const at = (column: string) => header.indexOf(column);
    const leaky = rows.map((fields) => {
      const copy = [...fields];
      copy[at('Rewards Points')] = String(Number(fields[at(contract.target)]) * 1000 + Number(fields[at('Age')]));
      return copy;
    });
    const { engine } = await same(write('leaky.csv', leaky));
    assert.match(engine.problems.join('\n'), /target leakage: feature "Rewards Points"/);
    const threeClasses = rows.map((fields, i) => (i % 97 === 0 ? fields.map((v, k) => (k === at(contract.target) ? '2' : v)) : fields));
    await same(write('three-classes.csv', threeClasses));
    await same(write('clean-again.csv', rows), { positive_class: 'yes' });
    const empty = rows.map((fields, i) => (i % 3 ? fields.map((v, k) => (k === at('City') ? 'NA' : v)) : fields));
    assert.match((await same(write('empty-city.csv', empty))).engine.problems.join('\n'), /feature "City" is empty/);
  });

  it('agrees when more than 1000 categories are seen, and on ties in the top five', async () => {
    const at = header.indexOf('City');
    const many = rows.map((fields, i) => fields.map((v, k) => (k === at ? `c${i % 1500}` : v)));
    const { engine } = await same(write('many-cities.csv', many));
    assert.equal(engine.profile!.columns.City!.distinct_capped, true);
    const ties = rows.map((fields, i) => fields.map((v, k) => (k === at ? `t${(i * 7) % 10}` : v)));
    await same(write('tied-cities.csv', ties));
  });

  it('agrees on whitespace around values, CRLF line ends and a byte-order mark', async () => {
    const padded = faulty(5, 0.05).map((fields, i) => (i % 5 === 0 ? fields.map((v, k) => (k % 3 === 0 ? ` ${v}\t` : k % 3 === 1 ? `\u00a0${v}` : v)) : fields));
    assert.deepEqual((await same(write('padded.csv', padded))).engine.pass, { engine: true });
    assert.deepEqual((await same(write('crlf.csv', faulty(6, 0.05), { eol: '\r\n', bom: true }))).engine.pass, { engine: true });
  });

  it('agrees on quoted fields (a comma inside, quotes around numbers and missing tokens), in the engine', async () => {
    const at = (column: string) => header.indexOf(column);
    const quoted = faulty(7, 0.05).map((fields, i) =>
      fields.map((v, k) => (k === at('Address') ? `"${v}, Apt ${i}"` : k === at('Age') && i % 3 === 0 ? `"${v}"` : k === at('City') && i % 50 === 0 ? '"NA"' : v)),
    );
    assert.deepEqual((await same(write('quoted.csv', quoted))).engine.pass, { engine: true });
  });

  for (const format of ['YYYY-MM-DD', 'D/M/YYYY'] as const) {
    it(`agrees on dates in the ${format} format`, async () => {
      const dates = contract.date_features.map((column) => header.indexOf(column));
      const next = seededRandom(format.length);
      const rewritten = faulty(8, 0.05).map((fields) =>
        fields.map((v, k) => {
          const match = dates.includes(k) ? /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(v) : null;
          if (!match) return v;
          const [, month, day, year] = match;
          if (next() < 0.02) return format === 'YYYY-MM-DD' ? `${year}-${day}-${month}` : `${month}/${day}/${year}`; // swapped: some impossible
          return format === 'YYYY-MM-DD' ? `${year}-${month!.padStart(next() < 0.5 ? 2 : 1, '0')}-${day}` : `${day}/${month}/${year}`;
        }),
      );
      const { engine } = await same(write(`dates-${format.replaceAll('/', '')}.csv`, rewritten), { date_format: format });
      assert.deepEqual(engine.pass, { engine: true });
    });
  }

  it('leaves the files DuckDB might read otherwise to the streaming pass, with the same words', async () => {
    const at = (column: string) => header.indexOf(column);
    const cases: [string, string[][], RegExp, { eol?: string }?][] = [
      ['quoted-newline.csv', rows.map((f, i) => (i === 7 ? f.map((v, k) => (k === at('Address') ? `"line one\nline two"` : v)) : f)), /quote or a line break/],
      ['stray-quote.csv', rows.map((f, i) => (i === 9 ? f.map((v, k) => (k === at('Address') ? `12 "Main" St` : v)) : f)), /./],
      ['hex.csv', rows.map((f, i) => (i === 3 ? f.map((v, k) => (k === at('Loan Term') ? '0x1F' : v)) : f)), /hexadecimal/],
      ['ragged.csv', rows.map((f, i) => (i === 11 ? f.slice(1) : f)), /could not read/],
      ['lone-cr.csv', rows, /carriage returns/, { eol: '\r' }],
    ];
    for (const [name, lines, reason, options] of cases) {
      const { engine } = await same(write(name, lines, options));
      assert.equal(engine.pass.engine, false, name);
      if (!engine.pass.engine) assert.match(engine.pass.reason, reason, name);
    }
    const blank = write('blank-lines.csv', rows);
    writeFileSync(blank, readFileSync(blank, 'utf8').replace('\n', '\n\n'));
    const { engine } = await same(blank);
    assert.deepEqual(engine.pass, { engine: false, reason: 'the file has empty lines' });
    const repeated = join(dir, 'repeated-header.csv');
    writeFileSync(repeated, readFileSync(write('r.csv', rows), 'utf8').replace('First Name', 'Last Name'));
    assert.deepEqual((await same(repeated)).engine.pass, { engine: false, reason: 'the header repeats a column name' });
  });

  it('the validateData activity writes the data sketch beside the profile, so the review need not read the data again', async () => {
    const path = write('activity.csv', rows);
    const artifactsDir = join(dir, 'artifacts');
    const result: ValidateDataResult = await new MockActivityEnvironment().run(createDataActivities().validateData, {
      dataPath: path,
      contract,
      cvFolds: 3,
      testSplit: 0.2,
      artifactsDir,
    });
    assert.equal(result.sketchPath, join(artifactsDir, DATA_SKETCH_FILE));
    assert.deepEqual(JSON.parse(readFileSync(result.sketchPath, 'utf8')), await sketchCsv(path, contract, result.sha256));
    assert.equal((JSON.parse(readFileSync(result.profilePath, 'utf8')) as { rows: number }).rows, rows.length);
  });

  it('gives the same message for a missing file, an empty one and a header without rows', async () => {
    await same(join(dir, 'absent.csv'));
    writeFileSync(join(dir, 'empty.csv'), '');
    await same(join(dir, 'empty.csv'));
    await same(write('header-only.csv', []));
  });
});
