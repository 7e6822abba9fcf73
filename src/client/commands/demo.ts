import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { mlflowTrackingUri, stateDir, taskQueues } from '../../config/environment';
import { generateBankingCsv } from '../../data/generate';
import type { ReleaseResult } from '../../workflows/release-api';
import { EmbeddedStack } from '../embedded-stack';
import { startRelease, summarize, watchRelease, workflowUrl } from '../release';
import { runStackCheck } from '../stack-check';
import { connectClient } from '../temporal';
import { configFromFlags } from './release';

interface DemoOptions {
  config: string;
  manual?: boolean;
}

async function reachable(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok;
  } catch {
    return false;
  }
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'the whole pipeline on sample data: starts the embedded stack (or uses a running one), generates the banking\n' +
        'data if missing, runs a release with auto-approval and prints a summary. Exit 0 only if the release succeeded.',
    )
    .option('-c, --config <file>', 'YAML config file', 'config/default.yaml')
    .option('--manual', 'wait for `modelship approve <id> --by NAME` instead of approving automatically')
    .action(async (options: DemoOptions) => {
      const started = Date.now();
      const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
      const config = configFromFlags({ config: options.config, autoApprove: !options.manual });

      let stack: EmbeddedStack | undefined;
      const temporalUp = await connectClient().then(
        async ({ connection }) => (await connection.close(), true),
        () => false,
      );
      if (!temporalUp) {
        console.log('modelship demo: starting the embedded stack (Temporal, MLflow, worker)…');
        stack = await EmbeddedStack.start({
          stateDir: stateDir(),
          ports: { temporal: 7233, ui: 8233, mlflow: 5000, endpoint: 5100 },
          persistTemporal: true,
          modelship: { command: process.execPath, args: [...process.execArgv, require.resolve('../cli')] },
          onProgress: (message) => console.log(`  … ${message}`),
        });
        Object.assign(process.env, stack.env);
        console.log(`  ready in ${elapsed()}`);
      } else if (!(await reachable(`${mlflowTrackingUri()}/health`))) {
        throw new Error(`Temporal is running but MLflow at ${mlflowTrackingUri()} is not: start both with 'npm run dev' or set MLFLOW_TRACKING_URI.`);
      }

      const stop = async () => {
        if (stack) {
          console.log('modelship demo: stopping the embedded stack…');
          await stack.stop();
          console.log('modelship demo: stopped.');
        }
      };
      process.once('SIGINT', () => void stop().then(() => process.exit(130)));
      try {
        const { client, connection, namespace } = await connectClient();
        try {
          if (!stack) {
            console.log('modelship demo: using the running stack; checking that a worker serves both task queues…');
            await runStackCheck(client, taskQueues(), '45s').catch(() => {
              throw new Error("no worker answered on the modelship task queues: start one with 'npm run dev' (or 'modelship worker').");
            });
          }
          if (!existsSync(config.input_data_path)) {
            mkdirSync(dirname(config.input_data_path), { recursive: true });
            const data = await generateBankingCsv({ rows: 5_000, seed: 42, out: config.input_data_path });
            console.log(`modelship demo: generated ${data.rows} rows of sample data in ${config.input_data_path}`);
          }
          const handle = await startRelease(client, namespace, config);
          console.log(`modelship demo: release ${handle.workflowId}\n  ${workflowUrl(namespace, handle.workflowId)}`);
          let outcome = await watchRelease(handle, (line) => console.log(`  ${line}`));
          if (outcome.status) {
            console.log(`\n  waiting for approval. In another terminal:\n    npx modelship approve ${handle.workflowId} --by YOUR_NAME\n`);
            outcome = await watchRelease(handle, (line) => console.log(`  ${line}`), { stopAtApproval: false });
          }
          const result = outcome.result ?? ((outcome.error as { cause?: { details?: unknown[] } } | undefined)?.cause?.details?.[0] as ReleaseResult | undefined);
          console.log(`\n${result ? summarize(result, namespace) : `release failed: ${outcome.error?.message}`}`);
          console.log(`\ndemo finished in ${elapsed()}${stack ? ' (Web UI and MLflow stop with the demo; `npm run dev` keeps them up)' : ''}`);
          const review = result?.review;
          if (review?.mlflowUrl && !stack) console.log(`review in MLflow: ${review.mlflowUrl}`);
          if (review?.path) console.log(`review of this release: ${pathToFileURL(review.path).href}`);
          if (!outcome.result || outcome.result.outcome !== 'succeeded') process.exitCode = 1;
        } finally {
          await connection.close();
        }
      } finally {
        await stop();
      }
      // Done: do not linger on idle gRPC/HTTP keep-alive handles of the watch loop.
      process.exit(process.exitCode ?? 0);
    });
}
