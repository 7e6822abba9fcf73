// Curves behind the review's charts, from labels (0/1) and positive-class probabilities: ROC, precision–recall,
// calibration, score histograms. Pure; points are thinned so a chart of 100k rows stays small.

export interface RocPoint {
  fpr: number;
  tpr: number;
  threshold: number;
}

export interface PrPoint {
  recall: number;
  precision: number;
  threshold: number;
}

/** One point per distinct score (descending), as scikit-learn's roc_curve / precision_recall_curve walk them. */
function operatingPoints(labels: ArrayLike<number>, scores: ArrayLike<number>) {
  const n = labels.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let positives = 0;
  for (let i = 0; i < n; i++) positives += labels[i] === 1 ? 1 : 0;
  const points: { tp: number; fp: number; threshold: number }[] = [];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    for (let k = i; k <= j; k++) labels[order[k]!] === 1 ? tp++ : fp++;
    points.push({ tp, fp, threshold: scores[order[i]!]! });
    i = j + 1;
  }
  return { points, positives, negatives: n - positives };
}

/** Keeps at most `limit` points, always the first and the last. */
export function thin<T>(points: T[], limit = 200): T[] {
  if (points.length <= limit) return points;
  const step = (points.length - 1) / (limit - 1);
  return Array.from({ length: limit }, (_, i) => points[Math.round(i * step)]!);
}

export function rocCurve(labels: ArrayLike<number>, scores: ArrayLike<number>, limit?: number): RocPoint[] {
  const { points, positives, negatives } = operatingPoints(labels, scores);
  if (positives === 0 || negatives === 0) return [];
  const curve = [{ fpr: 0, tpr: 0, threshold: 1 }, ...points.map((p) => ({ fpr: p.fp / negatives, tpr: p.tp / positives, threshold: p.threshold }))];
  return thin(curve, limit);
}

export function precisionRecallCurve(labels: ArrayLike<number>, scores: ArrayLike<number>, limit?: number): PrPoint[] {
  const { points, positives } = operatingPoints(labels, scores);
  if (positives === 0 || points.length === 0) return [];
  const curve = points.map((p) => ({ recall: p.tp / positives, precision: p.tp / (p.tp + p.fp), threshold: p.threshold }));
  return thin([{ recall: 0, precision: curve[0]!.precision, threshold: 1 }, ...curve], limit);
}

export interface CalibrationBin {
  bin: number;
  /** Mean predicted probability of the rows in the bin. */
  predicted: number;
  /** Observed positive rate of the rows in the bin. */
  observed: number;
  count: number;
}

/** Reliability diagram: equal-width probability bins; empty bins left out. */
export function calibrationCurve(labels: ArrayLike<number>, scores: ArrayLike<number>, bins = 10): CalibrationBin[] {
  const sums = Array.from({ length: bins }, () => ({ predicted: 0, positives: 0, count: 0 }));
  for (let i = 0; i < labels.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(scores[i]! * bins)));
    sums[b]!.predicted += scores[i]!;
    sums[b]!.positives += labels[i] === 1 ? 1 : 0;
    sums[b]!.count++;
  }
  return sums.flatMap((s, bin) => (s.count === 0 ? [] : [{ bin, predicted: s.predicted / s.count, observed: s.positives / s.count, count: s.count }]));
}

export interface HistogramBin {
  start: number;
  end: number;
  count: number;
}

/** Equal-width histogram over [min, max] (max included in the last bin). */
export function histogram(values: ArrayLike<number>, bins: number, range?: [number, number]): HistogramBin[] {
  let [min, max] = range ?? [Infinity, -Infinity];
  if (!range) {
    for (let i = 0; i < values.length; i++) {
      min = Math.min(min, values[i]!);
      max = Math.max(max, values[i]!);
    }
  }
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  const width = max > min ? (max - min) / bins : 1;
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) counts[Math.min(bins - 1, Math.max(0, Math.floor((values[i]! - min) / width)))]!++;
  return counts.map((count, i) => ({ start: min + i * width, end: min + (i + 1) * width, count }));
}
