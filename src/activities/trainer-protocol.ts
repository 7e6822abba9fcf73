// What the Python trainer writes, as the training activities read it: its files (prepared.json, shard.json,
// result.json) and its stdout lines. The source of truth is python/modelship_trainer/protocol.py, from which
// protocol.schema.json is generated; test/python.test.ts checks these schemas against that file, so a field added
// on one side only fails the tests. Everything read from the trainer is parsed here: a file of another shape is
// never taken for a result.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** protocol.CONTRACT_VERSION: a file (or a shard's scores in MLflow) of another version is never reused. */
export const TRAINER_CONTRACT_VERSION = 2;

const contractVersion = z.literal(TRAINER_CONTRACT_VERSION);
const int = () => z.number().int();
const fileRef = z.strictObject({ path: z.string(), sha256: z.string() });
const mlflowRun = z.strictObject({ run_id: z.string(), experiment_id: z.string(), artifact_uri: z.string() });
const params = z.record(z.string(), z.unknown());

const budget = z.strictObject({
  preset: z.string(),
  search_rows: int(),
  forest_rows_per_tree: int(),
  time_limit_s: z.number().nullable(),
  halving: z.boolean(),
});

const shardSpec = z.strictObject({
  id: z.string(),
  family: z.string(),
  candidates: z.array(z.strictObject({ index: int(), params })),
});

export const preparedFile = z.strictObject({
  contract_version: contractVersion,
  split_digest: z.string(),
  train_rows: int(),
  test_rows: int(),
  sample_rows: int(),
  budget,
  sample: fileRef,
  shards: z.array(shardSpec),
  mlflow: mlflowRun.nullable(),
});

const rungScore = z.strictObject({ rows: int(), mean_score: z.number(), fold_scores: z.array(z.number()), seconds: z.number() });

export const shardFile = z.strictObject({
  contract_version: contractVersion,
  id: z.string(),
  family: z.string(),
  /** mean_score: on the last rung the candidate reached; only candidates not `eliminated` reached the whole sample. */
  candidates: z.array(
    z.strictObject({
      index: int(),
      params,
      rungs: z.array(rungScore).optional(),
      rows: int().optional(),
      mean_score: z.number().optional(),
      fold_scores: z.array(z.number()).optional(),
      seconds: z.number().optional(),
      eliminated: z.string().optional(),
      skipped: z.string().optional(),
    }),
  ),
  fits: int(),
});

export const resultFile = z.strictObject({
  contract_version: contractVersion,
  best_family: z.string(),
  best_params: params,
  cv: z.record(z.string(), z.number()),
  scoring: z.string(),
  threshold: z.number(),
  parity_max_abs_diff: z.number(),
  train_rows: int(),
  test_rows: int(),
  search_rows: int(),
  fits: int(),
  seconds: z.number(),
  files: z.record(z.string(), fileRef),
  mlflow: mlflowRun.nullable(),
  reference_metrics: z.record(z.string(), z.number()),
});

const candidateRungScore = z.strictObject({ ...rungScore.shape, index: int() });

export const trainerEvent = z.discriminatedUnion('event', [
  z.strictObject({
    event: z.literal('progress'),
    phase: z.string(),
    message: z.string(),
    family: z.string().optional(),
    done: int().optional(),
    total: int().optional(),
    train_rows: int().optional(),
    test_rows: int().optional(),
  }),
  /** One candidate scored on one rung; `key` finds it again in a retry's `completed`. */
  z.strictObject({ event: z.literal('candidate_done'), shard: z.string(), key: z.string(), candidate: candidateRungScore }),
  /** The last line of a run that succeeded: the file it wrote. */
  z.strictObject({ event: z.literal('done'), result: z.string() }),
  /** A refusal: a non-retryable failure (exit 2: contract, exit 3: parity). */
  z.strictObject({ event: z.literal('error'), message: z.string(), kind: z.enum(['contract', 'parity']) }),
]);

/** The protocol's messages by the names protocol.schema.json gives them. */
export const TRAINER_MESSAGES = { PreparedFile: preparedFile, ShardFile: shardFile, ResultFile: resultFile, TrainerEvent: trainerEvent };

export type PreparedFile = z.infer<typeof preparedFile>;
export type ShardFile = z.infer<typeof shardFile>;
export type ResultFile = z.infer<typeof resultFile>;
export type TrainerEvent = z.infer<typeof trainerEvent>;
export type CandidateRungScore = z.infer<typeof candidateRungScore>;

/** A trainer file parsed as `schema`, or undefined when it is missing, not JSON or not of that shape. */
export function readTrainerFile<T>(schema: z.ZodType<T>, path: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
