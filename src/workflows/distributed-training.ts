// Training as a search spread over the training task queue: one activity prepares the split, the search sample and
// the candidates; one activity per shard (a batch of candidates with their folds) scores them on whichever
// training worker is free; one activity refits the winner on every training row and exports it. N training
// workers on N machines share one release; a worker that dies loses only its running shard (retried elsewhere,
// its finished candidates kept in the heartbeat). Deterministic code only.
import { proxyActivities } from '@temporalio/workflow';
import type { TrainingActivities } from '../activities';
import type { TrainInput, TrainResult } from '../activities/training';

export async function trainDistributed(input: TrainInput, trainingTaskQueue: string): Promise<TrainResult> {
  const options = { taskQueue: trainingTaskQueue, startToCloseTimeout: '6 hours', retry: { maximumAttempts: 5, initialInterval: '2 seconds' } } as const;
  // Prepare and finish read the whole data set; a shard's heartbeat stops within seconds of its worker dying.
  const whole = proxyActivities<TrainingActivities>({ ...options, heartbeatTimeout: '30 seconds' });
  const shards = proxyActivities<TrainingActivities>({ ...options, heartbeatTimeout: '20 seconds' });

  const started = Date.now();
  const prepared = await whole.prepareTrainingSearch(input);
  const deadline = prepared.timeLimitSeconds === null ? null : (Date.now() + prepared.timeLimitSeconds * 1000) / 1000;
  const scored = await Promise.all(
    prepared.shards.map((shard) =>
      shards.searchShard({ workflowId: input.workflowId, config: input.config, prepared: { sample: prepared.sample, mlflow: prepared.mlflow }, shard, deadline }),
    ),
  );
  const result = await whole.finishTraining({ ...input, prepared: { splitDigest: prepared.splitDigest, mlflow: prepared.mlflow }, shards: scored });
  return { ...result, seconds: (Date.now() - started) / 1000, resumed: result.resumed || prepared.resumed || scored.some((s) => s.resumed) };
}
