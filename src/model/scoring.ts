// Scoring a batch of raw rows (records, or columns as columnar formats carry them): the one place that decides what
// a valid batch is, for the local test suite and the serving endpoint alike.
import {
  checkColumns,
  checkRecords,
  OnnxModel,
  RecordError,
  type Prediction,
  type RawColumns,
  type RawRecord,
  type RawRows,
  type RawValue,
  type RecordProblem,
} from './input-contract';

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

/** Throws the ScoringError for a batch of `count` rows that is empty or too large. */
function checkBatchSize(count: number): void {
  if (count === 0) throw new ScoringError('the request has no records: send one record or a non-empty list', 400, 'no_records');
  if (count > MAX_BATCH_RECORDS) {
    throw new ScoringError(`the request has ${count} records; at most ${MAX_BATCH_RECORDS} per request`, 413, 'too_many_records');
  }
}

/** A body of one record or a list of records → records, or a ScoringError. */
export function recordsOf(body: unknown): RawRecord[] {
  const records = Array.isArray(body) ? body : [body];
  checkBatchSize(records.length);
  return records as RawRecord[];
}

/** Rows of `count` values per column, or a ScoringError (as `recordsOf` for the same rows as records). */
export function rowsOfColumns(count: number, columns: ReadonlyMap<string, readonly RawValue[]>): RawColumns {
  checkBatchSize(count);
  return { count, columns };
}

export async function scoreRecords(model: OnnxModel, body: unknown): Promise<Scores> {
  return scoreRows(model, recordsOf(body));
}

/** Checks a batch against the model's contract and scores it; what does not fit is a ScoringError naming the field. */
export async function scoreRows(model: OnnxModel, rows: RawRows): Promise<Scores> {
  try {
    if (Array.isArray(rows)) checkRecords(model.contract, rows);
    else checkColumns(model.contract, rows);
  } catch (error) {
    if (error instanceof RecordError) throw new ScoringError(error.message, 422, error.reason, error.field);
    throw error;
  }
  const probabilities = Array.from(await model.probabilities(rows));
  return { probabilities, labels: probabilities.map((p) => model.label(p)), predictions: probabilities.map((p) => model.prediction(p)) };
}
