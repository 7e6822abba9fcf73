// `modelship feedback <endpoint> FILE.csv`: the actual outcomes of served records, keyed by inference id (or an id
// column of the data contract, when callers sent their own ids), as OutcomeRecord lines under feedback/<endpoint>/
// in the local endpoint's state dir, beside its capture/. The file is checked whole before anything is written; the
// lines go to a temporary file renamed into place, so the monitor never reads half a file.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import type { DataContract } from '../../config/schema';
import { stateDir } from '../../config/environment';
import { CsvFileError, openCsv } from '../../data/csv';
import { parseNumber } from '../../data/values';
import type { SkippedLines } from '../../monitoring/window';
import { CAPTURE_DIR, CAPTURE_FORMAT, FEEDBACK_DIR, type CaptureRecord, type OutcomeRecord } from '../../shared/capture';
import { configFromFlags } from './release';

/** A feedback file that cannot be taken as it is: the message names the file, the row and the field. */
export class FeedbackError extends Error {
  override name = 'FeedbackError';
}

export interface FeedbackSummary {
  /** The file written (undefined when the CSV held no rows). */
  path?: string;
  rows: number;
  /** Outcomes whose inference id a captured record of the endpoint has. */
  joined: number;
  /** Outcomes no captured record has (yet: a record captured later joins then). */
  notJoined: number;
  /** Ids given more than once in this file: the last row counts. */
  duplicates: number;
  /** Ids that already had an outcome from an earlier file: this one replaces it. */
  replaced: number;
  keyColumn: string;
}

/** Reads, checks and writes one feedback file; throws FeedbackError (nothing written) when a row does not fit. */
export async function ingestFeedback(options: {
  /** The endpoint server's state dir: outcomes go beside its capture/ in feedback/<endpoint>/. */
  stateDir: string;
  endpoint: string;
  file: string;
  contract: Pick<DataContract, 'target' | 'id_columns' | 'positive_class'>;
  now?: Date;
}): Promise<FeedbackSummary> {
  const { file, contract } = options;
  const name = basename(file);
  let csv;
  try {
    csv = await openCsv(file);
  } catch (error) {
    throw new FeedbackError((error as Error).message, { cause: error });
  }
  const keyColumn = ['inference_id', ...contract.id_columns].find((column) => csv.header.includes(column));
  if (!keyColumn) {
    const ids = contract.id_columns.length ? ` or an id column of the data contract (${contract.id_columns.join(', ')})` : '';
    throw new FeedbackError(`${name}: no inference_id column${ids}; its columns are ${csv.header.join(', ')}`);
  }
  const targetIndex = csv.header.indexOf(contract.target);
  if (targetIndex < 0) throw new FeedbackError(`${name}: no ${contract.target} column (the data contract's target); its columns are ${csv.header.join(', ')}`);
  const keyIndex = csv.header.indexOf(keyColumn);

  const received = (options.now ?? new Date()).toISOString();
  const outcomes = new Map<string, OutcomeRecord>();
  const classes = new Set<string>();
  let rows = 0;
  let duplicates = 0;
  try {
    for await (const record of csv.records) {
      rows++;
      const id = record.fields[keyIndex]!.trim();
      const actualText = record.fields[targetIndex]!.trim();
      if (!id) throw new FeedbackError(`${name} row ${record.line}, field ${keyColumn}: empty (every outcome needs the id of the record it belongs to)`);
      if (!actualText) throw new FeedbackError(`${name} row ${record.line}, field ${contract.target}: empty (the actual outcome is missing)`);
      classes.add(actualText);
      if (classes.size > 2) {
        throw new FeedbackError(
          `${name} row ${record.line}, field ${contract.target}: "${actualText}" is a third class (the target is binary: ${[...classes].slice(0, 2).join(', ')} seen before)`,
        );
      }
      if (outcomes.has(id)) duplicates++;
      const number = parseNumber(actualText);
      outcomes.set(id, { format: CAPTURE_FORMAT, inference_id: id, actual: number !== null && Number.isFinite(number) ? number : actualText, received });
    }
  } catch (error) {
    // Malformed CSV (a row with more fields than the header, an open quote): said with its line.
    if (error instanceof CsvFileError) throw new FeedbackError(error.message, { cause: error });
    throw error;
  }

  // The window analysis (and its statistics library) is loaded by this command, not by every start of the CLI.
  const { forEachJsonLine, hourFolders, readOutcomes } = await import('../../monitoring/window');
  const skipped: SkippedLines = { torn: 0, invalid: 0, unknownFormat: 0 };
  const feedbackRoot = join(options.stateDir, FEEDBACK_DIR);
  const earlier = await readOutcomes(feedbackRoot, options.endpoint, contract.positive_class, skipped);
  const replaced = [...outcomes.keys()].filter((id) => earlier.has(id)).length;
  // Which outcomes a captured record has: the captures are streamed, only the file's ids are held.
  const joinedIds = new Set<string>();
  for (const folder of await hourFolders(join(options.stateDir, CAPTURE_DIR), options.endpoint, [{ start: 0, end: Number.POSITIVE_INFINITY }])) {
    for (const file of (await readdir(folder)).filter((n) => n.endsWith('.jsonl') && !n.startsWith('refused-'))) {
      await forEachJsonLine(
        join(folder, file),
        (value) => {
          const id = (value as Partial<CaptureRecord>).inference_id;
          if (typeof id === 'string' && outcomes.has(id)) joinedIds.add(id);
        },
        skipped,
      );
    }
  }
  const summary: FeedbackSummary = { rows, joined: joinedIds.size, notJoined: outcomes.size - joinedIds.size, duplicates, replaced, keyColumn };
  if (!outcomes.size) return summary;

  const dir = join(feedbackRoot, options.endpoint);
  mkdirSync(dir, { recursive: true });
  // Files are read in name order and a later line wins: the time first, so a newer file replaces older outcomes.
  const path = join(dir, `${received.replace(/[:.]/g, '-')}-${name.replace(/[^A-Za-z0-9._-]/g, '_')}.jsonl`);
  const partial = `${path}.partial-${process.pid}`;
  try {
    writeFileSync(partial, [...outcomes.values()].map((o) => `${JSON.stringify(o)}\n`).join(''));
    renameSync(partial, path);
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
  return { ...summary, path };
}

export function registerFeedbackCommand(program: Command): void {
  program
    .command('feedback <endpoint> <file>')
    .description('add actual outcomes (CSV: inference_id or a contract id column, and the target) for the monitor to judge performance with')
    .option('-c, --config <file>', 'YAML config whose data contract names the target and id columns', 'config/default.yaml')
    .action(async (endpoint: string, file: string, options: { config: string }) => {
      const config = configFromFlags({ config: options.config });
      if (!config.data) {
        console.error(`modelship feedback: ${options.config} has no data: block, so the target and id columns are unknown`);
        process.exitCode = 1;
        return;
      }
      // The monitoring activities' module brings the activity SDK: loaded for this command only.
      const { localEndpointStateDir } = await import('../../activities/monitoring');
      try {
        const s = await ingestFeedback({ stateDir: localEndpointStateDir(stateDir()), endpoint, file, contract: config.data });
        console.log(
          `${s.rows} rows by ${s.keyColumn}: ${s.joined} joined a captured record, ${s.notJoined} not (yet), ${s.duplicates} duplicate ids in the file (last row kept), ${s.replaced} replacing earlier outcomes`,
        );
        if (s.path) console.log(`written to ${s.path}`);
      } catch (error) {
        if (!(error instanceof FeedbackError)) throw error;
        console.error(`modelship feedback: ${error.message}. Nothing was written.`);
        process.exitCode = 1;
      }
    });
}
