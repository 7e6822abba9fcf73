import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { ConfigError, loadConfig } from '../../config/load';
import { generateBankingCsv } from '../../data/generate';

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1.');
  return n;
}

export function registerDataCommands(program: Command): void {
  const data = program.command('data').description('generate sample data, validate a CSV against the contract, propose a contract');

  data
    .command('generate')
    .description('write a synthetic "Comprehensive Banking Database" CSV (40 columns + HighAmount), deterministic for a seed')
    .option('--rows <n>', 'rows to write', wholeNumber, 5000)
    .option('--seed <n>', 'random seed', wholeNumber, 42)
    .option('--out <file>', 'output CSV', 'data/Comprehensive_Banking_Database.csv')
    .action(async (options: { rows: number; seed: number; out: string }) => {
      const { mkdirSync } = await import('node:fs');
      const { dirname } = await import('node:path');
      mkdirSync(dirname(options.out), { recursive: true });
      const started = Date.now();
      let shown = 0;
      const result = await generateBankingCsv({
        ...options,
        onProgress: (written, total) => {
          if (process.stderr.isTTY && written - shown >= 100_000) {
            shown = written;
            process.stderr.write(`\r  ${written}/${total} rows`);
          }
        },
      });
      if (shown) process.stderr.write('\n');
      console.log(
        `wrote ${result.rows} rows to ${result.path} in ${((Date.now() - started) / 1000).toFixed(1)} s: ` +
          `${result.positives} HighAmount = 1 (${((100 * result.positives) / result.rows).toFixed(1)} %, Transaction Amount ≥ ${result.threshold})`,
      );
    });

  data
    .command('validate <file>')
    .description("check a CSV against the config's data contract: prints the profile (exit 0) or every problem (exit 1)")
    .option('-c, --config <file>', 'YAML config file with a data: contract', 'config/default.yaml')
    .option('--json', 'print the profile or the problems as JSON')
    .action(async (file: string, options: { config: string; json?: boolean }) => {
      let config;
      try {
        config = loadConfig({ path: options.config }).config;
      } catch (error) {
        if (error instanceof ConfigError) {
          console.error(error.message);
          process.exit(1);
        }
        throw error;
      }
      if (!config.data) {
        console.error(`${options.config} has no data contract (data:). Fix: add one; 'modelship data infer-schema ${file}' proposes it.`);
        process.exit(1);
      }
      // DuckDB is loaded by the commands that scan a CSV, not by every start of the CLI.
      const { validateDataset } = await import('../../data/validate-engine');
      const { profile, problems } = await validateDataset(file, { contract: config.data, cvFolds: config.cv_folds, testSplit: config.test_data_split });
      if (options.json) {
        console.log(JSON.stringify(problems.length ? { valid: false, problems } : { valid: true, profile }, null, 2));
      } else if (problems.length > 0) {
        console.error(`${file}: ${problems.length} problem(s)\n${problems.map((p) => `  - ${p}`).join('\n')}`);
      } else {
        const p = profile!;
        console.log(`${file}: valid — ${p.rows} rows, ${p.target.positives} positive (${(100 * p.target.positive_rate).toFixed(2)} %), sha256 ${p.sha256}`);
        for (const [name, column] of Object.entries(p.columns)) {
          const range = column.min !== undefined ? ` [${column.min} … ${column.max}]` : '';
          const distinct = column.distinct !== undefined ? ` ${column.distinct} distinct` : '';
          const auc = p.single_feature_auc[name] !== undefined ? ` single-feature AUC ${p.single_feature_auc[name]!.toFixed(3)}` : '';
          console.log(`  ${name.padEnd(34)} ${column.role.padEnd(11)} nulls ${(100 * column.null_rate).toFixed(1)} %${range}${distinct}${auc}`);
        }
      }
      if (problems.length > 0) process.exitCode = 1;
    });

  data
    .command('infer-schema <file>')
    .description('propose a data contract (YAML) for any CSV; review it, then paste it into your config')
    .option('--target <column>', 'the binary target column (default: guessed)')
    .option('--out <file>', 'write the YAML here instead of stdout')
    .action(async (file: string, options: { target?: string; out?: string }) => {
      const { contractAsYaml, inferContract } = await import('../../data/infer-schema');
      const yaml = contractAsYaml(await inferContract(file, { target: options.target }));
      if (options.out) {
        writeFileSync(options.out, yaml);
        console.log(`wrote a proposed contract to ${options.out}`);
      } else process.stdout.write(yaml);
    });
}
