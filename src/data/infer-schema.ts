// Proposes a data contract for any CSV from a sample of its rows, so users can bring their own data. It guesses;
// the user reviews. Columns that alone predict the target are proposed as forbidden.
import { stringify } from 'yaml';
import type { DataContract } from '../config/schema';
import { rocAuc } from '../evaluation/metrics';
import { openCsv } from './csv';
import { isMissing, parseDate, parseNumber, type DateFormat } from './values';

const DATE_FORMATS: DateFormat[] = ['YYYY-MM-DD', 'M/D/YYYY', 'D/M/YYYY'];

export interface InferredContract {
  contract: Partial<DataContract> & { target: string };
  notes: string[];
}

export async function inferContract(path: string, options: { target?: string; sampleRows?: number } = {}): Promise<InferredContract> {
  const csv = await openCsv(path);
  const limit = options.sampleRows ?? 20_000;
  const columns = csv.header.map(() => [] as string[]);
  let rows = 0;
  for await (const { fields } of csv.records) {
    fields.forEach((value, i) => columns[i]?.push(value));
    if (++rows >= limit) break;
  }
  const notes: string[] = [`inferred from the first ${rows} rows of ${path}: review every list before use`];
  const targetName = options.target ?? csv.header.find((name) => /^(target|label|y|class|high.?amount)$/i.test(name)) ?? csv.header[csv.header.length - 1]!;
  if (!options.target) notes.push(`target guessed as "${targetName}"; pass --target to choose`);
  const targetValues = columns[csv.header.indexOf(targetName)] ?? [];
  const distinctTargets = [...new Set(targetValues.map((v) => v.trim()))];
  const positive = distinctTargets.includes('1') ? '1' : distinctTargets.includes('true') ? 'true' : distinctTargets.sort()[1] ?? distinctTargets[0] ?? '1';
  const labels = targetValues.map((v) => (v.trim() === positive ? 1 : 0));

  const contract: InferredContract['contract'] = {
    target: targetName,
    positive_class: positive,
    numeric_features: [],
    categorical_features: [],
    date_features: [],
    id_columns: [],
    ignored_columns: [],
    forbidden_features: [],
  };
  let dateFormat: DateFormat | undefined;
  csv.header.forEach((name, i) => {
    if (name === targetName) return;
    const values = columns[i]!.filter((v) => !isMissing(v));
    const distinct = new Set(values).size;
    const numeric = values.length > 0 && values.every((v) => !Number.isNaN(parseNumber(v)));
    const format = DATE_FORMATS.find((f) => values.length > 0 && values.every((v) => !Number.isNaN(parseDate(v, f))));
    if (/(^|[^a-z])id$/i.test(name) || /[a-z]ID$/.test(name) || (distinct === values.length && values.length > 50 && !numeric)) {
      contract.id_columns!.push(name);
    } else if (format && !numeric) {
      contract.date_features!.push(name);
      dateFormat ??= format;
    } else if (numeric) {
      const scores = columns[i]!.map((v) => parseNumber(v));
      const pairs = scores.map((s, k) => [s, labels[k]!] as const).filter(([s]) => s !== null && !Number.isNaN(s));
      const auc = rocAuc(pairs.map((p) => p[1]), pairs.map((p) => p[0] as number));
      if (Math.max(auc, 1 - auc) >= 0.98) {
        contract.forbidden_features!.push(name);
        notes.push(`"${name}" alone predicts the target (ROC AUC ${Math.max(auc, 1 - auc).toFixed(3)}): proposed as forbidden`);
      } else contract.numeric_features!.push(name);
    } else if (distinct <= Math.max(50, values.length * 0.05)) {
      contract.categorical_features!.push(name);
    } else {
      contract.ignored_columns!.push(name);
      notes.push(`"${name}" looks like free text (${distinct} distinct values): proposed as ignored`);
    }
  });
  if (dateFormat) contract.date_format = dateFormat;
  return { contract, notes };
}

export function contractAsYaml(inferred: InferredContract): string {
  return `${inferred.notes.map((n) => `# ${n}`).join('\n')}\n${stringify({ data: inferred.contract }, { flowCollectionPadding: false })}`;
}
