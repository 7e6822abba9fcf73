import { readdirSync, readFileSync } from 'node:fs';

/** True while any process is in the group (each embedded-stack child leads its own). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface TrainerProcess {
  pid: number;
  ppid: number;
  /** A run of the trainer (spawned, or forked by a fork server), not the fork server itself. */
  run: boolean;
}

/**
 * The trainer processes of the workers whose MODELSHIP_HOME is `home`: spawned runs (`python -m modelship_trainer
 * REQUEST`), a fork server (`python -m modelship_trainer.forkserver`) and the runs it forked, which keep the server's
 * command line, so they are told apart by their parent. Read from /proc (Linux): the home is in each one's
 * environment, inherited from the worker.
 */
export function trainerProcesses(home: string): TrainerProcess[] {
  const found: { pid: number; ppid: number; forkServer: boolean }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const module = argv[argv.indexOf('-m') + 1];
      if (!argv.includes('-m') || (module !== 'modelship_trainer' && module !== 'modelship_trainer.forkserver')) continue;
      if (!readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(`MODELSHIP_HOME=${home}`)) continue;
      const ppid = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]);
      found.push({ pid: Number(entry), ppid, forkServer: module === 'modelship_trainer.forkserver' });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  const servers = new Set(found.filter((p) => p.forkServer).map((p) => p.pid));
  return found.map(({ pid, ppid, forkServer }) => ({ pid, ppid, run: !forkServer || servers.has(ppid) }));
}
