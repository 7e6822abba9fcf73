// `data infer-schema` proposes contracts that hold: each proposal passes `data validate` on the file it came from,
// personal data is never proposed as a feature, and an id-like column that repeats is not an id.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'csv-stringify/sync';
import { generateBankingCsv } from '../src/data/generate';
import { runCli } from './support/cli';

const dir = mkdtempSync(join(tmpdir(), 'modelship-infer-'));
const featureLists = ['numeric_features', 'categorical_features', 'date_features'] as const;

/** infer-schema, then data validate of the same file with the proposal as the config; returns the proposal. */
async function proposeAndValidate(file: string): Promise<{ yaml: string; data: Record<string, string[] | string> }> {
  const proposal = join(dir, `${file.split('/').pop()}.proposal.yaml`);
  const inferred = await runCli(['data', 'infer-schema', file, '--out', proposal]);
  assert.equal(inferred.code, 0, inferred.stderr);
  const validated = await runCli(['data', 'validate', file, '--config', proposal]);
  assert.equal(validated.code, 0, `the proposal fails its own file:\n${validated.stderr}`);
  assert.match(validated.stdout, /valid —/);
  const { readFileSync } = await import('node:fs');
  const yaml = readFileSync(proposal, 'utf8');
  const { parse } = await import('yaml');
  return { yaml, data: (parse(yaml) as { data: Record<string, string[] | string> }).data };
}

function featuresOf(data: Record<string, string[] | string>): string[] {
  return featureLists.flatMap((list) => (data[list] as string[] | undefined) ?? []);
}

describe('data infer-schema', () => {
  it('proposes a contract for the generated banking file that validates it: no personal data, Branch ID not an id', async () => {
    const file = join(dir, 'bank.csv');
    await generateBankingCsv({ rows: 3000, seed: 5, out: file });
    const { yaml, data } = await proposeAndValidate(file);
    for (const personal of ['First Name', 'Last Name', 'Address', 'Contact Number', 'Email']) {
      assert.ok((data.ignored_columns as string[]).includes(personal), `${personal} ignored`);
      assert.ok(!featuresOf(data).includes(personal), `${personal} is not a feature`);
    }
    assert.ok(!(data.id_columns as string[]).includes('Branch ID'));
    assert.ok(featuresOf(data).includes('Branch ID') || (data.ignored_columns as string[]).includes('Branch ID'));
    assert.match(yaml, /# "Branch ID" is named like an id but repeats/);
    assert.match(yaml, /# "Email" is personal data/);
  });

  it('proposes a contract for a differently shaped CSV (string labels, personal data, a repeating id) that validates it', async () => {
    const file = join(dir, 'clinic.csv');
    let seed = 7;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const rows = Array.from({ length: 600 }, (_, i) => {
      const malignant = random() < 0.3;
      return {
        'Patient ID': `P-${10_000 + i}`,
        'Clinic ID': `C${Math.floor(random() * 8)}`,
        'Referrer ID': `R${Math.floor(random() * 450)}`,
        'Full Name': `Patient Number${i}`,
        Reach: `patient${i}@example.org`,
        Phone: `+41 79 ${String(1_000_000 + i)}`,
        'Home Address': `${i} Lake Street`,
        'Visit Date': `2024-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}`,
        'radius mean': (12 + (malignant ? 3 : 0) + 4 * random()).toFixed(3),
        'texture mean': (18 + 6 * random()).toFixed(3),
        Smoker: random() < 0.3 ? 'yes' : 'no',
        diagnosis: malignant ? 'malignant' : 'benign',
      };
    });
    writeFileSync(file, stringify(rows, { header: true }));
    const { yaml, data } = await proposeAndValidate(file);
    assert.equal(data.target, 'diagnosis');
    assert.equal(data.positive_class, 'malignant');
    for (const personal of ['Full Name', 'Reach', 'Phone', 'Home Address']) {
      assert.ok((data.ignored_columns as string[]).includes(personal), `${personal} ignored: ${yaml}`);
    }
    assert.ok((data.id_columns as string[]).includes('Patient ID'));
    assert.ok((data.categorical_features as string[]).includes('Clinic ID'), 'a repeating id with few values is a category');
    assert.ok((data.ignored_columns as string[]).includes('Referrer ID'), 'a repeating id with many values is ignored');
    assert.match(yaml, /# "Referrer ID" is named like an id but repeats/);
    assert.match(yaml, /# "Reach" is personal data \(its values are e-mail addresses\)/);
    assert.deepEqual([...(data.numeric_features as string[])].sort(), ['radius mean', 'texture mean']);
    assert.deepEqual(data.date_features, ['Visit Date']);
  });
});
