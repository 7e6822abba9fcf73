import type { Command } from 'commander';
import { Option } from 'commander';
import { CancelledFailure, WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ConfigError, loadConfig } from '../../config/load';
import type { ReleaseConfigInput } from '../../config/schema';
import { approveUpdate, rejectUpdate, statusQuery } from '../../workflows/release-api';
import { failedReleaseStatus, pendingWork, startRelease, summarize, watchRelease, workflowUrl } from '../release';
import { connectClient, failureMessage } from '../temporal';

export interface StartOptions {
  config: string;
  inputData?: string;
  skipTraining?: boolean;
  modelUri?: string;
  skipLocalTesting?: boolean;
  skipDeployment?: boolean;
  skipAzureDeployment?: boolean;
  autoApprove?: boolean;
  target?: 'local' | 'azure';
  wait?: boolean;
  json?: boolean;
}

export function configFromFlags(options: StartOptions) {
  const overrides: Partial<ReleaseConfigInput> = {
    input_data_path: options.inputData,
    skip_training: options.skipTraining || undefined,
    skip_local_testing: options.skipLocalTesting || undefined,
    skip_deployment: options.skipDeployment || options.skipAzureDeployment || undefined,
    auto_approve_deployment: options.autoApprove || undefined,
    target: options.target,
  };
  try {
    return loadConfig({ path: options.config, overrides }).config;
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}


export function registerReleaseCommands(program: Command): void {
  program
    .command('start')
    .description('start a release: validate data → train → evaluate → gates → register → local tests → approval → deploy → report')
    .option('-c, --config <file>', 'YAML config file', 'config/default.yaml')
    .option('--input-data <file>', 'training CSV (overrides input_data_path)')
    .option('--skip-training', 'release an existing model instead of training (see --model-uri)')
    .option('--model-uri <uri>', 'with --skip-training: models:/NAME@ALIAS or models:/NAME/VERSION (default @production)')
    .option('--skip-local-testing', 'skip the local test suite')
    .option('--skip-deployment', 'stop after approval without deploying')
    .option('--skip-azure-deployment', 'the original name of --skip-deployment')
    .option('--auto-approve', 'approve automatically (recorded as automatic)')
    .addOption(new Option('--target <target>', 'deployment target').choices(['local', 'azure']))
    .option('--wait', 'show live progress until the run ends or waits for approval')
    .option('--json', 'print machine-readable JSON')
    .action(async (options: StartOptions) => {
      const config = configFromFlags(options);
      const { client, connection, namespace } = await connectClient();
      try {
        const handle = await startRelease(client, namespace, config, { modelUri: options.modelUri });
        const url = workflowUrl(namespace, handle.workflowId);
        if (!options.wait) {
          console.log(options.json ? JSON.stringify({ workflowId: handle.workflowId, url }) : `started ${handle.workflowId}\n  ${url}`);
          return;
        }
        if (!options.json) console.log(`started ${handle.workflowId}\n  ${url}`);
        const outcome = await watchRelease(handle, (line) => !options.json && console.log(line));
        if (outcome.status) {
          if (options.json) console.log(JSON.stringify(outcome.status, null, 2));
          else console.log(`\nwaiting for ${outcome.status.waitingFor}`);
          return;
        }
        if (outcome.error) {
          // A cancelled run keeps no message or details: its status query says what happened.
          const cancelled = outcome.error instanceof WorkflowFailedError && outcome.error.cause instanceof CancelledFailure;
          const status = cancelled ? await handle.query(statusQuery).catch(() => undefined) : failedReleaseStatus(outcome.error);
          const ended = cancelled ? 'cancelled' : 'failed';
          const why = cancelled ? (status?.error ?? 'cancelled') : failureMessage(outcome.error);
          if (options.json) console.log(JSON.stringify({ outcome: ended, error: why, status }, null, 2));
          else console.error(`\nrelease ${ended}: ${why}${status ? `\n${summarize(status, namespace)}` : ''}`);
          process.exitCode = 1;
          return;
        }
        const result = outcome.result!;
        console.log(options.json ? JSON.stringify(result, null, 2) : `\n${summarize(result, namespace)}`);
        if (result.outcome !== 'succeeded') process.exitCode = 1;
      } finally {
        await connection.close();
      }
      // Done: do not linger on idle gRPC/HTTP keep-alive handles of the watch loop.
      if (options.wait) process.exit(process.exitCode ?? 0);
    });

  program
    .command('approve <workflowId>')
    .description('approve the candidate a release waits for (answers with the verdict, e.g. "refused: not an approver")')
    .requiredOption('--by <name>', 'who approves (checked against approvers in the config)')
    .option('--comment <text>', 'why')
    .option('--model-version <version>', 'the version you reviewed (default: the one waiting)')
    .action(async (workflowId: string, options: { by: string; comment?: string; modelVersion?: string }) => {
      await answer(workflowId, async (handle, version) =>
        handle.executeUpdate(approveUpdate, { args: [{ by: options.by, comment: options.comment, modelVersion: options.modelVersion ?? version }] }),
      );
    });

  program
    .command('reject <workflowId>')
    .description('reject the candidate a release waits for; nothing is deployed')
    .requiredOption('--by <name>', 'who rejects')
    .requiredOption('--reason <text>', 'why (required)')
    .action(async (workflowId: string, options: { by: string; reason: string }) => {
      await answer(workflowId, async (handle) => handle.executeUpdate(rejectUpdate, { args: [{ by: options.by, reason: options.reason }] }));
    });

  program
    .command('status <workflowId>')
    .description("a release's current step, step results, candidate, gates and what it waits for")
    .option('--json', 'print the status as JSON')
    .action(async (workflowId: string, options: { json?: boolean }) => {
      const { client, connection, namespace } = await connectClient();
      try {
        const handle = client.workflow.getHandle(workflowId);
        const status = await handle.query(statusQuery);
        // From the server: what each pending activity waits on (a retry and its last error, or heartbeat progress).
        const pending = status.outcome === 'running' ? await pendingWork(handle).catch(() => []) : [];
        if (options.json) return void console.log(JSON.stringify({ ...status, pending }, null, 2));
        console.log(`${workflowId}: ${status.stage} (${status.outcome})`);
        for (const step of status.steps) console.log(`  ${step.status.padEnd(9)} ${step.name.padEnd(12)} ${step.summary ?? ''}`);
        for (const line of pending) console.log(`${status.stage}: ${line}`);
        if (status.waitingFor) console.log(`waiting for ${status.waitingFor}`);
        if (status.refused.length) console.log(`refused messages:\n  ${status.refused.join('\n  ')}`);
        console.log(workflowUrl(namespace, workflowId));
      } finally {
        await connection.close();
      }
    });

  program
    .command('list')
    .description('recent releases with their model, stage and outcome')
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'print as JSON')
    .action(async (options: { limit: string; json?: boolean }) => {
      const { client, connection } = await connectClient();
      try {
        const rows: Record<string, unknown>[] = [];
        for await (const run of client.workflow.list({ query: `WorkflowType = 'modelRelease'` })) {
          const attrs = run.searchAttributes as Record<string, unknown[] | undefined>;
          rows.push({
            workflowId: run.workflowId,
            status: run.status.name,
            model: attrs.ModelName?.[0],
            stage: attrs.ReleaseStage?.[0],
            outcome: attrs.ReleaseOutcome?.[0],
            started: run.startTime.toISOString(),
          });
          if (rows.length >= Number(options.limit)) break;
        }
        if (options.json) return void console.log(JSON.stringify(rows, null, 2));
        if (rows.length === 0) return void console.log('no releases yet: modelship start --wait');
        for (const r of rows) console.log(`${String(r.started).slice(0, 19)}  ${String(r.status).padEnd(10)} ${String(r.outcome ?? '').padEnd(16)} ${String(r.stage ?? '').padEnd(12)} ${r.workflowId}`);
      } finally {
        await connection.close();
      }
    });
}

async function answer(
  workflowId: string,
  send: (handle: ReturnType<Awaited<ReturnType<typeof connectClient>>['client']['workflow']['getHandle']>, version: string) => Promise<string>,
): Promise<void> {
  const { client, connection } = await connectClient();
  try {
    const handle = client.workflow.getHandle(workflowId);
    const status = await handle.query(statusQuery);
    console.log(await send(handle, status.candidate?.version ?? ''));
  } catch (error) {
    const message = error instanceof WorkflowUpdateFailedError ? failureMessage(error) : (error as Error).message;
    console.error(message.startsWith('refused') ? message : `refused: ${message}`);
    process.exitCode = 1;
  } finally {
    await connection.close();
  }
}
