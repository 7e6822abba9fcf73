// Binary-classification metrics on plain arrays. Labels are 0/1; scores are positive-class probabilities.
import { rocAuc } from '../shared/roc-auc';

export { rocAuc };

/** Average precision (area under the precision–recall curve, step-wise as scikit-learn computes it). */
export function averagePrecision(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const n = labels.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let totalPositives = 0;
  for (let i = 0; i < n; i++) totalPositives += labels[i] === 1 ? 1 : 0;
  if (totalPositives === 0) return Number.NaN;
  let truePositives = 0;
  let seen = 0;
  let previousRecall = 0;
  let sum = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    for (let k = i; k <= j; k++) {
      truePositives += labels[order[k]!] === 1 ? 1 : 0;
      seen++;
    }
    const recall = truePositives / totalPositives;
    sum += (recall - previousRecall) * (truePositives / seen);
    previousRecall = recall;
    i = j + 1;
  }
  return sum;
}

export interface ConfusionMatrix {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export function confusionMatrix(labels: ArrayLike<number>, predicted: ArrayLike<number>): ConfusionMatrix {
  const matrix = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < labels.length; i++) {
    if (predicted[i] === 1) labels[i] === 1 ? matrix.tp++ : matrix.fp++;
    else labels[i] === 1 ? matrix.fn++ : matrix.tn++;
  }
  return matrix;
}

export interface ClassificationMetrics {
  rows: number;
  positives: number;
  threshold: number;
  accuracy: number;
  balanced_accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  roc_auc: number;
  average_precision: number;
  log_loss: number;
  confusion_matrix: ConfusionMatrix;
  /** Accuracy of always predicting the majority class: the bar any model must clear on imbalanced data. */
  majority_baseline_accuracy: number;
}

const safeDivide = (a: number, b: number) => (b === 0 ? 0 : a / b);

export function classificationMetrics(labels: ArrayLike<number>, probabilities: ArrayLike<number>, threshold: number): ClassificationMetrics {
  const n = labels.length;
  const predicted = Array.from(probabilities, (p) => (p >= threshold ? 1 : 0));
  const cm = confusionMatrix(labels, predicted);
  const positives = cm.tp + cm.fn;
  const precision = safeDivide(cm.tp, cm.tp + cm.fp);
  const recall = safeDivide(cm.tp, positives);
  const specificity = safeDivide(cm.tn, cm.tn + cm.fp);
  let logLoss = 0;
  for (let i = 0; i < n; i++) {
    const p = Math.min(Math.max(probabilities[i]!, 1e-15), 1 - 1e-15);
    logLoss -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return {
    rows: n,
    positives,
    threshold,
    accuracy: safeDivide(cm.tp + cm.tn, n),
    balanced_accuracy: (recall + specificity) / 2,
    precision,
    recall,
    f1: safeDivide(2 * precision * recall, precision + recall),
    roc_auc: rocAuc(labels, probabilities),
    average_precision: averagePrecision(labels, probabilities),
    log_loss: safeDivide(logLoss, n),
    confusion_matrix: cm,
    majority_baseline_accuracy: safeDivide(Math.max(positives, n - positives), n),
  };
}
