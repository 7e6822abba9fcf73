// The endpoint benchmarks' child processes: servers pinned to core 0 when the machine has two or more cores, so
// the load generator (the benchmark itself, run under `taskset -c 1`) does not steal the server's CPU.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../src/config/environment';

export const PIN_SERVERS = process.env.BENCH_PIN !== '0' && cpus().length >= 2;
const children: ChildProcess[] = [];
const dirs: string[] = [];

/** A working directory for one benchmark run, removed by `stopChildren` (its capture can reach gigabytes). */
export function benchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Starts a child and resolves once it prints that it is ready. */
export function startChild(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ChildProcess> {
  const child = spawn(PIN_SERVERS ? 'taskset' : command, PIN_SERVERS ? ['-c', '0', command, ...args] : args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => (/ready|endpoint server on/.test(chunk.toString()) ? resolve(child) : undefined));
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code}`)));
  });
}

/** modelship's endpoint server (`modelship serve`); `nodeOptions` go before the script (e.g. --cpu-prof). */
export function startEndpointServer(port: number, stateDir: string, nodeOptions: string[] = []): Promise<ChildProcess> {
  return startChild(process.execPath, [...nodeOptions, '--import', 'tsx', join(projectRoot, 'src/client/cli.ts'), 'serve', '--port', String(port), '--state-dir', stateDir]);
}

/** Stops every child, waits for them to exit (at most 10 s), and removes the run's directories. */
export async function stopChildren(): Promise<void> {
  const running = children.filter((child) => child.exitCode === null && child.signalCode === null);
  const exited = running.map((child) => new Promise((resolve) => child.once('exit', resolve)));
  for (const child of running) child.kill('SIGTERM');
  await Promise.race([Promise.all(exited), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
