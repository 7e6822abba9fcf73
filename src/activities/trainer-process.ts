// A trainer run as a process: `python -m modelship_trainer REQUEST.json`, with its stdout and stderr lines, a kill
// and its exit. On Linux the worker forks each run from one fork server (python/modelship_trainer/forkserver.py)
// that imported scikit-learn, pandas and MLflow once, instead of paying those imports (seconds on a busy machine)
// for every prepare, shard and finish; elsewhere (fork after such imports is not safe on macOS) each run is spawned.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

export interface TrainerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface TrainerProcess {
  /** Every line the run writes, in order; all of them arrive before `closed` resolves. */
  onLine(listener: (stream: 'stdout' | 'stderr', line: string) => void): void;
  kill(signal: NodeJS.Signals): void;
  readonly closed: Promise<TrainerExit>;
}

/** The interpreter and where and how it runs: the fork server's, and each run's. */
export interface TrainerEnvironment {
  python: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** Starts `python -m modelship_trainer REQUEST`: forked from the worker's fork server on Linux, spawned elsewhere. */
export function startTrainer(environment: TrainerEnvironment, requestPath: string): TrainerProcess {
  return process.platform === 'linux' ? forkServer(environment).run(environment, requestPath) : spawnTrainer(environment, requestPath);
}

/** Starts the fork server ahead of the first run (a worker that serves the training queue), so no run waits for its imports. */
export function warmTrainerForkServer(environment: TrainerEnvironment): void {
  if (process.platform === 'linux') forkServer(environment);
}

function spawnTrainer(environment: TrainerEnvironment, requestPath: string): TrainerProcess {
  const { python, cwd, env } = environment;
  const child = spawn(python, ['-m', 'modelship_trainer', requestPath], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const listeners: ((stream: 'stdout' | 'stderr', line: string) => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => listeners.forEach((listener) => listener('stdout', line)));
  createInterface({ input: child.stderr }).on('line', (line) => listeners.forEach((listener) => listener('stderr', line)));
  return {
    onLine: (listener) => listeners.push(listener),
    kill: (signal) => child.kill(signal),
    closed: new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal }))),
  };
}

const signalNames = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, number]) => [number, name as NodeJS.Signals]));

/** What the fork server says on stdout (see forkserver.py). */
type ServerMessage =
  { ready: true } | { job: number; pid: number } | { job: number; stream: 'stdout' | 'stderr'; line: string } | { job: number; exit: number | null; signal: number | null };

const SERVER_STDERR_LINES = 20;

class ForkedTrainer implements TrainerProcess {
  private readonly listeners: ((stream: 'stdout' | 'stderr', line: string) => void)[] = [];
  private pid?: number;
  private pendingSignal?: NodeJS.Signals;
  private ended = false;
  private resolveClosed!: (exit: TrainerExit) => void;
  readonly closed = new Promise<TrainerExit>((resolve) => (this.resolveClosed = resolve));

  onLine(listener: (stream: 'stdout' | 'stderr', line: string) => void): void {
    this.listeners.push(listener);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.ended) return;
    if (this.pid === undefined) this.pendingSignal = signal;
    else signalProcess(this.pid, signal);
  }

  started(pid: number): void {
    this.pid = pid;
    if (this.pendingSignal) signalProcess(pid, this.pendingSignal);
  }

  line(stream: 'stdout' | 'stderr', line: string): void {
    for (const listener of this.listeners) listener(stream, line);
  }

  end(exit: TrainerExit): void {
    if (this.ended) return;
    this.ended = true;
    this.resolveClosed(exit);
  }
}

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // it has exited already
  }
}

class TrainerForkServer {
  private readonly child: ChildProcess;
  private readonly jobs = new Map<number, ForkedTrainer>();
  private readonly stderrTail: string[] = [];
  private nextJob = 1;
  gone = false;

  constructor(environment: TrainerEnvironment) {
    const { python, cwd, env } = environment;
    this.child = spawn(python, ['-m', 'modelship_trainer.forkserver'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin!.on('error', () => undefined); // the server died: its exit below ends every job
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let message: ServerMessage;
      try {
        message = JSON.parse(line) as ServerMessage;
      } catch {
        return; // not the protocol (a library printing while it is imported)
      }
      this.handle(message);
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > SERVER_STDERR_LINES) this.stderrTail.shift();
    });
    this.child.once('error', (error) => this.stopped(error.message));
    this.child.once('close', (code, signal) => this.stopped(signal ?? `code ${code}`));
    this.holdEventLoop(false);
  }

  run(environment: TrainerEnvironment, requestPath: string): TrainerProcess {
    const id = this.nextJob++;
    const job = new ForkedTrainer();
    this.jobs.set(id, job);
    this.holdEventLoop(true);
    const argv = ['modelship_trainer', requestPath]; // sys.argv of `python -m modelship_trainer REQUEST`
    this.child.stdin!.write(`${JSON.stringify({ job: id, argv, env: environment.env, cwd: environment.cwd })}\n`);
    return job;
  }

  /** The server is gone: so are its children (each asked for SIGTERM when its parent dies). */
  private stopped(how: string): void {
    if (this.gone) return;
    this.gone = true;
    for (const job of this.jobs.values()) {
      for (const line of [`the trainer fork server exited (${how})`, ...this.stderrTail]) job.line('stderr', line);
      job.end({ code: null, signal: 'SIGTERM' });
    }
    this.jobs.clear();
  }

  private handle(message: ServerMessage): void {
    if ('ready' in message) return;
    const job = this.jobs.get(message.job);
    if (!job) return;
    if ('pid' in message) job.started(message.pid);
    else if ('stream' in message) job.line(message.stream, message.line);
    else {
      this.jobs.delete(message.job);
      job.end({ code: message.exit, signal: message.signal === null ? null : (signalNames.get(message.signal) ?? 'SIGKILL') });
      if (this.jobs.size === 0) this.holdEventLoop(false);
    }
  }

  /** While a run is on, the server keeps this process alive; idle, it does not (it stops when stdin closes). */
  private holdEventLoop(hold: boolean): void {
    for (const handle of [this.child, this.child.stdin, this.child.stdout, this.child.stderr] as (ChildProcess | Readable | Writable | null)[]) {
      const refable = handle as { ref?: () => void; unref?: () => void } | null;
      if (hold) refable?.ref?.();
      else refable?.unref?.();
    }
  }
}

let server: TrainerForkServer | undefined;

function forkServer(environment: TrainerEnvironment): TrainerForkServer {
  if (!server || server.gone) server = new TrainerForkServer(environment);
  return server;
}
