// The endpoint's capture writer: scored records and refusals become JSON lines under the hour partitions of the
// capture dir, written off the request path. A request's lines are serialized after its answer is sent and encoded
// at once into fixed-size byte chunks per target file, off the V8 heap: a queued line is garbage the moment it is
// encoded, so a full queue costs the garbage collector nothing, and a flush has nothing left to join or encode.
// A flush (every FLUSH_INTERVAL_MS, or at once when a batch is full) writes each file's chunks with one writev.
// Capture is best effort: a full queue or a failed write drops records and counts them; it never fails a request.
//
// Torn lines: a crash or a failed write can leave a last line without "\n". Readers skip such a line, and no later
// batch is ever appended behind it: each process writes files of its own (the name carries its start time, pid and
// a random part), and a file whose write failed is never written again (the writer moves to a new name).
import { randomBytes } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { RawColumns, RawValue } from '../model/input-contract';
import { capturePartition, CAPTURE_FORMAT, REFUSED_FILE_PREFIX, type CaptureRecord, type RefusedRequest } from '../shared/capture';
import { jsonNumber } from '../shared/json-number';

/** About 60 MB of typical lines: a few seconds of a 100-record load, so a slow disk write does not drop at once. */
export const DEFAULT_CAPTURE_QUEUE_LIMIT = 100_000;
export const DEFAULT_CAPTURE_BATCH = 5_000;
export const FLUSH_INTERVAL_MS = 250;
/** Bytes per chunk: a few hundred typical lines, or a 100-record request's lines a few times over. */
const CHUNK_BYTES = 256 * 1024;
/** Written chunks kept for reuse (4 MB): a steady load then allocates (and page-faults) no new memory. */
const SPARE_CHUNKS = 16;
const HOUR_MS = 3_600_000;

/** Why captured lines were dropped: the queue was full, or the disk write failed (ENOSPC, EACCES, …). */
export type DropReason = 'queue_full' | 'write_error';

export interface CaptureEvents {
  written?(endpoint: string, deployment: string, kind: 'record' | 'refused', count: number): void;
  dropped?(endpoint: string, deployment: string, reason: DropReason, count: number): void;
}

export interface CaptureWriterOptions {
  /** `<stateDir>/capture`. */
  root: string;
  /** Lines held in memory at most; beyond it new lines are dropped. */
  queueLimit?: number;
  /** Lines that start a flush at once, rather than at the next tick of the interval. */
  batchSize?: number;
  flushIntervalMs?: number;
  events?: CaptureEvents;
  /**
   * Appends bytes to a file (tests inject failures); rejects if any byte may be missing. The chunks are reused
   * once it resolves or rejects, so it must not keep them. By default: open for append, one writev, close.
   */
  append?: (path: string, chunks: Buffer[]) => Promise<void>;
}

/** What the records of one scored request share, and its records (as the endpoint has them). */
export interface ServedRecords {
  endpoint: string;
  deployment: string;
  model: CaptureRecord['model'];
  /** When the endpoint answered: the lines' `time` and their hour partition. */
  at: Date;
  latencyMs: number;
  /** Each record's input: records, or columns (a columnar body's rows are written from its columns). */
  inputs: CaptureRecord['input'][] | RawColumns;
  /** Where the endpoint has it, a record's input as the caller sent it (`recordTexts`), written instead of serializing `inputs[i]`. */
  inputTexts?: (string | undefined)[];
  ids: string[];
  labels: CaptureRecord['prediction']['label'][];
  probabilities: number[];
  /** Share of the records captured, 0–100, drawn per record so batched requests still give that share. */
  percent: number;
}

/** The lines bound for one file in the next write, already encoded. */
interface FileBatch {
  endpoint: string;
  deployment: string;
  kind: 'record' | 'refused';
  /** A time in the file's hour (its partition), and that hour since the epoch. */
  at: Date;
  hour: number;
  /** The file's bytes so far, in order (views of chunks, and lines too long for a chunk in buffers of their own). */
  chunks: Buffer[];
  /** The chunk being filled: bytes from `start` to `used` are not in `chunks` yet. */
  tail: Buffer;
  start: number;
  used: number;
  lines: number;
}

async function appendChunks(path: string, chunks: Buffer[]): Promise<void> {
  const file = await open(path, 'a');
  try {
    const bytes = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    const { bytesWritten } = await file.writev(chunks);
    if (bytesWritten !== bytes) throw new Error(`short write to ${path}: ${bytesWritten} of ${bytes} bytes`);
  } finally {
    await file.close();
  }
}

export class CaptureWriter {
  /** The next write, by target file (in the order the files were first queued). */
  private files = new Map<string, FileBatch>();
  /** The batch the last line went to: a run of requests to one endpoint and hour skips the map. */
  private last?: FileBatch;
  private queuedLines = 0;
  private readonly spareChunks: Buffer[] = [];
  private timer?: NodeJS.Timeout;
  private immediate?: NodeJS.Immediate;
  private flushing?: Promise<void>;
  private generation = 0;
  private readonly createdDirs = new Set<string>();
  private readonly processPart = `${new Date().toISOString().replace(/[-:.]/g, '')}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly queueLimit: number;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly append: (path: string, chunks: Buffer[]) => Promise<void>;
  /** The last `time` serialized, by its millisecond (requests in the same millisecond share it). */
  private timeCache = { ms: Number.NaN, json: '' };
  /** Totals since start (the metrics have them by endpoint and deployment). */
  readonly totals = { written: 0, dropped: 0 };

  constructor(private readonly options: CaptureWriterOptions) {
    this.queueLimit = options.queueLimit ?? DEFAULT_CAPTURE_QUEUE_LIMIT;
    this.batchSize = options.batchSize ?? DEFAULT_CAPTURE_BATCH;
    this.flushIntervalMs = options.flushIntervalMs ?? FLUSH_INTERVAL_MS;
    this.append = options.append ?? appendChunks;
  }

  /** The file name this writer uses now in every partition: `<start>-<pid>-<random>-<generation>.jsonl`. */
  get fileName(): string {
    return `${this.processPart}-${this.generation}.jsonl`;
  }

  /** Lines waiting for the next write. */
  get queued(): number {
    return this.queuedLines;
  }

  /** Queues the records one request served (the endpoint's hot path: no object per record). */
  served(served: ServedRecords): void {
    const { endpoint, deployment, at, inputs, inputTexts, ids, labels, probabilities, percent } = served;
    // Everything between a record's id and its input is the same for all records of a request.
    const shared = `,"time":${this.timeJson(at)},"endpoint":${JSON.stringify(endpoint)},"deployment":${JSON.stringify(deployment)},"model":${JSON.stringify(served.model)},"latency_ms":${jsonNumber(Math.round(served.latencyMs * 1000) / 1000)},"input":`;
    const room = this.queueLimit - this.queuedLines;
    const records = Array.isArray(inputs) ? inputs : undefined;
    const columns = Array.isArray(inputs) ? undefined : keyedColumns(inputs);
    const count = Array.isArray(inputs) ? inputs.length : inputs.count;
    let text = '';
    let taken = 0;
    let dropped = 0;
    for (let i = 0; i < count; i++) {
      if (percent < 100 && Math.random() * 100 >= percent) continue;
      if (taken === room) {
        dropped++;
        continue;
      }
      const input = columns ? rowJson(columns, i) : (inputTexts?.[i] ?? JSON.stringify(records![i]));
      text += recordLine(ids[i]!, shared, input, labels[i]!, probabilities[i]!);
      taken++;
    }
    if (taken > 0) this.queue(endpoint, deployment, 'record', at, text, taken);
    if (dropped > 0) this.dropped(endpoint, deployment, 'queue_full', dropped);
  }

  /** Queues scored records (one endpoint and deployment; partitioned by `at`), each line as `served` writes it. */
  records(records: CaptureRecord[], at: Date): void {
    if (records.length === 0) return;
    const { endpoint, deployment } = records[0]!;
    const taken = Math.min(this.queueLimit - this.queuedLines, records.length);
    let text = '';
    for (let i = 0; i < taken; i++) {
      const record = records[i]!;
      const shared = `,"time":${JSON.stringify(record.time)},"endpoint":${JSON.stringify(record.endpoint)},"deployment":${JSON.stringify(record.deployment)},"model":${JSON.stringify(record.model)},"latency_ms":${jsonNumber(record.latency_ms)},"input":`;
      text += recordLine(record.inference_id, shared, JSON.stringify(record.input), record.prediction.label, record.prediction.probability);
    }
    if (taken > 0) this.queue(endpoint, deployment, 'record', at, text, taken);
    if (taken < records.length) this.dropped(endpoint, deployment, 'queue_full', records.length - taken);
  }

  /** Queues one refusal; its partition needs a deployment (refusals before routing are counted, not written). */
  refused(refusal: RefusedRequest & { deployment: string }, at: Date): void {
    if (this.queuedLines >= this.queueLimit) return this.dropped(refusal.endpoint, refusal.deployment, 'queue_full', 1);
    this.queue(refusal.endpoint, refusal.deployment, 'refused', at, `${JSON.stringify(refusal)}\n`, 1);
  }

  private timeJson(at: Date): string {
    const ms = at.getTime();
    if (ms !== this.timeCache.ms) this.timeCache = { ms, json: `"${at.toISOString()}"` };
    return this.timeCache.json;
  }

  /** Encodes complete lines (`text`, each ending in "\n") into the batch of their file. */
  private queue(endpoint: string, deployment: string, kind: FileBatch['kind'], at: Date, text: string, lines: number): void {
    const batch = this.batchOf(endpoint, deployment, kind, at);
    const room = batch.tail.length - batch.used;
    // Most lines are ASCII: the exact byte count is only needed when the worst case (3 bytes a unit) does not fit.
    const bytes = text.length * 3 <= room ? 0 : Buffer.byteLength(text);
    if (bytes <= room) {
      batch.used += batch.tail.write(text, batch.used);
    } else if (bytes > CHUNK_BYTES) {
      seal(batch);
      batch.chunks.push(Buffer.from(text));
    } else {
      seal(batch);
      batch.tail = this.chunk();
      batch.start = 0;
      batch.used = batch.tail.write(text);
    }
    batch.lines += lines;
    this.queuedLines += lines;
    this.schedule();
  }

  private batchOf(endpoint: string, deployment: string, kind: FileBatch['kind'], at: Date): FileBatch {
    const hour = Math.floor(at.getTime() / HOUR_MS);
    const last = this.last;
    if (last && last.hour === hour && last.kind === kind && last.endpoint === endpoint && last.deployment === deployment) return last;
    const key = `${kind}\n${endpoint}\n${deployment}\n${hour}`;
    let batch = this.files.get(key);
    if (!batch) this.files.set(key, (batch = { endpoint, deployment, kind, at, hour, chunks: [], tail: this.chunk(), start: 0, used: 0, lines: 0 }));
    return (this.last = batch);
  }

  private chunk(): Buffer {
    return this.spareChunks.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES);
  }

  private dropped(endpoint: string, deployment: string, reason: DropReason, count: number): void {
    this.totals.dropped += count;
    this.options.events?.dropped?.(endpoint, deployment, reason, count);
  }

  private schedule(): void {
    // While a write runs, requests only queue: the write's flush schedules the next one when it ends.
    if (this.flushing || this.immediate) return;
    if (this.queuedLines >= this.batchSize) {
      this.immediate = setImmediate(() => void this.flush());
    } else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** Writes what is queued (one write per file); resolves when every line queued before the call is written or dropped. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    // One flush at a time keeps each file's lines in order; a flush asked for meanwhile runs right after it.
    while (this.flushing) await this.flushing;
    if (this.files.size === 0) return;
    const batches = [...this.files.values()];
    this.files = new Map();
    this.last = undefined;
    this.queuedLines = 0;
    this.flushing = this.write(batches).finally(() => (this.flushing = undefined));
    await this.flushing;
    if (this.files.size > 0) this.schedule();
  }

  private async write(batches: FileBatch[]): Promise<void> {
    const name = this.fileName;
    let failed = false;
    for (const batch of batches) {
      const dir = join(this.options.root, capturePartition(batch.endpoint, batch.deployment, batch.at));
      const path = join(dir, batch.kind === 'refused' ? `${REFUSED_FILE_PREFIX}${name}` : name);
      seal(batch);
      try {
        if (!this.createdDirs.has(dir)) {
          await mkdir(dir, { recursive: true });
          this.createdDirs.add(dir);
        }
        await this.append(path, batch.chunks);
        this.totals.written += batch.lines;
        this.options.events?.written?.(batch.endpoint, batch.deployment, batch.kind, batch.lines);
      } catch {
        failed = true;
        this.createdDirs.delete(dir);
        this.dropped(batch.endpoint, batch.deployment, 'write_error', batch.lines);
      }
      this.recycle(batch);
    }
    // A failed append may have written part of its text: later lines go to fresh files, never behind a torn line.
    if (failed) this.generation++;
  }

  /** Keeps a written batch's chunks for the next batches (its views share them; a long line's own buffer is not kept). */
  private recycle(batch: FileBatch): void {
    const buffers = new Set([batch.tail.buffer, ...batch.chunks.map((chunk) => chunk.buffer)]);
    for (const buffer of buffers) {
      if (this.spareChunks.length >= SPARE_CHUNKS) return;
      if (buffer.byteLength === CHUNK_BYTES) this.spareChunks.push(Buffer.from(buffer));
    }
  }

  /** Flushes everything queued (server stop). */
  async close(): Promise<void> {
    await this.flush();
  }
}

/** Moves the tail's new bytes to the batch's chunks. */
function seal(batch: FileBatch): void {
  if (batch.used > batch.start) batch.chunks.push(batch.tail.subarray(batch.start, batch.used));
  batch.start = batch.used;
}

/** Column names as JSON keys with their colon, kept across requests (the contract's columns: others are refused first). */
const jsonKeys = new Map<string, string>();

/** Each column's name as a JSON key with its colon, and its values, in the columns' order. */
interface KeyedColumns {
  keys: string[];
  lists: (readonly RawValue[])[];
}

/** A request's columns with their keys, each key serialized once per process. */
function keyedColumns(rows: RawColumns): KeyedColumns {
  const keys: string[] = [];
  const lists: (readonly RawValue[])[] = [];
  for (const [name, values] of rows.columns) {
    let key = jsonKeys.get(name);
    if (key === undefined) {
      if (jsonKeys.size >= 10_000) jsonKeys.clear();
      key = `${JSON.stringify(name)}:`;
      jsonKeys.set(name, key);
    }
    keys.push(key);
    lists.push(values);
  }
  return { keys, lists };
}

/** Characters JSON.stringify writes escaped (and surrogates, which it may): strings without them are quoted as they are. */
// eslint-disable-next-line no-control-regex -- control characters are among what JSON escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** Row `i` of columns as JSON.stringify writes the same row as a record (an undefined value leaves its field out). */
function rowJson({ keys, lists }: KeyedColumns, i: number): string {
  let text = '';
  for (let j = 0; j < keys.length; j++) {
    const value = lists[j]![i];
    if (value === undefined) continue;
    let json: string;
    if (typeof value === 'string') json = NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
    else if (typeof value === 'number') json = jsonNumber(value);
    else json = JSON.stringify(value);
    text += (text === '' ? '{' : ',') + keys[j]! + json;
  }
  return text === '' ? '{}' : `${text}}`;
}

/** One scored record's line; `shared` runs from the comma after its id to the colon before its input (JSON text). */
function recordLine(id: string, shared: string, input: string, label: CaptureRecord['prediction']['label'], probability: number): string {
  return `{"format":${CAPTURE_FORMAT},"inference_id":${JSON.stringify(id)}${shared}${input},"prediction":{"label":${typeof label === 'number' ? jsonNumber(label) : JSON.stringify(label)},"probability":${jsonNumber(probability)}}}\n`;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_LIST = 0x5b;
const CLOSE_LIST = 0x5d;

/**
 * The JSON text of each record of a scoring request's body, which JSON.parse has accepted: the body itself when it is
 * one object, each element when it is a list of objects. Slicing the caller's text costs a third of serializing
 * the parsed records again, and a JSON reader gets the same values from it. Undefined (serialize instead) when
 * the body has whitespace outside its strings, so every line stays compact and no line break can split one, or
 * when a record is not an object.
 */
export function recordTexts(body: string): string[] | undefined {
  const list = body.charCodeAt(0) === OPEN_LIST;
  if (!list && body.charCodeAt(0) !== OPEN_OBJECT) return undefined;
  const recordDepth = list ? 1 : 0;
  const texts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c === QUOTE) {
      i = closingQuote(body, i);
      if (i < 0) return undefined;
    } else if (c === OPEN_OBJECT || c === OPEN_LIST) {
      if (depth === recordDepth) {
        if (c !== OPEN_OBJECT) return undefined;
        start = i;
      }
      depth++;
    } else if (c === CLOSE_OBJECT || c === CLOSE_LIST) {
      depth--;
      if (depth === recordDepth) texts.push(body.slice(start, i + 1));
    } else if (c <= 0x20 || (depth === recordDepth && c !== COMMA)) {
      // Whitespace, or a number, true, false or null where a record belongs.
      return undefined;
    }
  }
  return texts;
}

/** The index of the quote that ends the string opened at `open` (-1 if none). */
function closingQuote(text: string, open: number): number {
  let end = text.indexOf('"', open + 1);
  while (end > 0 && text.charCodeAt(end - 1) === BACKSLASH) {
    let backslashes = 0;
    for (let k = end - 1; text.charCodeAt(k) === BACKSLASH; k--) backslashes++;
    if (backslashes % 2 === 0) break;
    end = text.indexOf('"', end + 1);
  }
  return end;
}
