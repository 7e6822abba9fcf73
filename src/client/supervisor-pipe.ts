// A modelship process started by the embedded stack (the worker, the endpoint server) stops when its supervisor
// goes away, even by SIGKILL: its stdin is a pipe from the supervisor that is never written, and it reads EOF
// when the supervisor's end closes. Then the process stops as on SIGTERM, and exits for good after 5 s: the
// supervisor's Temporal and MLflow stop with it, so a worker has nowhere to report what it would drain (it would
// spend the grace retrying Temporal). Its trainers get SIGTERM through PR_SET_PDEATHSIG as it exits.
import type { Socket } from 'node:net';

/** Set by the embedded stack in each child's environment: `stdin` when stdin is the supervisor pipe. */
export const SUPERVISOR_PIPE_ENV = 'MODELSHIP_SUPERVISOR_PIPE';

export function exitWithSupervisor(graceMs = 5_000, env: NodeJS.ProcessEnv = process.env): void {
  if (env[SUPERVISOR_PIPE_ENV] !== 'stdin') return;
  // Processes this one starts (the trainer) have their own link to it; they must not read this pipe.
  delete env[SUPERVISOR_PIPE_ENV];
  let gone = false;
  const onGone = () => {
    if (gone) return;
    gone = true;
    console.error(`modelship (pid ${process.pid}): the supervisor has gone; stopping`);
    setTimeout(() => process.exit(1), graceMs).unref();
    process.kill(process.pid, 'SIGTERM');
  };
  const stdin = process.stdin as Socket;
  stdin.once('end', onGone);
  stdin.once('close', onGone);
  stdin.once('error', onGone);
  stdin.resume();
  stdin.unref?.(); // watching must not keep a finished command alive
}
