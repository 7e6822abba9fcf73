// Training at scale, the TypeScript side: the training_budget setting as the release config takes it and as the
// trainer reads it. The trainer's side (typed loading, the shard plan, successive halving) is tested by pytest in
// python/tests (run by test/python.test.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { trainerBudget } from '../src/activities/training';
import { ConfigError, loadConfig } from '../src/config/load';

const dir = mkdtempSync(join(tmpdir(), 'modelship-scale-'));

describe('training at scale', () => {
  it('training_budget: presets, a time limit, and a clear error', () => {
    assert.deepEqual(trainerBudget(undefined), { preset: 'default' });
    assert.deepEqual(trainerBudget('thorough'), { preset: 'thorough' });
    assert.deepEqual(trainerBudget('20m'), { preset: 'default', time_limit_s: 1200 });
    const path = join(dir, 'budget.yaml');
    writeFileSync(path, 'training_budget: huge\n');
    assert.throws(
      () => loadConfig({ path }),
      (error: unknown) => error instanceof ConfigError && /training_budget \(line 1\).*fast.*default.*thorough/.test(error.problems[0]!),
    );
    writeFileSync(path, 'training_budget: fast\n');
    assert.equal(loadConfig({ path }).config.training_budget, 'fast');
  });
});
