// The monitor's statistics, pure and without I/O (activities, the CLI and tests use them): bins from the deployed
// version's training sketch, PSI and a PSI threshold that accounts for the window's size, data quality rates,
// performance with intervals, and the alarm rules. test/monitor-statistics.test.ts checks them against numpy/scipy.
import chiSquaredQuantileOf from '@stdlib/stats-base-dists-chisquare-quantile';
import normalQuantileOf from '@stdlib/stats-base-dists-normal-quantile';
import type { DateFormat } from '../data/values';
import type { DataSketch, FeatureKind } from '../review/drift';
import { percentile } from '../shared/percentile';
import type { FeatureDriftResult, Interval, MonitorAlarm, MonitorSettings, PerformanceResult, QualityRates, WindowResult } from '../workflows/monitor-api';

/** What a window is compared with: the deployed version's training sketch and evaluation. */
export interface MonitorReference {
  /** The training run's data sketch (review/data_sketch.json): a reservoir sample per feature. */
  sketch: DataSketch;
  /** How date features are written in records (the data contract's date_format). */
  dateFormat: DateFormat;
  /** Predicted probabilities of the positive class on the evaluation's held-out rows, for prediction drift. */
  scores: readonly number[];
  /** The model's decision threshold: a record is predicted positive when its probability is at or above it. */
  threshold: number;
  /** The positive class as the data writes it; an outcome is positive when its `actual` equals it. */
  positiveClass: string | number;
  /** ROC AUC of the deployed version on held-out data: decay is judged against it. */
  rocAuc: number;
}

export const OTHER_BIN = '(other)';
export const MISSING_BIN = '(missing)';
/** Quantile bins of a numeric reference (at most; equal quantiles merge). */
export const QUANTILE_BINS = 10;
/** Categories kept as their own bin, most frequent first; rarer ones share "(other)". */
export const MAX_CATEGORY_BINS = 20;

/**
 * A feature's bins. Numeric and date: (−∞, e₀], (e₀, e₁], …, (eₖ, ∞) over the reference's deciles (nearest rank,
 * duplicates dropped), then "(missing)". Categorical: the reference's most frequent categories, "(other)",
 * "(missing)". `reference` holds the reference's count per bin.
 */
export type Bins =
  | { kind: 'numeric' | 'date'; edges: number[]; labels: string[]; reference: number[]; min: number; max: number }
  | { kind: 'categorical'; categories: Map<string, number>; seen: Set<string>; labels: string[]; reference: number[] };

/** A parsed value: a number (numeric, date as a day number), a category, or null when missing. */
export type Value = number | string | null;

const formatEdge = (v: number) => (Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(3)).toString());

/** Bins of one reference feature (values as the sketch holds them: numbers or strings, null when missing). */
export function referenceBins(kind: FeatureKind, values: readonly Value[]): Bins {
  if (kind === 'categorical') {
    const frequency = new Map<string, number>();
    for (const v of values) if (v !== null) frequency.set(String(v), (frequency.get(String(v)) ?? 0) + 1);
    const kept = [...frequency.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, MAX_CATEGORY_BINS)
      .map(([category]) => category);
    const bins: Bins = {
      kind,
      categories: new Map(kept.map((category, i) => [category, i])),
      seen: new Set(frequency.keys()),
      labels: [...kept, OTHER_BIN, MISSING_BIN],
      reference: [],
    };
    bins.reference = countBins(bins, values);
    return bins;
  }
  return numericBins(kind, values, []);
}

function numericBins(kind: 'numeric' | 'date', values: readonly Value[], extraEdges: readonly number[]): Bins {
  const sorted = (values.filter((v) => typeof v === 'number' && !Number.isNaN(v)) as number[]).sort((a, b) => a - b);
  const deciles = Array.from({ length: QUANTILE_BINS - 1 }, (_, i) => percentile(sorted, (i + 1) / QUANTILE_BINS));
  const edges = sorted.length ? [...new Set([...deciles, ...extraEdges])].sort((a, b) => a - b) : [];
  const labels = [
    ...edges.map((edge, k) => (k === 0 ? `≤ ${formatEdge(edge)}` : `${formatEdge(edges[k - 1]!)}–${formatEdge(edge)}`)),
    edges.length ? `> ${formatEdge(edges[edges.length - 1]!)}` : 'all',
    MISSING_BIN,
  ];
  const bins: Bins = { kind, edges, labels, reference: [], min: sorted[0] ?? Number.NaN, max: sorted[sorted.length - 1] ?? Number.NaN };
  bins.reference = countBins(bins, values);
  return bins;
}

/** The index of the first edge ≥ v (binary search): v's bin among the numeric bins. */
function numericBin(edges: readonly number[], v: number): number {
  let low = 0;
  let high = edges.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (edges[middle]! < v) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The bin of one parsed value. */
export function binOf(bins: Bins, value: Value): number {
  const missing = bins.labels.length - 1;
  if (value === null) return missing;
  if (bins.kind === 'categorical') return bins.categories.get(String(value)) ?? missing - 1;
  return typeof value === 'number' && !Number.isNaN(value) ? numericBin(bins.edges, value) : missing;
}

export function countBins(bins: Bins, values: Iterable<Value>): number[] {
  const counts = new Array<number>(bins.labels.length).fill(0);
  for (const v of values) counts[binOf(bins, v)]!++;
  return counts;
}

/** Pseudo-count added to every bin that either side fills, so an empty bin has a finite log ratio. */
export const PSI_PSEUDO_COUNT = 0.5;

/**
 * PSI = Σ (cᵢ − rᵢ)·ln(cᵢ / rᵢ) over shares of the window (c) and the reference (r). Bins empty on both sides are
 * left out; the others get +0.5 counts on both sides (Jeffreys' prior) before shares are taken. Why not the usual
 * 1e-4 floor: an empty bin in a window of N records says its share is below about 1/N, and the fixed floor prices
 * it at ln(r/1e-4) whatever N is, while +0.5 keeps the log ratio near ln(2N·r), in step with the threshold's 1/N.
 */
export function psi(referenceCounts: readonly number[], currentCounts: readonly number[]): number {
  const live = referenceCounts.map((r, i) => r > 0 || currentCounts[i]! > 0);
  const bins = live.filter(Boolean).length;
  if (bins === 0) return 0;
  const total = (counts: readonly number[]) => counts.reduce((sum, c, i) => (live[i] ? sum + c : sum), 0) + PSI_PSEUDO_COUNT * bins;
  const referenceTotal = total(referenceCounts);
  const currentTotal = total(currentCounts);
  let sum = 0;
  referenceCounts.forEach((r, i) => {
    if (!live[i]) return;
    const e = (r + PSI_PSEUDO_COUNT) / referenceTotal;
    const a = (currentCounts[i]! + PSI_PSEUDO_COUNT) / currentTotal;
    sum += (a - e) * Math.log(a / e);
  });
  return sum;
}

export function chiSquaredQuantile(p: number, degreesOfFreedom: number): number {
  return chiSquaredQuantileOf(p, degreesOfFreedom);
}

export function normalQuantile(p: number): number {
  return normalQuantileOf(p, 0, 1);
}

/**
 * The PSI that unchanged data exceeds with probability `alpha` / `tests`: under no drift PSI ≈ (1/N + 1/M)·χ²(B−1)
 * (N window records, M reference rows, B bins the reference fills), so the threshold is that scale times the
 * χ² quantile at 1 − alpha/tests (Bonferroni: the chance that any of `tests` statistics crosses is at most alpha).
 */
export function psiThreshold(windowRecords: number, referenceRows: number, referenceBinsFilled: number, alpha: number, tests: number): number {
  const degreesOfFreedom = Math.max(1, referenceBinsFilled - 1);
  return (1 / windowRecords + 1 / referenceRows) * chiSquaredQuantile(1 - alpha / tests, degreesOfFreedom);
}

/** One feature's drift from its bins and the window's counts per bin. */
export function featureDrift(feature: string, bins: Bins, current: readonly number[], alpha: number, tests: number): FeatureDriftResult {
  const referenceRows = bins.reference.reduce((a, b) => a + b, 0);
  const windowRecords = current.reduce((a, b) => a + b, 0);
  const value = psi(bins.reference, current);
  const threshold = psiThreshold(windowRecords, referenceRows, bins.reference.filter((c) => c > 0).length, alpha, tests);
  return {
    feature,
    kind: bins.kind,
    psi: value,
    threshold,
    drifted: value > threshold,
    bins: bins.labels
      .map((bin, i) => ({ bin, reference: bins.reference[i]! / referenceRows, current: windowRecords ? current[i]! / windowRecords : 0 }))
      .filter((b) => b.reference > 0 || b.current > 0),
  };
}

/**
 * Score bins: the reference scores' deciles with the decision threshold as one more edge, so a shift of the positive
 * rate shows. A score exactly at the threshold falls in the bin below it (bins close on the right); the positive rate
 * itself counts it positive, as the model does.
 */
export function scoreBins(scores: readonly number[], threshold: number): Bins {
  return numericBins('numeric', scores, [threshold]);
}

/** Wilson score interval of a proportion (no continuity correction); [0, 1] around 0 when there are no trials. */
export function wilsonInterval(successes: number, trials: number, confidence = 0.95): Interval {
  if (trials === 0) return { value: 0, low: 0, high: 1 };
  const z = normalQuantile(1 - (1 - confidence) / 2);
  const p = successes / trials;
  const z2 = z * z;
  const center = (p + z2 / (2 * trials)) / (1 + z2 / trials);
  const half = (z / (1 + z2 / trials)) * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  // at 0 and at `trials` successes one bound is exactly 0 or 1; rounding would leave it a hair inside
  return { value: p, low: successes === 0 ? 0 : Math.max(0, center - half), high: successes === trials ? 1 : Math.min(1, center + half) };
}

/**
 * ROC AUC with DeLong's variance (DeLong, DeLong & Clarke-Pearson 1988; the O(n log n) form by midranks of Sun &
 * Xu 2014): AUC ± z·SE, clipped to [0, 1]. Nonparametric, no resampling, so a retry gives the same numbers.
 */
export function rocAucInterval(labels: readonly number[], scores: readonly number[], confidence = 0.95): Interval {
  const positives: number[] = [];
  const negatives: number[] = [];
  labels.forEach((label, i) => (label === 1 ? positives : negatives).push(scores[i]!));
  const m = positives.length;
  const n = negatives.length;
  if (m === 0 || n === 0) return { value: Number.NaN, low: 0, high: 1 };
  const allRanks = midranks([...positives, ...negatives]);
  const positiveRanks = midranks(positives);
  const negativeRanks = midranks(negatives);
  // V10ᵢ: share of negatives a positive outscores (ties half); V01ⱼ: share of positives that outscore a negative.
  const v10 = positives.map((_, i) => (allRanks[i]! - positiveRanks[i]!) / n);
  const v01 = negatives.map((_, j) => 1 - (allRanks[m + j]! - negativeRanks[j]!) / m);
  const auc = mean(v10);
  const variance = sampleVariance(v10) / m + sampleVariance(v01) / n;
  const half = normalQuantile(1 - (1 - confidence) / 2) * Math.sqrt(variance);
  return { value: auc, low: Math.max(0, auc - half), high: Math.min(1, auc + half) };
}

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

function sampleVariance(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const mu = mean(values);
  return values.reduce((sum, v) => sum + (v - mu) ** 2, 0) / (values.length - 1);
}

/** 1-based ranks, ties given their average rank. */
function midranks(values: readonly number[]): number[] {
  const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const ranks = new Array<number>(values.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && values[order[j + 1]!] === values[order[i]!]) j++;
    for (let k = i; k <= j; k++) ranks[order[k]!] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return ranks;
}

/**
 * F1 with the delta method's interval: with TP, FP, FN counts, Var(F1) ≈ 4·TP·(FP+FN)·(TP+FP+FN) / (2TP+FP+FN)⁴
 * (the multinomial's covariance; F1's gradient is orthogonal to the proportions, so no n appears). Where that
 * variance is 0 (TP = 0 or FP + FN = 0) the delta method says nothing; there F1 = TP / (TP + (FP+FN)/2) is read as
 * a proportion and given its Wilson interval.
 */
export function f1Interval(tp: number, fp: number, fn: number, confidence = 0.95): Interval {
  const denominator = 2 * tp + fp + fn;
  if (denominator === 0) return { value: 0, low: 0, high: 1 };
  const f1 = (2 * tp) / denominator;
  if (tp === 0 || fp + fn === 0) {
    const wilson = wilsonInterval(tp, tp + (fp + fn) / 2, confidence);
    return { value: f1, low: wilson.low, high: wilson.high };
  }
  const se = Math.sqrt((4 * tp * (fp + fn) * (tp + fp + fn)) / denominator ** 4);
  const half = normalQuantile(1 - (1 - confidence) / 2) * se;
  return { value: f1, low: Math.max(0, f1 - half), high: Math.min(1, f1 + half) };
}

/**
 * Performance of the labelled records (label 1 = the positive class, score = predicted probability) at the
 * model's threshold, or the reason it is not reported.
 */
export function performance(labels: readonly number[], scores: readonly number[], threshold: number, referenceRocAuc: number, minLabelled: number): PerformanceResult {
  const labelled = labels.length;
  if (labelled < minLabelled) {
    return {
      reported: false,
      labelled,
      minimum: minLabelled,
      why: `${labelled} labelled record${labelled === 1 ? '' : 's'} joined in this window, fewer than the ${minLabelled} needed for intervals narrow enough to judge decay`,
    };
  }
  const positives = labels.filter((l) => l === 1).length;
  if (positives === 0 || positives === labelled) {
    return { reported: false, labelled, minimum: minLabelled, why: `all ${labelled} labelled records are ${positives ? 'positive' : 'negative'}: ROC AUC needs both classes` };
  }
  let tp = 0;
  let fp = 0;
  let fn = 0;
  labels.forEach((label, i) => {
    const predicted = scores[i]! >= threshold;
    if (predicted && label === 1) tp++;
    else if (predicted) fp++;
    else if (label === 1) fn++;
  });
  return {
    reported: true,
    labelled,
    threshold,
    rocAuc: rocAucInterval(labels, scores),
    precision: wilsonInterval(tp, tp + fp),
    recall: wilsonInterval(tp, tp + fn),
    f1: f1Interval(tp, fp, fn),
    reference: { rocAuc: referenceRocAuc },
  };
}

/** Per feature, what a window counted besides its bins (quality). */
export interface QualityCounts {
  missing: number;
  /** Categorical: values the reference never had. */
  unseen: number;
  /** Numeric and date: values outside the reference's [min, max]. */
  outOfRange: number;
}

/** Quality rates of one feature: shares of the window's records. */
export function qualityRates(feature: string, kind: FeatureKind, counts: QualityCounts, records: number): QualityRates {
  const rate = (count: number) => (records ? count / records : 0);
  return kind === 'categorical'
    ? { feature, missing: rate(counts.missing), unseen: rate(counts.unseen) }
    : { feature, missing: rate(counts.missing), outOfRange: rate(counts.outOfRange) };
}

/** How far a feature's drift is past its threshold: features are ranked by it, worst first. */
export const driftRatio = (drift: Pick<FeatureDriftResult, 'psi' | 'threshold'>) => drift.psi / drift.threshold;

const round = (v: number, digits = 3) => Number(v.toPrecision(digits));
const percent = (v: number) => `${round(v * 100)} %`;

/** What the alarm rules read of a window. */
export type AlarmInputs = Pick<WindowResult, 'drift' | 'prediction' | 'performance' | 'quality' | 'records' | 'refused'> & {
  /** The training data's missing rate per feature: a window alarms on missing values above it, not above 0. */
  referenceMissing: Record<string, number>;
};

/**
 * The alarm rules: drift when any feature's PSI exceeds its threshold (worst first by PSI/threshold); prediction
 * drift when the score PSI does; decay when ROC AUC's upper bound is below the reference's by more than the
 * tolerance; data quality when a rate (missing above training's own, unseen, out of range, refused) exceeds
 * qualityRate.
 */
export function alarmsOf(window: AlarmInputs, settings: MonitorSettings): MonitorAlarm[] {
  const alarms: MonitorAlarm[] = [];
  const drifted = window.drift.filter((d) => d.drifted).sort((a, b) => driftRatio(b) - driftRatio(a));
  if (drifted.length) {
    alarms.push({
      kind: 'drift',
      features: drifted.map((d) => d.feature),
      detail: `${drifted.length} feature${drifted.length === 1 ? '' : 's'} drifted over ${window.records} records: ${drifted
        .map((d) => `${d.feature} PSI ${round(d.psi)} > ${round(d.threshold)} (${round(driftRatio(d), 2)}×)`)
        .join('; ')}`,
    });
  }
  if (window.prediction?.drifted) {
    const p = window.prediction;
    alarms.push({
      kind: 'prediction_drift',
      features: ['prediction'],
      detail: `scores drifted: PSI ${round(p.psi)} > ${round(p.threshold)}; positive rate ${percent(p.positiveRate)} (training ${percent(p.referencePositiveRate)})`,
    });
  }
  const perf = window.performance;
  if (perf.reported && perf.rocAuc.high < perf.reference.rocAuc - settings.decayTolerance) {
    alarms.push({
      kind: 'decay',
      features: ['rocAuc'],
      detail: `ROC AUC ${round(perf.rocAuc.value)} [${round(perf.rocAuc.low)}, ${round(perf.rocAuc.high)}] on ${perf.labelled} labelled records, below the deployed version's ${round(perf.reference.rocAuc)} − ${settings.decayTolerance}`,
    });
  }
  const breaches: { feature: string; excess: number; text: string }[] = [];
  for (const q of window.quality) {
    const missingExcess = q.missing - (window.referenceMissing[q.feature] ?? 0);
    if (missingExcess > settings.qualityRate)
      breaches.push({
        feature: q.feature,
        excess: missingExcess,
        text: `${q.feature} missing ${percent(q.missing)} (training ${percent(window.referenceMissing[q.feature] ?? 0)})`,
      });
    if ((q.unseen ?? 0) > settings.qualityRate) breaches.push({ feature: q.feature, excess: q.unseen!, text: `${q.feature} unseen categories ${percent(q.unseen!)}` });
    if ((q.outOfRange ?? 0) > settings.qualityRate)
      breaches.push({ feature: q.feature, excess: q.outOfRange!, text: `${q.feature} out of training range ${percent(q.outOfRange!)}` });
  }
  const requests = window.records + window.refused;
  const refusedRate = requests ? window.refused / requests : 0;
  if (refusedRate > settings.qualityRate) breaches.push({ feature: 'refused', excess: refusedRate, text: `refused ${percent(refusedRate)} (${window.refused} of ${requests})` });
  if (breaches.length) {
    breaches.sort((a, b) => b.excess - a.excess);
    alarms.push({
      kind: 'data_quality',
      features: [...new Set(breaches.map((b) => b.feature))],
      detail: `rates above ${percent(settings.qualityRate)}: ${breaches.map((b) => b.text).join('; ')}`,
    });
  }
  return alarms;
}
