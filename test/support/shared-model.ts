// One trained model for a whole test run, for the files whose releases are about what comes after training
// (rollouts, a target, the endpoint lock): the first file to ask trains it with a release, the others wait for it,
// and each registers it again under its own name (registerAgain). Test files run in processes of their own, so who
// is first is decided on disk: creating a folder is atomic.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startRelease } from '../../src/client/release';
import { generateBankingCsv } from '../../src/data/generate';
import type { ReleaseResult } from '../../src/workflows/release-api';
import { PASSING_GATES, releaseConfig } from './release';
import { requireEnv, withWorkers } from './temporal';

export interface SharedModel {
  name: string;
  version: string;
}

let shared: Promise<SharedModel> | undefined;

/** The run's shared model (trained here if no other file has started it yet). */
export function sharedModel(env: TestWorkflowEnvironment): Promise<SharedModel> {
  shared ??= firstOrWait(env);
  return shared;
}

async function firstOrWait(env: TestWorkflowEnvironment): Promise<SharedModel> {
  const dir = join(requireEnv('MODELSHIP_TEST_STATE_DIR'), 'shared-model');
  const done = join(dir, 'model.json');
  const failed = join(dir, 'error.txt');
  if (!claimed(dir)) {
    for (let waited = 0; waited < 600_000; waited += 500) {
      if (existsSync(done)) return JSON.parse(readFileSync(done, 'utf8')) as SharedModel;
      if (existsSync(failed)) throw new Error(`the run's shared model failed to train in another file: ${readFileSync(failed, 'utf8')}`);
      await sleep(500);
    }
    throw new Error(`the run's shared model was not trained within 10 minutes (${dir})`);
  }
  try {
    const model = await train(env, dir);
    writeFileSync(`${done}.tmp`, JSON.stringify(model));
    renameSync(`${done}.tmp`, done);
    return model;
  } catch (error) {
    writeFileSync(failed, (error as Error).stack ?? String(error));
    throw error;
  }
}

/** True for the one process that creates `dir`. */
function claimed(dir: string): boolean {
  try {
    mkdirSync(dir);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** The least training there is, on the generated banking data, registered by a release that deploys nothing. */
async function train(env: TestWorkflowEnvironment, dir: string): Promise<SharedModel> {
  const dataPath = join(dir, 'bank.csv');
  await generateBankingCsv({ rows: 1000, seed: 21, out: dataPath });
  const config = releaseConfig({
    input_data_path: dataPath,
    model_name: `shared-${Date.now().toString(36)}`,
    n_iter: 1,
    cv_folds: 2,
    model_families: ['logistic_regression'],
    skip_local_testing: true,
    skip_deployment: true,
    auto_approve_deployment: true,
    ...PASSING_GATES,
  });
  const result = await withWorkers(env, async (queues) => (await (await startRelease(env.client, env.namespace ?? 'default', config, { queues })).result()) as ReleaseResult);
  if (result.outcome !== 'succeeded' || !result.candidate) throw new Error(`the shared model's release ended ${result.outcome}: ${result.error}`);
  return { name: result.candidate.name, version: result.candidate.version };
}
