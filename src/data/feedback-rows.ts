// Feedback as training data: an endpoint's captured records that have an outcome (modelship feedback) become rows of
// the training CSV, the record's fields under the files' header and the outcome as the target. Each row is checked
// by the data contract's value rules (numbers, dates, ranges, the target's classes) before it is written, so a bad
// record refuses the release naming its inference id and field; the joined data is then validated whole like any
// input. Captures are streamed one file at a time; the outcomes are held (as the monitor holds them).
import { createWriteStream } from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import type { DataContract } from '../config/schema';
import { forEachJsonLine, hourFolders, isPositive, type SkippedLines } from '../monitoring/window';
import { REFUSED_FILE_PREFIX, type CaptureRecord, type OutcomeRecord } from '../shared/capture';
import { isMissing, parseDate, parseNumber } from './values';

/** Captured records with outcomes that break the contract: nothing is written, the problems say which and where. */
export class FeedbackDataError extends Error {
  override name = 'FeedbackDataError';
  constructor(readonly problems: string[]) {
    super(`feedback rows break the data contract:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export interface FeedbackRowsOptions {
  /** `<endpoint state dir>/capture` and `<endpoint state dir>/feedback`. */
  captureRoot: string;
  feedbackRoot: string;
  endpoint: string;
  /** The training files' header: the rows are written under it. */
  header: string[];
  contract: DataContract;
  /** The target's values in the training files: an outcome is written as the one it equals. */
  classes: ReadonlySet<string>;
  /** Only records captured at or after this time (epoch ms): the input window's start. */
  since?: number;
  out: string;
}

export interface FeedbackRows {
  path: string;
  rows: number;
  /** Outcomes no captured record (in the period) has. */
  notJoined: number;
  /** Capture lines left out: cut short by a crash, unparseable, or of an unknown format. */
  skippedLines: SkippedLines;
}

/** Examples kept per field in a problem; the count says how many in all. */
const MAX_EXAMPLES = 5;

/** The actual outcomes of an endpoint by inference id; files in name order, so a later file's outcome wins. */
async function readActuals(feedbackRoot: string, endpoint: string, skipped: SkippedLines): Promise<Map<string, OutcomeRecord['actual']>> {
  const actuals = new Map<string, OutcomeRecord['actual']>();
  const dir = join(feedbackRoot, endpoint);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => name.endsWith('.jsonl')).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return actuals;
    throw error;
  }
  for (const name of names) {
    await forEachJsonLine(
      join(dir, name),
      (value) => {
        const outcome = value as Partial<OutcomeRecord>;
        if (typeof outcome.inference_id === 'string' && outcome.actual !== undefined) actuals.set(outcome.inference_id, outcome.actual);
      },
      skipped,
    );
  }
  return actuals;
}

/** A captured field as CSV text: numbers and strings as they are, nothing as empty, anything else as JSON. */
function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** Problems of one field across records: how many, and the first few records with their values. */
class FieldProblems {
  private readonly byKey = new Map<string, { what: string; count: number; examples: string[] }>();

  add(field: string, what: string, example: string): void {
    const key = `${field}\u0000${what}`;
    const entry = this.byKey.get(key) ?? { what, count: 0, examples: [] };
    entry.count++;
    if (entry.examples.length < MAX_EXAMPLES) entry.examples.push(example);
    this.byKey.set(key, entry);
  }

  messages(endpoint: string): string[] {
    return [...this.byKey.entries()].map(([key, { what, count, examples }]) => {
      const field = key.split('\u0000')[0]!;
      const more = count > examples.length ? `, … (${count} in all)` : '';
      return `feedback of endpoint ${endpoint}: field "${field}" ${what} in ${count} record(s): ${examples.join(', ')}${more}`;
    });
  }
}

/**
 * Writes the endpoint's captured records that have an outcome as CSV rows under `header` to `out` (through a
 * partial file renamed into place). Throws FeedbackDataError, writing nothing, when a record breaks the contract.
 */
export async function writeFeedbackRows(options: FeedbackRowsOptions): Promise<FeedbackRows> {
  const { contract, header } = options;
  const skippedLines: SkippedLines = { torn: 0, invalid: 0, unknownFormat: 0 };
  const actuals = await readActuals(options.feedbackRoot, options.endpoint, skippedLines);
  const since = options.since ?? Number.NEGATIVE_INFINITY;
  const classes = [...options.classes].filter((value) => !isMissing(value));
  const numeric = new Set(contract.numeric_features);
  const dates = new Set(contract.date_features);
  const problems = new FieldProblems();
  let rows = 0;

  const rowOf = (record: CaptureRecord, actual: OutcomeRecord['actual']): string[] => {
    const where = `inference id ${JSON.stringify(record.inference_id)} (captured ${record.time})`;
    return header.map((column) => {
      if (column === contract.target) {
        if (isMissing(String(actual))) {
          problems.add(column, 'is empty (the outcome has no value)', where);
          return '';
        }
        const match = classes.find((value) => isPositive(actual, value));
        // With both classes known an outcome must be one of them; else validation of the whole data judges it.
        if (match === undefined && classes.length >= 2)
          problems.add(column, `is not one of the target's classes (${classes.map((c) => JSON.stringify(c)).join(', ')})`, `${where}: ${JSON.stringify(actual)}`);
        return match ?? String(actual);
      }
      const text = cellText(record.input[column]);
      if (isMissing(text)) return text;
      if (numeric.has(column)) {
        const value = parseNumber(text)!;
        const range = contract.ranges[column];
        if (Number.isNaN(value)) problems.add(column, 'is not a number', `${where}: ${JSON.stringify(text)}`);
        else if (range && ((range.min !== undefined && value < range.min) || (range.max !== undefined && value > range.max))) {
          problems.add(column, `is outside [${range.min ?? '-∞'}, ${range.max ?? '∞'}] (data.ranges)`, `${where}: ${text}`);
        }
      } else if (dates.has(column) && Number.isNaN(parseDate(text, contract.date_format))) {
        problems.add(column, `is not a date in the ${contract.date_format} format`, `${where}: ${JSON.stringify(text)}`);
      }
      return text;
    });
  };

  async function* records(): AsyncGenerator<string[]> {
    yield header;
    if (actuals.size === 0) return;
    for (const folder of await hourFolders(options.captureRoot, options.endpoint, [{ start: since, end: Number.POSITIVE_INFINITY }])) {
      const names = (await readdir(folder)).filter((name) => name.endsWith('.jsonl') && !name.startsWith(REFUSED_FILE_PREFIX)).sort();
      for (const name of names) {
        // One capture file's joined rows at a time: memory is bounded by a file, not by the endpoint's history.
        const joined: string[][] = [];
        await forEachJsonLine(
          join(folder, name),
          (value) => {
            const record = value as unknown as CaptureRecord;
            if (typeof record.inference_id !== 'string' || !(Date.parse(record.time) >= since)) return;
            const actual = actuals.get(record.inference_id);
            if (actual === undefined) return;
            // An id joins once (as in the monitor): a record sent twice with the same id is one training row.
            actuals.delete(record.inference_id);
            joined.push(rowOf(record, actual));
          },
          skippedLines,
        );
        rows += joined.length;
        yield* joined;
      }
    }
  }

  const partial = `${options.out}.partial-${process.pid}`;
  try {
    await pipeline(records, stringify(), createWriteStream(partial));
    const found = problems.messages(options.endpoint);
    if (found.length) throw new FeedbackDataError(found);
    await rename(partial, options.out);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return { path: options.out, rows, notJoined: actuals.size, skippedLines };
}
