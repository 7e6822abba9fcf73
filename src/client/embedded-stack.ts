// The embedded stack: Temporal dev server, MLflow tracking server and (optionally) a modelship worker, run as
// child processes from the project's venv. `modelship dev` runs it in the foreground; the test runner runs one
// per test run on free ports. Each child gets its own process group so a stop reaches its whole tree, and a
// pid file, so a stack whose supervisor was killed is cleaned up by the next start instead of holding ports.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { pythonChildEnv, taskQueues, venvExecutable, type TaskQueues } from '../config/environment';
import { searchAttributeKeys } from '../workflows/search-attributes';
import type { StackCheckResult } from '../workflows';
import { runStackCheck } from './stack-check';

export interface StackPorts {
  temporal: number;
  /** Web UI port; undefined runs the dev server headless. */
  ui?: number;
  mlflow: number;
  /** The local endpoint server; undefined: not started. */
  endpoint?: number;
}

export interface EmbeddedStackOptions {
  /** Holds temporal.db, mlflow/, logs/ and run/ (pid files). */
  stateDir: string;
  ports: StackPorts;
  /** Keep Temporal's history in stateDir/temporal.db across restarts (false: in memory, for tests). */
  persistTemporal: boolean;
  /**
   * How to run the modelship CLI (node + its flags + the CLI entry); with it the stack also runs the local endpoint
   * server (when ports.endpoint is set) and, unless worker is false, a worker whose readiness is a real workflow
   * through both task queues.
   */
  modelship?: { command: string; args: string[] };
  worker?: boolean;
  /** Extra flags for the endpoint server (tests: --allow-faults). */
  endpointArgs?: string[];
  /** How long to wait for every part to answer its health check. */
  readyTimeoutMs?: number;
  /** Progress lines ("waiting for MLflow…"). */
  onProgress?: (message: string) => void;
}

/** A port that is already taken; `flag` names the option that moves it. */
export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    readonly what: string,
    readonly flag: string,
  ) {
    super(`port ${port} (${what}) is already in use. Stop whatever listens there, or choose another port with ${flag} <port>.`);
    this.name = 'PortInUseError';
  }
}

/** Another supervisor already runs a stack on the same state directory. */
export class StackAlreadyRunningError extends Error {
  constructor(
    readonly pid: number,
    readonly stateDir: string,
  ) {
    super(
      `a modelship stack is already running on ${stateDir} (supervisor pid ${pid}). ` +
        `Use it, or stop it first (Ctrl-C in its terminal, or kill ${pid}); a second stack needs another --state-dir and other ports.`,
    );
    this.name = 'StackAlreadyRunningError';
  }
}

/** A child process with its own process group, its output in a log file, and a pid file while it runs. */
export class ManagedProcess {
  private exitCode: number | null | undefined;
  readonly exited: Promise<number | null>;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
    private readonly pidFile: string,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? null : 0);
        rmSync(this.pidFile, { force: true });
        resolve(this.exitCode);
      });
    });
  }

  static start(name: string, command: string, args: string[], options: { runDir: string; logDir: string; env: NodeJS.ProcessEnv }): ManagedProcess {
    const logFile = join(options.logDir, `${name}.log`);
    const logFd = openSync(logFile, 'a');
    try {
      const child = spawn(command, args, { detached: true, stdio: ['ignore', logFd, logFd], env: options.env });
      const pidFile = join(options.runDir, `${name}.pid`);
      if (child.pid) writeFileSync(pidFile, JSON.stringify({ pid: child.pid, command, args }));
      return new ManagedProcess(name, child, logFile, pidFile);
    } finally {
      closeSync(logFd);
    }
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The last lines of the child's log, for error messages. */
  tail(lines = 15): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** SIGTERM to the whole process group, SIGKILL after the grace period. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running || !this.child.pid) return;
    signalGroup(this.child.pid, 'SIGTERM');
    const stopped = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!stopped) {
      signalGroup(this.child.pid, 'SIGKILL');
      await this.exited;
    }
    // Grandchildren (e.g. MLflow's uvicorn workers) may outlive the leader for a moment.
    signalGroup(this.child.pid, 'SIGKILL');
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone already
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops children left behind by a supervisor that was killed (their pid files are still in runDir). */
export async function reapLeftovers(runDir: string, onProgress?: (message: string) => void): Promise<void> {
  if (!existsSync(runDir)) return;
  for (const file of readdirSync(runDir).filter((name) => name.endsWith('.pid'))) {
    const path = join(runDir, file);
    let pid: number | undefined;
    try {
      pid = (JSON.parse(readFileSync(path, 'utf8')) as { pid?: number }).pid;
    } catch {
      // unreadable pid file: nothing to stop
    }
    if (pid && isAlive(pid)) {
      onProgress?.(`stopping ${file.replace(/\.pid$/, '')} (pid ${pid}) left over from an earlier run`);
      signalGroup(pid, 'SIGTERM');
      for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
      signalGroup(pid, 'SIGKILL');
    }
    rmSync(path, { force: true });
  }
}

export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port that is free right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitUntil<T>(what: string, deadline: number, process: ManagedProcess | undefined, probe: () => Promise<T | undefined>): Promise<T> {
  let lastError = '';
  while (Date.now() < deadline) {
    if (process && !process.running) {
      throw new Error(`${what} exited during start-up (exit code ${await process.exited}). Its log (${process.logFile}) ends with:\n${process.tail()}`);
    }
    try {
      const result = await probe();
      if (result !== undefined) return result;
    } catch (error) {
      lastError = (error as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`${what} did not become ready in time${lastError ? ` (last error: ${lastError})` : ''}.${process ? ` Its log: ${process.logFile}\n${process.tail()}` : ''}`);
}

async function httpOk(url: string): Promise<true | undefined> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  await response.arrayBuffer();
  return response.ok ? true : undefined;
}

const searchAttributeTypeNames: Record<string, string> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.TEXT]: 'Text',
  [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.DOUBLE]: 'Double',
  [SearchAttributeType.BOOL]: 'Bool',
  [SearchAttributeType.DATETIME]: 'Datetime',
  [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
};

export class EmbeddedStack {
  readonly queues: TaskQueues = taskQueues();
  readonly namespace = 'default';
  private readonly processes: ManagedProcess[] = [];
  private stopping?: Promise<void>;
  private lockFile?: string;

  private constructor(readonly options: EmbeddedStackOptions) {}

  get temporalAddress(): string {
    return `127.0.0.1:${this.options.ports.temporal}`;
  }

  get uiUrl(): string | undefined {
    return this.options.ports.ui ? `http://127.0.0.1:${this.options.ports.ui}` : undefined;
  }

  get mlflowUri(): string {
    return `http://127.0.0.1:${this.options.ports.mlflow}`;
  }

  get endpointUrl(): string | undefined {
    return this.options.ports.endpoint ? `http://127.0.0.1:${this.options.ports.endpoint}` : undefined;
  }

  /** Environment for processes that use this stack (the worker, tests, the CLI). */
  get env(): NodeJS.ProcessEnv {
    return {
      TEMPORAL_ADDRESS: this.temporalAddress,
      TEMPORAL_NAMESPACE: this.namespace,
      MLFLOW_TRACKING_URI: this.mlflowUri,
      MODELSHIP_HOME: this.options.stateDir,
      ...(this.endpointUrl ? { MODELSHIP_ENDPOINT_URL: this.endpointUrl } : {}),
      ...(this.uiUrl ? { MODELSHIP_TEMPORAL_UI_URL: this.uiUrl } : {}),
    };
  }

  get children(): readonly ManagedProcess[] {
    return this.processes;
  }

  /** Starts every part and resolves once each answers its health check; on any failure, stops what started. */
  static async start(options: EmbeddedStackOptions): Promise<EmbeddedStack> {
    const stack = new EmbeddedStack(options);
    try {
      await stack.startAll();
      return stack;
    } catch (error) {
      await stack.stop();
      throw error;
    }
  }

  private async startAll(): Promise<void> {
    const { stateDir, ports, onProgress } = this.options;
    const runDir = join(stateDir, 'run');
    const logDir = join(stateDir, 'logs');
    const mlflowDir = join(stateDir, 'mlflow');
    for (const dir of [runDir, logDir, join(mlflowDir, 'artifacts')]) mkdirSync(dir, { recursive: true });
    this.claimStateDir(runDir);
    await reapLeftovers(runDir, onProgress);

    const wanted: [number | undefined, string, string][] = [
      [ports.temporal, 'Temporal gRPC', '--temporal-port'],
      [ports.ui, 'Temporal Web UI', '--ui-port'],
      [ports.mlflow, 'MLflow', '--mlflow-port'],
      [ports.endpoint, 'local endpoint server', '--endpoint-port'],
    ];
    for (const [port, what, flag] of wanted) {
      if (port !== undefined && !(await isPortFree(port))) throw new PortInUseError(port, what, flag);
    }

    const spawnOptions = { runDir, logDir, env: pythonChildEnv() };
    const temporalArgs = [
      'server', 'start-dev',
      '--ip', '127.0.0.1',
      '--port', String(ports.temporal),
      '--namespace', this.namespace,
      '--log-level', 'warn',
      ...(this.options.persistTemporal ? ['--db-filename', join(stateDir, 'temporal.db')] : []),
      ...(ports.ui ? ['--ui-port', String(ports.ui)] : ['--headless']),
      ...searchAttributeKeys.flatMap((key) => ['--search-attribute', `${key.name}=${searchAttributeTypeNames[key.type]}`]),
    ];
    const temporal = this.track(ManagedProcess.start('temporal', venvExecutable('temporal'), temporalArgs, spawnOptions));

    const mlflowArgs = [
      'server',
      '--host', '127.0.0.1',
      '--port', String(ports.mlflow),
      '--backend-store-uri', `sqlite:///${join(mlflowDir, 'mlflow.db')}`,
      '--artifacts-destination', join(mlflowDir, 'artifacts'),
      '--serve-artifacts',
      '--workers', '1',
    ];
    const mlflow = this.track(ManagedProcess.start('mlflow', venvExecutable('mlflow'), mlflowArgs, spawnOptions));

    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 60_000);
    onProgress?.('waiting for Temporal and MLflow to answer…');
    await Promise.all([
      waitUntil('Temporal dev server', deadline, temporal, () => this.probeTemporal()),
      this.uiUrl ? waitUntil('Temporal Web UI', deadline, temporal, () => httpOk(this.uiUrl!)) : undefined,
      waitUntil('MLflow server', deadline, mlflow, () => httpOk(`${this.mlflowUri}/health`)),
    ]);

    const cli = this.options.modelship;
    if (cli && ports.endpoint !== undefined) {
      const args = [...cli.args, 'serve', '--port', String(ports.endpoint), '--state-dir', join(stateDir, 'serving'), ...(this.options.endpointArgs ?? [])];
      const server = this.track(ManagedProcess.start('endpoints', cli.command, args, { runDir, logDir, env: process.env }));
      await waitUntil('local endpoint server', deadline, server, () => httpOk(`${this.endpointUrl}/health`));
    }
    if (cli && this.options.worker !== false) {
      onProgress?.('waiting for the worker to serve both task queues…');
      const worker = this.track(
        ManagedProcess.start('worker', cli.command, [...cli.args, 'worker'], { runDir, logDir, env: { ...process.env, ...this.env } }),
      );
      await waitUntil('modelship worker', deadline, worker, () => this.checkWorkers(deadline));
    }
  }

  /** One supervisor per state directory; children of a dead supervisor are leftovers to reap. */
  private claimStateDir(runDir: string): void {
    const lockFile = join(runDir, 'supervisor.lock');
    try {
      const owner = Number(readFileSync(lockFile, 'utf8'));
      if (owner && owner !== process.pid && isAlive(owner)) throw new StackAlreadyRunningError(owner, this.options.stateDir);
    } catch (error) {
      if (error instanceof StackAlreadyRunningError) throw error;
    }
    writeFileSync(lockFile, String(process.pid));
    this.lockFile = lockFile;
  }

  private track(process: ManagedProcess): ManagedProcess {
    this.processes.push(process);
    return process;
  }

  private async probeTemporal(): Promise<true | undefined> {
    const connection = await Connection.connect({ address: this.temporalAddress, connectTimeout: 2_000 });
    try {
      await connection.workflowService.getSystemInfo({});
      return true;
    } finally {
      await connection.close();
    }
  }

  /** Proof that a worker serves both task queues (see runStackCheck). */
  async checkWorkers(deadline = Date.now() + 60_000): Promise<StackCheckResult> {
    const connection = await Connection.connect({ address: this.temporalAddress });
    try {
      const client = new Client({ connection, namespace: this.namespace });
      return await runStackCheck(client, this.queues, Math.max(5_000, deadline - Date.now()));
    } finally {
      await connection.close();
    }
  }

  /** Stops the worker first (it drains its activities), then MLflow and Temporal. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const process of [...this.processes].reverse()) {
        await process.stop(process.name === 'worker' ? 40_000 : 10_000);
      }
      if (this.lockFile) rmSync(this.lockFile, { force: true });
    })();
    return this.stopping;
  }
}
