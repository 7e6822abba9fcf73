// `npm test`: starts one Temporal dev server (headless, in memory) and one MLflow server on free ports for the
// whole run, runs every test file with Node's test runner against them, and stops both afterwards, whatever
// happened. Test files read the servers' addresses from the environment (see test/support/stack.ts).
//   npm test                      all of test/**/*.test.ts
//   npm test -- test/config.test.ts   only the files named
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { EmbeddedStack, freePort } from '../../src/client/embedded-stack';

const testRoot = resolve(__dirname, '..');

/**
 * The slowest files (a full run on a loaded 2-core machine, 2026-12-03), started first so that no long file starts
 * last and runs alone at the end; the rest follow in name order. azure leads: it trains the run's shared model
 * (test/support/shared-model.ts) while its first test runs, so rollout and endpoint-lock find it ready.
 */
const SLOWEST_FIRST = ['azure', 'restarts', 'distributed-training', 'dev-restart', 'worker-crash', 'signed-approvals', 'rollout', 'review-release', 'release-cli'].map(
  (name) => `${name}.test.ts`,
);

function testFiles(args: string[]): string[] {
  if (args.length > 0) return args.map((arg) => resolve(arg));
  const rank = (file: string) => (SLOWEST_FIRST.includes(file) ? SLOWEST_FIRST.indexOf(file) : SLOWEST_FIRST.length);
  return readdirSync(testRoot, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.test.ts'))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .map((file) => join(testRoot, file));
}

async function main(): Promise<number> {
  const files = testFiles(process.argv.slice(2));
  const stateDir = mkdtempSync(join(tmpdir(), 'modelship-test-'));
  const started = Date.now();
  console.log(`test servers: starting Temporal and MLflow in ${stateDir}`);
  const stack = await EmbeddedStack.start({
    stateDir,
    ports: { temporal: await freePort(), mlflow: await freePort(), endpoint: await freePort() },
    persistTemporal: false,
    // The local endpoint server, with fault injection on; workers are started by each test.
    modelship: { command: process.execPath, args: ['--import', 'tsx', resolve(__dirname, '../../src/client/cli.ts')] },
    worker: false,
    endpointArgs: ['--allow-faults'],
    readyTimeoutMs: 120_000,
  });
  console.log(`test servers: Temporal ${stack.temporalAddress}, MLflow ${stack.mlflowUri} (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`);

  let child: ReturnType<typeof spawn> | undefined;
  const stopAll = async () => {
    child?.kill('SIGTERM');
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  process.once('SIGTERM', () => void stopAll().then(() => process.exit(143)));

  try {
    const concurrency = process.env.MODELSHIP_TEST_CONCURRENCY ?? '2';
    console.log(`running ${files.length} test files: ${files.map((f) => relative(process.cwd(), f)).join(' ')}`);
    // spec for people, TAP into a file for the closing count line.
    const tapFile = join(stateDir, 'results.tap');
    const reporters = ['--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tapFile}`];
    child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...reporters, ...files], {
      stdio: 'inherit',
      // Stacks started by tests run side by side: their workers must not race for the default metrics port
      // (test/metrics.test.ts chooses its own).
      env: { ...process.env, ...stack.env, MODELSHIP_TEST_STATE_DIR: stateDir, MODELSHIP_HOME: stateDir, MODELSHIP_WORKER_METRICS: process.env.MODELSHIP_WORKER_METRICS ?? 'off' },
    });
    const code = await new Promise<number>((resolveCode) => child!.once('exit', (c, signal) => resolveCode(c ?? (signal ? 1 : 0))));
    const tap = existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '';
    const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(tap)?.[1] ?? 0);
    console.log(`\n${count('pass')} passed, ${count('fail') + count('cancelled')} failed, ${count('skipped') + count('todo')} skipped`);
    return code;
  } finally {
    await stopAll();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`test run failed before the tests: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
