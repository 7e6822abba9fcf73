// Scoring a request body of raw records: the one place that decides what a valid batch is, for the local test
// suite and the serving endpoint alike.
import { checkRecords, OnnxModel, RecordError, type Prediction, type RawRecord, type RecordProblem } from './input-contract';

/** The largest batch one request may carry. */
export const MAX_BATCH_RECORDS = 1_000;

/** Why a request cannot be scored, as a stable word (the endpoint counts refusals by it). */
export type ScoringProblem = RecordProblem | 'no_records' | 'too_many_records' | 'bad_inference_id';

/** A request that cannot be scored: `status` is the HTTP status an endpoint answers with. */
export class ScoringError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 413 | 422,
    readonly reason: ScoringProblem,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ScoringError';
  }
}

export interface Scores {
  /** 1 for the positive class, else 0. */
  labels: number[];
  /** The classes as the training data writes them (what a client reads). */
  predictions: Prediction[];
  probabilities: number[];
}

/** A body of one record or a list of records → records, or a ScoringError. */
export function recordsOf(body: unknown): RawRecord[] {
  const records = Array.isArray(body) ? body : [body];
  if (records.length === 0) throw new ScoringError('the request has no records: send one record or a non-empty list', 400, 'no_records');
  if (records.length > MAX_BATCH_RECORDS) {
    throw new ScoringError(`the request has ${records.length} records; at most ${MAX_BATCH_RECORDS} per request`, 413, 'too_many_records');
  }
  return records as RawRecord[];
}

export async function scoreRecords(model: OnnxModel, body: unknown): Promise<Scores> {
  const records = recordsOf(body);
  try {
    checkRecords(model.contract, records);
  } catch (error) {
    if (error instanceof RecordError) throw new ScoringError(error.message, 422, error.reason, error.field);
    throw error;
  }
  const probabilities = Array.from(await model.probabilities(records));
  return { probabilities, labels: probabilities.map((p) => model.label(p)), predictions: probabilities.map((p) => model.prediction(p)) };
}
