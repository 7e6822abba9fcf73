// Streaming CSV reading with csv-parse: files larger than memory work, and the file's sha256 and size are
// computed from the same bytes the parser reads.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { parse } from 'csv-parse';

export interface CsvRecord {
  /** The record's fields, in header order. */
  fields: string[];
  /** 1-based line of the file where the record ends (header is line 1). */
  line: number;
}

export interface CsvDigest {
  sha256: string;
  bytes: number;
}

export class CsvFileError extends Error {
  override name = 'CsvFileError';
}

/**
 * Reads a CSV file: resolves the header, then yields records. `digest()` is valid once iteration has finished.
 * Throws CsvFileError for a missing or empty file and for malformed CSV (with the line).
 */
export async function openCsv(path: string): Promise<{ header: string[]; records: AsyncIterable<CsvRecord>; digest: () => CsvDigest }> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new CsvFileError(`${path} is not a file.`);
    if (info.size === 0) throw new CsvFileError(`${path} is empty (0 bytes): it needs a header line and data rows.`);
  } catch (error) {
    if (error instanceof CsvFileError) throw error;
    throw new CsvFileError(`${path} does not exist or cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`);
  }

  const hash = createHash('sha256');
  let bytes = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  const parser = parse({ bom: true, relax_column_count: false, skip_empty_lines: true, info: true });
  createReadStream(path)
    .on('error', (error) => parser.destroy(error))
    .pipe(hasher)
    .pipe(parser);
  const iterator = parser[Symbol.asyncIterator]() as AsyncIterator<{ record: string[]; info: { lines: number } }>;

  const first = await nextRecord(iterator, path);
  if (first.done) throw new CsvFileError(`${path} has no header line.`);
  const header = first.value.record.map((name) => name.trim());
  let digest: CsvDigest | undefined;

  async function* records(): AsyncGenerator<CsvRecord> {
    for (;;) {
      const next = await nextRecord(iterator, path);
      if (next.done) break;
      yield { fields: next.value.record, line: next.value.info.lines };
    }
    digest = { sha256: hash.digest('hex'), bytes };
  }

  return {
    header,
    records: records(),
    digest: () => {
      if (!digest) throw new Error('the CSV digest is known only after every record was read');
      return digest;
    },
  };
}

async function nextRecord<T>(iterator: AsyncIterator<T>, path: string): Promise<IteratorResult<T>> {
  try {
    return await iterator.next();
  } catch (error) {
    const message = (error as Error).message;
    throw new CsvFileError(`${path} is not valid CSV: ${message}`);
  }
}

/** sha256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
