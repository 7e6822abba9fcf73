// What an endpoint captures of what it serves, and where: the record format (one JSON line per scored record), the
// refusal format (one JSON line per refused request) and the hour partitions under the state dir. Shared by the
// endpoint server that writes them, the monitor that reads them and `modelship feedback` that joins outcomes to
// them. A leaf module: it imports nothing of ours.

/** Version of the capture line format; a reader refuses lines of a version it does not know. */
export const CAPTURE_FORMAT = 1;

/** One scored record, as the endpoint answered it. */
export interface CaptureRecord {
  format: typeof CAPTURE_FORMAT;
  /** The caller's id for this record when it sent one, else one the endpoint made (a UUID). */
  inference_id: string;
  /** ISO 8601 UTC with milliseconds: when the endpoint answered. */
  time: string;
  endpoint: string;
  deployment: string;
  model: { name: string; version: string; sha256: string };
  /** The record's fields as the caller sent them (before any parsing). */
  input: Record<string, unknown>;
  /** What the model answered: the label and the positive class's probability. */
  prediction: { label: string | number; probability: number };
  /** How long the request that carried this record took to score (all its records), in milliseconds. */
  latency_ms: number;
}

/** One request refused with a 4xx (bad record, bad JSON, too large): counted by reason, never scored. */
export interface RefusedRequest {
  format: typeof CAPTURE_FORMAT;
  time: string;
  endpoint: string;
  deployment?: string;
  status: number;
  /** A short, stable reason (e.g. "missing_field", "bad_number", "unknown_category", "bad_json", "too_large"). */
  reason: string;
  /** The field the refusal names, when it names one. */
  field?: string;
}

/** An outcome joined later (modelship feedback): the actual label of a captured record. */
export interface OutcomeRecord {
  format: typeof CAPTURE_FORMAT;
  inference_id: string;
  /** The actual label, in the data contract's target form. */
  actual: string | number;
  /** When modelship feedback took it. */
  received: string;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** The hour partition of a time, relative to the capture root: `<endpoint>/<deployment>/yyyy/mm/dd/hh`. */
export function capturePartition(endpoint: string, deployment: string, time: Date): string {
  return [endpoint, deployment, time.getUTCFullYear(), pad(time.getUTCMonth() + 1), pad(time.getUTCDate()), pad(time.getUTCHours())].join('/');
}

/** Where captures live below the endpoint server's state dir (`<MODELSHIP_HOME>/serving` under `modelship dev`): `<stateDir>/capture`. Scored records go to `*.jsonl`, refusals to `refused-*.jsonl`. */
export const CAPTURE_DIR = 'capture';
/** Where outcomes live below a state dir: `<stateDir>/feedback/<endpoint>/*.jsonl`. */
export const FEEDBACK_DIR = 'feedback';

/** Refusals share the partition of scored records; their files are named `refused-<writer's file name>`. */
export const REFUSED_FILE_PREFIX = 'refused-';
/** The record field a caller may send its own inference id in; the endpoint takes it out before scoring. */
export const INFERENCE_ID_FIELD = 'inference_id';
