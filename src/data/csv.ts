// Streaming CSV reading with csv-parse: files larger than memory work, and the file's sha256 and size are
// computed from the same bytes the parser reads.
import { isAscii } from 'node:buffer';
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
  await checkCsvFile(path);

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

/** Throws CsvFileError when the path is not a readable, non-empty file. */
async function checkCsvFile(path: string): Promise<void> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new CsvFileError(`${path} is not a file.`);
    if (info.size === 0) throw new CsvFileError(`${path} is empty (0 bytes): it needs a header line and data rows.`);
  } catch (error) {
    if (error instanceof CsvFileError) throw error;
    throw new CsvFileError(`${path} does not exist or cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`);
  }
}

/**
 * The header of a CSV file as openCsv reads it, and the line it ends on, without reading the rest of the file.
 * Throws CsvFileError as openCsv does.
 */
export async function readCsvHeader(path: string): Promise<{ header: string[]; lines: number }> {
  await checkCsvFile(path);
  const parser = parse({ bom: true, relax_column_count: false, skip_empty_lines: true, info: true, to: 1 });
  const stream = createReadStream(path).on('error', (error) => parser.destroy(error));
  stream.pipe(parser);
  try {
    const first = await nextRecord(parser[Symbol.asyncIterator]() as AsyncIterator<{ record: string[]; info: { lines: number } }>, path);
    if (first.done) throw new CsvFileError(`${path} has no header line.`);
    return { header: first.value.record.map((name) => name.trim()), lines: first.value.info.lines };
  } finally {
    stream.destroy();
    parser.destroy();
  }
}

/** What a byte scan of a CSV file finds besides its digest: the layouts where a record's line is not its row number + header lines. */
export interface CsvLayout extends CsvDigest {
  /** A double quote anywhere: quoted fields may hold line breaks or stray quotes. */
  quotes: boolean;
  /** An empty line (csv-parse skips it but counts its line), or a line break first in the file. */
  emptyLines: boolean;
  /** A carriage return not followed by a line feed (old Mac line ends, or a stray CR inside a field). */
  loneCarriageReturns: boolean;
  /**
   * Some field may begin or end with whitespace (String.prototype.trim's): a space beside a comma or a line break,
   * a tab, vertical tab or form feed anywhere, or a non-ASCII space anywhere (E2 80 also covers typographic quotes:
   * a false alarm costs only speed).
   */
  edgeWhitespace: boolean;
}

// Single bytes are found at memchr speed, so a tab anywhere counts; a space only beside a comma or a line break.
const EDGE_WHITESPACE = [', ', ' ,', ' \n', '\n ', ' \r'].map((text) => Buffer.from(text));
const WHITESPACE_BYTES = [0x09, 0x0b, 0x0c];
const NON_ASCII_WHITESPACE = [
  [0xc2, 0xa0],
  [0xe1, 0x9a, 0x80],
  [0xe2, 0x80],
  [0xe2, 0x81, 0x9f],
  [0xe3, 0x80, 0x80],
  [0xef, 0xbb, 0xbf],
].map((bytes) => Buffer.from(bytes));

/** sha256, size and layout of a file in one streamed read (memchr-speed searches, no per-byte loop in JS). */
export async function scanCsvLayout(path: string): Promise<CsvLayout> {
  const hash = createHash('sha256');
  let bytes = 0;
  let quotes = false;
  let emptyLines = false;
  let loneCarriageReturns = false;
  let edgeWhitespace = false;
  let previous = Buffer.alloc(0); // the last two bytes of the chunk before: patterns across chunk edges
  for await (const data of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const chunk = data as Buffer;
    hash.update(chunk);
    if (bytes === 0) {
      const start = chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf ? 3 : 0;
      if (chunk[start] === 0x0a || chunk[start] === 0x0d) emptyLines = true;
    }
    bytes += chunk.length;
    if (!quotes && chunk.includes(0x22)) quotes = true;
    const joined = previous.length ? Buffer.concat([previous, chunk]) : chunk;
    if (!emptyLines && (joined.includes('\n\n') || joined.includes('\n\r\n'))) emptyLines = true;
    if (!loneCarriageReturns) {
      // A CR at the very end of the chunk is judged with the next chunk (it is in `previous`).
      for (let at = joined.indexOf(0x0d); at >= 0 && at < joined.length - 1; at = joined.indexOf(0x0d, at + 1)) {
        if (joined[at + 1] !== 0x0a) {
          loneCarriageReturns = true;
          break;
        }
      }
    }
    if (!edgeWhitespace) {
      // The byte-order mark at the very start is not data.
      const body = bytes === chunk.length && joined.subarray(0, 3).equals(NON_ASCII_WHITESPACE[5]!) ? joined.subarray(3) : joined;
      edgeWhitespace =
        WHITESPACE_BYTES.some((byte) => body.includes(byte)) ||
        EDGE_WHITESPACE.some((pattern) => body.includes(pattern)) ||
        (!isAscii(body) && NON_ASCII_WHITESPACE.some((pattern) => body.includes(pattern)));
    }
    previous = Buffer.from(joined.subarray(Math.max(0, joined.length - 2)));
  }
  const last = previous[previous.length - 1];
  if (last === 0x0d) loneCarriageReturns = true;
  if (last === 0x20 || last === 0x09) edgeWhitespace = true;
  return { sha256: hash.digest('hex'), bytes, quotes, emptyLines, loneCarriageReturns, edgeWhitespace };
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
