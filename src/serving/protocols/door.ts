// A front door of the endpoint: one request format other tools speak, turned into the raw rows the one scoring core
// takes (records, or columns where the format carries columns; an optional inference_id field or column) and its
// answer written back in the same format.
// Every door is validated by the same contract afterwards, so a row is refused for the same reason whatever the door.
import type { InputContract, Prediction, RawRows } from '../../model/input-contract';
import { recordsOf } from '../../model/scoring';

/** What the scoring core answers for one request, before a door writes it. */
export interface ScoredRows {
  predictions: Prediction[];
  probabilities: number[];
  /** One per row; empty for a mirrored request. */
  ids: string[];
  model: { name: string; version: string };
  deployment: string;
}

export type DoorName = 'records' | 'mlflow' | 'azureml' | 'open_inference';

export interface Door {
  readonly name: DoorName;
  /**
   * The rows of a request: records where the format sends records, else columns (a columnar body is never turned
   * into records: scoring and capture read its columns). Throws a FormatError naming the field and the fix.
   */
  rows(body: unknown): RawRows;
  /**
   * The text of the body's list of records (or its one record), where the body carries its rows as records: capture
   * then writes each record's text as the caller sent it (capture.ts recordTexts) instead of serializing it again.
   */
  recordsText?(text: string): string | undefined;
  /** The answer's body: a value to serialize, or the body already written (WrittenBody). */
  answer(scored: ScoredRows): unknown;
}

/**
 * A body already written: JSON text, or an Open Inference answer with binary tensors (its own content type and
 * Inference-Header-Content-Length). The endpoint sends it as it is rather than serializing it.
 */
export class WrittenBody {
  constructor(
    readonly body: string | Buffer,
    readonly contentType = 'application/json',
    readonly headers: Readonly<Record<string, string>> = {},
  ) {}
}

/** Why a request's shape does not fit its format, as a stable word (counted like the contract's refusals). */
export type FormatProblem = 'bad_format' | 'bad_tensor' | 'unknown_input' | 'missing_input';

/** A malformed request is a 400; one well formed but naming inputs the model does not have (or lacking one) a 422. */
const FORMAT_STATUS: Record<FormatProblem, 400 | 422> = { bad_format: 400, bad_tensor: 400, unknown_input: 422, missing_input: 422 };

/** A request whose shape does not fit the format it was sent in; `field` names the offending key or input. */
export class FormatError extends Error {
  override readonly name = 'FormatError';
  readonly status: 400 | 422;

  constructor(
    message: string,
    readonly reason: FormatProblem,
    readonly field?: string,
  ) {
    super(message);
    this.status = FORMAT_STATUS[reason];
  }
}

/** modelship's own body: one record or a list of records. */
export const recordsDoor: Door = {
  name: 'records',
  rows: recordsOf,
  recordsText: (text) => text,
  answer: ({ predictions, probabilities, ids, model, deployment }) => ({
    predictions,
    probabilities,
    ...(ids.length ? { inference_ids: ids } : {}),
    model,
    deployment,
  }),
};

/** The contract's column names, for messages that say what to send. */
export function columnsOf(contract: InputContract): string[] {
  return contract.features.map((feature) => feature.column);
}
