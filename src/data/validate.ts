// Data validation against the contract: one streaming pass over the file collects every problem (not only the
// first) and a profile (rows, class balance, per-column statistics, sha256). Target leakage is measured on a
// reservoir sample: a feature that alone separates the target is refused, named, with its ROC AUC.
import type { DataContract } from '../config/schema';
import { rocAuc } from '../shared/roc-auc';
import { openCsv } from './csv';
import { categoryValue, isMissing, parseDate, parseNumber } from './values';

export type ColumnRole = 'target' | 'numeric' | 'categorical' | 'date' | 'id' | 'ignored' | 'forbidden';

export interface ColumnProfile {
  role: ColumnRole;
  count: number;
  nulls: number;
  null_rate: number;
  unparseable?: number;
  min?: number | string;
  max?: number | string;
  mean?: number;
  std?: number;
  distinct?: number;
  distinct_capped?: boolean;
  top?: [string, number][];
  duplicates?: number;
  out_of_range?: number;
}

export interface DataProfile {
  path: string;
  sha256: string;
  bytes: number;
  rows: number;
  target: { column: string; positive_class: string; positives: number; negatives: number; positive_rate: number };
  columns: Record<string, ColumnProfile>;
  /** Single-feature ROC AUC on a sample (direction-free: max(auc, 1 − auc)). */
  single_feature_auc: Record<string, number>;
  sample_rows: number;
}

export interface ValidationSettings {
  contract: DataContract;
  cvFolds: number;
  testSplit: number;
  /** Rows kept for the leakage check (reservoir sample). */
  sampleSize?: number;
  seed?: number;
  onProgress?: (rowsRead: number) => void;
}

export interface ValidationResult {
  profile?: DataProfile;
  problems: string[];
}

const MAX_DISTINCT = 1_000;
const MAX_EXAMPLES = 5;

/** Checks the contract against itself: every column in one list, no forbidden feature, ranges on numerics. */
export function contractProblems(contract: DataContract): string[] {
  const problems: string[] = [];
  const roles = contractRoles(contract);
  const seen = new Map<string, string>();
  for (const [list, columns] of roles) {
    for (const column of columns) {
      const other = seen.get(column);
      if (other) problems.push(`column "${column}" is listed in both data.${other} and data.${list}. Fix: keep it in one list.`);
      seen.set(column, list);
    }
  }
  const features = new Set([...contract.numeric_features, ...contract.categorical_features, ...contract.date_features]);
  for (const column of contract.forbidden_features) {
    if (features.has(column)) {
      problems.push(`"${column}" is a forbidden feature (it leaks the target) but is listed as a feature. Fix: remove it from the feature lists.`);
    }
  }
  if (features.has(contract.target)) {
    problems.push(`the target "${contract.target}" is also listed as a feature. Fix: remove it from the feature lists.`);
  }
  if (features.size === 0) problems.push('the contract has no feature columns. Fix: list at least one in data.numeric_features, categorical_features or date_features.');
  for (const column of Object.keys(contract.ranges)) {
    if (!contract.numeric_features.includes(column)) {
      problems.push(`data.ranges names "${column}", which is not in data.numeric_features. Fix: range checks apply to numeric features only.`);
    }
  }
  return problems;
}

function contractRoles(contract: DataContract): [string, string[]][] {
  return [
    ['target', [contract.target]],
    ['numeric_features', contract.numeric_features],
    ['categorical_features', contract.categorical_features],
    ['date_features', contract.date_features],
    ['id_columns', contract.id_columns],
    ['ignored_columns', contract.ignored_columns],
    ['forbidden_features', contract.forbidden_features],
  ];
}

const roleOfList: Record<string, ColumnRole> = {
  target: 'target',
  numeric_features: 'numeric',
  categorical_features: 'categorical',
  date_features: 'date',
  id_columns: 'id',
  ignored_columns: 'ignored',
  forbidden_features: 'forbidden',
};

/** Running statistics of one column. */
export class ColumnStats {
  count = 0;
  nulls = 0;
  unparseable = 0;
  examples: string[] = [];
  outOfRange = 0;
  rangeExamples: string[] = [];
  min = Infinity;
  max = -Infinity;
  mean = 0;
  m2 = 0;
  distinct = new Map<string, number>();
  distinctCapped = false;
  ids?: Set<string>;
  /** The id column's distinct values when counted elsewhere than in `ids` (the engine path). */
  idDistinct?: number;
  duplicates = 0;
  duplicateExamples: string[] = [];

  constructor(readonly role: ColumnRole) {
    if (role === 'id') this.ids = new Set();
  }

  addNumber(value: number): void {
    this.min = Math.min(this.min, value);
    this.max = Math.max(this.max, value);
    const delta = value - this.mean;
    const n = this.count - this.nulls - this.unparseable;
    this.mean += delta / n;
    this.m2 += delta * (value - this.mean);
  }

  addCategory(value: string): void {
    const current = this.distinct.get(value);
    if (current !== undefined) this.distinct.set(value, current + 1);
    else if (this.distinct.size < MAX_DISTINCT) this.distinct.set(value, 1);
    else this.distinctCapped = true;
  }

  profile(formatNumber: (value: number) => number | string = (v) => v): ColumnProfile {
    const valid = this.count - this.nulls - this.unparseable;
    const profile: ColumnProfile = {
      role: this.role,
      count: this.count,
      nulls: this.nulls,
      null_rate: this.count ? this.nulls / this.count : 0,
    };
    if (this.role === 'numeric' || this.role === 'date' || this.role === 'forbidden') {
      profile.unparseable = this.unparseable;
      if (valid > 0) {
        profile.min = formatNumber(this.min);
        profile.max = formatNumber(this.max);
        if (this.role !== 'date') {
          profile.mean = this.mean;
          profile.std = valid > 1 ? Math.sqrt(this.m2 / (valid - 1)) : 0;
        }
      }
      if (this.outOfRange) profile.out_of_range = this.outOfRange;
    }
    if (this.role === 'categorical' || this.role === 'target') {
      profile.distinct = this.distinct.size;
      profile.distinct_capped = this.distinctCapped;
      profile.top = [...this.distinct.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5);
    }
    if (this.role === 'id') {
      profile.distinct = this.ids?.size ?? this.idDistinct;
      profile.duplicates = this.duplicates;
    }
    return profile;
  }
}

/** Deterministic reservoir sample of feature values and target labels. */
export class Reservoir {
  readonly rows: { values: (number | string | null)[]; label: number }[] = [];
  private seen = 0;
  private state: number;

  constructor(
    readonly size: number,
    seed: number,
  ) {
    this.state = seed >>> 0 || 1;
  }

  private random(): number {
    // xorshift32: deterministic for a seed
    this.state ^= this.state << 13;
    this.state ^= this.state >>> 17;
    this.state ^= this.state << 5;
    return (this.state >>> 0) / 4294967296;
  }

  offer(values: (number | string | null)[], label: number): void {
    this.seen++;
    if (this.rows.length < this.size) this.rows.push({ values, label });
    else {
      const slot = Math.floor(this.random() * this.seen);
      if (slot < this.size) this.rows[slot] = { values, label };
    }
  }
}

function isoDate(dayNumber: number): string {
  return new Date(dayNumber * 86_400_000).toISOString().slice(0, 10);
}

function examplesSuffix(examples: string[], total: number): string {
  return `${examples.join(', ')}${total > examples.length ? `, … (${total} in all)` : ''}`;
}

/** The header checked against the contract, and what a pass over the rows needs to know of each column. */
export interface HeaderPlan {
  problems: string[];
  listOf: Map<string, string>;
  index: Map<string, number>;
  duplicatedHeader: boolean;
  columns: { name: string; index: number; stats: ColumnStats }[];
  /** Undefined when the file has no target column: nothing more can be checked. */
  targetIndex?: number;
  features: string[];
  featureIndexes: number[];
  featureKinds: ('numeric' | 'date' | 'categorical')[];
}

export function planHeader(contract: DataContract, header: string[], problems: string[]): HeaderPlan {
  const listOf = new Map<string, string>();
  for (const [list, columns] of contractRoles(contract)) for (const column of columns) if (!listOf.has(column)) listOf.set(column, list);
  const index = new Map(header.map((name, i) => [name, i]));
  const duplicatedHeader = index.size !== header.length;
  if (duplicatedHeader) {
    const duplicated = header.filter((name, i) => header.indexOf(name) !== i);
    problems.push(`the header repeats column(s) ${[...new Set(duplicated)].map((c) => `"${c}"`).join(', ')}. Fix: give every column a unique name.`);
  }
  for (const [column, list] of listOf) {
    if (!index.has(column)) {
      problems.push(
        column === contract.target
          ? `the target column "${column}" is missing from the file. Fix: add it, or set data.target to the file's target column.`
          : `column "${column}" (named in data.${list}) is missing from the file. Fix: add it to the file or remove it from data.${list}.`,
      );
    }
  }
  for (const column of header) {
    if (!listOf.has(column)) {
      problems.push(`unexpected column "${column}": the contract does not say what it is. Fix: add it to a feature list, data.id_columns or data.ignored_columns.`);
    }
  }
  const columns = header.map((name) => {
    const list = listOf.get(name);
    return { name, index: index.get(name)!, stats: new ColumnStats(list ? roleOfList[list]! : 'ignored') };
  });
  const features = [...contract.numeric_features, ...contract.date_features, ...contract.categorical_features].filter((c) => index.has(c));
  const kindOf = (column: string) => (contract.numeric_features.includes(column) ? 'numeric' : contract.date_features.includes(column) ? 'date' : 'categorical');
  return {
    problems,
    listOf,
    index,
    duplicatedHeader,
    columns,
    targetIndex: index.get(contract.target),
    features,
    featureIndexes: features.map((c) => index.get(c)!),
    featureKinds: features.map(kindOf),
  };
}

/** Rows kept for the leakage check unless the settings say otherwise. */
export const LEAKAGE_SAMPLE_ROWS = 50_000;
export const LEAKAGE_SAMPLE_SEED = 42;

/**
 * Validation by one streaming pass in Node (csv-parse). The reference semantics: the engine path
 * (validate-engine.ts) must give the same profile and problems, and falls back to this for files it cannot read alike.
 */
export async function validateStreaming(path: string, settings: ValidationSettings): Promise<ValidationResult> {
  const { contract } = settings;
  const problems = contractProblems(contract);

  let csv: Awaited<ReturnType<typeof openCsv>>;
  try {
    csv = await openCsv(path);
  } catch (error) {
    return { problems: [...problems, (error as Error).message] };
  }

  const plan = planHeader(contract, csv.header, problems);
  if (problems.length > 0 && plan.targetIndex === undefined) return { problems };
  const { columns, featureIndexes, featureKinds } = plan;
  const targetIndex = plan.targetIndex!;
  const reservoir = new Reservoir(settings.sampleSize ?? LEAKAGE_SAMPLE_ROWS, settings.seed ?? LEAKAGE_SAMPLE_SEED);

  let rows = 0;
  let positives = 0;
  try {
    for await (const { fields, line } of csv.records) {
      rows++;
      if (rows % 50_000 === 0) settings.onProgress?.(rows);
      for (const column of columns) {
        const raw = fields[column.index];
        const stats = column.stats;
        stats.count++;
        if (isMissing(raw)) {
          stats.nulls++;
          continue;
        }
        const text = raw!.trim();
        switch (stats.role) {
          case 'numeric':
          case 'forbidden': {
            const value = parseNumber(text)!;
            if (Number.isNaN(value)) {
              stats.unparseable++;
              if (stats.examples.length < MAX_EXAMPLES) stats.examples.push(`line ${line}: ${JSON.stringify(text)}`);
              break;
            }
            stats.addNumber(value);
            const range = contract.ranges[column.name];
            if (range && ((range.min !== undefined && value < range.min) || (range.max !== undefined && value > range.max))) {
              stats.outOfRange++;
              if (stats.rangeExamples.length < MAX_EXAMPLES) stats.rangeExamples.push(`line ${line}: ${text}`);
            }
            break;
          }
          case 'date': {
            const day = parseDate(text, contract.date_format)!;
            if (Number.isNaN(day)) {
              stats.unparseable++;
              if (stats.examples.length < MAX_EXAMPLES) stats.examples.push(`line ${line}: ${JSON.stringify(text)}`);
            } else stats.addNumber(day);
            break;
          }
          case 'categorical':
          case 'target':
            stats.addCategory(text);
            break;
          case 'id':
            if (stats.ids!.has(text)) {
              stats.duplicates++;
              if (stats.duplicateExamples.length < MAX_EXAMPLES) stats.duplicateExamples.push(`${JSON.stringify(text)} (line ${line})`);
            } else stats.ids!.add(text);
            break;
          default:
            break;
        }
      }
      const targetRaw = fields[targetIndex];
      if (!isMissing(targetRaw)) {
        const label = targetRaw!.trim() === contract.positive_class ? 1 : 0;
        positives += label;
        reservoir.offer(
          featureIndexes.map((i, k) => {
            const raw = fields[i];
            if (featureKinds[k] === 'categorical') return categoryValue(raw);
            const value = featureKinds[k] === 'date' ? parseDate(raw, contract.date_format) : parseNumber(raw);
            return value === null || Number.isNaN(value) ? null : value;
          }),
          label,
        );
      }
    }
  } catch (error) {
    return { problems: [...problems, (error as Error).message] };
  }
  const { sha256, bytes } = csv.digest();
  return concludeValidation({ path, settings, plan, rows, positives, sha256, bytes, sample: reservoir.rows });
}

/** From the columns' statistics to the problems and the profile: the same words whichever pass counted them. */
export function concludeValidation(pass: {
  path: string;
  settings: ValidationSettings;
  plan: HeaderPlan;
  rows: number;
  positives: number;
  sha256: string;
  bytes: number;
  sample: Reservoir['rows'];
}): ValidationResult {
  const { path, settings, plan, rows, positives, sha256, bytes, sample } = pass;
  const { contract } = settings;
  const { problems, columns, listOf, features, featureKinds } = plan;
  const targetStats = columns[plan.targetIndex!]!.stats;

  if (rows === 0) {
    problems.push(`the file has a header but no data rows. Fix: a training file needs rows.`);
    return { problems };
  }

  // Per-column problems.
  for (const { name, stats } of columns) {
    const list = listOf.get(name);
    if (stats.unparseable > 0 && stats.role !== 'forbidden') {
      const what = stats.role === 'date' ? `dates in the ${contract.date_format} format` : 'numbers';
      problems.push(
        `column "${name}" has ${stats.unparseable} value(s) that are not ${what}: ${examplesSuffix(stats.examples, stats.unparseable)}. ` +
          `Fix: correct them, or move the column to data.categorical_features or data.ignored_columns.`,
      );
    }
    if (stats.outOfRange > 0) {
      const range = contract.ranges[name]!;
      problems.push(
        `column "${name}" has ${stats.outOfRange} value(s) outside [${range.min ?? '-∞'}, ${range.max ?? '∞'}]: ` +
          `${examplesSuffix(stats.rangeExamples, stats.outOfRange)}. Fix: correct them or widen data.ranges.${name}.`,
      );
    }
    if (stats.duplicates > 0) {
      problems.push(`id column "${name}" has ${stats.duplicates} duplicate value(s): ${examplesSuffix(stats.duplicateExamples, stats.duplicates)}. Fix: remove duplicate rows.`);
    }
    const isFeature = list === 'numeric_features' || list === 'categorical_features' || list === 'date_features';
    if (isFeature && stats.nulls / rows > contract.max_null_rate) {
      problems.push(
        `feature "${name}" is empty in ${((100 * stats.nulls) / rows).toFixed(1)} % of rows (more than data.max_null_rate = ${contract.max_null_rate}). ` +
          `Fix: fill it, raise the limit, or move it to data.ignored_columns.`,
      );
    }
  }

  // The target: binary, with the positive class present, and enough of each class for the split and the folds.
  const targetValues = [...targetStats.distinct.keys()];
  if (targetStats.nulls > 0) {
    problems.push(`the target "${contract.target}" is empty in ${targetStats.nulls} row(s). Fix: every training row needs a label.`);
  }
  if (targetValues.length > 2 || targetStats.distinctCapped) {
    problems.push(
      `the target "${contract.target}" is not binary: it has ${targetStats.distinctCapped ? 'over 1000' : targetValues.length} distinct values ` +
        `(${targetValues
          .slice(0, 5)
          .map((v) => JSON.stringify(v))
          .join(', ')}${targetValues.length > 5 ? ', …' : ''}). Fix: a binary classifier needs exactly two values.`,
    );
  } else if (targetValues.length === 1) {
    problems.push(`the target "${contract.target}" has a single class (${JSON.stringify(targetValues[0])}): there is nothing to learn. Fix: include rows of both classes.`);
  } else if (targetValues.length === 2 && !targetValues.includes(contract.positive_class)) {
    problems.push(
      `the target's values are ${targetValues.map((v) => JSON.stringify(v)).join(' and ')}, but data.positive_class is ${JSON.stringify(contract.positive_class)}. ` +
        `Fix: set data.positive_class to one of them.`,
    );
  }
  const labelled = rows - targetStats.nulls;
  const negatives = labelled - positives;
  const minority = Math.min(positives, negatives);
  const needed = Math.ceil(settings.cvFolds / (1 - settings.testSplit)) + 1;
  if (targetValues.length === 2 && minority < needed) {
    problems.push(
      `only ${minority} row(s) of the minority class: a stratified ${settings.cvFolds}-fold search after a ${settings.testSplit} test split needs at least ${needed}. ` +
        `Fix: add rows, or lower cv_folds.`,
    );
  }

  // Leakage: any single feature that alone separates the target.
  const singleFeatureAuc: Record<string, number> = {};
  if (targetValues.length === 2 && minority > 0) {
    features.forEach((feature, k) => {
      const auc = featureAuc(sample, k, featureKinds[k] === 'categorical');
      if (Number.isNaN(auc)) return;
      singleFeatureAuc[feature] = auc;
      if (auc >= contract.leakage_auc_threshold) {
        problems.push(
          `target leakage: feature "${feature}" alone predicts "${contract.target}" with ROC AUC ${auc.toFixed(4)} (limit data.leakage_auc_threshold = ${contract.leakage_auc_threshold}). ` +
            `A model would learn the answer, not the pattern. Fix: move it to data.forbidden_features.`,
        );
      }
    });
  }

  const profile: DataProfile = {
    path,
    sha256,
    bytes,
    rows,
    target: { column: contract.target, positive_class: contract.positive_class, positives, negatives, positive_rate: labelled ? positives / labelled : 0 },
    columns: Object.fromEntries(columns.map(({ name, stats }) => [name, stats.profile(stats.role === 'date' ? isoDate : undefined)])),
    single_feature_auc: singleFeatureAuc,
    sample_rows: sample.length,
  };
  return { profile, problems };
}

/**
 * Direction-free ROC AUC of one feature on the sample. Numbers score as themselves (rows without a value are
 * left out); categories score by their positive rate measured on the other half of the sample, so an id-like
 * column that merely memorises rows is not mistaken for leakage.
 */
function featureAuc(sample: Reservoir['rows'], k: number, categorical: boolean): number {
  const labels: number[] = [];
  const scores: number[] = [];
  if (!categorical) {
    for (const row of sample) {
      const value = row.values[k];
      if (typeof value === 'number') {
        labels.push(row.label);
        scores.push(value);
      }
    }
  } else {
    const halves = [0, 1].map((half) => {
      const rates = new Map<string, [number, number]>();
      sample.forEach((row, i) => {
        if (i % 2 !== half) return;
        const entry = rates.get(row.values[k] as string) ?? [0, 0];
        entry[0] += row.label;
        entry[1] += 1;
        rates.set(row.values[k] as string, entry);
      });
      return rates;
    });
    const prior = sample.reduce((sum, row) => sum + row.label, 0) / Math.max(1, sample.length);
    sample.forEach((row, i) => {
      const [hits, count] = halves[1 - (i % 2)]!.get(row.values[k] as string) ?? [0, 0];
      labels.push(row.label);
      scores.push((hits + prior) / (count + 1));
    });
  }
  const auc = rocAuc(labels, scores);
  return Number.isNaN(auc) ? auc : Math.max(auc, 1 - auc);
}
