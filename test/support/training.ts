// Training as a release runs it (src/workflows/distributed-training.ts), its activities called one after the other
// in this process: for tests that need a trained model, or the activities themselves, without a workflow.
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createTrainingActivities } from '../../src/activities/training';
import { mlflowAccess } from '../../src/registry/artifact-store';
import type { PreparedSearch, ShardResult, TrainInput, TrainResult } from '../../src/workflows/training-api';

export interface ActivityTraining {
  prepared: PreparedSearch;
  shards: ShardResult[];
  result: TrainResult;
  /** Every heartbeat of every activity, in order. */
  heartbeats: unknown[];
}

/**
 * Trains as a worker with state directory `deps.stateDir` would (its artifact cache below it). `environment` makes
 * each activity's MockActivityEnvironment (e.g. one that cancels on a heartbeat).
 */
export async function trainWithActivities(
  deps: { mlflowUri: string; stateDir: string },
  input: TrainInput,
  environment: () => MockActivityEnvironment = () => new MockActivityEnvironment(),
): Promise<ActivityTraining> {
  const { mlflowUri, stateDir } = deps;
  const activities = createTrainingActivities({ ...mlflowAccess({ mlflowUri, cacheDir: join(stateDir, 'cache', 'artifacts') }), stateDir });
  const heartbeats: unknown[] = [];
  const run = <A extends unknown[], R>(activity: (...args: A) => Promise<R>, ...args: A): Promise<R> => {
    const env = environment();
    env.on('heartbeat', (details: unknown) => heartbeats.push(details));
    return env.run(activity, ...args);
  };
  const prepared = await run(activities.prepareTrainingSearch, input);
  const deadline = prepared.timeLimitSeconds === null ? null : (Date.now() + prepared.timeLimitSeconds * 1000) / 1000;
  const shards: ShardResult[] = [];
  for (const shard of prepared.shards) {
    shards.push(await run(activities.searchShard, { workflowId: input.workflowId, config: input.config, prepared, shard, deadline }));
  }
  const result = await run(activities.finishTraining, { ...input, prepared, shards });
  return { prepared, shards, result, heartbeats };
}
