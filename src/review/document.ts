// review.json: the numbers behind every chart of a release's review, built from plain inputs (pure), so the page
// is reproducible from this file alone and tests can check the numbers.
import type { GateCheck } from '../evaluation/gates';
import type { ClassificationMetrics } from '../evaluation/metrics';
import { calibrationCurve, histogram, precisionRecallCurve, rocCurve } from '../evaluation/curves';
import type { ApprovalRecord, ApprovalVote } from '../shared/approval';
import type { DataSource } from '../shared/data-sources';
import { percentile } from '../shared/percentile';
import type { EnvironmentStatus } from '../workflows/environment-api';
import type { ReleaseTrigger } from '../workflows/trigger-api';
import { PSI_FLAG, type FeatureDrift } from './drift';

export const REVIEW_VERSION = 1;

/** A chart's data, or why there is none. */
export type Panel<T> = ({ available: true } & T) | { available: false; note: string };

export interface ScoredModel {
  /** "candidate v3" or "@production v2". */
  label: string;
  version: string;
  metrics: ClassificationMetrics;
  labels: ArrayLike<number>;
  probabilities: ArrayLike<number>;
}

export interface ApprovalView {
  by: string;
  decision: string;
  at: string;
  automatic: boolean;
  signed: boolean;
  /** The signature's key and the allowed-signers file it was verified against, when signed. */
  signature?: string;
  note?: string;
}

export interface RolloutView {
  outcome: 'succeeded' | 'rolled back' | 'not deployed';
  summary: string;
  traffic: { seconds: number; colour: string; percent: number }[];
  bakes: { step: string; seconds: number; requests: number; error_rate: number; p95_ms: number }[];
  compensations: { seconds: number; at: string; undone: string[]; failures: string[] }[];
  steps: { at: string; seconds: number; action: string; detail?: string }[];
}

/** One environment of the release and where the candidate stands in it. */
export interface EnvironmentView {
  name: string;
  target: string;
  endpoint: string;
  stage: EnvironmentStatus['stage'];
  /** Its approval in one line: the decision, by whom, when. */
  approval?: string;
  alias?: string;
  summary?: string;
}

export interface ReviewDocument {
  review_version: number;
  generated_at: string;
  phase: 'awaiting_approval' | 'final';
  workflow_id: string;
  /** Why the release started (absent in reviews of releases that did not record it). */
  trigger?: ReleaseTrigger;
  /** The training data's files (and feedback rows), each with its sha256 and rows. */
  sources?: DataSource[];
  environments?: EnvironmentView[];
  model: { name: string; version: string; uri: string; family?: string; data_sha256: string; model_sha256?: string };
  champion: { version: string } | { none: string };
  outcome?: string;
  links: { mlflow_run?: string; review_in_mlflow?: string; temporal?: string };
  metrics: { name: string; candidate: number; champion?: number }[];
  roc: Panel<{ rows: { model: string; fpr: number; tpr: number; threshold: number }[] }>;
  precision_recall: Panel<{ rows: { model: string; recall: number; precision: number; threshold: number }[]; positive_rate: number }>;
  calibration: Panel<{ rows: { model: string; bin: number; predicted: number; observed: number; count: number }[] }>;
  confusion: Panel<{ threshold: number; rows: { actual: string; predicted: string; count: number }[] }>;
  score_distribution: Panel<{ rows: { class: string; start: number; end: number; count: number; share: number }[] }>;
  gates: Panel<{ passed: boolean; rows: (GateCheck & { result: 'pass' | 'fail' })[] }>;
  importance: Panel<{ metric: string; rows: { feature: string; importance_mean: number; importance_std: number }[] }>;
  drift: Panel<{ threshold: number; reference: string; features: FeatureDrift[] }>;
  latency: Panel<{ rows: { start: number; end: number; count: number }[]; p50_ms: number; p95_ms: number; p99_ms: number; max_latency_ms: number }>;
  approvals: { signed_setup: boolean; records: ApprovalView[]; waiting?: string };
  rollout?: Panel<RolloutView>;
}

const none = (note: string) => ({ available: false as const, note });

export function curvePanels(candidate: ScoredModel, champion: ScoredModel | undefined) {
  const models = champion ? [candidate, champion] : [candidate];
  const positives = Array.from(candidate.labels).filter((l) => l === 1).length;
  const tagged = <T>(model: ScoredModel, rows: T[]) => rows.map((row) => ({ model: model.label, ...row }));
  const roc = models.flatMap((m) => tagged(m, rocCurve(m.labels, m.probabilities)));
  const pr = models.flatMap((m) => tagged(m, precisionRecallCurve(m.labels, m.probabilities)));
  const calibration = models.flatMap((m) => tagged(m, calibrationCurve(m.labels, m.probabilities)));
  const cm = candidate.metrics.confusion_matrix;
  const total = cm.tp + cm.fp + cm.tn + cm.fn;
  const byClass = (label: number) => {
    const values = Array.from(candidate.probabilities).filter((_, i) => candidate.labels[i] === label);
    return histogram(values, 20, [0, 1]).map((bin) => ({ class: label === 1 ? 'positive' : 'negative', ...bin, share: values.length ? bin.count / values.length : 0 }));
  };
  return {
    roc: roc.length ? { available: true as const, rows: roc } : none('one class is absent from the held-out rows: no ROC curve'),
    precision_recall: pr.length
      ? { available: true as const, rows: pr, positive_rate: positives / Math.max(1, candidate.labels.length) }
      : none('no positive held-out rows: no precision–recall curve'),
    calibration: { available: true as const, rows: calibration },
    confusion: total
      ? {
          available: true as const,
          threshold: candidate.metrics.threshold,
          rows: [
            { actual: 'positive', predicted: 'positive', count: cm.tp },
            { actual: 'positive', predicted: 'negative', count: cm.fn },
            { actual: 'negative', predicted: 'positive', count: cm.fp },
            { actual: 'negative', predicted: 'negative', count: cm.tn },
          ],
        }
      : none('no held-out rows'),
    score_distribution: { available: true as const, rows: [...byClass(0), ...byClass(1)] },
  };
}

const METRIC_ROWS: [string, keyof ClassificationMetrics][] = [
  ['ROC AUC', 'roc_auc'],
  ['PR AUC (average precision)', 'average_precision'],
  ['F1', 'f1'],
  ['precision', 'precision'],
  ['recall', 'recall'],
  ['balanced accuracy', 'balanced_accuracy'],
  ['accuracy', 'accuracy'],
  ['log loss (lower is better)', 'log_loss'],
];

export function metricRows(candidate: ClassificationMetrics, champion?: ClassificationMetrics) {
  return METRIC_ROWS.map(([name, key]) => ({ name, candidate: candidate[key] as number, champion: champion ? (champion[key] as number) : undefined }));
}

export function gatesPanel(checks: GateCheck[] | undefined): ReviewDocument['gates'] {
  if (!checks) return none('the gates did not run');
  return { available: true, passed: checks.every((c) => c.passed), rows: checks.map((c) => ({ ...c, result: c.passed ? 'pass' : 'fail' })) };
}

export function latencyPanel(samplesMs: number[] | undefined, maxLatencyMs: number, why: string): ReviewDocument['latency'] {
  if (!samplesMs || samplesMs.length === 0) return none(why);
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return {
    available: true,
    rows: histogram(sorted, 20),
    p50_ms: percentile(sorted, 0.5),
    p95_ms: percentile(sorted, 0.95),
    p99_ms: percentile(sorted, 0.99),
    max_latency_ms: maxLatencyMs,
  };
}

export function driftPanel(features: FeatureDrift[] | undefined, reference: string, why: string): ReviewDocument['drift'] {
  if (!features) return none(why);
  return { available: true, threshold: PSI_FLAG, reference, features: [...features].sort((a, b) => b.psi - a.psi) };
}

/**
 * The release's approval as the workflow records it: each accepted vote (with its verified signature) when the
 * gate kept them, else the one decision (automatic, or expired).
 */
export function approvalViews(recorded: ApprovalVote[] | ApprovalRecord | undefined): ApprovalView[] {
  const list: (ApprovalVote | ApprovalRecord)[] = Array.isArray(recorded) ? recorded : recorded ? [recorded] : [];
  return list.map((entry) => {
    const automatic = 'automatic' in entry && entry.automatic;
    const signed = 'signed' in entry ? entry.signed : undefined;
    return {
      by: entry.by ?? (automatic ? 'automatic' : 'nobody'),
      decision: entry.decision,
      at: entry.at,
      automatic,
      signed: Boolean(signed),
      signature: signed ? `key ${signed.keyFingerprint}, verified against ${signed.allowedSigners} (sha256 ${signed.allowedSignersSha256.slice(0, 12)}…)` : undefined,
      note: entry.reason ?? entry.comment,
    };
  });
}

/** An environment's approval in one line. */
function approvalLine(record: ApprovalRecord | undefined): string | undefined {
  if (!record) return undefined;
  const who = record.by ? `by ${record.by}${record.automatic ? ' (automatic)' : ''}` : record.automatic ? 'automatically' : 'by nobody';
  return `${record.decision} ${who} at ${record.at}${record.approvals?.some((vote) => vote.signed) ? ', signed' : ''}`;
}

/** What the review says of the release around the model: why it started, what it trained on, where it stands. */
export function releaseContext(input: {
  trigger?: ReleaseTrigger;
  data: { sources?: DataSource[] };
  environments?: EnvironmentStatus[];
}): Pick<ReviewDocument, 'trigger' | 'sources' | 'environments'> {
  return {
    ...(input.trigger && { trigger: input.trigger }),
    ...(input.data.sources && { sources: input.data.sources }),
    ...(input.environments?.length && {
      environments: input.environments.map((e) => ({
        name: e.name,
        target: e.target,
        endpoint: e.endpoint,
        stage: e.stage,
        ...(e.approval && { approval: approvalLine(e.approval) }),
        ...(e.alias && { alias: e.alias }),
        ...(e.summary && { summary: e.summary }),
      })),
    }),
  };
}
