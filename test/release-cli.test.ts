// The release commands as a user runs them: start --wait, status, approve (with a refused approver), list.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { projectRoot } from '../src/config/environment';
import { generateBankingCsv } from '../src/data/generate';
import { runCli } from './support/cli';
import { connectTestEnvironment, withWorkers } from './support/temporal';

const modelship = runCli;

describe('release CLI', () => {
  let env: TestWorkflowEnvironment;
  const dir = mkdtempSync(join(tmpdir(), 'modelship-release-cli-'));
  const dataPath = join(dir, 'bank.csv');
  const modelName = `cli-test-${Date.now()}`;

  before(async () => {
    env = await connectTestEnvironment();
    await generateBankingCsv({ rows: 1000, seed: 4, out: dataPath });
  });
  after(async () => {
    await env?.teardown();
  });

  it('start --wait shows progress and stops at approval; approve answers with the verdict; status and list show the run', async () => {
    await withWorkers(env, async (queues) => {
      const cliEnv = {
        MODELSHIP_TASK_QUEUE: queues.orchestration,
        MODELSHIP_TRAINING_TASK_QUEUE: queues.training,
        MODELSHIP_ARTIFACTS_DIR: join(dir, 'artifacts'),
      };
      const config = join(dir, 'config.yaml');
      const { writeFileSync, readFileSync } = await import('node:fs');
      writeFileSync(
        config,
        readFileSync(join(projectRoot, 'config/default.yaml'), 'utf8')
          .replace(/^n_iter: .*$/m, 'n_iter: 2')
          .replace(/^cv_folds: .*$/m, 'cv_folds: 2')
          .replace(/^model_name: .*$/m, `model_name: ${modelName}`)
          .replace(/^approvers: .*$/m, 'approvers: [alice]'),
      );

      const started = await modelship(['start', '--config', config, '--input-data', dataPath, '--skip-azure-deployment', '--wait'], cliEnv);
      assert.equal(started.code, 0, started.stderr);
      const workflowId = /started (\S+)/.exec(started.stdout)![1]!;
      assert.match(started.stdout, /\/namespaces\/default\/workflows\/release-/);
      assert.match(started.stdout, /✔ validate_data: 1000 rows/);
      assert.match(started.stdout, /… train: (search on \d+ sampled rows: \d+ of 3 shards scored|refitting \w+ on all 800 training rows)/, 'how far the search is');
      assert.match(started.stdout, /✔ train: .* won/);
      assert.match(started.stdout, /✔ local_tests: 14 cases passed/);
      assert.match(started.stdout, /waiting for approval of .* version 1: modelship approve/);

      const status = await modelship(['status', workflowId], cliEnv);
      assert.match(status.stdout, /approval \(running\)/);
      assert.match(status.stdout, /succeeded +gates/);

      const refused = await modelship(['approve', workflowId, '--by', 'mallory'], cliEnv);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /^refused: mallory is not an approver \(approvers: alice\)/);
      const approved = await modelship(['approve', workflowId, '--by', 'alice', '--comment', 'ship it'], cliEnv);
      assert.equal(approved.code, 0, approved.stderr);
      assert.match(approved.stdout, /approved version 1 of .* by alice/);

      const result = await env.client.workflow.getHandle(workflowId).result();
      assert.equal(result.outcome, 'succeeded');
      const listed = await modelship(['list', '--json'], cliEnv);
      const rows = JSON.parse(listed.stdout) as { workflowId: string; model: string }[];
      assert.ok(
        rows.some((r) => r.workflowId === workflowId && r.model === modelName),
        listed.stdout,
      );
    });
  });

  it('start refuses a bad flag value or an unreadable allowed_signers file with the field and the fix, before anything runs', async () => {
    const bad = await modelship(['start', '--config', join(projectRoot, 'config/default.yaml'), '--target', 'gcp'], {});
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--target.*Allowed choices are local, azure/);
    const config = join(dir, 'unreadable-signers.yaml');
    writeFileSync(config, readFileSync(join(projectRoot, 'config/default.yaml'), 'utf8').replace(/^allowed_signers: .*$/m, '') + `allowed_signers: ${join(dir, 'nowhere')}\n`);
    const unsigned = await modelship(['start', '--config', config], {});
    assert.equal(unsigned.code, 1);
    assert.match(unsigned.stderr, /cannot read the allowed signers file .*nowhere/);
  });
});
