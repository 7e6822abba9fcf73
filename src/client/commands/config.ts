import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../../config/load';
import { loadAllowedSigners } from '../../approval/verify';
import { describeKey, releaseConfigKeys, releaseConfigSchema } from '../../config/schema';

export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('check, show and document release configuration files');

  config
    .command('check')
    .description('validate a config file; prints every problem with its line and fix (exit 1), or "valid" (exit 0)')
    .option('-c, --config <file>', 'YAML config file', 'config/default.yaml')
    .action((options: { config: string }) => {
      const { path, config: loaded } = loadOrExit(options.config);
      if (loaded.allowed_signers) {
        try {
          const rules = loadAllowedSigners(loaded.allowed_signers);
          console.log(`${loaded.allowed_signers}: ${rules.length} allowed signer line(s)`);
        } catch (error) {
          console.error(`${path}: allowed_signers: ${(error as Error).message}`);
          process.exit(1);
        }
      }
      console.log(`${path}: valid`);
    });

  config
    .command('show')
    .description('print the configuration a run would use: the file plus defaults, as JSON')
    .option('-c, --config <file>', 'YAML config file', 'config/default.yaml')
    .action((options: { config: string }) => {
      console.log(JSON.stringify(loadOrExit(options.config).config, null, 2));
    });

  config
    .command('reference')
    .description('list every config key with its default and what it accepts')
    .action(() => {
      const defaults = releaseConfigSchema.parse({}) as Record<string, unknown>;
      for (const key of releaseConfigKeys) {
        const value = defaults[key];
        console.log(`${key}${value === undefined ? '' : ` = ${JSON.stringify(value)}`}\n    ${describeKey(key)}`);
      }
    });
}

function loadOrExit(path: string): ReturnType<typeof loadConfig> {
  try {
    return loadConfig({ path });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}
