// docs/ci.md against the code, so the page cannot rot: the example workflow's commands are parsed by the real CLI,
// the variables it sets are read by the code, and each row of the exit-code table is the exit code the real command
// gives, driven in this process against a fake Temporal service (or, before any connection, as a child process).
// No Temporal server, no MLflow.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, mock } from 'node:test';
import { Command, CommanderError } from 'commander';
import { parse as parseYaml } from 'yaml';
import { Connection } from '@temporalio/client';
import { ApplicationFailure, defaultFailureConverter, defaultPayloadConverter, type ProtoFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { buildProgram } from '../src/client/cli';
import { loadConfig } from '../src/config/load';
import { mlflowTrackingUri, projectRoot, temporalConnectConfig, temporalUiUrl } from '../src/config/environment';
import { statusQuery, type ReleaseResult, type ReleaseStatus } from '../src/workflows/release-api';
import type { MonitorResult } from '../src/workflows/monitor-api';
import type { StackCheckResult } from '../src/workflows/stack-check-api';
import type { HoldProgress } from '../src/workflows/endpoint-lock-api';
import { operatorProgressQuery } from '../src/workflows/operator-api';

const pagePath = join(projectRoot, 'docs/ci.md');
const examplePath = join(projectRoot, 'docs/examples/github-actions.yml');
const page = readFileSync(pagePath, 'utf8');
const example = readFileSync(examplePath, 'utf8');

// ---------------------------------------------------------------------------------------------------------------
// The example's shell: the commands in its run: steps.

/** Words of one shell command, quotes removed; redirections dropped. Enough for the example's plain commands. */
function shellWords(command: string): string[] {
  const words: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const match of command.matchAll(pattern)) words.push(match[1] ?? match[2] ?? match[3]!);
  const kept: string[] = [];
  for (let i = 0; i < words.length; i++) {
    if (/^\d*[<>]{1,2}(&\d+)?$/.test(words[i]!))
      i++; // `> file`: skip the file too
    else if (!/^\d*[<>]/.test(words[i]!)) kept.push(words[i]!);
  }
  return kept;
}

/** Every `modelship …` (with or without npx) and `npm …` command in a run: script, as words. */
export function commandsOf(script: string): string[][] {
  const joined = script.replace(/\\\n\s*/g, ' ');
  const commands: string[][] = [];
  for (const line of joined.split('\n')) {
    for (const segment of line.split(/\$\(|\)|&&|\|\||[;|`]/)) {
      let words = shellWords(segment.trim());
      while (words.length && (/^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!) || ['if', 'then', 'do', 'while', 'until', '!', 'time', 'exec'].includes(words[0]!)))
        words = words.slice(1);
      if (words[0] === 'npx') words = words.slice(1).filter((word) => word !== '--no-install');
      if (words[0] === 'modelship' || words[0] === 'npm') commands.push(words);
    }
  }
  return commands;
}

interface Step {
  name?: string;
  run?: string;
  uses?: string;
  env?: Record<string, unknown>;
  with?: Record<string, unknown>;
}
interface Workflow {
  env?: Record<string, unknown>;
  jobs: Record<string, { env?: Record<string, unknown>; steps: Step[] }>;
}

const workflow = parseYaml(example) as Workflow;
const steps = Object.values(workflow.jobs).flatMap((job) => job.steps);
const runCommands = steps.flatMap((step) => (step.run ? commandsOf(step.run) : []));
const envNames = [workflow.env, ...Object.values(workflow.jobs).flatMap((job) => [job.env, ...job.steps.map((step) => step.env)])].flatMap((env) => Object.keys(env ?? {}));

/**
 * The command path commander runs for these arguments, or the error it gives: the real program, each action swapped
 * for one that records which command it is, and exits turned into exceptions.
 */
function commandRunBy(args: string[]): string {
  const program = buildProgram();
  let ran = '';
  const prepare = (command: Command, path: string[]) => {
    command.exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
    if (command.commands.length === 0) command.action(() => void (ran = path.join(' ')));
    for (const sub of command.commands) prepare(sub, [...path, sub.name()]);
  };
  prepare(program, []);
  try {
    program.parse(['node', 'modelship', ...args]);
  } catch (error) {
    if (error instanceof CommanderError) return `refused: ${error.message}`;
    throw error;
  }
  return ran;
}

/** Proof that the code reads a variable: what it makes of a value set in the variable. */
const readers: Record<string, () => void> = {
  TEMPORAL_ADDRESS: () => assert.equal(temporalConnectConfig({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233' }).connectionOptions.address, 'ns.acct.tmprl.cloud:7233'),
  TEMPORAL_NAMESPACE: () => assert.equal(temporalConnectConfig({ TEMPORAL_NAMESPACE: 'ns.acct' }).namespace, 'ns.acct'),
  TEMPORAL_API_KEY: () => {
    const { connectionOptions } = temporalConnectConfig({ TEMPORAL_API_KEY: 'key-1' });
    assert.equal(connectionOptions.apiKey, 'key-1');
    assert.equal(connectionOptions.tls, true, 'an API key turns TLS on by itself');
  },
  TEMPORAL_TLS: () => assert.equal(temporalConnectConfig({ TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' }).connectionOptions.tls, false),
  TEMPORAL_TLS_CLIENT_CERT_DATA: () => readers.TEMPORAL_TLS_CLIENT_KEY_DATA!(),
  TEMPORAL_TLS_CLIENT_KEY_DATA: () => {
    const { tls } = temporalConnectConfig({ TEMPORAL_TLS_CLIENT_CERT_DATA: 'CERT', TEMPORAL_TLS_CLIENT_KEY_DATA: 'KEY' }).connectionOptions;
    assert.ok(tls && typeof tls === 'object' && tls.clientCertPair, 'mTLS from the variables');
    assert.equal(Buffer.from(tls.clientCertPair.crt).toString(), 'CERT');
    assert.equal(Buffer.from(tls.clientCertPair.key).toString(), 'KEY');
  },
  TEMPORAL_TLS_CLIENT_CERT_PATH: () => readers.TEMPORAL_TLS_CLIENT_KEY_PATH!(),
  TEMPORAL_TLS_CLIENT_KEY_PATH: () => {
    const dir = mkdtempSync(join(tmpdir(), 'ci-docs-tls-'));
    writeFileSync(join(dir, 'client.pem'), 'CERT');
    writeFileSync(join(dir, 'client.key'), 'KEY');
    try {
      const env = { TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'client.pem'), TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, 'client.key') };
      const { tls } = temporalConnectConfig(env).connectionOptions;
      assert.ok(tls && typeof tls === 'object' && tls.clientCertPair);
      assert.equal(Buffer.from(tls.clientCertPair.key).toString(), 'KEY');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  TEMPORAL_PROFILE: () => readers.TEMPORAL_CONFIG_FILE!(),
  TEMPORAL_CONFIG_FILE: () => {
    const dir = mkdtempSync(join(tmpdir(), 'ci-docs-toml-'));
    const file = join(dir, 'temporal.toml');
    writeFileSync(file, '[profile.cloud]\naddress = "ns.acct.tmprl.cloud:7233"\nnamespace = "ns.acct"\napi_key = "key-2"\n');
    try {
      const loaded = temporalConnectConfig({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'cloud' });
      assert.deepEqual([loaded.connectionOptions.address, loaded.namespace, loaded.connectionOptions.apiKey], ['ns.acct.tmprl.cloud:7233', 'ns.acct', 'key-2']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  MLFLOW_TRACKING_URI: () => assert.equal(mlflowTrackingUri({ MLFLOW_TRACKING_URI: 'https://mlflow.example.com/' }), 'https://mlflow.example.com'),
  MODELSHIP_TEMPORAL_UI_URL: () => assert.equal(temporalUiUrl({ MODELSHIP_TEMPORAL_UI_URL: 'https://cloud.temporal.io' }), 'https://cloud.temporal.io'),
  MODELSHIP_SKIP_PYTHON_SETUP: () => {
    const run = spawnSync(process.execPath, [join(projectRoot, 'scripts/setup-python.mjs')], {
      encoding: 'utf8',
      env: { ...process.env, MODELSHIP_SKIP_PYTHON_SETUP: '1', MODELSHIP_VENV: join(tmpdir(), 'ci-docs-no-venv') },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /skipping the Python environment/);
  },
  // Read by onnxruntime-node's install script, which `npm ci` runs.
  ONNXRUNTIME_NODE_INSTALL: () => {
    const flag = (value: string) =>
      spawnSync(process.execPath, ['-e', "process.stdout.write(String(require('onnxruntime-node/script/install-utils').parseInstallFlag()))"], {
        cwd: projectRoot,
        encoding: 'utf8',
        env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: value },
      }).stdout;
    assert.equal(flag('skip'), 'false');
    assert.equal(flag('ON'), 'true');
  },
};

describe('docs/ci.md: the example workflow', () => {
  it('is on the page as it is in docs/examples/github-actions.yml', () => {
    const blocks = [...page.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
    assert.ok(blocks.includes(example), 'docs/ci.md shows docs/examples/github-actions.yml verbatim in a ```yaml block');
    assert.ok(page.includes('(examples/github-actions.yml)'), 'docs/ci.md links the file');
  });

  it('installs with the versions the project needs, starts a release with --wait --json and keeps the review', () => {
    const uses = (action: string) => steps.find((step) => step.uses?.startsWith(`${action}@`));
    assert.equal(String(uses('actions/setup-node')?.with?.['node-version']), '20');
    assert.equal(String(uses('actions/setup-python')?.with?.['python-version']), '3.11');
    assert.ok(uses('actions/checkout') && uses('actions/upload-artifact'));
    assert.ok(
      runCommands.some((words) => words.join(' ') === 'npm ci'),
      'npm ci (it runs scripts/setup-python.mjs)',
    );
    const start = runCommands.find((words) => words[1] === 'start');
    assert.ok(start?.includes('--wait') && start.includes('--json'), start?.join(' '));
    const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string>; engines: { node: string } };
    assert.match(pkg.scripts.postinstall!, /setup-python\.mjs/);
    assert.match(pkg.engines.node, /^>=20\./);
    assert.match(readFileSync(join(projectRoot, 'scripts/setup-python.mjs'), 'utf8'), /MIN_PYTHON = \[3, 11\]/);
  });

  it('every modelship command in it is one the CLI accepts, flags and arguments included', () => {
    const modelship = runCommands.filter((words) => words[0] === 'modelship');
    assert.ok(modelship.length >= 4, `found: ${modelship.map((w) => w.join(' ')).join(' | ')}`);
    for (const words of modelship) {
      const ran = commandRunBy(words.slice(1));
      assert.ok(ran && !ran.startsWith('refused'), `${words.join(' ')}: ${ran || 'runs no command'}`);
      assert.equal(ran, words.slice(1, 1 + ran.split(' ').length).join(' '), words.join(' '));
    }
    // The check itself can fail: a flag the CLI lacks is refused.
    assert.match(commandRunBy(['start', '--wiat']), /^refused: error: unknown option '--wiat'/);
  });

  it('every npm script it runs exists', () => {
    const scripts = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const words of runCommands.filter((w) => w[0] === 'npm' && w[1] === 'run')) assert.ok(scripts[words[2]!], words.join(' '));
  });

  it('sets only variables the code reads, and the page names no other', () => {
    const onPage = [...page.matchAll(/\b(?:TEMPORAL|MLFLOW|MODELSHIP|ONNXRUNTIME)_[A-Z_]+\b/g)].map((m) => m[0]);
    const names = [...new Set([...envNames, ...onPage])];
    assert.ok(envNames.includes('TEMPORAL_API_KEY') && envNames.includes('MLFLOW_TRACKING_URI'), envNames.join(', '));
    for (const name of names) {
      const read = readers[name];
      assert.ok(read, `${name} is set or named by the CI page, but nothing here proves the code reads it`);
      read();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The exit codes: a fake Temporal service under the real client and the real commands.

type CloseEvent = Record<string, unknown>;
interface Scenario {
  /** Temporal refuses the start: a run with that workflow id is open. */
  alreadyRunning?: boolean;
  /** The run's close event, or 'never' (it keeps running). */
  close: CloseEvent | 'never';
  /** Query answers by query name. */
  queries?: Record<string, unknown>;
  /** An Update's outcome. */
  update?: { success?: string; failure?: Error };
}

const payloads = (value: unknown) => ({ payloads: [defaultPayloadConverter.toPayload(value)] });
const failureOf = (error: Error): ProtoFailure => defaultFailureConverter.errorToFailure(error, defaultPayloadConverter);
const completed = (result: unknown): CloseEvent => ({ workflowExecutionCompletedEventAttributes: { result: payloads(result) } });
const failed = (error: Error): CloseEvent => ({ workflowExecutionFailedEventAttributes: { failure: failureOf(error), retryState: 2 } });
const cancelledRun: CloseEvent = { workflowExecutionCanceledEventAttributes: {} };
const timedOut: CloseEvent = { workflowExecutionTimedOutEventAttributes: { retryState: 2 } };

/** The Temporal service as far as the waiting commands use it; any other call fails the test with its name. */
function fakeConnection(scenario: Scenario) {
  const signals = new AsyncLocalStorage<AbortSignal>();
  const service: Record<string, (request: Record<string, unknown>) => Promise<unknown>> = {
    startWorkflowExecution: async () => {
      if (scenario.alreadyRunning) throw Object.assign(new Error('6 ALREADY_EXISTS: workflow execution already started'), { code: 6 });
      return { runId: 'run-1', started: true };
    },
    getWorkflowExecutionHistory: async () => {
      if (scenario.close !== 'never') return { history: { events: [scenario.close] } };
      const signal = signals.getStore();
      // A long poll that ends only when the caller stops watching.
      await new Promise((_, reject) => {
        if (!signal) return;
        if (signal.aborted) reject(Object.assign(new Error('1 CANCELLED: stopped'), { code: 1 }));
        signal.addEventListener('abort', () => reject(Object.assign(new Error('1 CANCELLED: stopped'), { code: 1 })), { once: true });
      });
      return {};
    },
    queryWorkflow: async (request) => {
      const name = (request.query as { queryType: string }).queryType;
      if (!(name in (scenario.queries ?? {}))) throw new Error(`fake Temporal: no answer to the query ${name}`);
      return { queryResult: payloads(scenario.queries![name]) };
    },
    describeWorkflowExecution: async () => {
      throw new Error('fake Temporal: no description');
    },
    updateWorkflowExecution: async () => ({
      stage: temporal.api.enums.v1.UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED,
      updateRef: { workflowExecution: { runId: 'run-1' } },
      outcome: scenario.update?.failure ? { failure: failureOf(scenario.update.failure) } : { success: payloads(scenario.update?.success) },
    }),
    describeTaskQueue: async () => ({ pollers: [{ identity: '4242@worker' }] }),
  };
  const workflowService = new Proxy(service, {
    get: (target, name: string) =>
      target[name] ??
      (async () => {
        throw new Error(`fake Temporal: ${name} is not faked`);
      }),
  });
  return {
    workflowService,
    plugins: [],
    withDeadline: <T>(_deadline: unknown, fn: () => Promise<T>) => fn(),
    withAbortSignal: <T>(signal: AbortSignal, fn: () => Promise<T>) => signals.run(signal, fn),
    withMetadata: <T>(_metadata: unknown, fn: () => Promise<T>) => fn(),
    close: async () => undefined,
  };
}

class ProcessExit extends Error {
  constructor(readonly code: number) {
    super(`process.exit(${code})`);
  }
}

/**
 * Runs `modelship ARGS` in this process against the fake service and returns its exit code: the code given to
 * process.exit, else process.exitCode, else 0; an error out of the action is 1, as cli.ts and bin/modelship.js make
 * it (the child-process rows below run through that code).
 */
async function runInProcess(args: string[], scenario: Scenario): Promise<{ code: number; stdout: string }> {
  const connect = mock.method(Connection, 'connect', async () => fakeConnection(scenario));
  const printed: string[] = [];
  const log = mock.method(console, 'log', (...parts: unknown[]) => void printed.push(parts.join(' ')));
  const error = mock.method(console, 'error', () => undefined);
  const stderr = mock.method(process.stderr, 'write', () => true); // commander's usage errors
  const fetched = mock.method(globalThis, 'fetch', async () => new Response('OK')); // demo's MLflow health check
  const exit = mock.method(process, 'exit', (code?: number) => {
    throw new ProcessExit(Number(code ?? 0));
  });
  const sigint = process.listeners('SIGINT');
  process.exitCode = undefined;
  const stdout = () => printed.join('\n');
  try {
    await buildProgram().parseAsync(['node', 'modelship', ...args]);
    return { code: Number(process.exitCode ?? 0), stdout: stdout() };
  } catch (thrown) {
    return { code: thrown instanceof ProcessExit ? thrown.code : 1, stdout: stdout() };
  } finally {
    process.exitCode = undefined;
    for (const listener of process.listeners('SIGINT')) if (!sigint.includes(listener)) process.removeListener('SIGINT', listener);
    for (const restore of [connect, log, error, stderr, fetched, exit]) restore.mock.restore();
  }
}

const exitCodeOf = async (args: string[], scenario: Scenario) => (await runInProcess(args, scenario)).code;

/**
 * `modelship ARGS` as a child process, as a user runs it, with no Temporal to reach: the one row that goes through
 * cli.ts's own handling of an error out of a command (exit 1), which the in-process rows take as given.
 */
function childExitCode(args: string[], env: Record<string, string> = {}): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'src/client/cli.ts'), ...args], {
      env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1', ...env },
      stdio: 'ignore',
    });
    child.once('close', (code) => resolve(code));
  });
}

const baseStatus: ReleaseStatus = { workflowId: 'release-fbm-1', stage: 'approval', outcome: 'running', steps: [{ name: 'approval', status: 'running' }], refused: [] };
const waiting: ReleaseStatus = { ...baseStatus, waitingFor: 'a decision on fbm version 3: modelship approve release-fbm-1 --by NAME' };
const ended = (outcome: ReleaseResult['outcome']): ReleaseResult => ({ ...baseStatus, stage: 'done', outcome, artifactsDir: '/tmp/release-fbm-1' });
const releaseFailure = ApplicationFailure.nonRetryable('release failed at train: the trainer ran out of memory', 'ReleaseFailed', { ...baseStatus, outcome: 'failed' });
const monitorResult = (verdict: string) =>
  ({
    endpoint: 'fbm',
    verdict,
    window: { start: '2026-12-03T10:00:00Z', end: '2026-12-03T11:00:00Z' },
    records: 300,
    refused: 0,
    alarms: verdict === 'alarm' ? [{ kind: 'drift', features: ['Age'], detail: 'PSI 0.31 > 0.2' }] : [],
    alarmRaised: verdict === 'alarm',
    performance: { reported: false, why: 'no labels yet' },
  }) as unknown as MonitorResult;
const stackCheck = (healthy: boolean): StackCheckResult => ({
  orchestration: { host: 'w', pid: 1, node: '20', mlflow: { uri: 'http://mlflow', healthy, detail: healthy ? 'ok' : 'ECONNREFUSED' } },
  training: { host: 'w', pid: 2, python: '3.11', packages: {} },
});
const holding: HoldProgress = { state: 'holding', line: 'holds endpoint fbm', endpoint: 'fbm', lockId: 'endpoint-local-fbm' };

const config = join(projectRoot, 'config/default.yaml');
const defaultModel = loadConfig({ path: config }).config.model_name;
const start = ['start', '--config', config, '--wait', '--json'];
// Started at once: the client tries to connect for 5 s, while the other rows run.
const unreachable = childExitCode(start);

const release = (close: CloseEvent | 'never', status: ReleaseStatus = baseStatus): Scenario => ({ close, queries: { [statusQuery.name]: status } });

/**
 * One driver per row of the table in docs/ci.md, by command and situation as the page words them: each gives the
 * exit code of the real command in that situation (several scenarios for a row must all agree).
 */
const drivers: Record<string, Record<string, () => Promise<number | null>[]>> = {
  'modelship start --wait': {
    'the release succeeded': () => [exitCodeOf(start, release(completed(ended('succeeded'))))],
    'it waits for approval: the command stops at the gate (`outcome` is `running`)': () => [exitCodeOf(start, release('never', waiting))],
    'the release was rejected': () => [exitCodeOf(start, release(completed(ended('rejected'))))],
    'no decision before `approval_timeout` (`approval_expired`)': () => [exitCodeOf(start, release(completed(ended('approval_expired'))))],
    'the release failed': () => [exitCodeOf(start, release(failed(releaseFailure)))],
    'the release was cancelled': () => [exitCodeOf(start, release(cancelledRun, { ...baseStatus, outcome: 'cancelled', error: 'cancelled by alice' }))],
    'the config is refused (invalid, or its `allowed_signers` file unreadable)': () => {
      const dir = mkdtempSync(join(tmpdir(), 'ci-docs-config-'));
      writeFileSync(join(dir, 'invalid.yaml'), 'model_name: fbm\ntest_data_split: 2\n');
      writeFileSync(
        join(dir, 'signers.yaml'),
        `${readFileSync(config, 'utf8').replace(/^input_data_path: \.\./m, `input_data_path: ${projectRoot}`)}\nallowed_signers: no-such-file\n`,
      );
      const codes = ['invalid.yaml', 'signers.yaml'].map((file) => exitCodeOf(['start', '--config', join(dir, file), '--wait', '--json'], { close: 'never' }));
      void Promise.all(codes).finally(() => rmSync(dir, { recursive: true, force: true }));
      return codes;
    },
    "the model's release is running: refused (`--attach` follows it instead)": () => [
      exitCodeOf(start, { alreadyRunning: true, close: 'never', queries: { [statusQuery.name]: waiting } }),
    ],
    'Temporal cannot be reached': () => [unreachable],
    'a usage error (unknown flag, bad `--target`)': () => [exitCodeOf(['start', '--wiat'], { close: 'never' }), exitCodeOf(['start', '--target', 'moon'], { close: 'never' })],
  },
  'modelship promote --wait': {
    'the config, the model or `--to` is refused': () => [
      exitCodeOf(['promote', 'not-this-model@staging', '--to', 'production', '--config', config, '--wait'], { close: 'never' }),
      exitCodeOf(['promote', `${defaultModel}@staging`, '--to', 'qa', '--config', config, '--wait'], { close: 'never' }),
    ],
    'MLflow has no such alias of the model': () => [
      exitCodeOf(['promote', `${defaultModel}@no-such-alias`, '--to', 'production', '--config', config, '--wait'], { close: 'never' }),
    ],
  },
  'modelship approve, modelship reject': {
    'the decision is accepted': () => [
      exitCodeOf(['approve', 'release-fbm-1', '--by', 'alice'], { close: 'never', queries: { [statusQuery.name]: waiting }, update: { success: 'approved by alice (1 of 1)' } }),
      exitCodeOf(['reject', 'release-fbm-1', '--by', 'alice', '--reason', 'drift'], {
        close: 'never',
        queries: { [statusQuery.name]: waiting },
        update: { success: 'rejected by alice' },
      }),
    ],
    'the decision is refused (not an approver, unsigned, already decided…)': () => [
      exitCodeOf(['approve', 'release-fbm-1', '--by', 'mallory'], {
        close: 'never',
        queries: { [statusQuery.name]: waiting },
        update: { failure: ApplicationFailure.nonRetryable('refused: mallory is not an approver', 'Refused') },
      }),
    ],
  },
  'modelship monitor run-now --wait': {
    'the run ends with a verdict, whatever it is (`ok`, `alarm`…)': () => [
      exitCodeOf(['monitor', 'run-now', 'fbm', '--wait', '--config', config], { close: completed(monitorResult('ok')) }),
      exitCodeOf(['monitor', 'run-now', 'fbm', '--wait', '--config', config], { close: completed(monitorResult('alarm')) }),
    ],
    'the run failed': () => [exitCodeOf(['monitor', 'run-now', 'fbm', '--wait', '--config', config], { close: failed(ApplicationFailure.nonRetryable('no capture', 'X')) })],
  },
  'modelship deploy --wait, modelship rollback --wait': {
    'the rollout (or rollback) succeeded': () => [
      exitCodeOf(['deploy', '--model-uri', 'models:/fbm/3', '--config', config, '--wait'], {
        close: completed({ colour: 'green', endpoint: 'fbm', traffic: { green: 100 }, cleanup: 'blue deleted', scoringUri: 'http://x' }),
        queries: { [operatorProgressQuery.name]: holding },
      }),
      exitCodeOf(['rollback', '--config', config, '--wait'], {
        close: completed({ how: 'traffic', detail: 'blue back at 100 %' }),
        queries: { [operatorProgressQuery.name]: holding },
      }),
    ],
    'it failed (and was undone)': () => [
      exitCodeOf(['deploy', '--model-uri', 'models:/fbm/3', '--config', config, '--wait'], {
        close: failed(ApplicationFailure.nonRetryable('health check failed', 'X')),
        queries: { [operatorProgressQuery.name]: holding },
      }),
    ],
  },
  'modelship check': {
    'both task queues answer and the worker reaches MLflow': () => [exitCodeOf(['check'], { close: completed(stackCheck(true)) })],
    'the worker cannot reach MLflow': () => [exitCodeOf(['check'], { close: completed(stackCheck(false)) })],
    'no worker answers within `--timeout`': () => [exitCodeOf(['check', '--timeout', '5'], { close: timedOut })],
  },
  'modelship demo': {
    'the release succeeded': () => [exitCodeOf(['demo', '--config', config], release(completed(ended('succeeded'))))],
    'the release did not succeed (failed, rejected, expired, cancelled)': () => [
      exitCodeOf(['demo', '--config', config], release(failed(releaseFailure))),
      exitCodeOf(['demo', '--config', config, '--manual'], release(completed(ended('rejected')))),
    ],
  },
};

interface Row {
  command: string;
  when: string;
  exit: number;
}

/** The exit-code table under "## Exit codes": | command | when | exit |; an empty command cell repeats the one above. */
function exitCodeTable(markdown: string): Row[] {
  const section = markdown.split(/^## /m).find((part) => part.startsWith('Exit codes'));
  assert.ok(section, 'docs/ci.md has a "## Exit codes" section');
  const rows: Row[] = [];
  let command = '';
  for (const line of section.split('\n').filter((l) => l.startsWith('|'))) {
    const cells = line
      .slice(1, -1)
      .split(/(?<!\\)\|/)
      .map((cell) => cell.trim());
    if (cells[0] === 'command' || /^-+$/.test(cells[0]!.replace(/:/g, ''))) continue;
    command = cells[0]!.replace(/`/g, '') || command;
    rows.push({ command, when: cells[1]!, exit: Number(cells[2]) });
  }
  return rows;
}

describe('docs/ci.md: the exit codes', () => {
  const rows = exitCodeTable(page);
  after(() => {
    process.exitCode = undefined;
  });

  it('the table has one row for each situation the tests drive, and no other', () => {
    const documented = rows.map((row) => `${row.command} / ${row.when}`).sort();
    const driven = Object.entries(drivers)
      .flatMap(([command, cases]) => Object.keys(cases).map((when) => `${command} / ${when}`))
      .sort();
    assert.deepEqual(documented, driven);
  });

  it('every command that waits is in the table', () => {
    const documented = new Set(rows.flatMap((row) => row.command.split(', ').map((command) => command.replace(/^modelship /, '').replace(/ --wait$/, ''))));
    const waiting: string[] = [];
    const visit = (command: Command, path: string[]) => {
      const waits = command.options.some((option) => option.long === '--wait') || ['watch', 'check', 'demo', 'approve', 'reject'].includes(path.join(' '));
      if (command.commands.length === 0 && waits) waiting.push(path.join(' '));
      for (const sub of command.commands) visit(sub, [...path, sub.name()]);
    };
    visit(buildProgram(), []);
    assert.deepEqual(
      waiting.filter((command) => !documented.has(command)),
      [],
      'commands that wait but have no rows in docs/ci.md',
    );
  });

  for (const row of rows) {
    it(`${row.command}: ${row.when} → exit ${row.exit}`, async () => {
      const drive = drivers[row.command]?.[row.when];
      assert.ok(drive, 'no driver for this row');
      const codes = await Promise.all(drive());
      for (const code of codes) assert.equal(code, row.exit, `the command exits ${code}`);
    });
  }
});

describe("docs/ci.md: the example's jq reads what `start --wait --json` prints", () => {
  const review = {
    phase: 'final' as const,
    path: '/srv/artifacts/release-fbm-1/review.html',
    mlflowUrl: 'https://mlflow.example.com/#/experiments/1/runs/abc123/artifacts/review.html',
  };
  const shapes: { name: string; scenario: Scenario; expected: Partial<Record<string, string>> }[] = [
    {
      name: 'the release ended',
      scenario: release(completed({ ...ended('succeeded'), review })),
      expected: { id: 'release-fbm-1', outcome: 'succeeded', url: review.mlflowUrl },
    },
    {
      name: 'at the approval gate',
      scenario: release('never', { ...waiting, review: { ...review, phase: 'awaiting_approval' } }),
      expected: { id: 'release-fbm-1', outcome: 'running', url: review.mlflowUrl },
    },
    {
      name: 'the release failed',
      scenario: release(failed(ApplicationFailure.nonRetryable('release failed at deploy: unhealthy', 'ReleaseFailed', { ...baseStatus, outcome: 'failed', review }))),
      // The job stops at this step then: it reads no id from it.
      expected: { outcome: 'failed', url: review.mlflowUrl },
    },
  ];
  const scripts = steps.map((step) => step.run ?? '').join('\n');
  const filters = [...scripts.matchAll(/(\w+)=\$\(jq -r '([^']+)'/g)].map((m) => ({ variable: m[1]!, filter: m[2]! }));
  const hasJq = spawnSync('jq', ['--version']).status === 0;

  it('the example reads the id, the outcome and the review link with jq', () => {
    assert.deepEqual([...new Set(filters.map((f) => f.variable))].sort(), ['id', 'outcome', 'url']);
  });

  for (const shape of shapes) {
    it(shape.name, { skip: !hasJq && 'jq is not installed' }, async () => {
      const { stdout } = await runInProcess(start, shape.scenario);
      JSON.parse(stdout); // one JSON document, nothing else on stdout
      for (const { variable, filter } of filters.filter((f) => shape.expected[f.variable] !== undefined)) {
        const jq = spawnSync('jq', ['-r', filter], { input: stdout, encoding: 'utf8' });
        assert.equal(jq.status, 0, jq.stderr);
        assert.equal(jq.stdout.trim(), shape.expected[variable], `${variable}=$(jq -r '${filter}')`);
      }
    });
  }
});
