import type { Command } from 'commander';
import { taskQueues } from '../../config/environment';
import { withClient } from '../temporal';
import { runStackCheck } from '../stack-check';

export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description('run a check workflow through both task queues and print what each worker reports')
    .option('--timeout <seconds>', 'give up after this many seconds', '90')
    .option('--json', 'print the result as JSON')
    .action(async (options: { timeout: string; json?: boolean }) => {
      const queues = taskQueues();
      const result = await withClient((client) => runStackCheck(client, queues, `${Number(options.timeout)}s`));
      if (options.json) {
        console.log(JSON.stringify(result, null, 2));
        return;
      }
      const { orchestration: o, training: t } = result;
      console.log(`orchestration queue ${queues.orchestration}: worker ${o.host}/${o.pid} (Node ${o.node})`);
      console.log(`  MLflow ${o.mlflow.uri}: ${o.mlflow.healthy ? 'reachable' : `NOT reachable (${o.mlflow.detail})`}`);
      console.log(`training queue ${queues.training}: worker ${t.host}/${t.pid} (Python ${t.python})`);
      console.log(
        `  ${Object.entries(t.packages)
          .map(([name, version]) => `${name} ${version}`)
          .join(', ')}`,
      );
      if (!o.mlflow.healthy) process.exitCode = 1;
    });
}
