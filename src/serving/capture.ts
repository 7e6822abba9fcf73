// The endpoint's capture writer: scored records and refusals become JSON lines under the hour partitions of the
// capture dir, written off the request path. A request serializes its lines (the parts its records share once)
// and pushes them onto a bounded in-memory queue; a flush (every FLUSH_INTERVAL_MS, or at once when a batch is
// full) writes each file's lines with one appendFile ending in "\n". Serializing per request rather than per
// flush keeps a flush short, so it never stalls the requests behind it.
// Capture is best effort: a full queue or a failed write drops records and counts them; it never fails a request.
//
// Torn lines: a crash or a failed write can leave a last line without "\n". Readers skip such a line, and no later
// batch is ever appended behind it: each process writes files of its own (the name carries its start time, pid and
// a random part), and a file whose write failed is never written again (the writer moves to a new name).
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { capturePartition, REFUSED_FILE_PREFIX, type CaptureRecord, type RefusedRequest } from '../shared/capture';

/** About 60 MB of typical lines: a few seconds of a 100-record load, so a slow disk write does not drop at once. */
export const DEFAULT_CAPTURE_QUEUE_LIMIT = 100_000;
export const DEFAULT_CAPTURE_BATCH = 5_000;
export const FLUSH_INTERVAL_MS = 250;

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
  /** The file write (tests inject failures); fs.appendFile by default. */
  append?: (path: string, data: string) => Promise<void>;
}

interface Pending {
  endpoint: string;
  deployment: string;
  kind: 'record' | 'refused';
  at: Date;
  /** Complete lines, each ending in "\n". */
  text: string;
  lines: number;
}

export class CaptureWriter {
  private queue: Pending[] = [];
  private queuedLines = 0;
  private timer?: NodeJS.Timeout;
  private immediate?: NodeJS.Immediate;
  private flushing?: Promise<void>;
  private generation = 0;
  private readonly createdDirs = new Set<string>();
  private readonly processPart = `${new Date().toISOString().replace(/[-:.]/g, '')}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly queueLimit: number;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly append: (path: string, data: string) => Promise<void>;
  /** Totals since start (the metrics have them by endpoint and deployment). */
  readonly totals = { written: 0, dropped: 0 };

  constructor(private readonly options: CaptureWriterOptions) {
    this.queueLimit = options.queueLimit ?? DEFAULT_CAPTURE_QUEUE_LIMIT;
    this.batchSize = options.batchSize ?? DEFAULT_CAPTURE_BATCH;
    this.flushIntervalMs = options.flushIntervalMs ?? FLUSH_INTERVAL_MS;
    this.append = options.append ?? ((path, data) => appendFile(path, data));
  }

  /** The file name this writer uses now in every partition: `<start>-<pid>-<random>-<generation>.jsonl`. */
  get fileName(): string {
    return `${this.processPart}-${this.generation}.jsonl`;
  }

  /** Lines waiting for the next write. */
  get queued(): number {
    return this.queuedLines;
  }

  /** Queues the scored records of one request (one endpoint and deployment; partitioned by `at`). */
  records(records: CaptureRecord[], at: Date): void {
    if (records.length === 0) return;
    const first = records[0]!;
    const { endpoint, deployment } = first;
    const taken = Math.min(this.queueLimit - this.queuedLines, records.length);
    if (taken > 0) {
      // What the records of a request share is serialized once; a record that differs is serialized whole.
      const shared = `"time":${JSON.stringify(first.time)},"endpoint":${JSON.stringify(endpoint)},"deployment":${JSON.stringify(deployment)},"model":${JSON.stringify(first.model)},"latency_ms":${JSON.stringify(first.latency_ms)}`;
      let text = '';
      for (let i = 0; i < taken; i++) {
        const record = records[i]!;
        const same =
          record.time === first.time && record.model === first.model && record.latency_ms === first.latency_ms && record.endpoint === endpoint && record.deployment === deployment;
        text += same
          ? `{"format":${record.format},"inference_id":${JSON.stringify(record.inference_id)},${shared},"input":${JSON.stringify(record.input)},"prediction":${JSON.stringify(record.prediction)}}\n`
          : `${JSON.stringify(record)}\n`;
      }
      this.push({ endpoint, deployment, kind: 'record', at, text, lines: taken });
    }
    if (taken < records.length) this.dropped(endpoint, deployment, 'queue_full', records.length - taken);
  }

  /** Queues one refusal; its partition needs a deployment (refusals before routing are counted, not written). */
  refused(refusal: RefusedRequest & { deployment: string }, at: Date): void {
    if (this.queuedLines >= this.queueLimit) return this.dropped(refusal.endpoint, refusal.deployment, 'queue_full', 1);
    this.push({ endpoint: refusal.endpoint, deployment: refusal.deployment, kind: 'refused', at, text: `${JSON.stringify(refusal)}\n`, lines: 1 });
  }

  private push(pending: Pending): void {
    this.queue.push(pending);
    this.queuedLines += pending.lines;
    this.schedule();
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
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.queuedLines = 0;
    this.flushing = this.write(batch).finally(() => (this.flushing = undefined));
    await this.flushing;
    if (this.queue.length > 0) this.schedule();
  }

  private async write(batch: Pending[]): Promise<void> {
    const files = new Map<string, { dir: string; items: Pending[] }>();
    const name = this.fileName;
    for (const item of batch) {
      const dir = join(this.options.root, capturePartition(item.endpoint, item.deployment, item.at));
      const fileName = item.kind === 'refused' ? `${REFUSED_FILE_PREFIX}${name}` : name;
      const key = `${dir}/${fileName}`;
      let file = files.get(key);
      if (!file) files.set(key, (file = { dir, items: [] }));
      file.items.push(item);
    }
    let failed = false;
    for (const [path, file] of files) {
      const text = file.items.length === 1 ? file.items[0]!.text : file.items.map((item) => item.text).join('');
      const lines = file.items.reduce((sum, item) => sum + item.lines, 0);
      try {
        if (!this.createdDirs.has(file.dir)) {
          await mkdir(file.dir, { recursive: true });
          this.createdDirs.add(file.dir);
        }
        await this.append(path, text);
        this.totals.written += lines;
        this.count(file.items, (endpoint, deployment, kind, n) => this.options.events?.written?.(endpoint, deployment, kind, n));
      } catch {
        failed = true;
        this.createdDirs.delete(file.dir);
        this.count(file.items, (endpoint, deployment, _kind, n) => this.dropped(endpoint, deployment, 'write_error', n));
      }
    }
    // A failed append may have written part of its text: later lines go to fresh files, never behind a torn line.
    if (failed) this.generation++;
  }

  private count(items: Pending[], report: (endpoint: string, deployment: string, kind: Pending['kind'], n: number) => void): void {
    const counts = new Map<string, { item: Pending; n: number }>();
    for (const item of items) {
      const key = `${item.endpoint}\n${item.deployment}\n${item.kind}`;
      const entry = counts.get(key);
      if (entry) entry.n += item.lines;
      else counts.set(key, { item, n: item.lines });
    }
    for (const { item, n } of counts.values()) report(item.endpoint, item.deployment, item.kind, n);
  }

  /** Flushes everything queued (server stop). */
  async close(): Promise<void> {
    await this.flush();
  }
}
