// `npm test`: starts one Temporal dev server (headless, in memory) and one MLflow server on free ports for the
// whole run, bundles the workflows once for every worker of the run (test/support/bundles.ts), runs every test file
// with Node's test runner against them, and stops both afterwards, whatever happened. Test files read the servers'
// addresses from the environment (see test/support/temporal.ts).
//   npm test                      typecheck and all of test/**/*.test.ts
//   npm test -- test/config.test.ts   typecheck and only the files named
// --typecheck (what `npm test` passes) runs `tsc --noEmit` beside the tests, at low priority so it takes the CPU the
// tests leave while they wait on servers and timers; the run fails if it fails, and its errors are printed at the end.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { EmbeddedStack, freePort } from '../../src/client/embedded-stack';
import { bundleVariant } from './bundles';

const testRoot = resolve(__dirname, '..');

/**
 * Every test file, for `node --test`, which runs them in name order whatever order it is given. A run with the
 * slowest files first (through node:test's run()) was not faster: it paired the files that start stacks of their
 * own and kill workers with each other instead of with short ones.
 */
function testFiles(args: string[]): string[] {
  if (args.length > 0) return args.map((arg) => resolve(arg));
  return readdirSync(testRoot, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.test.ts'))
    .sort()
    .map((file) => join(testRoot, file));
}

interface Typecheck {
  done: Promise<{ code: number; output: string; seconds: number }>;
  stop: () => void;
}

/** `tsc --noEmit` in the background, niced: it only soaks up CPU the tests leave idle. */
function startTypecheck(): Typecheck {
  const started = Date.now();
  const tsc = spawn(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', resolve(__dirname, '../../tsconfig.json'), '--noEmit', '--pretty', 'false'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (tsc.pid) setPriority(tsc.pid, 10);
  let output = '';
  tsc.stdout.on('data', (chunk) => (output += chunk));
  tsc.stderr.on('data', (chunk) => (output += chunk));
  const done = new Promise<{ code: number; output: string; seconds: number }>((resolveDone) =>
    tsc.once('close', (code, signal) => resolveDone({ code: code ?? (signal ? 1 : 0), output, seconds: (Date.now() - started) / 1000 })),
  );
  return { done, stop: () => tsc.kill('SIGTERM') };
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const typecheck = args.includes('--typecheck') ? startTypecheck() : undefined;
  const files = testFiles(args.filter((arg) => arg !== '--typecheck'));
  const stateDir = mkdtempSync(join(tmpdir(), 'modelship-test-'));
  const started = Date.now();
  console.log(`test servers: starting Temporal and MLflow in ${stateDir}`);
  // Bundled while the servers start: every worker of the run takes this one bundle (test/support/bundles.ts).
  const bundlePath = join(stateDir, 'workflow-bundle.js');
  const bundled = bundleVariant('current').then(({ code }) => writeFileSync(bundlePath, code));
  bundled.catch(() => undefined); // awaited once the servers are up
  const stack = await EmbeddedStack.start({
    stateDir,
    ports: { temporal: await freePort(), mlflow: await freePort(), endpoint: await freePort() },
    persistTemporal: false,
    // The local endpoint server, with fault injection on; workers are started by each test.
    modelship: { command: process.execPath, args: ['--import', 'tsx', resolve(__dirname, '../../src/client/cli.ts')] },
    worker: false,
    endpointArgs: ['--allow-faults'],
    readyTimeoutMs: 120_000,
  }).catch((error: unknown) => {
    typecheck?.stop();
    throw error;
  });

  let child: ReturnType<typeof spawn> | undefined;
  const stopAll = async () => {
    child?.kill('SIGTERM');
    typecheck?.stop();
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  process.once('SIGTERM', () => void stopAll().then(() => process.exit(143)));

  try {
    await bundled;
    console.log(`test servers: Temporal ${stack.temporalAddress}, MLflow ${stack.mlflowUri}, workflows bundled (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
    const concurrency = process.env.MODELSHIP_TEST_CONCURRENCY ?? '2';
    console.log(`running ${files.length} test files: ${files.map((f) => relative(process.cwd(), f)).join(' ')}`);
    // spec for people, TAP into a file for the closing count line.
    const tapFile = join(stateDir, 'results.tap');
    const reporters = ['--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tapFile}`];
    child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...reporters, ...files], {
      stdio: 'inherit',
      // Stacks started by tests run side by side: their workers must not race for the default metrics port
      // (test/metrics.test.ts chooses its own).
      env: {
        ...process.env,
        ...stack.env,
        MODELSHIP_TEST_STATE_DIR: stateDir,
        MODELSHIP_HOME: stateDir,
        MODELSHIP_WORKER_METRICS: process.env.MODELSHIP_WORKER_METRICS ?? 'off',
        MODELSHIP_TEST_WORKFLOW_BUNDLE: bundlePath,
        // Most workers the tests start never train: each would spend ~2.3 s of CPU importing the trainer.
        MODELSHIP_TRAINER_WARMUP: process.env.MODELSHIP_TRAINER_WARMUP ?? 'lazy',
      },
    });
    const code = await new Promise<number>((resolveCode) => child!.once('exit', (c, signal) => resolveCode(c ?? (signal ? 1 : 0))));
    const tap = existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '';
    const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(tap)?.[1] ?? 0);
    console.log(`\n${count('pass')} passed, ${count('fail') + count('cancelled')} failed, ${count('skipped') + count('todo')} skipped`);
    if (!typecheck) return code;
    const checked = await typecheck.done;
    if (checked.code !== 0) {
      console.log(`\ntypecheck (tsc --noEmit) FAILED after ${checked.seconds.toFixed(0)} s:\n${checked.output.trimEnd()}`);
      return code || checked.code;
    }
    console.log(`typecheck (tsc --noEmit) passed (${checked.seconds.toFixed(0)} s, beside the tests)`);
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
