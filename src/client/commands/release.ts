import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { CancelledFailure, WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ConfigError, loadConfig } from '../../config/load';
import type { ReleaseConfig, ReleaseConfigInput } from '../../config/schema';
import { TARGET_KINDS, type TargetKind } from '../../shared/deployment';
import { approveUpdate, rejectUpdate, statusQuery, type ApprovalGateStatus, type EnvironmentStatus, type ReleaseStatus, type SignedMessage } from '../../workflows/release-api';
import { triggerLine } from '../../workflows/trigger-api';
import { signStatement, statementFor } from '../signing';
import { AllowedSignersError } from '../../approval/allowed-signers';
import { loadAllowedSigners } from '../../approval/verify';
import { lockLines, printOperatorStatus, readEndpointLock } from '../endpoint-lock';
import { failedReleaseStatus, pendingWork, ReleaseRunningError, reviewLines, startRelease, summarize, watchRelease, workflowUrl, type StartReleaseOptions } from '../release';
import { failureMessage, withClient } from '../temporal';

export interface StartOptions {
  config: string;
  inputData?: string;
  skipTraining?: boolean;
  modelUri?: string;
  skipLocalTesting?: boolean;
  skipDeployment?: boolean;
  skipAzureDeployment?: boolean;
  autoApprove?: boolean;
  target?: TargetKind;
  wait?: boolean;
  json?: boolean;
  by?: string;
  attach?: boolean;
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

/**
 * The config of a release that will wait for approval: a signers file that is missing or malformed would leave it
 * unapprovable, so say so before it starts. (deploy and rollback take no approval: they do not read the file.)
 */
export function releaseConfigFromFlags(options: StartOptions) {
  const config = configFromFlags(options);
  try {
    if (config.allowed_signers) loadAllowedSigners(config.allowed_signers);
    for (const environment of config.environments ?? []) if (environment.allowed_signers) loadAllowedSigners(environment.allowed_signers);
  } catch (error) {
    if (error instanceof AllowedSignersError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  return config;
}

/** Exit code of a start refused because the model's release is running (one release per model). */
export const EXIT_RELEASE_RUNNING = 3;

/**
 * Starts a release and, with --wait, follows it until it ends or waits for approval; the exit code says how it
 * ended (0 succeeded or waiting, 1 failed, rejected, expired or cancelled, 3 refused: the model's release is running).
 */
export async function startAndFollow(config: ReleaseConfig, options: { wait?: boolean; json?: boolean }, start: StartReleaseOptions): Promise<void> {
  // With --wait the process exits at once instead of closing the connection (see withClient).
  await withClient(
    async (client, namespace) => {
      let handle: Awaited<ReturnType<typeof startRelease>>;
      try {
        handle = await startRelease(client, namespace, config, start);
      } catch (error) {
        if (!(error instanceof ReleaseRunningError)) throw error;
        if (options.json) console.log(JSON.stringify({ outcome: 'refused', workflowId: error.workflowId, running: error.running, error: error.message }, null, 2));
        else console.error(error.message);
        process.exitCode = EXIT_RELEASE_RUNNING;
        return;
      }
      const url = workflowUrl(namespace, handle.workflowId);
      const said = `${handle.attached ? 'attached to the running' : 'started'} ${handle.workflowId}\n  ${url}`;
      if (!options.wait) {
        console.log(options.json ? JSON.stringify({ workflowId: handle.workflowId, url, attached: Boolean(handle.attached) }) : said);
        return;
      }
      if (!options.json) console.log(said);
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
    },
    { leaveOpen: options.wait },
  );
  // Done: do not linger on idle gRPC/HTTP keep-alive handles of the watch loop.
  if (options.wait) process.exit(process.exitCode ?? 0);
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
    .addOption(new Option('--target <target>', 'deployment target').choices(TARGET_KINDS))
    .option('--wait', 'show live progress until the run ends or waits for approval')
    .option('--json', 'print machine-readable JSON')
    .option('--by <name>', 'who starts the release (forbid_self_approval refuses their approval); default: the OS user')
    .option('--attach', "when the model's release is running, follow it instead of being refused (exit 3)")
    .action(async (options: StartOptions) => {
      const config = releaseConfigFromFlags(options);
      // Started all the same: the worker that validates the data may see another disk than this machine.
      if (!existsSync(config.input_data_path)) {
        console.error(`warning: ${config.input_data_path} does not exist on this machine; the release fails at data validation unless its worker finds the file`);
      }
      await startAndFollow(config, options, { modelUri: options.modelUri, startedBy: options.by, attach: options.attach });
    });

  program
    .command('approve <workflowId>')
    .description('approve the candidate a release waits for (answers with the verdict, e.g. "refused: not an approver")')
    .requiredOption('--by <name>', 'who approves: the principal in allowed_signers (and approvers) of the config')
    .option('--key <file>', 'SSH key to sign with (required when the release sets allowed_signers), e.g. ~/.ssh/id_ed25519, or a .pub whose key is in ssh-agent')
    .option('--comment <text>', 'why (one line; signed with the approval)')
    .option('--model-version <version>', 'the version you reviewed (default: the one waiting)')
    .action(async (workflowId: string, options: { by: string; key?: string; comment?: string; modelVersion?: string }) => {
      await answer(workflowId, 'approved', options.by, options.key, options.comment ?? '', (handle, status, signed) =>
        handle.executeUpdate(approveUpdate, {
          args: [{ by: options.by, comment: options.comment, modelVersion: options.modelVersion ?? status.candidate?.version ?? '', ...signed }],
        }),
      );
    });

  program
    .command('reject <workflowId>')
    .description('reject the candidate a release waits for; nothing is deployed')
    .requiredOption('--by <name>', 'who rejects')
    .requiredOption('--reason <text>', 'why (required; one line; signed with the rejection)')
    .option('--key <file>', 'SSH key to sign with (required when the release sets allowed_signers)')
    .action(async (workflowId: string, options: { by: string; reason: string; key?: string }) => {
      await answer(workflowId, 'rejected', options.by, options.key, options.reason, (handle, status, signed) =>
        handle.executeUpdate(rejectUpdate, {
          args: [{ by: options.by, reason: options.reason, modelVersion: signed.statement ? status.candidate?.version : undefined, ...signed }],
        }),
      );
    });

  program
    .command('status <workflowId>')
    .description("a release's current step, step results, candidate, gates and what it waits for; for a deploy or rollback run, whether it holds its endpoint or waits")
    .option('--json', 'print the status as JSON')
    .action(async (workflowId: string, options: { json?: boolean }) => {
      await withClient(async (client, namespace) => {
        const handle = client.workflow.getHandle(workflowId);
        const run = await handle.describe();
        if (run.type !== 'modelRelease') {
          await printOperatorStatus(client, handle, run.type, run.status.name, options.json);
          if (!options.json) console.log(workflowUrl(namespace, workflowId));
          return;
        }
        const status = await handle.query(statusQuery);
        // From the server: what each pending activity waits on (a retry and its last error, or heartbeat progress).
        const pending = status.outcome === 'running' ? await pendingWork(handle).catch(() => []) : [];
        if (options.json) return void console.log(JSON.stringify({ ...status, pending }, null, 2));
        console.log(`${workflowId}: ${status.stage} (${status.outcome})${status.handleId ? ` · release ${status.workflowId}` : ''}`);
        if (status.trigger) console.log(`  why: ${triggerLine(status.trigger)}`);
        for (const line of environmentLines(status.environments)) console.log(line);
        for (const step of status.steps) console.log(`  ${step.status.padEnd(9)} ${step.name.padEnd(12)} ${step.summary ?? ''}`);
        for (const line of pending) console.log(`${status.stage}: ${line}`);
        if (status.waitingFor) console.log(`waiting for ${status.waitingFor}`);
        if (status.gate) console.log(describeGate(status.gate));
        // One rollout per endpoint: while this release waits for its endpoint or holds it, who holds and who waits.
        if (status.endpointHold && status.endpointHold.state !== 'released') {
          console.log(`endpoint ${status.endpointHold.endpoint}:`);
          for (const line of lockLines(status.endpointHold.endpoint, await readEndpointLock(client, status.endpointHold.lockId))) console.log(line);
        }
        if (status.review) console.log(reviewLines(status.review).join('\n'));
        if (status.refused.length) console.log(`refused messages:\n  ${status.refused.join('\n  ')}`);
        console.log(workflowUrl(namespace, workflowId));
      });
    });

  program
    .command('list')
    .description('recent releases with their model, stage and outcome')
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'print as JSON')
    .action(async (options: { limit: string; json?: boolean }) => {
      await withClient(async (client) => {
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
        for (const line of releaseTable(rows)) console.log(line);
      });
    });
}

/** `list` as a table: a header, then one line per release, each column as wide as its widest cell. */
export function releaseTable(rows: Record<string, unknown>[]): string[] {
  const columns: [string, (row: Record<string, unknown>) => string][] = [
    ['STARTED', (r) => String(r.started).slice(0, 19)],
    ['STATUS', (r) => String(r.status)],
    ['MODEL', (r) => String(r.model ?? '')],
    ['STAGE', (r) => String(r.stage ?? '')],
    ['OUTCOME', (r) => String(r.outcome ?? '')],
    ['WORKFLOW ID', (r) => String(r.workflowId)],
  ];
  const cells = [columns.map(([title]) => title), ...rows.map((row) => columns.map(([, cell]) => cell(row)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  return cells.map((line) => line.map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

/** Where the candidate stands in each environment, for `status`. */
export function environmentLines(environments: EnvironmentStatus[] | undefined): string[] {
  if (!environments?.length) return [];
  const width = Math.max(...environments.map((e) => e.name.length));
  return [
    '  environments:',
    ...environments.map(
      (e) =>
        `    ${e.name.padEnd(width)}  ${e.stage.padEnd(17)} ${e.target}:${e.endpoint}${e.alias ? `  ${e.alias}` : ''}${e.approval ? `  (${e.approval.decision}${e.approval.automatic ? ', automatic' : ''})` : ''}`,
    ),
  ];
}

/** The approval rules and the approvals so far, for `status`. */
function describeGate(gate: ApprovalGateStatus): string {
  const rules = [
    gate.signatures === 'required' ? `signatures required (${gate.allowedSigners})` : 'names only (allowed_signers not set: approvers are not verified)',
    `${gate.requiredApprovals} approval(s) required`,
    gate.forbidSelfApproval ? `self-approval refused (started by ${gate.startedBy ?? 'unknown'})` : undefined,
  ].filter(Boolean);
  const votes = gate.approvals.map((v) => `  ${v.at} ${v.decision} by ${v.by}${v.signed ? ` (signed, key ${v.signed.keyFingerprint})` : ''}`);
  return [`approval: ${rules.join('; ')}`, ...votes].join('\n');
}

/**
 * Answers a waiting release: reads what it waits for, signs the statement when the release requires signatures
 * (or when --key is given), sends the Update and prints the verdict; a refusal exits 1.
 */
async function answer(
  workflowId: string,
  decision: 'approved' | 'rejected',
  by: string,
  key: string | undefined,
  comment: string,
  send: (handle: WorkflowHandle, status: ReleaseStatus, signed: SignedMessage) => Promise<string>,
): Promise<void> {
  await withClient(async (client) => {
    try {
      const handle = client.workflow.getHandle(workflowId);
      const status = await handle.query(statusQuery);
      const required = status.gate?.signatures === 'required';
      const command = decision === 'approved' ? 'approve' : 'reject';
      if (required && !key)
        throw new Error(`refused: ${workflowId} requires a signed decision (allowed_signers is set). Fix: add --key ~/.ssh/id_ed25519 (the key listed for ${by})`);
      let signed: SignedMessage = {};
      if (key && !required) console.error(`note: ${workflowId} does not require signatures (allowed_signers is not set): the ${command} is sent by name only`);
      else if (key) {
        const statement = statementFor(status, decision, by, comment);
        signed = { statement, signature: await signStatement(key, statement) };
      }
      console.log(await send(handle, status, signed));
    } catch (error) {
      const message = error instanceof WorkflowUpdateFailedError ? failureMessage(error) : (error as Error).message;
      console.error(message.startsWith('refused') ? message : `refused: ${message}`);
      process.exitCode = 1;
    }
  });
}
