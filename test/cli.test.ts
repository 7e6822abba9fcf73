// The CLI as a user runs it: exit codes and messages, never a stack trace.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import type { Command } from 'commander';
import { buildProgram } from '../src/client/cli';
import { projectRoot } from '../src/config/environment';

export function modelship(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'src/client/cli.ts'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('modelship CLI', () => {
  it('config check: "valid" and exit 0 for the default file', () => {
    const { code, stdout } = modelship(['config', 'check', '--config', join(projectRoot, 'config/default.yaml')]);
    assert.equal(code, 0);
    assert.match(stdout, /default\.yaml: valid/);
  });

  it('config check: every problem, with line and fix, exit 1, no stack trace', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'modelship-cli-')), 'bad.yaml');
    writeFileSync(file, 'n_iter: zero\ncv_foldz: 3\n');
    const { code, stderr } = modelship(['config', 'check', '--config', file]);
    assert.equal(code, 1);
    assert.match(stderr, /n_iter \(line 1\): expected a number/);
    assert.match(stderr, /cv_foldz \(line 2\): unknown key\. Fix: did you mean "cv_folds"\?/);
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  });

  it('config reference lists every key with its default', () => {
    const { code, stdout } = modelship(['config', 'reference']);
    assert.equal(code, 0);
    assert.match(stdout, /^n_iter = 20\n {4}hyperparameter settings/m);
    assert.match(stdout, /^skip_azure_deployment\n {4}the original name of skip_deployment/m);
  });

  it('data generate, then data validate: the profile and exit 0', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'modelship-cli-')), 'bank.csv');
    const generated = modelship(['data', 'generate', '--rows', '1500', '--seed', '3', '--out', file]);
    assert.equal(generated.code, 0, generated.stderr);
    assert.match(generated.stdout, /wrote 1500 rows to .*HighAmount = 1/);
    const validated = modelship(['data', 'validate', file, '--config', join(projectRoot, 'config/default.yaml')]);
    assert.equal(validated.code, 0, validated.stderr);
    assert.match(validated.stdout, /valid — 1500 rows, \d+ positive .* sha256 [0-9a-f]{64}/);
    assert.match(validated.stdout, /Account Balance +numeric .* single-feature AUC 0\.\d+/);
  });

  it('data validate: every problem and exit 1, never a stack trace', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'modelship-cli-')), 'bad.csv');
    writeFileSync(file, 'Age,HighAmount\nforty,1\n');
    const { code, stderr } = modelship(['data', 'validate', file, '--config', join(projectRoot, 'config/default.yaml')]);
    assert.equal(code, 1);
    assert.match(stderr, /problem\(s\)/);
    assert.match(stderr, /column "Account Balance" \(named in data\.numeric_features\) is missing from the file/);
    assert.doesNotMatch(stderr, /\n\s+at /);
    const missing = modelship(['data', 'validate', join(tmpdir(), 'no-such-file.csv')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /does not exist/);
  });

  it('dev: an invalid port is refused with the accepted range', () => {
    const { code, stderr } = modelship(['dev', '--mlflow-port', '99999']);
    assert.equal(code, 1);
    assert.match(stderr, /--mlflow-port.*expected a port number from 1 to 65535/);
  });

  it('check: runs the check workflow through both task queues of a running worker', () => {
    // No worker polls these queues in this test; the check must time out with a clear failure, not hang.
    const { code, stderr } = modelship(['check', '--timeout', '3'], {
      MODELSHIP_TASK_QUEUE: `nobody-${Date.now()}`,
    });
    assert.equal(code, 1);
    assert.match(stderr, /modelship: .*(timed out|Timeout)/i);
  });

  it('check: says how to start Temporal when it cannot connect', () => {
    const { code, stderr } = modelship(['check'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(code, 1);
    assert.match(stderr, /cannot reach Temporal at 127\.0\.0\.1:1.*npm run dev/);
  });

  it('--help: every description and option is one line, so commander wraps it at the terminal width', () => {
    const broken: string[] = [];
    const visit = (command: Command, path: string) => {
      if (command.description().includes('\n')) broken.push(`${path}: ${command.description()}`);
      for (const option of command.options) if (option.description.includes('\n')) broken.push(`${path} ${option.flags}`);
      for (const sub of command.commands) visit(sub, `${path} ${sub.name()}`);
    };
    visit(buildProgram(), 'modelship');
    assert.deepEqual(broken, []);
  });

  describe('a release started without a worker', () => {
    // A queue no worker polls: the release is started and listed, and never runs.
    const queue = `nobody-${Date.now()}`;
    const started: string[] = [];
    after(async () => {
      const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS });
      try {
        const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
        for (const id of started) await client.workflow.getHandle(id).terminate('test done');
      } finally {
        await connection.close();
      }
    });

    it('start: a training file missing on this machine is said at once, and the release starts all the same', () => {
      const missing = join(tmpdir(), `no-such-data-${Date.now()}.csv`);
      const { code, stdout, stderr } = modelship(['start', '--input-data', missing], { MODELSHIP_TASK_QUEUE: queue });
      const id = /started (\S+)/.exec(stdout)?.[1];
      if (id) started.push(id);
      assert.equal(code, 0, stderr);
      assert.ok(id, stdout);
      assert.match(stderr, new RegExp(`warning: ${missing.replace(/[.]/g, '\\.')} does not exist on this machine`));
    });

    it('list: a header, and each release with its model', async () => {
      const id = started[0];
      assert.ok(id, 'the start test ran first');
      let stdout = '';
      for (let i = 0; i < 40 && !stdout.includes(id); i++) {
        if (i > 0) await sleep(250);
        stdout = modelship(['list', '--limit', '100']).stdout;
      }
      const lines = stdout.trimEnd().split('\n');
      assert.match(lines[0]!, /^STARTED +STATUS +MODEL +STAGE +OUTCOME +WORKFLOW ID$/);
      const row = lines.find((line) => line.endsWith(id));
      assert.ok(row, stdout);
      assert.match(row, /RUNNING +financial-behavior-model /);
    });
  });
});
