// The endpoint monitor's contract: what a scheduled run is asked (one window of one endpoint), what it finds (data
// quality, drift, performance, alarms), and the names clients use (schedule ids, the query). Shared by the monitor
// workflow, its activities, the CLI (`modelship monitor …`), the report page and tests.
import { defineQuery } from '@temporalio/workflow';
import type { TargetKind } from '../shared/deployment';
import type { ReleaseStart, ReleaseTemplate } from './release-api';
import type { AlarmTrigger } from './trigger-api';

/** The Temporal Schedule of an endpoint's monitor, and the id prefix of the runs it starts. */
export const monitorScheduleId = (endpoint: string) => `monitor-${endpoint}`;

export interface MonitorSettings {
  /** How often the schedule runs (and so the usual window length), e.g. '1h'. */
  every: string;
  /** Outcomes arrive this long after predictions: performance is judged on the window shifted back by it. */
  labelDelay: string;
  /** Performance is not reported below this many labelled records in a window (the output says why). */
  minLabelled: number;
  /** Drift is not judged below this many records in a window (too few to tell; the output says so). */
  minRecords: number;
  /** The chance that a window of unchanged data raises a drift alarm (all features together). */
  falseAlarmRate: number;
  /** Data quality alarms when a rate (missing, unseen category, out of range, refused) exceeds this. */
  qualityRate: number;
  /** Decay alarms when the upper bound of ROC AUC's interval falls below the deployed version's evaluation by this. */
  decayTolerance: number;
}

export interface MonitorInput {
  target: TargetKind;
  endpoint: string;
  settings: MonitorSettings;
  /** Set by `modelship monitor run-now` with an explicit end; a scheduled run ends its window at its start time. */
  windowEnd?: string;
  /** monitor.on_alarm: 'retrain' starts a release of `release` when an alarm is raised (absent: alert only). */
  onAlarm?: 'alert' | 'retrain';
  /** The release a retraining alarm starts (the config the monitor was enabled with). */
  release?: ReleaseTemplate;
}

/** One window of one endpoint: [start, end), never overlapping the one before. */
export interface MonitorWindow {
  /** `<start>_<end>` in ISO form: the key of the window's MLflow step and artifacts (a retry writes no duplicate). */
  id: string;
  index: number;
  start: string;
  end: string;
}

export interface QualityRates {
  feature: string;
  missing: number;
  /** Categorical: share of values the training data never had. */
  unseen?: number;
  /** Numeric and date: share outside the training data's [min, max]. */
  outOfRange?: number;
}

export interface FeatureDriftResult {
  feature: string;
  kind: 'numeric' | 'date' | 'categorical';
  /** Population Stability Index over the reference's bins (quantile bins for numbers, categories for categories). */
  psi: number;
  /** The PSI that unchanged data of this window's size exceeds with probability falseAlarmRate / features. */
  threshold: number;
  drifted: boolean;
  /** Per bin: the share of the reference (training sketch) and of the window. */
  bins: { bin: string; reference: number; current: number }[];
}

export interface Interval {
  value: number;
  low: number;
  high: number;
}

export type PerformanceResult =
  | { reported: false; labelled: number; minimum: number; why: string }
  | { reported: true; labelled: number; threshold: number; rocAuc: Interval; precision: Interval; recall: Interval; f1: Interval; reference: { rocAuc: number } };

export interface MonitorAlarm {
  kind: 'drift' | 'prediction_drift' | 'decay' | 'data_quality';
  /** The features (or 'prediction') behind it, worst first. */
  features: string[];
  /** One line for people, with the numbers. */
  detail: string;
}

/** What makes an alarm the same as the last: its kinds and features, not its numbers. '' for no alarm. */
export function alarmSignature(alarms: readonly MonitorAlarm[]): string {
  return alarms
    .map((a) => `${a.kind}:${[...a.features].sort().join(',')}`)
    .sort()
    .join(' ');
}

export interface WindowResult {
  endpoint: string;
  window: MonitorWindow;
  /** The deployed version the window's records were scored by (the newest, when the window spans a rollout). */
  model?: { name: string; version: string; sha256: string };
  records: number;
  refused: number;
  refusedByReason: Record<string, number>;
  latencyMs?: { p50: number; p95: number; p99: number };
  quality: QualityRates[];
  drift: FeatureDriftResult[];
  /** Score distribution (PSI over the reference's predicted probabilities) and the positive rate. */
  prediction?: { psi: number; threshold: number; drifted: boolean; positiveRate: number; referencePositiveRate: number };
  performance: PerformanceResult;
  alarms: MonitorAlarm[];
  /** 'empty' when nothing was served in the window (no error); 'too few' below minRecords. */
  verdict: 'ok' | 'alarm' | 'empty' | 'too few';
  /** Set when an alarm was raised and differs from the last one raised (alarms repeat only when something changes). */
  alarmRaised?: boolean;
  /** Capture lines not read as data: a torn last line (a crash mid-write), an invalid line, another format version. */
  skippedLines?: { torn: number; invalid: number; unknownFormat: number };
}

/** What a raised alarm started: the retraining release, or the release of the model already running. */
export function alarmTriggerOf(result: WindowResult, monitorWorkflowId: string, at: string): AlarmTrigger {
  return {
    kind: 'alarm',
    endpoint: result.endpoint,
    window: { start: result.window.start, end: result.window.end },
    alarms: result.alarms.map(({ kind, features, detail }) => ({ kind, features, detail })),
    drift: result.drift.filter((d) => d.drifted).map(({ feature, psi, threshold }) => ({ feature, psi, threshold })),
    monitorWorkflowId,
    at,
  };
}

export interface MonitorResult extends WindowResult {
  /** With on_alarm: retrain, when the alarm was raised: the release it started, or the one running that it found. */
  retrain?: ReleaseStart;
  /** monitoring.html (self-contained) and where it is in MLflow. */
  report?: { path: string; mlflowUrl?: string };
  /** The webhook's answer when an alarm was sent (the URL itself stays on the worker). */
  notified?: string;
}

/** What the monitor run is doing and found so far (the CLI's `monitor status` and the Web UI read it). */
export const monitorStatusQuery = defineQuery<Partial<MonitorResult> & { stage: string }>('monitorStatus');

// The monitor's activities as the workflow sees them.

/** The version an endpoint serves (the deployment with the most traffic), and since when, when the target says. */
export interface MonitoredModel {
  name: string;
  version: string;
  deployment?: string;
  deployedAt?: string;
}

/** The endpoint's monitor run in MLflow ("monitor <endpoint>"): a step per window, artifacts under monitor/. */
export interface MonitorRunRef {
  runId: string;
  experimentId: string;
  artifactUri: string;
}

/** What a window is compared with: the served version and its training run (data sketch, contract, held-out scores). */
export interface MonitorReferenceRef {
  model: MonitoredModel;
  /** The training run's artifact root (mlflow-artifacts:/…). */
  artifactUri: string;
  /** ROC AUC of the version's evaluation (its metric.roc_auc tag). */
  rocAuc: number;
}

export interface MonitorState {
  run: MonitorRunRef;
  lastWindow?: MonitorWindow;
  /** Kinds and features of the last alarm raised ('' when none was). */
  lastAlarmSignature: string;
  /** Undefined when the endpoint serves no version and captured no record to name one. */
  reference?: MonitorReferenceRef;
}

export interface AnalyzeWindowInput {
  endpoint: string;
  window: MonitorWindow;
  settings: MonitorSettings;
  run: MonitorRunRef;
  reference?: MonitorReferenceRef;
}

export interface RaiseAlarmInput {
  endpoint: string;
  run: MonitorRunRef;
  result: WindowResult;
  signature: string;
}
