import { Option, type Command } from 'commander';
import { stateDir } from '../../config/environment';
import { EmbeddedStack, freePort, isPortFree, PortInUseError, StackAlreadyRunningError, StackStartAborted, type ManagedProcess, type StackPart } from '../embedded-stack';
import { portOption } from '../options';

interface DevOptions {
  temporalPort: number;
  uiPort: number;
  mlflowPort: number;
  endpointPort: number;
  workerMetrics: string;
  /** Given by flag or environment (a busy port is then an error), not the default (a busy port moves). */
  workerMetricsChosen: boolean;
  stateDir: string;
}

/** Where the dev worker serves the Temporal SDK's metrics unless told otherwise (the OpenTelemetry Prometheus port). */
export const DEFAULT_WORKER_METRICS = '127.0.0.1:9464';

export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description(
      'run the embedded stack in the foreground until Ctrl-C: Temporal dev server with Web UI (history kept in <state-dir>/temporal.db), MLflow tracking server (SQLite + artifacts in <state-dir>/mlflow) and a worker',
    )
    .addOption(portOption('--temporal-port <port>', 'Temporal gRPC port', 7233))
    .addOption(portOption('--ui-port <port>', 'Temporal Web UI port', 8233))
    .addOption(portOption('--mlflow-port <port>', 'MLflow server port', 5000))
    .addOption(portOption('--endpoint-port <port>', 'local endpoint server port (the "local" deployment target)', 5100))
    .addOption(
      new Option(
        '--worker-metrics <host:port>',
        `where the worker serves the Temporal SDK's metrics for Prometheus (GET /metrics), or off; by default ${DEFAULT_WORKER_METRICS}, or a free port when that one is taken`,
      )
        .env('MODELSHIP_WORKER_METRICS')
        .default(DEFAULT_WORKER_METRICS),
    )
    .option('--state-dir <dir>', 'where the stack keeps its data and logs (env MODELSHIP_HOME)', stateDir())
    .action(async (options: Omit<DevOptions, 'workerMetricsChosen'>, command: Command) => {
      await runDev({ ...options, workerMetricsChosen: command.getOptionValueSource('workerMetrics') !== 'default' });
    });
}

/** `export …` for a second terminal: every variable the CLI reads to reach this stack. */
export function exportLine(env: NodeJS.ProcessEnv): string {
  const quote = (value: string) => (/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);
  return `export ${Object.entries(env)
    .map(([name, value]) => `${name}=${quote(String(value))}`)
    .join(' ')}`;
}

async function runDev(options: DevOptions): Promise<void> {
  const started = Date.now();
  let workerMetrics: string | undefined;
  // The worker module loads the Temporal worker SDK and every activity's libraries: only `dev` needs it, and only here.
  const { workerMetricsAddress } = await import('../../worker');
  try {
    workerMetrics = workerMetricsAddress({ MODELSHIP_WORKER_METRICS: options.workerMetrics });
  } catch (error) {
    console.error(`modelship dev: ${(error as Error).message.replace('MODELSHIP_WORKER_METRICS', '--worker-metrics')}`);
    process.exit(1);
  }
  if (workerMetrics) {
    const separator = workerMetrics.lastIndexOf(':');
    const host = workerMetrics.slice(0, separator);
    if (!(await isPortFree(Number(workerMetrics.slice(separator + 1)), host.replace(/^\[|\]$/g, '')))) {
      if (options.workerMetricsChosen) {
        console.error(
          `modelship dev: ${workerMetrics} (worker metrics) is already in use. Stop whatever listens there, or choose another address with --worker-metrics <host:port> (or off).`,
        );
        process.exit(1);
      }
      // The default port is taken (another stack, an exporter): any free one will do, it is printed below.
      workerMetrics = `${host}:${await freePort()}`;
    }
  }
  // The worker (started, and restarted, with this process's environment) reads it.
  process.env.MODELSHIP_WORKER_METRICS = workerMetrics ?? 'off';
  const progress = (message: string) => console.log(`  … ${message}`);
  console.log('modelship: starting the embedded stack');
  // Ctrl-C from the first moment: start-up stops and stops whatever it had started.
  const interrupted = new AbortController();
  const interrupt = () => {
    if (!interrupted.signal.aborted) console.log('\nmodelship: interrupted during start-up; stopping what has started…');
    interrupted.abort();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  let stack: EmbeddedStack;
  try {
    stack = await EmbeddedStack.start({
      stateDir: options.stateDir,
      ports: { temporal: options.temporalPort, ui: options.uiPort, mlflow: options.mlflowPort, endpoint: options.endpointPort },
      persistTemporal: true,
      // The worker runs from this same entry point, with this Node's flags (so it works from src/ under tsx too).
      modelship: { command: process.execPath, args: [...process.execArgv, require.resolve('../cli')] },
      onProgress: progress,
      signal: interrupted.signal,
    });
  } catch (error) {
    if (error instanceof StackStartAborted) {
      console.log('modelship: stopped.');
      process.exit(130);
    }
    if (error instanceof PortInUseError || error instanceof StackAlreadyRunningError) {
      console.error(`modelship dev: ${error.message}`);
      process.exit(1);
    }
    throw error;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }

  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const pidOf = (name: string) => stack.children.find((child) => child.name === name)?.pid;
  console.log(
    [
      '',
      `modelship embedded stack is ready (${seconds} s)`,
      `  Temporal        ${stack.temporalAddress}  namespace ${stack.namespace}  (pid ${pidOf('temporal')})`,
      `  Temporal Web UI ${stack.uiUrl}`,
      `  MLflow          ${stack.mlflowUri}`,
      `  Endpoints       ${stack.endpointUrl}  (local deployment target; POST /endpoints/{name}/score, GET /metrics)`,
      `  Worker          task queues ${stack.queues.orchestration}, ${stack.queues.training}  (pid ${pidOf('worker')})`,
      `  Worker metrics  ${workerMetrics ? `http://${workerMetrics}/metrics  (Temporal SDK, Prometheus format)` : 'off (--worker-metrics <host:port>)'}`,
      `  State and logs  ${options.stateDir}  (logs/*.log)`,
      '',
      'In another terminal (so modelship commands reach this stack and its state dir):',
      `  ${exportLine(stack.env)}`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const shutdown = async (reason: string, exitCode: number) => {
    if (stopping) return;
    stopping = true;
    console.log(`\nmodelship: ${reason}; stopping the worker, the endpoint server, MLflow and Temporal…`);
    await stack.stop();
    console.log('modelship: stopped.');
    process.exit(exitCode);
  };
  process.once('SIGINT', () => void shutdown('interrupted', 0));
  process.once('SIGTERM', () => void shutdown('terminated', 0));
  // A part that dies is started again (releases in flight ride out the gap); one that keeps dying takes the stack
  // down with it, loudly, rather than leaving a half-working stack.
  const restarts = new Map<string, number[]>();
  const watch = (child: ManagedProcess) =>
    void child.exited.then(async (code) => {
      if (stopping) return;
      const recent = (restarts.get(child.name) ?? []).filter((at) => Date.now() - at < RESTART_WINDOW_MS);
      console.error(`\nmodelship: ${child.name} exited unexpectedly (code ${code}). Its log ends with:\n${child.tail()}`);
      if (recent.length >= MAX_RESTARTS) return void shutdown(`${child.name} stopped ${MAX_RESTARTS + 1} times within 10 minutes`, 1);
      restarts.set(child.name, [...recent, Date.now()]);
      console.error(`modelship: starting ${child.name} again (restart ${recent.length + 1} of ${MAX_RESTARTS} within 10 minutes)…`);
      try {
        await stack.startPart(child.name as StackPart);
      } catch (error) {
        if (!stopping) void shutdown(`${child.name} could not start again (${(error as Error).message})`, 1);
        return;
      }
      console.log(`modelship: ${child.name} is back`);
      watch(stack.children.find((part) => part.name === child.name)!);
    });
  for (const child of stack.children) watch(child);
}

const MAX_RESTARTS = 3;
const RESTART_WINDOW_MS = 10 * 60_000;
