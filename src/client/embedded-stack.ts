// The embedded stack: Temporal dev server, MLflow tracking server and (optionally) a modelship worker, run as
// child processes from the project's venv. `modelship dev` runs it in the foreground; the test runner runs one
// per test run on free ports. Each child gets its own process group so a stop reaches its whole tree, and a
// pid file, so a stack whose supervisor was killed is cleaned up by the next start instead of holding ports.
// Each child's stdin is a pipe from the supervisor that is never written: when the supervisor dies, even by
// SIGKILL, the pipe closes and the child stops on its own (modelship processes watch it themselves, see
// supervisor-pipe.ts; the Temporal and MLflow binaries run under python/exit_with_supervisor.py).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { projectRoot, pythonChildEnv, taskQueues, venvExecutable, type TaskQueues } from '../config/environment';
import { searchAttributeKeys } from '../shared/search-attributes';
import { missingPollers, pollerOfProcess } from './stack-check';
import { SUPERVISOR_PIPE_ENV } from './supervisor-pipe';

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
  /** How long to wait for every part to answer its health check (default 3 minutes). */
  readyTimeoutMs?: number;
  /** Progress lines ("waiting for MLflow…"). */
  onProgress?: (message: string) => void;
  /** Aborting (Ctrl-C) stops start-up and every part started so far; start() then rejects with StackStartAborted. */
  signal?: AbortSignal;
}

/** MLflow alone takes a minute to answer on a busy 2-core machine; a part that exits fails start-up at once anyway. */
const DEFAULT_READY_TIMEOUT_MS = 180_000;

/** How often start-up asks a part whether it answers yet (each probe is one local request). */
const READY_POLL_MS = 100;

/** The parts of a stack, in start order. */
export type StackPart = 'temporal' | 'mlflow' | 'endpoints' | 'worker';

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

export interface SpawnOptions {
  runDir: string;
  logDir: string;
  env: NodeJS.ProcessEnv;
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
    /** How it was started, to start it again (EmbeddedStack.startPart). */
    readonly spec: { command: string; args: string[]; options: SpawnOptions },
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? null : 0);
        rmSync(this.pidFile, { force: true });
        child.stdin?.destroy();
        resolve(this.exitCode);
      });
    });
  }

  static start(name: string, command: string, args: string[], options: SpawnOptions): ManagedProcess {
    const logFile = join(options.logDir, `${name}.log`);
    const logFd = openSync(logFile, 'a');
    try {
      // stdin: the supervisor pipe (never written; it closes when this process dies, however it dies).
      const child = spawn(command, args, { detached: true, stdio: ['pipe', logFd, logFd], env: { ...options.env, [SUPERVISOR_PIPE_ENV]: 'stdin' } });
      const pipe = child.stdin as (Writable & { unref?: () => void }) | null;
      pipe?.on('error', () => undefined); // the child closed its end: nothing to do
      pipe?.unref?.(); // the pipe alone must not keep a finished supervisor alive
      const pidFile = join(options.runDir, `${name}.pid`);
      if (child.pid) writeFileSync(pidFile, JSON.stringify({ pid: child.pid, command, args }));
      return new ManagedProcess(name, child, logFile, pidFile, { command, args, options });
    } finally {
      closeSync(logFd);
    }
  }

  /**
   * A program that cannot watch the supervisor pipe itself runs under python/exit_with_supervisor.py, which stops
   * the program's whole process group when the pipe closes.
   */
  static startWatched(name: string, command: string, args: string[], options: SpawnOptions): ManagedProcess {
    const wrapper = join(projectRoot, 'python', 'exit_with_supervisor.py');
    return ManagedProcess.start(name, venvExecutable('python'), [wrapper, command, ...args], options);
  }

  /** The same command again, as a new process (after this one has stopped). */
  restart(): ManagedProcess {
    return ManagedProcess.start(this.name, this.spec.command, this.spec.args, this.spec.options);
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

/**
 * Whether something accepts TCP connections at `address` (host:port, or [v6]:port) within `timeoutMs`. A refused
 * port answers at once, where a gRPC connect keeps retrying until its own timeout.
 */
export async function acceptsConnections(address: string, timeoutMs: number): Promise<boolean> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.slice(colon + 1));
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (accepted: boolean) => {
      socket.destroy();
      resolve(accepted);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

/** Where the kernel draws the local ports of outbound connections from (Linux; the usual default elsewhere). */
function ephemeralPortStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

const LOWEST_PICKED_PORT = 10_000;

/**
 * A port that is free right now, for a server that binds it a few seconds later (MLflow takes ~3 s to start). It is
 * drawn below the kernel's ephemeral range: a port from that range can be taken meanwhile by any outbound
 * connection of any process (seen: MLflow's "address already in use" beside a test run's own connections).
 */
export async function freePort(): Promise<number> {
  const end = ephemeralPortStart();
  for (let attempt = 0; attempt < 20 && end > LOWEST_PICKED_PORT; attempt++) {
    const port = LOWEST_PICKED_PORT + Math.floor(Math.random() * (end - LOWEST_PICKED_PORT));
    if (await isPortFree(port)) return port;
  }
  return osPickedPort();
}

/** A port the OS picks (from its ephemeral range). */
function osPickedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Ctrl-C (or any abort) during start-up: the stack stopped what it had started. */
export class StackStartAborted extends Error {
  constructor() {
    super('start-up interrupted; every part that had started was stopped');
    this.name = 'StackStartAborted';
  }
}

async function waitUntil<T>(what: string, deadline: number, process: ManagedProcess | undefined, probe: () => Promise<T | undefined>, signal?: AbortSignal): Promise<T> {
  let lastError = '';
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new StackStartAborted();
    if (process && !process.running) {
      throw new Error(`${what} exited during start-up (exit code ${await process.exited}). Its log (${process.logFile}) ends with:\n${process.tail()}`);
    }
    try {
      const result = await probe();
      if (result !== undefined) return result;
    } catch (error) {
      lastError = (error as Error).message;
    }
    await sleep(READY_POLL_MS);
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
      MODELSHIP_HOME: resolve(this.options.stateDir),
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
    const { stateDir, ports, onProgress, signal } = this.options;
    const runDir = join(stateDir, 'run');
    const logDir = join(stateDir, 'logs');
    for (const dir of [runDir, logDir, join(stateDir, 'mlflow', 'artifacts')]) mkdirSync(dir, { recursive: true });
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

    // Every part starts at once but the worker, which starts once Temporal and MLflow answer: after a restart it
    // resumes activities in flight at once, and a training activity that met no MLflow would spend its retries.
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
    const cli = this.options.modelship;
    const temporal = this.launch('temporal');
    const mlflow = this.launch('mlflow');
    const endpoints = cli && ports.endpoint !== undefined ? this.launch('endpoints') : undefined;
    onProgress?.('waiting for Temporal and MLflow to answer…');
    const servers = [this.ready(temporal, deadline), this.ready(mlflow, deadline)];
    const parts = [...servers, ...(endpoints ? [this.ready(endpoints, deadline)] : [])];
    if (cli && this.options.worker !== false) {
      parts.push(
        Promise.all(servers).then(() => {
          // Another part failed meanwhile and start() is stopping what it started: start no more.
          if (this.stopping) throw new StackStartAborted();
          onProgress?.('waiting for the worker to poll both task queues…');
          return this.ready(this.launch('worker'), deadline);
        }),
      );
    }
    await Promise.all(parts);
    if (signal?.aborted) throw new StackStartAborted();
  }

  /** Starts one part as a child process (see the class comment for the supervisor pipe). */
  private launch(part: StackPart): ManagedProcess {
    const { stateDir, ports } = this.options;
    const spawnOptions = { runDir: join(stateDir, 'run'), logDir: join(stateDir, 'logs'), env: pythonChildEnv() };
    const cli = this.options.modelship;
    switch (part) {
      case 'temporal': {
        // One flag and its value per line.
        // prettier-ignore
        const args = [
          'server', 'start-dev',
          '--ip', '127.0.0.1',
          '--port', String(ports.temporal),
          '--namespace', this.namespace,
          '--log-level', 'warn',
          ...(this.options.persistTemporal ? ['--db-filename', join(stateDir, 'temporal.db')] : []),
          ...(ports.ui ? ['--ui-port', String(ports.ui)] : ['--headless']),
          ...searchAttributeKeys.flatMap((key) => ['--search-attribute', `${key.name}=${searchAttributeTypeNames[key.type]}`]),
        ];
        return this.track(ManagedProcess.startWatched('temporal', venvExecutable('temporal'), args, spawnOptions));
      }
      case 'mlflow': {
        const mlflowDir = join(stateDir, 'mlflow');
        // One flag and its value per line.
        // prettier-ignore
        const args = [
          'server',
          '--host', '127.0.0.1',
          '--port', String(ports.mlflow),
          '--backend-store-uri', `sqlite:///${join(mlflowDir, 'mlflow.db')}`,
          '--artifacts-destination', join(mlflowDir, 'artifacts'),
          '--serve-artifacts',
          '--workers', '1',
        ];
        // No MLflow server jobs (GenAI scorers, prompt optimisation, trace rollups: modelship submits none), so no
        // job runner and its huey consumer processes.
        const env = { ...spawnOptions.env, MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false' };
        return this.track(ManagedProcess.startWatched('mlflow', venvExecutable('mlflow'), args, { ...spawnOptions, env }));
      }
      case 'endpoints': {
        if (!cli || ports.endpoint === undefined) throw new Error('this stack runs no endpoint server (no modelship CLI or endpoint port)');
        const args = [...cli.args, 'serve', '--port', String(ports.endpoint), '--state-dir', join(stateDir, 'serving'), ...(this.options.endpointArgs ?? [])];
        return this.track(ManagedProcess.start('endpoints', cli.command, args, { ...spawnOptions, env: process.env }));
      }
      case 'worker': {
        if (!cli) throw new Error('this stack runs no worker (no modelship CLI)');
        return this.track(ManagedProcess.start('worker', cli.command, [...cli.args, 'worker'], { ...spawnOptions, env: { ...process.env, ...this.env } }));
      }
    }
  }

  /** Resolves once the part answers its health check (the worker: once it polls every queue it serves). */
  private async ready(process: ManagedProcess, deadline: number): Promise<void> {
    const signal = this.options.signal;
    switch (process.name as StackPart) {
      case 'temporal':
        await waitUntil('Temporal dev server', deadline, process, () => this.probeTemporal(), signal);
        if (this.uiUrl) await waitUntil('Temporal Web UI', deadline, process, () => httpOk(this.uiUrl!), signal);
        return;
      case 'mlflow':
        return void (await waitUntil('MLflow server', deadline, process, () => httpOk(`${this.mlflowUri}/health`), signal));
      case 'endpoints':
        return void (await waitUntil('local endpoint server', deadline, process, () => httpOk(`${this.endpointUrl}/health`), signal));
      case 'worker':
        return void (await waitUntil('modelship worker', deadline, process, () => this.workerPolls(process.pid!), signal));
    }
  }

  /** Stops one part (tests: a server restarted alone). The rest of the stack keeps running. */
  async stopPart(part: StackPart): Promise<void> {
    const process = this.part(part);
    await process.stop(part === 'worker' ? 40_000 : 10_000);
  }

  /** Starts a stopped part again with the same command, and waits until it answers. */
  async startPart(part: StackPart, timeoutMs = DEFAULT_READY_TIMEOUT_MS): Promise<void> {
    if (this.stopping) throw new Error('the stack is stopping');
    const old = this.part(part);
    if (old.running) throw new Error(`${part} is still running: stopPart('${part}') first`);
    this.processes.splice(this.processes.indexOf(old), 1, old.restart());
    await this.ready(this.part(part), Date.now() + timeoutMs);
  }

  private part(part: StackPart): ManagedProcess {
    const process = this.processes.find((p) => p.name === part);
    if (!process) throw new Error(`this stack has no ${part}`);
    return process;
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
    // Not listening yet: say so at once (a gRPC connect would back off for a second before it tries again).
    if (!(await acceptsConnections(this.temporalAddress, 2_000))) return undefined;
    const connection = await Connection.connect({ address: this.temporalAddress, connectTimeout: 2_000 });
    try {
      await connection.workflowService.getSystemInfo({});
      return true;
    } finally {
      await connection.close();
    }
  }

  /**
   * The worker is ready when the server sees it poll every queue. Polls, not a check workflow: a check needs a
   * free slot, and after a restart a resumed training may hold the training queue's only one for an hour.
   */
  private async workerPolls(pid: number): Promise<true | undefined> {
    const connection = await Connection.connect({ address: this.temporalAddress, connectTimeout: 2_000 });
    try {
      const client = new Client({ connection, namespace: this.namespace });
      const missing = await missingPollers(client, this.queues, pollerOfProcess(pid));
      if (missing.length > 0) throw new Error(`not polled yet: ${missing.join(', ')}`);
      return true;
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
