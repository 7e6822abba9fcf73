import type { Command } from 'commander';

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .summary('run a modelship worker against the Temporal server named by TEMPORAL_ADDRESS')
    .description(
      'run a modelship worker against the Temporal server named by TEMPORAL_ADDRESS (default 127.0.0.1:7233). MODELSHIP_WORKER_QUEUES=orchestration or =training serves one task queue, to scale them apart. Training activities (search shards, preparation, refit) run one per core at once; MODELSHIP_TRAINING_CONCURRENCY=N changes that (each takes up to about 1.1 GiB on a 1,000,000-row table). It polls as build MODELSHIP_BUILD_ID (default: package version + git commit) of worker deployment modelship and makes that build current as it starts (MODELSHIP_WORKER_VERSIONING=manual leaves routing to you, =off: unversioned).',
    )
    .action(async () => {
      // Loaded here, not at the top: the worker's SDK and every activity's libraries are for this command only.
      const { main: runWorker } = await import('../../worker');
      await runWorker();
      // Workers have drained and stopped: leave now rather than wait on idle keep-alive sockets and timers.
      process.exit(0);
    });
}
