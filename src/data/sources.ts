// Where a release's training data comes from: one CSV file, or a folder of CSV partitions (one file per day, say)
// narrowed by a window: the newest N files, or the files of the last period ('90d'). A partition's date is the
// YYYY-MM-DD or YYYYMMDD date in its name, else its modification time. A period ends with the newest partition's
// date, not with the clock, so the same folder always gives the same selection (a retried or replayed release reads
// the same files) and the recorded dates show how fresh the data is. The selected files are joined, streamed, into
// one CSV with the header once; every file's header must be the same.
import { createWriteStream, type Dirent } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import type { DataSource } from '../shared/data-sources';
import { durationMs } from '../shared/duration';
import { openCsv } from './csv';

/** The input cannot be resolved to files: the message names the folder or file and the window. */
export class DataSourceError extends Error {
  override name = 'DataSourceError';
}

/** One CSV file of the input with the date it covers. */
export interface Partition {
  path: string;
  /** Epoch ms: the UTC midnight of the date in the name, else the modification time. */
  time: number;
  dateFrom: 'name' | 'mtime';
}

/** What the window picked: the files, oldest first, and the time the selection starts at (for the feedback rows). */
export interface Selection {
  files: Partition[];
  /** Epoch ms the window starts at; undefined when it takes everything (one file, or a folder without a window). */
  since?: number;
  /** The input was a folder. */
  folder: boolean;
}

const DAY_MS = 86_400_000;

/** The date in a file name (YYYY-MM-DD, YYYY_MM_DD or YYYYMMDD, not inside a longer number), as UTC midnight; undefined when none. */
export function dateInName(name: string): number | undefined {
  for (const match of name.matchAll(/(?<!\d)(\d{4})[-_]?(\d{2})[-_]?(\d{2})(?!\d)/g)) {
    const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
    const time = Date.UTC(year, month - 1, day);
    const check = new Date(time);
    if (check.getUTCFullYear() === year && check.getUTCMonth() === month - 1 && check.getUTCDate() === day) return time;
  }
  return undefined;
}

/** The ISO form a source's date is recorded in: the day for a date from the name, the instant for a modification time. */
export function partitionDate(partition: Partition): string {
  const iso = new Date(partition.time).toISOString();
  return partition.dateFrom === 'name' ? iso.slice(0, 10) : iso;
}

/** When a partition's data ends: the end of its day for a dated name, its modification time otherwise. */
const partitionEnd = (p: Partition) => (p.dateFrom === 'name' ? p.time + DAY_MS : p.time);

const byTime = (a: Partition, b: Partition) => a.time - b.time || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

const describeWindow = (window: number | string | undefined) =>
  window === undefined ? 'no input_window' : typeof window === 'number' ? `input_window ${window} (the newest ${window} files)` : `input_window ${window}`;

/** A file with its date: the one in its name, else its modification time. */
async function partitionOf(path: string, mtimeMs?: number): Promise<Partition> {
  const fromName = dateInName(basename(path));
  if (fromName !== undefined) return { path, time: fromName, dateFrom: 'name' };
  return { path, time: mtimeMs ?? (await stat(path)).mtimeMs, dateFrom: 'mtime' };
}

/** The CSV files directly in a folder (name ending .csv, any case), oldest first. */
export async function listPartitions(folder: string): Promise<Partition[]> {
  const entries: Dirent[] = await readdir(folder, { withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile() && entry.name.toLowerCase().endsWith('.csv'));
  return (await Promise.all(files.map((entry) => partitionOf(join(folder, entry.name))))).sort(byTime);
}

/**
 * The partitions a window keeps. A number keeps the newest N; a duration keeps the files whose date falls in the
 * period that ends where the newest file's data ends ('90d' with one file a day: the newest 90 days of files).
 */
export function applyWindow(partitions: Partition[], window: number | string | undefined): { files: Partition[]; since?: number } {
  if (window === undefined || partitions.length === 0) return { files: partitions };
  if (typeof window === 'number') {
    if (!Number.isInteger(window) || window < 1) throw new DataSourceError(`input_window ${window} is not a whole number of files (1 or more) or a duration such as 90d`);
    const files = partitions.slice(-window);
    return { files, since: files[0]!.time };
  }
  let period: number;
  try {
    period = durationMs(window);
  } catch {
    throw new DataSourceError(`input_window ${JSON.stringify(window)} is neither a whole number of files nor a duration such as 90d`);
  }
  const end = Math.max(...partitions.map(partitionEnd));
  const since = end - period;
  return { files: partitions.filter((p) => p.time >= since), since };
}

/** The files of the input: the file itself, or the folder's partitions the window keeps. Throws DataSourceError for an empty selection. */
export async function selectInput(path: string, window: number | string | undefined): Promise<Selection> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw new DataSourceError(`input_data_path ${path} does not exist or cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  if (!info.isDirectory()) {
    if (window !== undefined) {
      throw new DataSourceError(
        `${describeWindow(window)} needs input_data_path to be a folder of CSV files, but ${path} is a file. Fix: name the folder, or remove input_window.`,
      );
    }
    return { files: [await partitionOf(path, info.mtimeMs)], folder: false };
  }
  const partitions = await listPartitions(path);
  const { files, since } = applyWindow(partitions, window);
  if (files.length === 0) {
    throw new DataSourceError(
      partitions.length === 0
        ? `the folder ${path} holds no CSV files (names ending .csv), so ${describeWindow(window)} selects nothing to train on`
        : `${describeWindow(window)} selects none of the ${partitions.length} CSV files in ${path}`,
    );
  }
  return { files, since, folder: true };
}

/** How one file's header differs from the first file's, or undefined when they are the same. */
export function headerDifference(expected: string[], actual: string[]): string | undefined {
  const missing = expected.filter((column) => !actual.includes(column));
  const extra = actual.filter((column) => !expected.includes(column));
  const parts: string[] = [];
  if (missing.length) parts.push(`it lacks ${missing.map((c) => JSON.stringify(c)).join(', ')}`);
  if (extra.length) parts.push(`it adds ${extra.map((c) => JSON.stringify(c)).join(', ')}`);
  if (parts.length) return parts.join('; ');
  const moved = expected.findIndex((column, i) => actual[i] !== column);
  if (moved >= 0 || expected.length !== actual.length) {
    return `the same columns in another order: column ${moved + 1} is ${JSON.stringify(actual[moved])} where the first file has ${JSON.stringify(expected[moved])}`;
  }
  return undefined;
}

/** Files joined into one CSV, and what was read of each. */
export interface JoinedCsv {
  header: string[];
  sources: DataSource[];
}

/** A CSV with the joined files' header, made once they are read (the feedback rows), appended after them. */
export type AppendedCsv = (joined: { header: string[]; watchedValues: ReadonlySet<string> }) => Promise<Omit<DataSource, 'sha256' | 'rows'>>;

/** Progress is told after each file and every this many rows. */
const PROGRESS_ROWS = 50_000;

/** How many distinct values of the watched column are kept (a binary target has two; a third shows it is not). */
const WATCHED_VALUES = 3;

/**
 * Joins CSV files into `out` (header once, each file's records in order), streaming: memory stays flat however
 * many rows. Every file's header must be the first file's; the output is written beside `out` and renamed into
 * place, so a retry rewrites it whole and nobody reads half a file. Records the sha256 and row count of each input.
 * `watchColumn`'s first distinct values are handed to `append`, which makes one more CSV to add at the end.
 */
export async function joinCsvFiles(
  files: Partition[],
  out: string,
  options: { watchColumn?: string; append?: AppendedCsv; onProgress?: (filesDone: number, rows: number) => void } = {},
): Promise<JoinedCsv> {
  if (files.length === 0) throw new DataSourceError(`nothing to join into ${out}`);
  const partial = `${out}.partial-${process.pid}`;
  const sources: DataSource[] = [];
  const watchedValues = new Set<string>();
  let header: string[] | undefined;
  let totalRows = 0;

  async function* copy(source: Omit<DataSource, 'sha256' | 'rows'>): AsyncGenerator<string[]> {
    const csv = await openCsv(source.path);
    if (!header) {
      header = csv.header;
      yield header;
    } else {
      const difference = headerDifference(header, csv.header);
      if (difference) {
        throw new DataSourceError(`${source.path}: its header differs from ${basename(files[0]!.path)}'s (${difference}). Every file of the folder needs the same columns.`);
      }
    }
    const watched = options.watchColumn === undefined ? -1 : header.indexOf(options.watchColumn);
    let rows = 0;
    for await (const { fields } of csv.records) {
      rows++;
      if ((totalRows + rows) % PROGRESS_ROWS === 0) options.onProgress?.(sources.length, totalRows + rows);
      if (watched >= 0 && watchedValues.size < WATCHED_VALUES) watchedValues.add(fields[watched]!.trim());
      yield fields;
    }
    totalRows += rows;
    sources.push({ ...source, sha256: csv.digest().sha256, rows });
    options.onProgress?.(sources.length, totalRows);
  }

  async function* records(): AsyncGenerator<string[]> {
    for (const file of files) yield* copy({ kind: 'file', path: file.path, date: partitionDate(file) });
    if (options.append) yield* copy(await options.append({ header: header!, watchedValues }));
  }

  try {
    await pipeline(records, stringify(), createWriteStream(partial));
    await rename(partial, out);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return { header: header!, sources };
}
