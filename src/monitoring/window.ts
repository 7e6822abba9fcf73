// One window of one endpoint, streamed from its capture files into counts: per feature and bin, per refusal reason,
// a bounded latency sample, and the labelled records joined by inference id. Memory grows with bins and with the
// outcomes on file, never with the captured records. The monitor's activity calls analyzeWindow.
import type { Dirent } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { isMissing, parseDate, parseNumber } from '../data/values';
import type { FeatureKind } from '../review/drift';
import { CAPTURE_FORMAT, type CaptureRecord, type OutcomeRecord, type RefusedRequest } from '../shared/capture';
import { durationMs } from '../shared/duration';
import { percentile } from '../shared/percentile';
import type { MonitorSettings, MonitorWindow, WindowResult } from '../workflows/monitor-api';
import {
  alarmsOf,
  binOf,
  driftRatio,
  featureDrift,
  performance,
  qualityRates,
  referenceBins,
  scoreBins,
  type Bins,
  type MonitorReference,
  type QualityCounts,
  type Value,
} from './statistics';

/** Lines left out of a window, by why: never read as data. */
export interface SkippedLines {
  /** A file's last line without its newline, or unparseable at the end of a file: a write cut short. */
  torn: number;
  /** An unparseable line before the end of a file. */
  invalid: number;
  /** A line of a capture format this reader does not know. */
  unknownFormat: number;
}

/** What analyzeWindow finds: a WindowResult before the workflow decides whether its alarm is new. */
export type WindowAnalysis = Omit<WindowResult, 'alarmRaised'> & { skippedLines: SkippedLines };

/** Latency samples kept (a uniform reservoir): p99 of 10,000 samples is within a few tenths of a percent in rank. */
const LATENCY_SAMPLES = 10_000;

interface FeatureCounter {
  column: string;
  kind: FeatureKind;
  bins: Bins;
  counts: number[];
  quality: QualityCounts;
}

/** A record's raw field as the reference holds it: a number (dates as day numbers), a category, or null. */
export function parseRaw(kind: FeatureKind, raw: unknown, dateFormat: MonitorReference['dateFormat']): Value {
  if (raw === null || raw === undefined || typeof raw === 'object' || typeof raw === 'boolean') return null;
  if (kind === 'numeric') {
    const value = typeof raw === 'number' ? raw : parseNumber(String(raw));
    return value === null || !Number.isFinite(value) ? null : value;
  }
  const text = String(raw);
  if (isMissing(text)) return null;
  if (kind === 'categorical') return text.trim();
  const day = parseDate(text, dateFormat);
  return day === null || Number.isNaN(day) ? null : day;
}

/** Whether an outcome's actual label is the positive class (numbers compared as numbers: 1 and "1.0" agree). */
export function isPositive(actual: string | number, positiveClass: string | number): boolean {
  const a = typeof actual === 'number' ? actual : parseNumber(String(actual));
  const p = typeof positiveClass === 'number' ? positiveClass : parseNumber(String(positiveClass));
  if (a !== null && p !== null && Number.isFinite(a) && Number.isFinite(p)) return a === p;
  return String(actual).trim() === String(positiveClass).trim();
}

/** Time ranges in epoch milliseconds, [start, end). */
interface Range {
  start: number;
  end: number;
}

/**
 * The streaming counts of one window. Records in `drift` count towards drift, quality, volume and latency; records
 * in `labelled` whose inference id has an outcome join for performance (the window shifted back by the label delay).
 */
export class WindowCounts {
  records = 0;
  refused = 0;
  readonly refusedByReason: Record<string, number> = {};
  readonly features: FeatureCounter[];
  readonly scores: { bins: Bins; counts: number[]; positives: number } | undefined;
  readonly labels: number[] = [];
  readonly labelledScores: number[] = [];
  private readonly latency: number[] = [];
  private latencySeen = 0;
  private randomState = 0x2545f491;
  private newest: { time: number; model: CaptureRecord['model'] } | undefined;

  constructor(
    private readonly reference: MonitorReference,
    private readonly drift: Range,
    private readonly labelled: Range,
    /** inference id → 1 (positive) or 0; an id joins once, then leaves the map. */
    private readonly outcomes: Map<string, number>,
  ) {
    this.features = reference.sketch.features.map((feature, k) => {
      const bins = referenceBins(feature.kind, reference.sketch.values[k]!);
      return { column: feature.column, kind: feature.kind, bins, counts: new Array<number>(bins.labels.length).fill(0), quality: { missing: 0, unseen: 0, outOfRange: 0 } };
    });
    if (reference.scores.length) {
      const bins = scoreBins(reference.scores, reference.threshold);
      this.scores = { bins, counts: new Array<number>(bins.labels.length).fill(0), positives: 0 };
    }
  }

  addRecord(record: CaptureRecord): void {
    const time = Date.parse(record.time);
    if (time >= this.labelled.start && time < this.labelled.end) {
      const outcome = this.outcomes.get(record.inference_id);
      if (outcome !== undefined) {
        this.outcomes.delete(record.inference_id);
        this.labels.push(outcome);
        this.labelledScores.push(record.prediction.probability);
      }
    }
    if (!(time >= this.drift.start && time < this.drift.end)) return;
    this.records++;
    if (!this.newest || time >= this.newest.time) this.newest = { time, model: record.model };
    for (const feature of this.features) {
      const value = parseRaw(feature.kind, record.input[feature.column], this.reference.dateFormat);
      feature.counts[binOf(feature.bins, value)]!++;
      if (value === null) feature.quality.missing++;
      else if (feature.bins.kind === 'categorical') {
        if (!feature.bins.seen.has(value as string)) feature.quality.unseen++;
      } else if ((value as number) < feature.bins.min || (value as number) > feature.bins.max) feature.quality.outOfRange++;
    }
    if (this.scores) {
      const probability = record.prediction.probability;
      this.scores.counts[binOf(this.scores.bins, typeof probability === 'number' ? probability : null)]!++;
      if (probability >= this.reference.threshold) this.scores.positives++;
    }
    this.sampleLatency(record.latency_ms);
  }

  addRefusal(refusal: RefusedRequest): void {
    const time = Date.parse(refusal.time);
    if (!(time >= this.drift.start && time < this.drift.end)) return;
    this.refused++;
    this.refusedByReason[refusal.reason] = (this.refusedByReason[refusal.reason] ?? 0) + 1;
  }

  private sampleLatency(ms: number): void {
    if (typeof ms !== 'number' || !Number.isFinite(ms)) return;
    this.latencySeen++;
    if (this.latency.length < LATENCY_SAMPLES) this.latency.push(ms);
    else {
      // xorshift32: a fixed seed, so a retried window keeps the same sample
      this.randomState ^= this.randomState << 13;
      this.randomState ^= this.randomState >>> 17;
      this.randomState ^= this.randomState << 5;
      const slot = Math.floor(((this.randomState >>> 0) / 4294967296) * this.latencySeen);
      if (slot < LATENCY_SAMPLES) this.latency[slot] = ms;
    }
  }

  /** The window's findings: drift and quality judged only from settings.minRecords records. */
  result(endpoint: string, window: MonitorWindow, settings: MonitorSettings, skippedLines: SkippedLines): WindowAnalysis {
    const enough = this.records >= settings.minRecords;
    const tests = this.features.length + (this.scores ? 1 : 0);
    const drift = enough ? this.features.map((f) => featureDrift(f.column, f.bins, f.counts, settings.falseAlarmRate, tests)).sort((a, b) => driftRatio(b) - driftRatio(a)) : [];
    const quality = this.records ? this.features.map((f) => qualityRates(f.column, f.kind, f.quality, this.records)) : [];
    let prediction: WindowResult['prediction'];
    if (enough && this.scores) {
      const scores = featureDrift('prediction', this.scores.bins, this.scores.counts, settings.falseAlarmRate, tests);
      const referencePositives = this.reference.scores.filter((s) => s >= this.reference.threshold).length;
      prediction = {
        psi: scores.psi,
        threshold: scores.threshold,
        drifted: scores.drifted,
        positiveRate: this.scores.positives / this.records,
        referencePositiveRate: referencePositives / this.reference.scores.length,
      };
    }
    const perf = performance(this.labels, this.labelledScores, this.reference.threshold, this.reference.rocAuc, settings.minLabelled);
    const referenceMissing = Object.fromEntries(this.features.map((f) => [f.column, f.bins.reference[f.bins.reference.length - 1]! / f.bins.reference.reduce((a, b) => a + b, 0)]));
    const alarms = alarmsOf({ drift, prediction, performance: perf, quality: enough ? quality : [], records: this.records, refused: this.refused, referenceMissing }, settings);
    const sorted = [...this.latency].sort((a, b) => a - b);
    return {
      endpoint,
      window,
      ...(this.newest ? { model: this.newest.model } : {}),
      records: this.records,
      refused: this.refused,
      refusedByReason: this.refusedByReason,
      ...(sorted.length ? { latencyMs: { p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), p99: percentile(sorted, 0.99) } } : {}),
      quality,
      drift,
      ...(prediction ? { prediction } : {}),
      performance: perf,
      alarms,
      verdict: alarms.length ? 'alarm' : this.records === 0 ? 'empty' : enough ? 'ok' : 'too few',
      skippedLines,
    };
  }
}

const isDirectory = (entry: Dirent) => entry.isDirectory();

async function directories(path: string): Promise<string[]> {
  try {
    return (await readdir(path, { withFileTypes: true })).filter(isDirectory).map((entry) => entry.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

async function jsonlFiles(path: string): Promise<string[]> {
  try {
    return (await readdir(path, { withFileTypes: true }))
      .filter((entry) => entry.isFile() && entry.name.endsWith('.jsonl'))
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

const overlaps = (start: number, end: number, ranges: readonly Range[]) => ranges.some((r) => start < r.end && end > r.start);

/** Hour folders (`<endpoint>/<deployment>/yyyy/mm/dd/hh`) overlapping any of the ranges, each level pruned by its span. */
export async function hourFolders(captureRoot: string, endpoint: string, ranges: readonly Range[]): Promise<string[]> {
  const folders: string[] = [];
  const endpointDir = join(captureRoot, endpoint);
  const numbered = async (path: string) => (await directories(path)).filter((name) => /^\d+$/.test(name)).sort();
  for (const deployment of (await directories(endpointDir)).sort()) {
    for (const yyyy of await numbered(join(endpointDir, deployment))) {
      const y = Number(yyyy);
      if (!overlaps(Date.UTC(y, 0, 1), Date.UTC(y + 1, 0, 1), ranges)) continue;
      for (const mm of await numbered(join(endpointDir, deployment, yyyy))) {
        const m = Number(mm) - 1;
        if (!overlaps(Date.UTC(y, m, 1), Date.UTC(y, m + 1, 1), ranges)) continue;
        for (const dd of await numbered(join(endpointDir, deployment, yyyy, mm))) {
          const d = Number(dd);
          if (!overlaps(Date.UTC(y, m, d), Date.UTC(y, m, d + 1), ranges)) continue;
          for (const hh of await numbered(join(endpointDir, deployment, yyyy, mm, dd))) {
            const h = Number(hh);
            if (overlaps(Date.UTC(y, m, d, h), Date.UTC(y, m, d, h + 1), ranges)) folders.push(join(endpointDir, deployment, yyyy, mm, dd, hh));
          }
        }
      }
    }
  }
  return folders;
}

/**
 * Calls `onValue` with each JSON line of a file of the capture format, streamed line by line. Reads the file as it
 * was when opened (a writer appending meanwhile adds nothing half-written). The last line counts as torn when the
 * file does not end with a newline or when it does not parse; an unparseable line elsewhere counts as invalid.
 */
export async function forEachJsonLine(path: string, onValue: (value: Record<string, unknown>) => void, skipped: SkippedLines): Promise<void> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    if (size === 0) return;
    const last = Buffer.alloc(1);
    await file.read(last, 0, 1, size - 1);
    const endsWithNewline = last[0] === 0x0a;
    const take = (line: string, isLast: boolean) => {
      if (isLast && !endsWithNewline) {
        skipped.torn++;
        return;
      }
      if (line.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        if (isLast) skipped.torn++;
        else skipped.invalid++;
        return;
      }
      if (value === null || typeof value !== 'object' || (value as { format?: unknown }).format !== CAPTURE_FORMAT) {
        skipped.unknownFormat++;
        return;
      }
      onValue(value as Record<string, unknown>);
    };
    const lines = createInterface({ input: file.createReadStream({ start: 0, end: size - 1, autoClose: false }), crlfDelay: Infinity });
    let pending: string | undefined;
    for await (const line of lines) {
      if (pending !== undefined) take(pending, false);
      pending = line;
    }
    if (pending !== undefined) take(pending, true);
  } finally {
    await file.close();
  }
}

/** Outcomes of an endpoint, inference id → 1 when its actual is the positive class, else 0 (a later line wins). */
export async function readOutcomes(feedbackRoot: string, endpoint: string, positiveClass: string | number, skipped: SkippedLines): Promise<Map<string, number>> {
  const outcomes = new Map<string, number>();
  const dir = join(feedbackRoot, endpoint);
  for (const name of await jsonlFiles(dir)) {
    await forEachJsonLine(
      join(dir, name),
      (value) => {
        const outcome = value as unknown as OutcomeRecord;
        if (typeof outcome.inference_id === 'string') outcomes.set(outcome.inference_id, isPositive(outcome.actual, positiveClass) ? 1 : 0);
      },
      skipped,
    );
  }
  return outcomes;
}

/**
 * Analyses one window of one endpoint: the capture files under `captureRoot` (`<stateDir>/capture`) in the hour
 * folders that overlap [window.start, window.end), and, for performance, those of the window shifted back by
 * settings.labelDelay, joined by inference id with the outcomes under `feedbackRoot` (`<stateDir>/feedback`, files
 * `<endpoint>/*.jsonl`). Pure with respect to the files: the same files give the same result.
 */
export async function analyzeWindow(
  captureRoot: string,
  feedbackRoot: string,
  endpoint: string,
  window: MonitorWindow,
  reference: MonitorReference,
  settings: MonitorSettings,
): Promise<WindowAnalysis> {
  const skipped: SkippedLines = { torn: 0, invalid: 0, unknownFormat: 0 };
  const drift = { start: Date.parse(window.start), end: Date.parse(window.end) };
  if (!(drift.start < drift.end)) throw new RangeError(`window ${window.id}: start ${window.start} is not before end ${window.end}`);
  const delay = durationMs(settings.labelDelay);
  const labelled = { start: drift.start - delay, end: drift.end - delay };
  const outcomes = await readOutcomes(feedbackRoot, endpoint, reference.positiveClass, skipped);
  const counts = new WindowCounts(reference, drift, labelled, outcomes);
  const ranges = outcomes.size ? [drift, labelled] : [drift];
  for (const folder of await hourFolders(captureRoot, endpoint, ranges)) {
    for (const name of await jsonlFiles(folder)) {
      const refusals = name.startsWith('refused-');
      await forEachJsonLine(
        join(folder, name),
        (value) => (refusals ? counts.addRefusal(value as unknown as RefusedRequest) : counts.addRecord(value as unknown as CaptureRecord)),
        skipped,
      );
    }
  }
  return counts.result(endpoint, window, settings, skipped);
}
