// Training at scale, the parts that need no servers: the training_budget setting as the trainer reads it, the
// typed loader against the text-based reference (features.to_model_frame) on awkward values, the shard plan, and
// successive halving within a shard (rungs, promotion, resume, the time limit).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { trainerBudget } from '../src/activities/training';
import { ConfigError, loadConfig } from '../src/config/load';
import { projectRoot, pythonChildEnv, venvExecutable } from '../src/config/environment';
import { generateBankingCsv } from '../src/data/generate';

const dir = mkdtempSync(join(tmpdir(), 'modelship-scale-'));

function python(code: string, args: string[] = []): string {
  const run = spawnSync(venvExecutable('python'), ['-c', code, ...args], {
    cwd: join(projectRoot, 'python'), env: { ...pythonChildEnv(), PYTHONPATH: join(projectRoot, 'python') }, encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout;
}

/** Runs trainer code on generated banking rows, read typed as the trainer reads them (`typed`, `contract`). */
async function pythonOnBank(rows: number, seed: number, code: string): Promise<string> {
  const csv = join(dir, `bank-${rows}-${seed}.csv`);
  await generateBankingCsv({ rows, seed, out: csv });
  const config = loadConfig({ path: join(projectRoot, 'config/default.yaml') }).config;
  return python(
    `
import json, sys
from modelship_trainer import search
from modelship_trainer.features import build_input_contract
from modelship_trainer.loading import read_typed
from modelship_trainer.budget import resolve_budget
data = json.loads(sys.argv[2]); contract = build_input_contract(data)
typed = read_typed(sys.argv[1], data, contract)
${code}`,
    [csv, JSON.stringify(config.data)],
  );
}

describe('training at scale', () => {
  it('training_budget: presets, a time limit, and a clear error', () => {
    assert.deepEqual(trainerBudget(undefined), { preset: 'default' });
    assert.deepEqual(trainerBudget('thorough'), { preset: 'thorough' });
    assert.deepEqual(trainerBudget('20m'), { preset: 'default', time_limit_s: 1200 });
    const path = join(dir, 'budget.yaml');
    writeFileSync(path, 'training_budget: huge\n');
    assert.throws(() => loadConfig({ path }), (error: unknown) => error instanceof ConfigError && /training_budget \(line 1\).*fast.*default.*thorough/.test(error.problems[0]!));
    writeFileSync(path, 'training_budget: fast\n');
    assert.equal(loadConfig({ path }).config.training_budget, 'fast');
  });

  it('typed loading gives exactly what the text-based frame gives, awkward values included', async () => {
    const csv = join(dir, 'bank.csv');
    await generateBankingCsv({ rows: 600, seed: 3, out: csv });
    // Awkward values in a numeric, a categorical, a date column and the target.
    const lines = readFileSync(csv, 'utf8').trimEnd().split('\n');
    const header = lines[0]!.split(',');
    const awkward = [' 1.5 ', 'NA', 'abc', '1_000', 'inf', '', 'n/a', '-0', '1e3', '  ', 'None', '2/30/2020'];
    const at = (name: string) => header.indexOf(name);
    awkward.forEach((value, i) => {
      const cells = lines[i + 1]!.split(',');
      cells[at('Age')] = value;
      cells[at('City')] = value;
      cells[at('Transaction Date')] = value;
      if (i === 0) cells[at('HighAmount')] = ' 1 ';
      lines[i + 1] = cells.join(',');
    });
    writeFileSync(csv, `${lines.join('\n')}\n`);
    const config = loadConfig({ path: join(projectRoot, 'config/default.yaml') }).config;
    const out = python(
      `
import json, sys, numpy as np, pandas as pd
from modelship_trainer.features import build_input_contract, to_model_frame
from modelship_trainer import loading
loading.CHUNK_ROWS = 128  # several chunks, so categories are merged across them
data = json.loads(sys.argv[2]); contract = build_input_contract(data)
typed = loading.read_typed(sys.argv[1], data, contract)
raw = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
X = to_model_frame(raw, contract)
y = (raw[data["target"]].str.strip() == str(data["positive_class"])).astype(int).to_numpy()
assert list(X.columns) == list(typed.X.columns)
for c in X.columns:
    a, b = X[c].to_numpy(), typed.X[c].to_numpy()
    assert a.dtype == b.dtype, (c, a.dtype, b.dtype)
    assert (a == b).all() if a.dtype == object else np.array_equal(a, b, equal_nan=True), c
assert (typed.y == y).all()
print(len(X), int(np.isnan(typed.X["Age"].to_numpy()).sum()))
`,
      [csv, JSON.stringify(config.data)],
    );
    // 'abc', 'NA', 'inf', '', 'n/a', '  ', 'None', '2/30/2020' are missing ages; ' 1.5 ', '1_000', '-0', '1e3' are numbers.
    assert.equal(out.trim(), '600 8');
  });

  it('plans one shard per family on small samples and batches of five otherwise (families taking turns), the same candidates either way', () => {
    const out = python(`
import json
from modelship_trainer.search import plan_shards
small = plan_shards(["random_forest", "hist_gradient_boosting"], 12, 7, 5_000)
big = plan_shards(["random_forest", "hist_gradient_boosting"], 12, 7, 60_000)
flat = lambda shards: sorted((s["family"], c["index"], json.dumps(c["params"])) for s in shards for c in s["candidates"])
assert flat(small) == flat(big)
print(json.dumps([[s["id"], len(s["candidates"])] for s in small + big]))
`);
    assert.deepEqual(JSON.parse(out), [
      ['random_forest-1of1', 12], ['hist_gradient_boosting-1of1', 12],
      ['random_forest-1of3', 5], ['hist_gradient_boosting-1of3', 5], ['random_forest-2of3', 5],
      ['hist_gradient_boosting-2of3', 5], ['random_forest-3of3', 2], ['hist_gradient_boosting-3of3', 2],
    ]);
  });

  it('successive halving: rungs three times bigger, down to 3,000 rows and 10 rows of the rarer class per fold, up to the whole sample (not when thorough)', () => {
    const out = python(`
import json
import numpy as np
from modelship_trainer.search import rung_plan, planned_fits, shard_plan
from modelship_trainer.budget import resolve_budget
thorough = resolve_budget({"training_budget": {"preset": "thorough"}})
labels = lambda rows, positives: np.array([1] * positives + [0] * (rows - positives))
print(json.dumps([rung_plan(5, 40_000), rung_plan(20, 4_000), rung_plan(20, 9_000), rung_plan(1, 60_000), rung_plan(2, 60_000),
                  planned_fits(5, labels(40_000, 2_000), 3, resolve_budget({})), planned_fits(5, labels(240_000, 12_000), 3, thorough),
                  shard_plan(5, labels(40_000, 200), 3, resolve_budget({})), shard_plan(5, labels(40_000, 60), 3, resolve_budget({})),
                  shard_plan(5, labels(40_000, 40_000), 3, resolve_budget({}))]))
`);
    assert.deepEqual(JSON.parse(out), [
      [[5, 4444], [2, 13333], [1, 40000]], // the 50,000-row default: 8 candidate scores instead of 5 on the whole sample
      [[20, 4000]], // the demo's sample: too small to halve, every candidate on every row
      [[20, 3000], [7, 9000]],
      [[1, 60000]],
      [[2, 20000], [1, 60000]],
      24,
      15, // thorough: no halving, every candidate on the whole sample
      [[5, 13333], [2, 40000]], // 0.5 % positives: a rung keeps 10 per fold, so no rung of 4,444 rows (22 positives)
      [[5, 40000]], // 60 positives in 40,000 rows: no halving
      [[5, 40000]], // one class only: no halving (the validation refuses such data before)
    ]);
  });

  it('halving promotes the best third on stratified nested rows, only finalists can win, and a retry refits nothing', async () => {
    const out = await pythonOnBank(9_000, 5, `
events = []
search.emit = lambda event, **fields: events.append((event, fields))
shard = search.plan_shards(["logistic_regression"], 5, 3, len(typed.y))[0]
run = lambda completed: search.score_shard(typed.X, typed.y, contract, shard, folds=3, seed=3, scoring="roc_auc", budget=resolve_budget({}),
                                           deadline=None, completed=completed, progress={"done": 0, "total": 21})
results = run({})
done = {f["key"]: f["candidate"] for e, f in events if e == "candidate_done"}
fits_first = sum(1 for e, f in events if e == "progress")
events.clear()
again = run(done)
small = search.rung_rows(typed.y, 3000, 3)
assert set(small) <= set(search.rung_rows(typed.y, 6000, 3))
first = sorted(results, key=lambda r: -r["rungs"][0]["mean_score"])
summary = search.gather([{"family": "logistic_regression", "candidates": results}])["logistic_regression"]
print(json.dumps({
  "rows": [[x["rows"] for x in r["rungs"]] for r in results],
  "finalists_are_best_of_rung_0": sorted(r["index"] for r in first[:2]) == sorted(r["index"] for r in results if "eliminated" not in r),
  "best_is_a_finalist": summary["best_index"] in [r["index"] for r in results if "eliminated" not in r],
  "eliminated": summary["eliminated"], "fits": search.shard_fits(results), "fits_first": fits_first,
  "positive_share": [round(float(typed.y.mean()), 3), round(float(typed.y[small].mean()), 3)],
  "retry_fits": sum(1 for e, f in events if e == "progress"), "retry_same": again == results,
}))
`);
    const seen = JSON.parse(out.trim().split('\n').pop()!);
    assert.equal(seen.rows.filter((r: number[]) => r.length === 2).length, 2, 'two candidates go on to the whole sample');
    for (const rows of seen.rows) assert.deepEqual(rows, [3000, 9000].slice(0, rows.length));
    assert.equal(seen.finalists_are_best_of_rung_0, true);
    assert.equal(seen.best_is_a_finalist, true);
    assert.equal(seen.eliminated, 3);
    assert.equal(seen.fits, 21); // (5 + 2) candidates x 3 folds
    assert.equal(seen.fits_first, 21);
    assert.equal(seen.positive_share[0], seen.positive_share[1], 'a rung keeps the class balance');
    assert.equal(seen.retry_fits, 0, 'every rung score of the first attempt is reused');
    assert.equal(seen.retry_same, true);
  });

  it('past the time limit, halving sends the best candidate so far straight to the whole sample', async () => {
    const out = await pythonOnBank(9_000, 6, `
search.emit = lambda *a, **k: None
shard = search.plan_shards(["logistic_regression"], 5, 4, len(typed.y))[0]
progress = {"done": 0, "total": 21}
results = search.score_shard(typed.X, typed.y, contract, shard, folds=3, seed=4, scoring="roc_auc", budget=resolve_budget({}),
                             deadline=0.0, completed={}, progress=progress)
print(json.dumps([[r["index"], [x["rows"] for x in r.get("rungs", [])], r.get("skipped")] for r in results] + [progress["done"]]))
`);
    assert.deepEqual(JSON.parse(out.trim().split('\n').pop()!), [
      [0, [3000, 9000], null], [1, [], 'time limit'], [2, [], 'time limit'], [3, [], 'time limit'], [4, [], 'time limit'], 21,
    ]);
  });

  it('a search past its time limit scores only each shard\'s first candidate; finished candidates are never refitted', async () => {
    const csv = join(dir, 'limit.csv');
    await generateBankingCsv({ rows: 400, seed: 4, out: csv });
    const config = loadConfig({ path: join(projectRoot, 'config/default.yaml') }).config;
    const out = python(
      `
import json, sys
from modelship_trainer.features import build_input_contract
from modelship_trainer.loading import read_typed
from modelship_trainer.search import plan_shards, score_shard
from modelship_trainer.budget import resolve_budget
data = json.loads(sys.argv[2]); contract = build_input_contract(data)
typed = read_typed(sys.argv[1], data, contract)
shard = plan_shards(["logistic_regression"], 3, 1, 400)[0]
done = {"1@400": {"index": 1, "rows": 400, "mean_score": 0.5, "fold_scores": [0.5, 0.5], "seconds": 1.0}}
results = score_shard(typed.X, typed.y, contract, shard, folds=2, seed=1, scoring="roc_auc", budget=resolve_budget({}),
                      deadline=0.0, completed=done, progress={"done": 0, "total": 6})
print(json.dumps([[r["index"], "mean_score" in r, r.get("skipped")] for r in results]))
`,
      [csv, JSON.stringify(config.data)],
    );
    // 0: a shard's first candidate always runs; 1: finished by an earlier attempt, reused as it was; 2: skipped.
    assert.deepEqual(JSON.parse(out.trim().split('\n').pop()!), [[0, true, null], [1, true, null], [2, false, 'time limit']]);
  });
});
