import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { taskQueues } from '../../config/environment';
import type { EndpointState } from '../../targets/target';
import type { TargetKind } from '../../shared/deployment';
import type { RolloutResult } from '../../workflows/rollout-api';
import { rolloutSettingsOf, type RollbackResult } from '../../workflows/operator-api';
import { environmentConfig } from '../../workflows/environments';
import type { ReleaseConfig } from '../../config/schema';
import { endpointLockId, type EndpointLockState } from '../../workflows/endpoint-lock-api';
import { deploymentTarget } from '../deployment-target';
import { followHold, lockLines, readEndpointLock } from '../endpoint-lock';
import { awaitResult, workflowUrl } from '../release';
import { failureMessage, withClient } from '../temporal';
import { configFromFlags } from './release';

export function registerEndpointCommands(program: Command): void {
  const endpoint = program.command('endpoint').description('inspect online endpoints: deployments, traffic, keys (--target azure for Azure ML)');
  endpoint
    .command('list')
    .description('every endpoint with its deployments (colour, model, version, state), traffic and scoring URL')
    .option('--target <target>', 'local (default) or azure (the workspace in AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZURE_WORKSPACE_NAME)')
    .option('--json', 'print as JSON')
    .action(async (options: { json?: boolean; target?: string }) => {
      const endpoints = await (await deploymentTarget(options.target)).listEndpoints();
      if (options.json) return void console.log(JSON.stringify(endpoints, null, 2));
      if (endpoints.length === 0) return void console.log('no endpoints yet: a release with deployment creates one');
      for (const e of endpoints) printEndpoint(e);
    });
  endpoint
    .command('show <name>')
    .description('one endpoint: deployments, traffic, mirror and scoring URL')
    .option('--target <target>', 'local (default) or azure (the workspace in AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZURE_WORKSPACE_NAME)')
    .option('--json', 'print as JSON')
    .action(async (name: string, options: { json?: boolean; target?: string }) => {
      const state = await (await deploymentTarget(options.target)).describeEndpoint(name);
      if (!state.exists) {
        console.error(`no endpoint named ${name} (modelship endpoint list shows them)`);
        process.exit(1);
      }
      // Who holds the endpoint for a rollout, and who waits: from its lock workflow on Temporal.
      const lock = await lockOf(options.target ?? 'local', name);
      if (options.json) return void console.log(JSON.stringify({ ...state, rollouts: lock.state ?? null, ...(lock.error ? { rolloutsError: lock.error } : {}) }, null, 2));
      printEndpoint(state);
      for (const line of lock.error ? [`  rollouts: unknown (${lock.error})`] : lockLines(name, lock.state)) console.log(line);
    });
  endpoint
    .command('key <name>')
    .description('print the endpoint\'s key (stdout only, for scripts: curl -H "Authorization: Bearer $(modelship endpoint key E)")')
    .option('--target <target>', 'local (default) or azure')
    .action(async (name: string, options: { target?: string }) => {
      process.stdout.write(`${await (await deploymentTarget(options.target)).endpointKey(name)}\n`);
    });

  program
    .command('deploy')
    .description('blue-green rollout of a registered model to an endpoint, with the health checks and undo of a release')
    .requiredOption('--model-uri <uri>', 'models:/NAME@ALIAS or models:/NAME/VERSION')
    .option('--endpoint-name <name>', 'endpoint (default: endpoint_name from the config)')
    .option('-c, --config <file>', 'YAML config with the rollout settings (traffic_plan, bake_time, …)', 'config/default.yaml')
    .option('--target <target>', 'local or azure')
    .option('--environment <name>', 'an environment of the config: its endpoint and target, and its aliases (@<name>) instead of @production')
    .option('--no-cleanup', 'keep the old colour at 0 % afterwards')
    .option('--wait', 'wait for the rollout to finish and print its result')
    .action(async (options: { modelUri: string; endpointName?: string; config: string; target?: TargetKind; environment?: string; cleanup: boolean; wait?: boolean }) => {
      const config = operatorConfig(configFromFlags({ config: options.config, target: options.target }), options.environment);
      const settings = { ...rolloutSettingsOf(config), noCleanup: !options.cleanup || config.no_cleanup, ...aliasOf(options.environment) };
      const name = options.endpointName ?? config.endpoint_name;
      await runOperator(
        'deployRegisteredModel',
        `deploy-${name}-${Date.now()}-${randomUUID().slice(0, 4)}`,
        [{ target: config.target, endpoint: name, modelUri: options.modelUri, settings }],
        options.wait,
        (r: RolloutResult) => `deployed to ${r.colour} of ${r.endpoint}: traffic ${JSON.stringify(r.traffic)}; ${r.cleanup}\nscoring URL: ${r.scoringUri}`,
      );
    });

  program
    .command('rollback')
    .description('put the previous model back on an endpoint: traffic to the previous colour if it still exists, else redeploy @previous')
    .option('--endpoint-name <name>', 'endpoint (default: endpoint_name from the config)')
    .option('-c, --config <file>', 'YAML config with the rollout settings', 'config/default.yaml')
    .option('--environment <name>', 'an environment of the config: its endpoint and target, and only its aliases (@<name>, @<name>-previous) move')
    .option('--wait', 'wait for the rollback to finish and print its result')
    .action(async (options: { endpointName?: string; config: string; environment?: string; wait?: boolean }) => {
      const config = operatorConfig(configFromFlags({ config: options.config }), options.environment);
      const name = options.endpointName ?? config.endpoint_name;
      await runOperator(
        'rollbackEndpoint',
        `rollback-${name}-${Date.now()}-${randomUUID().slice(0, 4)}`,
        [{ target: config.target, endpoint: name, settings: { ...rolloutSettingsOf(config), ...aliasOf(options.environment) } }],
        options.wait,
        (r: RollbackResult) => `rolled back ${name} by ${r.how}: ${r.detail}`,
      );
    });
}

/** The config an operator command acts with: an environment's endpoint and target when one is named. */
export function operatorConfig(config: ReleaseConfig, environment: string | undefined): ReleaseConfig {
  if (!environment) return config;
  const found = config.environments?.find((e) => e.name === environment);
  if (!found) {
    const names = config.environments?.map((e) => e.name).join(', ');
    throw new Error(
      `--environment ${environment}: ${names ? `the config's environments are ${names}` : 'the config has no environments'}. Fix: name one of them, or leave --environment out`,
    );
  }
  return environmentConfig(config, found);
}

/** In an environment the rollout moves that environment's aliases; production's are the default. */
const aliasOf = (environment: string | undefined) => (environment && environment !== 'production' ? { alias: environment } : {});

async function runOperator<R>(workflowType: string, workflowId: string, args: unknown[], wait: boolean | undefined, describe: (result: R) => string): Promise<void> {
  await withClient(async (client, namespace) => {
    const handle = await client.workflow.start(workflowType, { taskQueue: taskQueues().orchestration, workflowId, args });
    console.log(`started ${workflowId}\n  ${workflowUrl(namespace, workflowId)}`);
    // One rollout per endpoint: say at once whether this one holds the endpoint or waits its turn (and behind whom).
    const hold = await followHold(handle, (line) => console.log(line), { untilHolding: Boolean(wait), timeoutMs: wait ? 24 * 3600_000 : 15_000 });
    if (!hold && !wait) console.log('not yet queued for the endpoint after 15 s (is a worker running? modelship check); modelship status ID tells later');
    if (!wait) return;
    const outcome = await awaitResult<R>(handle, { onContact: (line) => console.log(`  ${line}`) });
    if ('result' in outcome) console.log(describe(outcome.result));
    else {
      console.error(`failed: ${failureMessage(outcome.error)}`);
      process.exitCode = 1;
    }
  });
}

async function lockOf(target: string, endpoint: string): Promise<{ state?: EndpointLockState; error?: string }> {
  try {
    return { state: await withClient((client) => readEndpointLock(client, endpointLockId(target, endpoint))) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

function printEndpoint(e: EndpointState): void {
  console.log(`${e.endpoint}  ${e.scoringUri ?? ''}`);
  console.log(`  traffic ${JSON.stringify(e.traffic)}${e.mirror ? `  mirror ${e.mirror.percent} % → ${e.mirror.deployment}` : ''}`);
  for (const d of e.deployments) console.log(`  ${d.name.padEnd(8)} ${d.modelName ?? '?'} v${d.modelVersion ?? '?'}  ${d.state}  ${e.traffic[d.name] ?? 0} %`);
}
