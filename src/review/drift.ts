// Data drift between two data sets by Population Stability Index, from small per-feature samples ("sketches")
// that travel through MLflow with each training run, so a release on any machine can compare its data with the
// data the current @production model was trained on.
import type { DataContract } from '../config/schema';
import { openCsv } from '../data/csv';
import { Reservoir } from '../data/validate';
import { categoryValue, isMissing, parseDate, parseNumber } from '../data/values';

export const SKETCH_VERSION = 1;
/** PSI above this is flagged: the usual reading is < 0.1 stable, 0.1–0.2 moderate, > 0.2 significant shift. */
export const PSI_FLAG = 0.2;
const SKETCH_ROWS = 5_000;
const MAX_CATEGORIES = 20;
const OTHER = '(other)';
const MISSING = '(missing)';

export type FeatureKind = 'numeric' | 'date' | 'categorical';

export interface DataSketch {
  sketch_version: number;
  data_sha256: string;
  rows: number;
  sample_rows: number;
  features: { column: string; kind: FeatureKind }[];
  /** Column-major sample: values[feature][row]; numbers (dates as day numbers) or category strings, null when missing. */
  values: (number | string | null)[][];
}

export interface FeatureDrift {
  feature: string;
  kind: FeatureKind;
  psi: number;
  flagged: boolean;
  /** Per bin: share of the reference (champion's) and current (candidate's) rows. */
  bins: { bin: string; reference: number; current: number }[];
}

/** One streaming pass: a deterministic reservoir sample of every feature column. */
export async function sketchCsv(path: string, contract: DataContract, dataSha256: string): Promise<DataSketch> {
  const csv = await openCsv(path);
  const features: DataSketch['features'] = [
    ...contract.numeric_features.map((column) => ({ column, kind: 'numeric' as const })),
    ...contract.date_features.map((column) => ({ column, kind: 'date' as const })),
    ...contract.categorical_features.map((column) => ({ column, kind: 'categorical' as const })),
  ].filter((f) => csv.header.includes(f.column));
  const indexes = features.map((f) => csv.header.indexOf(f.column));
  const reservoir = new Reservoir(SKETCH_ROWS, 42);
  let rows = 0;
  for await (const { fields } of csv.records) {
    rows++;
    reservoir.offer(
      features.map((feature, k) => {
        const raw = fields[indexes[k]!];
        if (isMissing(raw)) return null;
        if (feature.kind === 'categorical') return categoryValue(raw);
        const value = feature.kind === 'numeric' ? parseNumber(raw) : parseDate(raw, contract.date_format);
        return value === null || Number.isNaN(value) ? null : value;
      }),
      0,
    );
  }
  return {
    sketch_version: SKETCH_VERSION,
    data_sha256: dataSha256,
    rows,
    sample_rows: reservoir.rows.length,
    features,
    values: features.map((_, k) => reservoir.rows.map((row) => row.values[k]!)),
  };
}

/** PSI = Σ (current − reference) · ln(current / reference) over bins, shares floored at 1e-4 (empty bins). */
export function psi(reference: number[], current: number[]): number {
  let sum = 0;
  reference.forEach((r, i) => {
    const a = Math.max(r, 1e-4);
    const b = Math.max(current[i]!, 1e-4);
    sum += (b - a) * Math.log(b / a);
  });
  return sum;
}

const shares = (counts: number[]) => {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (total ? c / total : 0));
};

/** Numeric bins: the reference's deciles (distinct edges), plus a bin for missing values. */
function numericBins(reference: (number | string | null)[], current: (number | string | null)[]) {
  const sorted = (reference.filter((v) => typeof v === 'number') as number[]).sort((a, b) => a - b);
  const edges = [...new Set(Array.from({ length: 9 }, (_, i) => sorted[Math.floor(((i + 1) / 10) * sorted.length)]).filter((v): v is number => v !== undefined))];
  const binOf = (v: number | string | null) => {
    if (typeof v !== 'number') return edges.length + 1;
    const k = edges.findIndex((edge) => v <= edge);
    return k < 0 ? edges.length : k;
  };
  const count = (values: (number | string | null)[]) => {
    const counts = new Array<number>(edges.length + 2).fill(0);
    for (const v of values) counts[binOf(v)]!++;
    return counts;
  };
  const format = (v: number) => (Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(3)).toString());
  const labels = [
    ...edges.map((e, k) => (k === 0 ? `≤ ${format(e)}` : `${format(edges[k - 1]!)}–${format(e)}`)),
    edges.length ? `> ${format(edges[edges.length - 1]!)}` : 'all',
    MISSING,
  ];
  return { labels, reference: count(reference), current: count(current) };
}

/** Categorical bins: the reference's most frequent categories, everything else as "(other)", missing apart. */
function categoricalBins(reference: (number | string | null)[], current: (number | string | null)[]) {
  const frequency = new Map<string, number>();
  for (const v of reference) if (v !== null) frequency.set(String(v), (frequency.get(String(v)) ?? 0) + 1);
  const kept = [...frequency.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, MAX_CATEGORIES)
    .map(([c]) => c);
  const labels = [...kept, OTHER, MISSING];
  const count = (values: (number | string | null)[]) => {
    const counts = new Array<number>(labels.length).fill(0);
    for (const v of values) counts[v === null ? labels.length - 1 : kept.includes(String(v)) ? kept.indexOf(String(v)) : labels.length - 2]!++;
    return counts;
  };
  return { labels, reference: count(reference), current: count(current) };
}

/** Per-feature PSI of `current` against `reference`, for the features both sketches have. */
export function compareSketches(reference: DataSketch, current: DataSketch): FeatureDrift[] {
  return current.features.flatMap((feature, k) => {
    const r = reference.features.findIndex((f) => f.column === feature.column);
    if (r < 0) return [];
    const binned = (feature.kind === 'categorical' ? categoricalBins : numericBins)(reference.values[r]!, current.values[k]!);
    const referenceShares = shares(binned.reference);
    const currentShares = shares(binned.current);
    const value = psi(referenceShares, currentShares);
    return [
      {
        feature: feature.column,
        kind: feature.kind,
        psi: value,
        flagged: value > PSI_FLAG,
        bins: binned.labels.map((bin, i) => ({ bin, reference: referenceShares[i]!, current: currentShares[i]! })).filter((b) => b.reference > 0 || b.current > 0),
      },
    ];
  });
}
