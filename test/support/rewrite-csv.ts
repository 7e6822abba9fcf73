// Derives a test CSV from a generated one: each row's fields (by column name) edited or extended by `edit`.
import { writeFileSync } from 'node:fs';
import { stringify } from 'csv-stringify/sync';
import { openCsv } from '../../src/data/csv';

export async function rewriteCsv(from: string, to: string, edit: (row: Record<string, string>, index: number) => Record<string, string>): Promise<void> {
  const csv = await openCsv(from);
  const rows: Record<string, string>[] = [];
  for await (const { fields } of csv.records) rows.push(edit(Object.fromEntries(csv.header.map((name, i) => [name, fields[i] ?? ''])), rows.length));
  writeFileSync(to, stringify(rows, { header: true }));
}
