import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { DEFAULT_TEMPORAL_ADDRESS, endpointUrl, mlflowTrackingUri, stateDir, taskQueues, temporalConnectConfig } from '../../config/environment';
import type { DataContract, ReleaseConfig } from '../../config/schema';
import { openCsv } from '../../data/csv';
import { generateBankingCsv } from '../../data/generate';
import type { MonitorResult } from '../../workflows/monitor-api';
import { localTarget } from '../deployment-target';
import { acceptsConnections, EmbeddedStack, StackStartAborted } from '../embedded-stack';
import { awaitResult, failedReleaseStatus, startRelease, summarize, watchRelease, workflowUrl } from '../release';
import { missingPollers } from '../stack-check';
import { withClient } from '../temporal';
import { runMonitorNow, monitorSettingsOf, verdictLines } from './monitor';
import { releaseConfigFromFlags } from './release';

/** Records the demo scores after the deploy: enough for the monitor to judge drift (its minimum is 100). */
const DEMO_SCORED_RECORDS = 300;

/**
 * The loop after the deploy: a few hundred records of the sample data scored on the endpoint (the endpoint
 * captures them), then the monitor once on the window up to now, and its verdict and page.
 */
async function scoreAndMonitor(client: Client, config: ReleaseConfig, contract: DataContract): Promise<void> {
  const endpoint = config.endpoint_name;
  const features = [...contract.numeric_features, ...contract.categorical_features, ...contract.date_features];
  const csv = await openCsv(config.input_data_path);
  const records: Record<string, string>[] = [];
  for await (const { fields } of csv.records) {
    records.push(Object.fromEntries(features.map((f) => [f, fields[csv.header.indexOf(f)] ?? ''])));
    if (records.length >= DEMO_SCORED_RECORDS) break;
  }
  const key = await (await localTarget()).endpointKey(endpoint);
  for (let i = 0; i < records.length; i += 50) {
    const response = await fetch(`${endpointUrl()}/endpoints/${encodeURIComponent(endpoint)}/score`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(records.slice(i, i + 50)),
    });
    if (!response.ok) throw new Error(`scoring on ${endpoint} answered ${response.status}: ${await response.text()}`);
  }
  console.log(`\nmodelship demo: scored ${records.length} records on ${endpoint}; running its monitor once…`);
  await sleep(1_000); // the endpoint writes its capture in batches, a quarter of a second apart
  const handle = await runMonitorNow(client, { target: config.target, endpoint, settings: monitorSettingsOf(config) }, taskQueues().orchestration);
  const outcome = await awaitResult<MonitorResult>(handle);
  if ('error' in outcome) throw outcome.error;
  for (const line of verdictLines(outcome.result)) console.log(line);
  console.log(`  every hour from now on: npx modelship monitor enable ${endpoint}`);
}

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
      'the whole pipeline on sample data: starts the embedded stack (or uses a running one), generates the banking data if missing, runs a release with auto-approval and prints a summary. Exit 0 only if the release succeeded.',
    )
    // The demo's own config: config/default.yaml with a shorter bake, since nothing scores during its release.
    .option('-c, --config <file>', 'YAML config file', 'config/demo.yaml')
    .option('--manual', 'wait for `modelship approve <id> --by NAME` instead of approving automatically')
    .action(async (options: DemoOptions) => {
      const started = Date.now();
      const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
      const config = releaseConfigFromFlags({ config: options.config, autoApprove: !options.manual });

      let stack: EmbeddedStack | undefined;
      // Ctrl-C from the first moment: start-up stops and whatever started is stopped (below, or by start itself).
      const interrupted = new AbortController();
      let stopping: Promise<void> | undefined;
      const stop = () =>
        (stopping ??= (async () => {
          if (stack) {
            console.log('modelship demo: stopping the embedded stack…');
            await stack.stop();
            console.log('modelship demo: stopped.');
          }
        })());
      let startup: Promise<unknown> | undefined;
      process.once('SIGINT', () => {
        interrupted.abort();
        // An interrupted start-up stops what it started before it rejects; then stop the rest.
        void Promise.resolve(startup)
          .catch(() => undefined)
          .then(stop)
          .then(() => process.exit(130));
      });
      // A stack that runs answers on Temporal's port; none: start one now, not after a gRPC connect's 5 s timeout.
      const temporalUp =
        (await acceptsConnections(temporalConnectConfig().connectionOptions.address ?? DEFAULT_TEMPORAL_ADDRESS, 5_000)) && (await withClient(async () => true).catch(() => false));
      if (!temporalUp) {
        console.log('modelship demo: starting the embedded stack (Temporal, MLflow, worker)…');
        try {
          startup = EmbeddedStack.start({
            stateDir: stateDir(),
            ports: { temporal: 7233, ui: 8233, mlflow: 5000, endpoint: 5100 },
            persistTemporal: true,
            modelship: { command: process.execPath, args: [...process.execArgv, require.resolve('../cli')] },
            onProgress: (message) => console.log(`  … ${message}`),
            signal: interrupted.signal,
          });
          stack = (await startup) as EmbeddedStack;
        } catch (error) {
          if (error instanceof StackStartAborted) return; // the SIGINT handler exits once start-up has stopped everything
          throw error;
        }
        Object.assign(process.env, stack.env);
        console.log(`  ready in ${elapsed()}`);
      } else if (!(await reachable(`${mlflowTrackingUri()}/health`))) {
        throw new Error(`Temporal is running but MLflow at ${mlflowTrackingUri()} is not: start both with 'npm run dev' or set MLFLOW_TRACKING_URI.`);
      }

      try {
        await withClient(async (client, namespace) => {
          if (!stack) {
            console.log('modelship demo: using the running stack; checking that a worker polls both task queues…');
            // Polls, seen by the server: a check workflow would wait for a free slot behind a running training.
            let missing = await missingPollers(client, taskQueues());
            for (let i = 0; i < 20 && missing.length > 0; i++) {
              await sleep(500);
              missing = await missingPollers(client, taskQueues());
            }
            if (missing.length > 0) {
              throw new Error(`no worker polls ${missing.join(', ')}: start one with 'npm run dev' (or 'modelship worker').`);
            }
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
          const result = outcome.result ?? failedReleaseStatus(outcome.error);
          console.log(`\n${result ? summarize(result, namespace) : `release failed: ${outcome.error?.message}`}`);
          console.log(`\ndemo finished in ${elapsed()}${stack ? ' (Web UI and MLflow stop with the demo; `npm run dev` keeps them up)' : ''}`);
          const review = result?.review;
          if (review?.mlflowUrl && !stack) console.log(`review in MLflow: ${review.mlflowUrl}`);
          if (review?.path) console.log(`review of this release: ${pathToFileURL(review.path).href}`);
          if (!outcome.result || outcome.result.outcome !== 'succeeded') process.exitCode = 1;
          else if (result?.deployment && config.target === 'local' && config.data) await scoreAndMonitor(client, config, config.data);
        });
      } finally {
        await stop();
      }
      // Done: do not linger on idle gRPC/HTTP keep-alive handles of the watch loop.
      process.exit(process.exitCode ?? 0);
    });
}
