// One set of workers for a whole test file: creating workers takes a second or two, so a file that runs many releases
// one after the other starts them once (in before()) instead of once per release.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { TaskQueues } from '../../src/config/environment';
import { withWorkers } from './temporal';

export interface FileWorkers {
  queues: TaskQueues;
  /** Shuts the workers down (for after()). */
  stop: () => Promise<void>;
}

export async function startFileWorkers(env: TestWorkflowEnvironment, extra?: Parameters<typeof withWorkers>[3]): Promise<FileWorkers> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let running!: Promise<void>;
  const queues = await new Promise<TaskQueues>((resolve, reject) => {
    running = withWorkers(
      env,
      async (ready) => {
        resolve(ready);
        await released;
      },
      undefined,
      extra,
    );
    running.catch(reject);
  });
  return {
    queues,
    stop: async () => {
      release();
      await running;
    },
  };
}
