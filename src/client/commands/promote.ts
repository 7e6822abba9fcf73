// `modelship promote <model>@<from> --to <environment>`: releases a version already registered (and already live in
// an earlier environment) into a later one, through the same gate and rollout as any release: no training, the same
// ONNX digest, the model's one release at a time.
import type { Command } from 'commander';
import type { ReleaseConfig } from '../../config/schema';
import { mlflowTrackingUri } from '../../config/environment';
import { MlflowClient } from '../../registry/mlflow';
import { osUser } from '../release';
import { releaseConfigFromFlags, startAndFollow } from './release';

/** `name@alias`, e.g. financial-behavior-model@staging. */
export function parseModelAlias(spec: string): { model: string; alias: string } {
  const match = /^([A-Za-z0-9][A-Za-z0-9._-]*)@([A-Za-z0-9_-]+)$/.exec(spec);
  if (!match) throw new Error(`"${spec}" is not MODEL@ALIAS. Fix: name the registered model and the alias to promote, e.g. financial-behavior-model@staging`);
  return { model: match[1]!, alias: match[2]! };
}

/**
 * The config of a promotion: the model from the spec, no training (the aliased version as it is), and the
 * environments from `to` on. Errors name what is wrong and the fix.
 */
export function promotionConfig(config: ReleaseConfig, spec: { model: string; alias: string }, to: string): ReleaseConfig {
  if (spec.model !== config.model_name) {
    throw new Error(`the config releases ${config.model_name}, not ${spec.model}. Fix: pass the config of ${spec.model} (-c FILE) or promote ${config.model_name}@${spec.alias}`);
  }
  const promoted = { ...config, skip_training: true };
  if (!config.environments) {
    if (to !== 'production') throw new Error(`the config has no environments, so the only one is production, not ${to}. Fix: --to production, or add environments: to the config`);
    return promoted;
  }
  const index = config.environments.findIndex((e) => e.name === to);
  const names = config.environments.map((e) => e.name);
  if (index < 0) throw new Error(`--to ${to}: the config's environments are ${names.join(', ')}. Fix: --to one of them`);
  if (names.indexOf(spec.alias) >= index) throw new Error(`${spec.alias} does not come before ${to} (the order is ${names.join(' → ')}). Fix: promote from an earlier environment`);
  return { ...promoted, environments: config.environments.slice(index) };
}

export function registerPromoteCommand(program: Command): void {
  program
    .command('promote <modelAtAlias>')
    .description('release a registered version (e.g. financial-behavior-model@staging) into a later environment through its gate and rollout, without training')
    .requiredOption('--to <environment>', 'the environment to enter (and those after it), e.g. production')
    .option('-c, --config <file>', 'YAML config with the environments', 'config/default.yaml')
    .option('--wait', 'show live progress until the run ends or waits for approval')
    .option('--json', 'print machine-readable JSON')
    .option('--by <name>', 'who promotes (forbid_self_approval refuses their approval); default: the OS user')
    .option('--attach', "when the model's release is running, follow it instead of being refused (exit 3)")
    .addHelpText(
      'after',
      '\nExamples:\n  modelship promote financial-behavior-model@staging --to production --wait\n' +
        '  modelship promote financial-behavior-model@staging --to production -c config/bank.yaml --by alice\n\n' +
        'The version the alias names is released as it is (the same ONNX digest); the environment’s approval policy applies.',
    )
    .action(async (modelAtAlias: string, options: { to: string; config: string; wait?: boolean; json?: boolean; by?: string; attach?: boolean }) => {
      const spec = parseModelAlias(modelAtAlias);
      const config = promotionConfig(releaseConfigFromFlags({ config: options.config }), spec, options.to);
      const version = await new MlflowClient(mlflowTrackingUri()).getVersionByAlias(spec.model, spec.alias);
      if (!version) throw new Error(`${spec.model} has no alias @${spec.alias} in MLflow (${mlflowTrackingUri()}). Fix: release to ${spec.alias} first, or name another alias`);
      const by = options.by ?? osUser();
      const to = config.environments?.map((e) => e.name) ?? ['production'];
      await startAndFollow(config, options, {
        modelUri: `models:/${spec.model}/${version.version}`,
        startedBy: by,
        attach: options.attach,
        trigger: { kind: 'promotion', by, from: spec.alias, to, version: version.version },
      });
    });
}
