// Sample data, the data contract and validation: every bad input is refused with a clear reason, all at once.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/load';
import { projectRoot } from '../src/config/environment';
import type { DataContract } from '../src/config/schema';
import { sha256File } from '../src/data/csv';
import { BANKING_COLUMNS, generateBankingCsv } from '../src/data/generate';
import { inferContract } from '../src/data/infer-schema';
import { validateDataset } from '../src/data/validate-engine';

const dir = mkdtempSync(join(tmpdir(), 'modelship-data-'));
const contract = loadConfig({ path: join(projectRoot, 'config/default.yaml') }).config.data!;
const settings = { contract, cvFolds: 3, testSplit: 0.2 };
const sample = join(dir, 'bank.csv');
let lines: string[];

function variant(name: string, edit: (lines: string[]) => string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${edit([...lines]).join('\n')}\n`);
  return path;
}

/** Replaces one column's value in every data row (or only where `where` holds). */
function setColumn(rows: string[], column: string, value: (row: number) => string): string[] {
  const index = rows[0]!.split(',').indexOf(column);
  return rows.map((line, i) => {
    if (i === 0 || !line) return line;
    const fields = line.split(',');
    fields[index] = value(i);
    return fields.join(',');
  });
}

async function problems(path: string, override: Partial<DataContract> = {}): Promise<string[]> {
  return (await validateDataset(path, { ...settings, contract: { ...contract, ...override } })).problems;
}

describe('sample data generator', () => {
  before(async () => {
    await generateBankingCsv({ rows: 2000, seed: 7, out: sample });
    lines = readFileSync(sample, 'utf8').trimEnd().split('\n');
  });

  it('writes the original 40 columns plus HighAmount, one row per customer', () => {
    assert.deepEqual(lines[0]!.split(','), [...BANKING_COLUMNS]);
    assert.equal(BANKING_COLUMNS.length, 41);
    assert.equal(lines.length, 2001);
  });

  it('is deterministic for a seed and differs across seeds', async () => {
    const again = join(dir, 'again.csv');
    const other = join(dir, 'other.csv');
    await generateBankingCsv({ rows: 2000, seed: 7, out: again });
    await generateBankingCsv({ rows: 2000, seed: 8, out: other });
    assert.equal(await sha256File(again), await sha256File(sample));
    assert.notEqual(await sha256File(other), await sha256File(sample));
  });

  it('labels HighAmount = Transaction Amount ≥ its 95th percentile (about 5 % positives)', async () => {
    const result = await generateBankingCsv({ rows: 2000, seed: 7, out: join(dir, 'labels.csv') });
    // Ties at the percentile count as high, so slightly over 5 % is possible.
    assert.ok(result.positives >= 100 && result.positives <= 110, `${result.positives} positives`);
    const header = lines[0]!.split(',');
    const [amount, high] = [header.indexOf('Transaction Amount'), header.indexOf('HighAmount')];
    for (const line of lines.slice(1)) {
      const fields = line.split(',');
      assert.equal(fields[high], Number(fields[amount]) >= result.threshold ? '1' : '0');
    }
  });

  it('writes M/D/YYYY dates and the original value sets', () => {
    const header = lines[0]!.split(',');
    const row = lines[1]!.split(',');
    assert.match(row[header.indexOf('Transaction Date')]!, /^\d{1,2}\/\d{1,2}\/\d{4}$/);
    assert.ok(['Female', 'Male', 'Other'].includes(row[header.indexOf('Gender')]!));
    assert.ok(['Savings', 'Current'].includes(row[header.indexOf('Account Type')]!));
    assert.ok(['Deposit', 'Transfer', 'Withdrawal'].includes(row[header.indexOf('Transaction Type')]!));
  });
});

describe('data validation', () => {
  it('accepts the generated data and profiles it', async () => {
    const { profile, problems: found } = await validateDataset(sample, settings);
    assert.deepEqual(found, []);
    assert.equal(profile!.rows, 2000);
    assert.equal(profile!.target.positives, lines.slice(1).filter((l) => l.endsWith(',1')).length);
    assert.equal(profile!.sha256, await sha256File(sample));
    assert.equal(profile!.columns.Age!.role, 'numeric');
    assert.equal(profile!.columns.Age!.min, 18);
    assert.match(String(profile!.columns['Transaction Date']!.min), /^\d{4}-\d{2}-\d{2}$/);
    assert.ok(profile!.single_feature_auc['Account Balance']! > 0.6, 'real signal is there');
    assert.ok(Object.values(profile!.single_feature_auc).every((auc) => auc < 0.98));
  });

  it('refuses a file that does not exist', async () => {
    assert.match((await problems(join(dir, 'nope.csv')))[0]!, /does not exist/);
  });

  it('refuses an empty file and a header-only file', async () => {
    writeFileSync(join(dir, 'empty.csv'), '');
    assert.match((await problems(join(dir, 'empty.csv')))[0]!, /is empty \(0 bytes\)/);
    const headerOnly = variant('header-only.csv', (l) => l.slice(0, 1));
    assert.match((await problems(headerOnly)).join('\n'), /header but no data rows/);
  });

  it('refuses a missing target column, naming it', async () => {
    const path = variant('no-target.csv', (l) => l.map((line) => line.split(',').slice(0, -1).join(',')));
    assert.match((await problems(path)).join('\n'), /the target column "HighAmount" is missing/);
  });

  it('refuses a non-binary target and a single class', async () => {
    const multi = variant('multi.csv', (l) => setColumn(l, 'HighAmount', (i) => String(i % 3)));
    assert.match((await problems(multi)).join('\n'), /"HighAmount" is not binary: it has 3 distinct values/);
    const single = variant('single.csv', (l) => setColumn(l, 'HighAmount', () => '0'));
    assert.match((await problems(single)).join('\n'), /single class \("0"\)/);
  });

  it('reports unparseable numbers and dates with their line', async () => {
    const path = variant('bad-values.csv', (l) =>
      setColumn(
        setColumn(l, 'Age', (i) => (i === 5 ? 'forty' : String(30 + (i % 20)))),
        'Transaction Date',
        (i) => (i === 9 ? '31/31/2020' : '1/2/2020'),
      ),
    );
    const found = (await problems(path)).join('\n');
    assert.match(found, /column "Age" has 1 value\(s\) that are not numbers: line 6: "forty"/);
    assert.match(found, /column "Transaction Date" has 1 value\(s\) that are not dates in the M\/D\/YYYY format: line 10: "31\/31\/2020"/);
  });

  it('refuses a forbidden column listed as a feature', async () => {
    const found = await problems(sample, { numeric_features: [...contract.numeric_features, 'Transaction Amount'] });
    assert.match(found.join('\n'), /"Transaction Amount" is a forbidden feature .* listed as a feature/);
  });

  it('detects target leakage by a single feature, naming it', async () => {
    const found = await problems(sample, {
      numeric_features: [...contract.numeric_features, 'Transaction Amount'],
      forbidden_features: ['Account Balance After Transaction'],
    });
    assert.match(found.join('\n'), /target leakage: feature "Transaction Amount" alone predicts "HighAmount" with ROC AUC 1\.0000/);
  });

  it('refuses a contract naming columns the file does not have, and columns it does not name', async () => {
    const found = await problems(sample, {
      numeric_features: [...contract.numeric_features, 'Salary'],
      ignored_columns: contract.ignored_columns.filter((c) => c !== 'Email'),
    });
    assert.match(found.join('\n'), /column "Salary" \(named in data\.numeric_features\) is missing from the file/);
    assert.match(found.join('\n'), /unexpected column "Email"/);
  });

  it('reports duplicate ids, out-of-range values and too few positives, all at once', async () => {
    const path = variant('many.csv', (l) => {
      let rows = setColumn(l, 'Customer ID', (i) => String(i <= 3 ? 1 : i));
      rows = setColumn(rows, 'Age', (i) => (i === 2 ? '150' : '40'));
      return setColumn(rows, 'HighAmount', (i) => (i <= 3 ? '1' : '0'));
    });
    const found = await problems(path);
    assert.ok(found.length >= 3, found.join('\n'));
    assert.match(found.join('\n'), /id column "Customer ID" has 2 duplicate value\(s\)/);
    assert.match(found.join('\n'), /column "Age" has 1 value\(s\) outside \[18, 120\]: line 3: 150/);
    assert.match(found.join('\n'), /only 3 row\(s\) of the minority class: a stratified 3-fold search/);
  });

  it('refuses a feature that is mostly empty', async () => {
    const path = variant('empty-feature.csv', (l) => setColumn(l, 'Loan Amount', (i) => (i % 4 === 0 ? '1000' : '')));
    assert.match((await problems(path)).join('\n'), /feature "Loan Amount" is empty in 75\.0 % of rows/);
  });

  it('proposes a contract for any CSV, with the leaking column forbidden', async () => {
    const { contract: proposed } = await inferContract(sample, { target: 'HighAmount' });
    assert.ok(proposed.forbidden_features!.includes('Transaction Amount'));
    assert.ok(proposed.numeric_features!.includes('Age'));
    assert.ok(proposed.categorical_features!.includes('Gender'));
    assert.ok(proposed.date_features!.includes('Transaction Date'));
    assert.ok(proposed.id_columns!.includes('Customer ID'));
    assert.equal(proposed.date_format, 'M/D/YYYY');
  });
});
