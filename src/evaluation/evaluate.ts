// Scores a labelled CSV (raw fields + target) with an ONNX model in batches: the evaluation's and the
// champion/challenger comparison's common core.
import { openCsv } from '../data/csv';
import type { InputContract, OnnxModel, RawRecord } from '../model/input-contract';

export interface ScoredRows {
  labels: Uint8Array;
  probabilities: Float64Array;
}

export async function scoreLabelledCsv(model: OnnxModel, path: string, options: { batchSize?: number; onProgress?: (rows: number) => void } = {}): Promise<ScoredRows> {
  const { target, positive_class: positive } = model.contract;
  const batchSize = options.batchSize ?? 10_000;
  const csv = await openCsv(path);
  const targetIndex = csv.header.indexOf(target);
  if (targetIndex < 0) throw new Error(`${path} has no target column "${target}"`);
  const columns = model.contract.features.map((f) => ({ name: f.column, index: csv.header.indexOf(f.column) }));
  const absent = columns.filter((c) => c.index < 0).map((c) => c.name);
  if (absent.length > 0) throw new Error(`${path} lacks the model's input column(s) ${absent.join(', ')}`);

  const labels: number[] = [];
  const chunks: Float64Array[] = [];
  let batch: RawRecord[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    chunks.push(await model.probabilities(batch));
    batch = [];
    options.onProgress?.(labels.length);
  };
  for await (const { fields } of csv.records) {
    const record: RawRecord = {};
    for (const column of columns) record[column.name] = fields[column.index] ?? null;
    batch.push(record);
    labels.push(fields[targetIndex]!.trim() === positive ? 1 : 0);
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  const probabilities = new Float64Array(labels.length);
  let offset = 0;
  for (const chunk of chunks) {
    probabilities.set(chunk, offset);
    offset += chunk.length;
  }
  return { labels: Uint8Array.from(labels), probabilities };
}

/** The first `limit` rows of a CSV as raw records with the model's input fields (the held-out rows, for probes). */
export async function readRecords(path: string, contract: InputContract, limit: number): Promise<RawRecord[]> {
  const csv = await openCsv(path);
  const records: RawRecord[] = [];
  for await (const { fields } of csv.records) {
    records.push(Object.fromEntries(contract.features.map((f) => [f.column, fields[csv.header.indexOf(f.column)] ?? null])));
    if (records.length >= limit) break;
  }
  return records;
}
