// Training as a search spread over the training task queue: one activity prepares the split, the search sample and
// the candidates; one activity per shard (a batch of candidates with their folds) scores them on whichever
// training worker is free; one activity refits the winner on every training row and exports it. N training
// workers on N machines share one release; a worker that dies loses only its running shard (retried elsewhere,
// its finished candidates kept in the heartbeat). Deterministic code only.
import { proxyActivities } from '@temporalio/workflow';
import type { TrainingActivities } from '../activities';
import { training } from './activity-profiles';
import type { TrainInput, TrainResult } from './training-api';

/** `progress` hears how far the search is (e.g. "search: 5 of 12 shards scored, best so far …"): state, no commands. */
export async function trainDistributed(input: TrainInput, trainingTaskQueue: string, progress: (line: string) => void = () => {}): Promise<TrainResult> {
  const whole = proxyActivities<TrainingActivities>(training(trainingTaskQueue, 'whole'));
  const shards = proxyActivities<TrainingActivities>(training(trainingTaskQueue, 'shard'));

  const started = Date.now();
  const prepared = await whole.prepareTrainingSearch(input);
  const deadline = prepared.timeLimitSeconds === null ? null : (Date.now() + prepared.timeLimitSeconds * 1000) / 1000;
  let scoredShards = 0;
  let best: { family: string; score: number } | undefined;
  const searched = () =>
    `search on ${prepared.sampleRows} sampled rows: ${scoredShards} of ${prepared.shards.length} shards scored` +
    (best ? `, best so far ${best.family} ${best.score.toFixed(4)}` : '');
  progress(searched());
  const scored = await Promise.all(
    prepared.shards.map(async (shard) => {
      const result = await shards.searchShard({
        workflowId: input.workflowId,
        config: input.config,
        prepared: { sample: prepared.sample, mlflow: prepared.mlflow },
        shard,
        deadline,
      });
      scoredShards++;
      if (result.best !== null && (!best || result.best > best.score)) best = { family: result.family, score: result.best };
      progress(searched());
      return result;
    }),
  );
  progress(`refitting ${best?.family ?? 'the winner'} on all ${prepared.trainRows} training rows, exporting to ONNX, checking parity`);
  const result = await whole.finishTraining({ ...input, prepared: { splitDigest: prepared.splitDigest, mlflow: prepared.mlflow }, shards: scored });
  return { ...result, seconds: (Date.now() - started) / 1000, resumed: result.resumed || prepared.resumed || scored.some((s) => s.resumed) };
}
