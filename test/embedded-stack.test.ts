import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { EmbeddedStack, freePort, ManagedProcess, PortInUseError, reapLeftovers, StackAlreadyRunningError } from '../src/client/embedded-stack';
import { projectRoot } from '../src/config/environment';
import { runCli } from './support/cli';
import { groupAlive } from './support/processes';
import { workerNodeArgs } from './support/bundles';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function occupy(port: number): Promise<() => Promise<void>> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ port, host: '127.0.0.1' }, resolve));
  return () => new Promise((resolve) => server.close(() => resolve()));
}

describe('embedded stack', () => {
  it('refuses a port in use, naming the port and the flag that moves it', async () => {
    const port = await freePort();
    const release = await occupy(port);
    try {
      const stateDir = mkdtempSync(join(tmpdir(), 'modelship-stack-'));
      await assert.rejects(EmbeddedStack.start({ stateDir, ports: { temporal: await freePort(), mlflow: port }, persistTemporal: false }), (error: unknown) => {
        assert.ok(error instanceof PortInUseError);
        assert.match(error.message, new RegExp(`port ${port} \\(MLflow\\) is already in use.*--mlflow-port <port>`));
        return true;
      });
    } finally {
      await release();
    }
  });

  it('stops children left behind by a supervisor that was killed', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'modelship-run-'));
    const logDir = join(runDir, 'logs');
    mkdirSync(logDir);
    const orphan = ManagedProcess.start('orphan', 'sleep', ['300'], { runDir, logDir, env: process.env });
    assert.ok(orphan.pid && alive(orphan.pid));
    await reapLeftovers(runDir);
    await orphan.exited;
    assert.equal(alive(orphan.pid!), false);
    assert.deepEqual(
      readdirSync(runDir).filter((f) => f.endsWith('.pid')),
      [],
    );
  });

  it('a program under exit_with_supervisor.py stops with its whole group when the supervisor pipe closes, and on a signal to the wrapper', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'modelship-watched-'));
    const logDir = join(runDir, 'logs');
    mkdirSync(logDir);
    // The program starts a grandchild in its group, as MLflow starts uvicorn.
    const script = 'sleep 300 & sleep 300; wait';
    const piped = ManagedProcess.startWatched('piped', 'sh', ['-c', script], { runDir, logDir, env: process.env });
    await sleep(500);
    assert.ok(groupAlive(piped.pid!));
    piped.child.stdin!.destroy(); // what the kernel does when the supervisor dies
    await piped.exited;
    for (let i = 0; i < 40 && groupAlive(piped.pid!); i++) await sleep(100);
    assert.equal(groupAlive(piped.pid!), false, 'the program and its grandchild are gone');
    assert.match(piped.tail(), /the supervisor has gone; stopping/);

    const signalled = ManagedProcess.startWatched('signalled', 'sleep', ['300'], { runDir, logDir, env: process.env });
    await sleep(500);
    process.kill(signalled.pid!, 'SIGTERM'); // the wrapper alone, as `kill <pid>` would
    assert.equal(await signalled.exited, 128 + 15, 'the wrapper passed SIGTERM on and exits with the status of the program');
  });

  it('`modelship dev` becomes ready, refuses a second stack on the same state, and leaves no process after Ctrl-C', async (t) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'modelship-dev-'));
    const [temporal, ui, mlflow, endpoint] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const args = [
      ...workerNodeArgs(), // `dev` starts its worker with the same flags
      join(projectRoot, 'src/client/cli.ts'),
      'dev',
      '--state-dir',
      stateDir,
      '--temporal-port',
      String(temporal),
      '--ui-port',
      String(ui),
      '--mlflow-port',
      String(mlflow),
      '--endpoint-port',
      String(endpoint),
    ];
    const dev = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => dev.kill('SIGKILL'));
    let output = '';
    dev.stdout.on('data', (chunk) => (output += chunk));
    dev.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => dev.once('exit', resolve));

    for (let i = 0; i < 240 && !output.includes('Press Ctrl-C to stop.'); i++) {
      assert.equal(dev.exitCode, null, `modelship dev exited early:\n${output}`);
      await sleep(500);
    }
    assert.match(output, /modelship embedded stack is ready \(\d+\.\d s\)/, output);
    assert.match(output, new RegExp(`Temporal Web UI http://127\\.0\\.0\\.1:${ui}`));
    assert.match(output, new RegExp(`MLflow +http://127\\.0\\.0\\.1:${mlflow}`));
    assert.equal((await fetch(`http://127.0.0.1:${ui}/`)).status, 200);
    assert.equal(await (await fetch(`http://127.0.0.1:${mlflow}/health`)).text(), 'OK');
    assert.equal((await fetch(`http://127.0.0.1:${endpoint}/health`)).status, 200);
    assert.ok(existsSync(join(stateDir, 'temporal.db')), 'Temporal history is persisted in the state dir');
    // A second terminal with the printed exports reaches this stack and its state dir (the endpoint admin token).
    const exports = Object.fromEntries((/^\s*export (.+)$/m.exec(output)?.[1] ?? '').split(' ').map((pair) => pair.split('=', 2) as [string, string]));
    assert.equal(exports.MODELSHIP_HOME, stateDir, output);
    const listed = await runCli(['endpoint', 'list'], exports);
    assert.equal(listed.code, 0, listed.stderr);

    const pids = readdirSync(join(stateDir, 'run'))
      .filter((f) => f.endsWith('.pid'))
      .map((f) => (JSON.parse(readFileSync(join(stateDir, 'run', f), 'utf8')) as { pid: number }).pid);
    assert.equal(pids.length, 4, 'temporal, mlflow, the endpoint server and the worker run as children');

    await assert.rejects(EmbeddedStack.start({ stateDir, ports: { temporal: await freePort(), mlflow: await freePort() }, persistTemporal: true }), StackAlreadyRunningError);
    assert.ok(pids.every(alive), 'a refused second start leaves the running stack alone');

    dev.kill('SIGINT');
    assert.equal(await exited, 0, output);
    assert.match(output, /modelship: stopped\./);
    for (const pid of pids) assert.equal(alive(pid), false, `child ${pid} still running after Ctrl-C`);
    assert.equal(await (await import('../src/client/embedded-stack')).isPortFree(mlflow), true);
  });
});
