// Releases in flight survive an upgrade of the worker: every history recorded by a build from the compatibility
// floor on (test/histories/<build>/) replays with the workflow code of this checkout. A change that alters the
// commands a workflow emits must be guarded with patched() (CONTRIBUTING.md); this test names what broke.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DefaultLogger, Runtime, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import * as workflows from '../src/workflows';
import { workflowBundle } from './support/bundles';
import { readCorpus, readManifests, unlistedFiles, type CorpusEntry } from './support/histories';

/** The compatibility floor (CONTRIBUTING.md): the oldest build whose runs in flight this code still replays. */
const FLOOR_BUILD = '0.1.0-c969de2';
const REQUIRED_PATHS = [
  'success-train-auto-approve-first-deploy',
  'success-approved-by-update-stepped-rollout',
  'success-approved-by-signal',
  'rejected',
  'approval-expired',
  'gate-failure',
  'local-test-failure',
  'data-validation-failure',
  'rollout-rollback-health-check',
  'rollout-rollback-crash-on-load',
  'cancelled-waiting-for-approval',
  'cancelled-during-rollout-bake',
  'crash-retry-training',
  'operator-deploy-keep-old-colour',
  'operator-rollback-by-traffic',
  'operator-rollback-by-redeploy',
  'operator-rollback-nothing-deployed',
  'stack-check',
];

/** Replays every entry; returns one line per history that no longer replays. */
async function replayFailures(bundle: WorkflowBundleOption, corpus: CorpusEntry[]): Promise<string[]> {
  const failures: string[] = [];
  let index = 0;
  const results = Worker.runReplayHistories(
    { workflowBundle: bundle },
    corpus.map(({ workflowId, history }) => ({ workflowId, history })),
  );
  // Results come back one per history, in order.
  for await (const result of results) {
    const entry = corpus[index++]!;
    if (result.error) {
      failures.push(`${entry.path} (${entry.workflowType} ${entry.workflowId}, ${entry.scenario}): ${result.error.name}: ${result.error.message}`);
    }
  }
  assert.equal(index, corpus.length, 'every history was replayed');
  return failures;
}

// Replays that fail on purpose (the unguarded build) would fill the output with warnings.
Runtime.install({ logger: new DefaultLogger('ERROR') });

describe('history corpus', () => {
  const corpus = readCorpus();

  it('is complete: the floor build covers every path and every workflow type, and no file is unlisted', () => {
    const floor = readManifests().find((m) => m.build === FLOOR_BUILD);
    assert.ok(
      floor,
      `test/histories/${FLOOR_BUILD}/manifest.json is missing: it holds the histories of the oldest build whose releases may still be in flight. Restore it from git.`,
    );
    assert.deepEqual(
      REQUIRED_PATHS.filter((path) => !(path in floor.scenarios)),
      [],
      'paths missing from the floor build',
    );
    const types = new Set(corpus.map((entry) => entry.workflowType));
    const exported = Object.keys(workflows).filter((name) => typeof (workflows as Record<string, unknown>)[name] === 'function');
    assert.deepEqual(
      exported.filter((type) => !types.has(type)),
      [],
      'workflow types with no recorded history: record one (npm run histories:record)',
    );
    assert.deepEqual(unlistedFiles(), [], 'history files no manifest lists (they would never be replayed)');
  });

  it('replays with the current workflow code: no run in flight breaks', async () => {
    const failures = await replayFailures(await workflowBundle('current'), corpus);
    assert.equal(
      failures.length,
      0,
      `${failures.length} of ${corpus.length} recorded histories no longer replay. A workflow change alters the commands of runs ` +
        `in flight: guard it with patched('<id>') (old path when false), do not re-record old folders.\n${failures.join('\n')}`,
    );
  });

  it('catches a new step added without patched(), and accepts it behind patched()', async () => {
    const unguarded = await replayFailures(await workflowBundle('build-b-unguarded'), corpus);
    const completedReleases = corpus.filter((e) => e.workflowType === 'modelRelease' && e.status === 'COMPLETED');
    assert.ok(completedReleases.length >= 3, 'the corpus has completed releases');
    for (const release of completedReleases) {
      assert.ok(
        unguarded.some((line) => line.startsWith(`${release.path} `) && /Nondeterminism|DeterminismViolation/i.test(line)),
        `${release.path} is reported:\n${unguarded.join('\n')}`,
      );
    }
    assert.deepEqual(await replayFailures(await workflowBundle('build-b-guarded'), corpus), []);
  });
});
