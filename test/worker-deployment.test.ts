// The worker's build id and `modelship worker` making its build the current version of its worker deployment.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { buildId } from '../src/build-id';
import { projectRoot } from '../src/config/environment';
import { describeDeployment, versioningMode, workerVersion } from '../src/worker-deployment';
import { requireEnv, uniqueQueues } from './support/temporal';
import { workerNodeArgs } from './support/bundles';

describe('build id', () => {
  it('is the package version and the git commit, or MODELSHIP_BUILD_ID', () => {
    const commit = execFileSync('git', ['rev-parse', '--short=7', 'HEAD'], { cwd: projectRoot, encoding: 'utf8' }).trim();
    const version = (require('../package.json') as { version: string }).version;
    assert.equal(buildId({}), `${version}-${commit}`);
    assert.equal(buildId({ MODELSHIP_BUILD_ID: ' 2.0.0-rc1 ' }), '2.0.0-rc1');
    assert.deepEqual(workerVersion({ MODELSHIP_BUILD_ID: 'b7' }), { deploymentName: 'modelship', buildId: 'b7' });
    assert.equal(workerVersion({ MODELSHIP_WORKER_VERSIONING: 'off' }), undefined);
  });

  it('refuses a bad MODELSHIP_BUILD_ID or MODELSHIP_WORKER_VERSIONING, and a checkout without git, saying how to fix it', () => {
    assert.throws(() => buildId({ MODELSHIP_BUILD_ID: 'a/b' }), /MODELSHIP_BUILD_ID "a\/b" is not a usable build id\. Fix: letters, digits/);
    assert.throws(() => versioningMode({ MODELSHIP_WORKER_VERSIONING: 'pinned' }), /MODELSHIP_WORKER_VERSIONING: unknown value "pinned"\. Fix: current \(default\), manual or off/);
    const notACheckout = mkdtempSync(join(tmpdir(), 'modelship-image-'));
    writeFileSync(join(notACheckout, 'package.json'), JSON.stringify({ version: '1.2.3' }));
    assert.throws(() => buildId({}, notACheckout), /is not a git checkout\. Fix: set MODELSHIP_BUILD_ID \(e\.g\. 1\.2\.3-<commit>\)/);
  });
});

describe('modelship worker and the worker deployment', () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const child of children) child.kill('SIGKILL');
  });

  /** Starts `modelship worker` as build `build`; resolves with its output once it has made the build current. */
  function startWorker(env: Record<string, string>, build: string): Promise<string> {
    const child = spawn(process.execPath, [...workerNodeArgs(), join(projectRoot, 'src/client/cli.ts'), 'worker'], {
      env: { ...process.env, ...env, MODELSHIP_BUILD_ID: build, MODELSHIP_SHUTDOWN_GRACE: '1s' },
    });
    children.push(child);
    let output = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker ${build} did not report its version in time:\n${output}`)), 120_000);
      const read = (chunk: Buffer) => {
        output += chunk;
        if (/current version/.test(output)) {
          clearTimeout(timer);
          resolve(output);
        }
      };
      child.stdout.on('data', read);
      child.stderr.on('data', read);
      child.once('exit', (code) => reject(new Error(`worker ${build} exited (${code}):\n${output}`)));
    });
  }

  it('each new build becomes current as its worker starts; the old one is left to drain', async () => {
    const queues = uniqueQueues();
    const deploymentName = `modelship-test-${randomUUID().slice(0, 8)}`;
    const env = { MODELSHIP_TASK_QUEUE: queues.orchestration, MODELSHIP_TRAINING_TASK_QUEUE: queues.training, MODELSHIP_DEPLOYMENT_NAME: deploymentName };
    const connection = await Connection.connect({ address: requireEnv('TEMPORAL_ADDRESS') });
    try {
      const client = new Client({ connection });
      const first = await startWorker(env, 'one');
      assert.match(
        first,
        new RegExp(`polling ${queues.orchestration} \\(orchestration\\), ${queues.training} \\(training, \\d+ at once\\) .*\\(build one of worker deployment ${deploymentName}\\)`),
      );
      assert.match(first, /build one is now the current version \(was unversioned\)/);
      assert.equal((await describeDeployment(client.workflowService, 'default', deploymentName))?.current, 'one');

      const second = await startWorker(env, 'two');
      assert.match(second, /build two is now the current version \(was one\)/);
      let state = await describeDeployment(client.workflowService, 'default', deploymentName);
      assert.equal(state?.current, 'two');
      // The server reports the old version as draining, then drained once it has no open runs.
      for (let i = 0; i < 40 && !state?.versions.find((v) => v.buildId === 'one')?.status.includes('DRAIN'); i++) {
        await sleep(250);
        state = await describeDeployment(client.workflowService, 'default', deploymentName);
      }
      assert.match(state?.versions.find((v) => v.buildId === 'one')?.status ?? '', /DRAIN/, JSON.stringify(state));

      const again = await startWorker(env, 'two');
      assert.match(again, /build two is already the current version/);
    } finally {
      await connection.close();
    }
  });
});
