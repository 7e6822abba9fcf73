// The `modelship` command line. Each subcommand lives in its own module; this file only wires them up.
import { Command } from 'commander';
import { registerAuditCommand } from './commands/audit';
import { registerConfigCommands } from './commands/config';
import { registerDataCommands } from './commands/data';
import { registerDevCommand } from './commands/dev';
import { registerDemoCommand } from './commands/demo';
import { registerFeedbackCommand } from './commands/feedback';
import { registerMonitorCommands } from './commands/monitor';
import { registerPromoteCommand } from './commands/promote';
import { registerReleaseCommands } from './commands/release';
import { registerScheduleCommands } from './commands/schedule';
import { registerReportCommand } from './commands/report';
import { registerServeCommand } from './commands/serve';
import { registerEndpointCommands } from './commands/endpoints';
import { registerCheckCommand } from './commands/check';
import { registerWorkerCommand } from './commands/worker';
import { exitWithSupervisor } from './supervisor-pipe';

export function buildProgram(): Command {
  const program = new Command('modelship')
    .description(
      'A durable release pipeline for ML models on Temporal: validate data, train, test, approve, deploy blue-green, and roll back automatically when a health check fails.',
    )
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Getting started:
  $ npm run dev              # Temporal (Web UI :8233) + MLflow (:5000) + a worker, until Ctrl-C
  $ modelship check          # prove a worker serves both task queues
  $ modelship config check --config config/default.yaml

Connection settings come from the environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
TEMPORAL_TLS* (Temporal's standard variables) and MLFLOW_TRACKING_URI.`,
    );
  registerDemoCommand(program);
  registerReleaseCommands(program);
  registerPromoteCommand(program);
  registerAuditCommand(program);
  registerReportCommand(program);
  registerEndpointCommands(program);
  registerMonitorCommands(program);
  registerScheduleCommands(program);
  registerFeedbackCommand(program);
  registerDevCommand(program);
  registerWorkerCommand(program);
  registerServeCommand(program);
  registerCheckCommand(program);
  registerConfigCommands(program);
  registerDataCommands(program);
  return program;
}

export async function runCli(argv: string[]): Promise<void> {
  // Started by `modelship dev` (the worker, the endpoint server): stop when it goes away, however it goes.
  exitWithSupervisor();
  // `modelship … | head` closes stdout early: that is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  await buildProgram().parseAsync(argv);
}

if (require.main === module) {
  runCli(process.argv).catch((error: unknown) => {
    console.error(`modelship: ${(error as Error).message ?? String(error)}`);
    process.exit(1);
  });
}
