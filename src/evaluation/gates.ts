// Validation gates: thresholds from the config plus champion/challenger. Pure, so the verdict is reproducible
// from the numbers in the report.
import type { ReleaseConfig } from '../config/schema';
import type { ClassificationMetrics } from './metrics';

export interface GateCheck {
  name: string;
  value: number;
  threshold: number;
  comparison: '>=' | '>';
  passed: boolean;
  detail: string;
}

export interface GateResult {
  passed: boolean;
  checks: GateCheck[];
  failed: string[];
}

export type GateSettings = Pick<ReleaseConfig, 'min_accuracy' | 'min_roc_auc' | 'min_f1' | 'max_regression' | 'scoring'>;

const primaryMetric: Record<GateSettings['scoring'], keyof ClassificationMetrics> = {
  roc_auc: 'roc_auc',
  average_precision: 'average_precision',
  f1: 'f1',
  balanced_accuracy: 'balanced_accuracy',
};

function check(name: string, value: number, comparison: '>=' | '>', threshold: number, detail: string): GateCheck {
  const passed = Number.isFinite(value) && (comparison === '>=' ? value >= threshold : value > threshold);
  return { name, value, threshold, comparison, passed, detail };
}

export function applyGates(settings: GateSettings, candidate: ClassificationMetrics, champion?: { version: string; metrics: ClassificationMetrics }): GateResult {
  const checks = [
    check('min_accuracy', candidate.accuracy, '>=', settings.min_accuracy, 'accuracy on held-out rows (alone it means little on imbalanced data)'),
    check('min_roc_auc', candidate.roc_auc, '>=', settings.min_roc_auc, 'ROC AUC on held-out rows'),
    check('min_f1', candidate.f1, '>=', settings.min_f1, 'F1 of the positive class at the chosen threshold'),
    // A constant majority predictor has balanced accuracy 0.5 whatever its accuracy: the model must beat it.
    check(
      'beats_majority_baseline',
      candidate.balanced_accuracy,
      '>',
      0.5,
      `balanced accuracy vs the majority-class predictor's 0.5 (its plain accuracy is ${candidate.majority_baseline_accuracy.toFixed(4)})`,
    ),
  ];
  if (champion) {
    const metric = primaryMetric[settings.scoring];
    const championValue = champion.metrics[metric] as number;
    checks.push(
      check(
        'champion_challenger',
        candidate[metric] as number,
        '>=',
        championValue - settings.max_regression,
        `${metric} vs @production (version ${champion.version}: ${championValue.toFixed(4)}) on the same held-out rows, less max_regression ${settings.max_regression}`,
      ),
    );
  }
  const failed = checks
    .filter((c) => !c.passed)
    .map((c) => `${c.name}: ${Number.isFinite(c.value) ? c.value.toFixed(4) : c.value} is not ${c.comparison} ${c.threshold.toFixed(4)} (${c.detail})`);
  return { passed: failed.length === 0, checks, failed };
}
