// Proposes a data contract for any CSV from a sample of its rows, so users can bring their own data. It guesses;
// the user reviews. The proposal is honest: it passes `data validate` on the file it came from (it is checked
// with the validator and mended column by column), never offers personal data as features, and columns that
// alone predict the target are proposed as forbidden. Every decision a user may want to revisit gets a note.
import { stringify } from 'yaml';
import { dataContractSchema, releaseConfigSchema, type DataContract } from '../config/schema';
import { rocAuc } from '../shared/roc-auc';
import { openCsv } from './csv';
import type { ColumnProfile } from './validate';
import { validateDataset } from './validate-engine';
import { isMissing, parseDate, parseNumber, type DateFormat } from './values';

const DATE_FORMATS: DateFormat[] = ['YYYY-MM-DD', 'M/D/YYYY', 'D/M/YYYY'];

/** Name words that mark personal data about a person (GDPR-style direct identifiers and contact details). */
const PERSONAL_WORDS = new Set([
  'name',
  'firstname',
  'lastname',
  'surname',
  'fullname',
  'email',
  'mail',
  'phone',
  'telephone',
  'mobile',
  'cell',
  'contact',
  'address',
  'street',
  'zip',
  'zipcode',
  'postcode',
  'postal',
  'ssn',
  'passport',
  'birth',
  'dob',
  'iban',
]);
const EMAIL = /^[^@\s]+@[^@\s]+\.[a-z]{2,}$/i;
/** Columns the validator checks again on the whole file after the proposal; mending stops after this many rounds. */
const MEND_ROUNDS = 4;
/** The contract's default leakage threshold: a column that alone reaches it is proposed as forbidden. */
const LEAKAGE_AUC: number = dataContractSchema.shape.leakage_auc_threshold.parse(undefined);
/** Few enough distinct values to be a category (else an ignored column). */
const categoricalLimit = (count: number) => Math.max(50, count * 0.05);
/** The default search (only the class-count check depends on it; the notes report what it says). */
const CHECK_SETTINGS = { cvFolds: releaseConfigSchema.shape.cv_folds.parse(undefined), testSplit: releaseConfigSchema.shape.test_data_split.parse(undefined) };

export interface InferredContract {
  contract: Partial<DataContract> & { target: string };
  notes: string[];
}

type ListName = 'numeric_features' | 'categorical_features' | 'date_features' | 'id_columns' | 'ignored_columns' | 'forbidden_features';

/** The words of a column name: "Contact Number" → contact, number; "firstName" → first, name, firstname. */
function nameWords(name: string): string[] {
  const words = name
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  return [...words, words.join('')];
}

/** Why a column holds personal data, or undefined. */
function personalData(name: string, values: string[]): string | undefined {
  const word = nameWords(name).find((w) => PERSONAL_WORDS.has(w));
  if (word) return `the name has the word "${word}"`;
  const emails = values.filter((v) => EMAIL.test(v.trim())).length;
  if (values.length > 0 && emails / values.length > 0.5) return 'its values are e-mail addresses';
  return undefined;
}

function looksLikeId(name: string): boolean {
  return /(^|[^a-z])id$/i.test(name) || /[a-z]ID$/.test(name) || /(^|[^a-z])(uuid|guid)$/i.test(name);
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
  const notes: string[] = [`inferred from the first ${rows} rows of ${path} and checked with 'data validate' on the whole file: review every list before use`];
  const targetName = options.target ?? csv.header.find((name) => /^(target|label|y|class|high.?amount)$/i.test(name)) ?? csv.header[csv.header.length - 1]!;
  if (!options.target) notes.push(`target guessed as "${targetName}"; pass --target to choose`);
  const targetValues = (columns[csv.header.indexOf(targetName)] ?? []).map((v) => v.trim());
  const counts = new Map<string, number>();
  for (const v of targetValues) counts.set(v, (counts.get(v) ?? 0) + 1);
  const conventional = ['1', 'true', 'yes'].find((v) => counts.has(v));
  const minority = [...counts.entries()].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]))[0]?.[0];
  const positive = conventional ?? minority ?? '1';
  if (!conventional && minority !== undefined) notes.push(`positive class guessed as the rarer target value "${positive}"; set positive_class to choose`);
  const labels = targetValues.map((v) => (v === positive ? 1 : 0));

  const contract: InferredContract['contract'] & Record<ListName, string[]> = {
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
  const distinctCounts = new Map<string, number>();
  csv.header.forEach((name, i) => {
    if (name === targetName) return;
    const values = columns[i]!.filter((v) => !isMissing(v));
    const distinct = new Set(values).size;
    distinctCounts.set(name, distinct);
    const unique = distinct === values.length && values.length === columns[i]!.length;
    const numeric = values.length > 0 && values.every((v) => !Number.isNaN(parseNumber(v)));
    const format = DATE_FORMATS.find((f) => values.length > 0 && values.every((v) => !Number.isNaN(parseDate(v, f))));
    const personal = personalData(name, values);
    if (personal) {
      contract.ignored_columns.push(name);
      notes.push(`"${name}" is personal data (${personal}): ignored, never proposed as a feature`);
    } else if (looksLikeId(name) && !unique) {
      const list = distinct <= categoricalLimit(values.length) ? 'categorical_features' : 'ignored_columns';
      contract[list].push(name);
      notes.push(
        `"${name}" is named like an id but repeats (${distinct} distinct values in ${columns[i]!.length} rows): not an id, proposed as ${list === 'categorical_features' ? 'a categorical feature' : 'ignored'}`,
      );
    } else if (looksLikeId(name) || (unique && values.length > 50 && !numeric)) {
      contract.id_columns.push(name);
    } else if (format && !numeric) {
      contract.date_features.push(name);
      dateFormat ??= format;
    } else if (numeric) {
      const scores = columns[i]!.map((v) => parseNumber(v));
      const pairs = scores.map((s, k) => [s, labels[k]!] as const).filter(([s]) => s !== null && !Number.isNaN(s));
      const auc = rocAuc(
        pairs.map((p) => p[1]),
        pairs.map((p) => p[0] as number),
      );
      if (Math.max(auc, 1 - auc) >= LEAKAGE_AUC) {
        contract.forbidden_features.push(name);
        notes.push(`"${name}" alone predicts the target (ROC AUC ${Math.max(auc, 1 - auc).toFixed(3)}): proposed as forbidden`);
      } else contract.numeric_features.push(name);
    } else if (distinct <= categoricalLimit(values.length)) {
      contract.categorical_features.push(name);
    } else {
      contract.ignored_columns.push(name);
      notes.push(`"${name}" looks like free text (${distinct} distinct values): proposed as ignored`);
    }
  });
  if (dateFormat) contract.date_format = dateFormat;
  await mendWithValidator(path, contract, distinctCounts, notes);
  return { contract, notes };
}

/**
 * Validates the proposal on the whole file (the sample may miss a late duplicate id, a mostly empty column, a
 * leaking category) and moves each column the validator objects to where it passes, until it has no column
 * problem left. Problems no list can mend (a target that is not binary, too few rows) stay, as notes.
 */
async function mendWithValidator(
  path: string,
  contract: InferredContract['contract'] & Record<ListName, string[]>,
  distinctCounts: Map<string, number>,
  notes: string[],
): Promise<void> {
  const move = (column: string, to: ListName, why: string) => {
    for (const list of Object.keys(contract) as (keyof typeof contract)[]) {
      const value = contract[list];
      if (Array.isArray(value)) contract[list as ListName] = value.filter((c) => c !== column);
    }
    contract[to].push(column);
    notes.push(`"${column}" ${why}: proposed as ${to.replace('_', ' ').replace(/s$/, '')}`);
  };
  // Every round's moves are validated again; after MEND_ROUNDS rounds of moves, what still fails is a note.
  for (let round = 0; ; round++) {
    const full = dataContractSchema.parse(contract);
    const { profile, problems } = await validateDataset(path, { contract: full, ...CHECK_SETTINGS });
    if (problems.length === 0 || !profile || round === MEND_ROUNDS) {
      if (problems.length > 0) notes.push(...problems.map((p) => `data validate: ${p}`));
      return;
    }
    let moved = 0;
    const smallEnough = (name: string, column: ColumnProfile) =>
      !column.distinct_capped && (column.distinct ?? distinctCounts.get(name) ?? Infinity) <= categoricalLimit(column.count);
    for (const [name, column] of Object.entries(profile.columns)) {
      const isFeature = column.role === 'numeric' || column.role === 'categorical' || column.role === 'date';
      if (column.role === 'id' && (column.duplicates ?? 0) > 0) {
        move(name, smallEnough(name, column) ? 'categorical_features' : 'ignored_columns', `repeats ${column.duplicates} value(s) in the whole file, so it is not an id`);
      } else if (isFeature && column.null_rate > full.max_null_rate) {
        move(name, 'ignored_columns', `is empty in ${(100 * column.null_rate).toFixed(1)} % of rows`);
      } else if (isFeature && (profile.single_feature_auc[name] ?? 0) >= full.leakage_auc_threshold) {
        move(name, 'forbidden_features', `alone predicts the target (ROC AUC ${profile.single_feature_auc[name]!.toFixed(3)} on the whole file)`);
      } else if ((column.role === 'numeric' || column.role === 'date') && (column.unparseable ?? 0) > 0) {
        move(
          name,
          smallEnough(name, column) ? 'categorical_features' : 'ignored_columns',
          `has ${column.unparseable} value(s) that are not ${column.role === 'numeric' ? 'numbers' : 'dates'}`,
        );
      } else continue;
      moved++;
    }
    if (moved === 0) {
      notes.push(...problems.map((p) => `data validate: ${p}`));
      return;
    }
  }
}

export function contractAsYaml(inferred: InferredContract): string {
  return `${inferred.notes.map((n) => `# ${n}`).join('\n')}\n${stringify({ data: inferred.contract }, { flowCollectionPadding: false })}`;
}
