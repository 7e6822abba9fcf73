"""The search: the shard plan, and successive halving within a shard (rungs, promotion, resume, the time limit)."""

import json

import numpy as np
import pytest

from modelship_trainer import search
from modelship_trainer.budget import resolve_budget


@pytest.fixture
def quiet(monkeypatch):
    """The search's progress lines, kept instead of printed."""
    events = []
    monkeypatch.setattr(search, "emit", lambda event, **fields: events.append((event, fields)))
    return events


def test_plans_shards_of_a_few_seconds_on_samples_too_small_to_halve_one_per_family_up_to_20000_rows_and_batches_of_five_beyond_the_same_candidates_every_way():
    families = ["random_forest", "hist_gradient_boosting", "logistic_regression"]
    plans = {rows: search.plan_shards(families, 20, 7, rows) for rows in (800, 4_000, 12_000, 60_000)}

    def flat(shards):
        return sorted((s["family"], c["index"], json.dumps(c["params"])) for s in shards for c in s["candidates"])

    for shards in plans.values():
        assert flat(shards) == flat(plans[800])
    assert {rows: [[s["id"], len(s["candidates"])] for s in shards] for rows, shards in plans.items() if rows < 60_000} == {
        800: [["random_forest-1of2", 10], ["hist_gradient_boosting-1of1", 20], ["logistic_regression-1of1", 20], ["random_forest-2of2", 10]],
        # The demo's sample: the forest (about 20 s of fits) in seven shards and gradient boosting in two, so two
        # training slots share them to the end; the linear model stays whole.
        4_000: [["random_forest-1of7", 3], ["hist_gradient_boosting-1of2", 10], ["logistic_regression-1of1", 20],
                ["random_forest-2of7", 3], ["hist_gradient_boosting-2of2", 10], ["random_forest-3of7", 3],
                ["random_forest-4of7", 3], ["random_forest-5of7", 3], ["random_forest-6of7", 3], ["random_forest-7of7", 2]],
        # Halving promotes the best third of a shard: more shards would promote other candidates.
        12_000: [["random_forest-1of1", 20], ["hist_gradient_boosting-1of1", 20], ["logistic_regression-1of1", 20]],
    }
    assert [[s["id"], len(s["candidates"])] for s in plans[60_000]][:4] == [
        ["random_forest-1of4", 5], ["hist_gradient_boosting-1of4", 5], ["logistic_regression-1of4", 5], ["random_forest-2of4", 5],
    ]


def test_a_shard_of_a_sample_too_small_to_halve_scores_its_candidates_as_one_shard_of_the_whole_family_does_features_fitted_once_per_fold_or_per_fit(
        typed_bank, quiet, monkeypatch):
    typed, contract = typed_bank(1_500, 8)
    whole = search.plan_shards(["random_forest"], 4, 8, len(typed.y))
    halves = [{**whole[0], "id": f"random_forest-{i + 1}of2", "candidates": whole[0]["candidates"][2 * i : 2 * i + 2]} for i in range(2)]

    def scores(shards):
        budget = resolve_budget({})
        return sorted((c["index"], c["mean_score"], c["fold_scores"]) for shard in shards for c in search.score_shard(
            typed.X, typed.y, contract, shard, folds=3, seed=8, scoring="roc_auc", budget=budget, deadline=None, completed={},
            progress={"done": 0, "total": 12}))

    assert len(whole) == 1 and len(whole[0]["candidates"]) == 4
    assert scores(halves) == scores(whole)
    reused = scores(whole)
    monkeypatch.setattr(search, "SMALL_SEARCH_ROWS", 0)  # every fit with its own pipeline, features and all
    assert scores(whole) == reused


def test_successive_halving_rungs_three_times_bigger_down_to_3000_rows_and_10_of_the_rarer_class_per_fold_up_to_the_whole_sample_not_when_thorough():
    thorough = resolve_budget({"training_budget": {"preset": "thorough"}})

    def labels(rows, positives):
        return np.array([1] * positives + [0] * (rows - positives))

    # JSON, as the shard plan travels: rungs are [candidates, rows] pairs.
    seen = json.loads(json.dumps([
        search.rung_plan(5, 40_000), search.rung_plan(20, 4_000), search.rung_plan(20, 9_000), search.rung_plan(1, 60_000), search.rung_plan(2, 60_000),
        search.planned_fits(5, labels(40_000, 2_000), 3, resolve_budget({})), search.planned_fits(5, labels(240_000, 12_000), 3, thorough),
        search.shard_plan(5, labels(40_000, 200), 3, resolve_budget({})), search.shard_plan(5, labels(40_000, 60), 3, resolve_budget({})),
        search.shard_plan(5, labels(40_000, 40_000), 3, resolve_budget({})),
    ]))
    assert seen == [
        [[5, 4444], [2, 13333], [1, 40000]],  # the 50,000-row default: 8 candidate scores instead of 5 on the whole sample
        [[20, 4000]],  # the demo's sample: too small to halve, every candidate on every row
        [[20, 3000], [7, 9000]],
        [[1, 60000]],
        [[2, 20000], [1, 60000]],
        24,
        15,  # thorough: no halving, every candidate on the whole sample
        [[5, 13333], [2, 40000]],  # 0.5 % positives: a rung keeps 10 per fold, so no rung of 4,444 rows (22 positives)
        [[5, 40000]],  # 60 positives in 40,000 rows: no halving
        [[5, 40000]],  # one class only: no halving (the validation refuses such data before)
    ]


def test_halving_promotes_the_best_third_on_stratified_nested_rows_only_finalists_can_win_and_a_retry_refits_nothing(typed_bank, quiet):
    typed, contract = typed_bank(9_000, 5)
    shard = search.plan_shards(["logistic_regression"], 5, 3, len(typed.y))[0]

    def run(completed):
        return search.score_shard(typed.X, typed.y, contract, shard, folds=3, seed=3, scoring="roc_auc", budget=resolve_budget({}),
                                  deadline=None, completed=completed, progress={"done": 0, "total": 21})

    results = run({})
    done = {f["key"]: f["candidate"] for e, f in quiet if e == "candidate_done"}
    fits_first = sum(1 for e, f in quiet if e == "progress")
    quiet.clear()
    again = run(done)
    small = search.rung_rows(typed.y, 3000, 3)
    assert set(small) <= set(search.rung_rows(typed.y, 6000, 3))
    first = sorted(results, key=lambda r: -r["rungs"][0]["mean_score"])
    summary = search.gather([{"family": "logistic_regression", "candidates": results}])["logistic_regression"]
    rows = [[x["rows"] for x in r["rungs"]] for r in results]

    assert len([r for r in rows if len(r) == 2]) == 2, "two candidates go on to the whole sample"
    for scored in rows:
        assert scored == [3000, 9000][: len(scored)]
    assert sorted(r["index"] for r in first[:2]) == sorted(r["index"] for r in results if "eliminated" not in r)
    assert summary["best_index"] in [r["index"] for r in results if "eliminated" not in r]
    assert summary["eliminated"] == 3
    assert search.shard_fits(results) == 21  # (5 + 2) candidates x 3 folds
    assert fits_first == 21
    assert round(float(typed.y.mean()), 3) == round(float(typed.y[small].mean()), 3), "a rung keeps the class balance"
    assert sum(1 for e, f in quiet if e == "progress") == 0, "every rung score of the first attempt is reused"
    assert again == results


def test_past_the_time_limit_halving_sends_the_best_candidate_so_far_straight_to_the_whole_sample(typed_bank, quiet):
    typed, contract = typed_bank(9_000, 6)
    shard = search.plan_shards(["logistic_regression"], 5, 4, len(typed.y))[0]
    progress = {"done": 0, "total": 21}
    results = search.score_shard(typed.X, typed.y, contract, shard, folds=3, seed=4, scoring="roc_auc", budget=resolve_budget({}),
                                 deadline=0.0, completed={}, progress=progress)
    assert [[r["index"], [x["rows"] for x in r.get("rungs", [])], r.get("skipped")] for r in results] + [progress["done"]] == [
        [0, [3000, 9000], None], [1, [], "time limit"], [2, [], "time limit"], [3, [], "time limit"], [4, [], "time limit"], 21,
    ]


def test_a_search_past_its_time_limit_scores_only_each_shards_first_candidate_finished_candidates_are_never_refitted(typed_bank, quiet):
    typed, contract = typed_bank(400, 4)
    shard = search.plan_shards(["logistic_regression"], 3, 1, 400)[0]
    done = {"1@400": {"index": 1, "rows": 400, "mean_score": 0.5, "fold_scores": [0.5, 0.5], "seconds": 1.0}}
    results = search.score_shard(typed.X, typed.y, contract, shard, folds=2, seed=1, scoring="roc_auc", budget=resolve_budget({}),
                                 deadline=0.0, completed=done, progress={"done": 0, "total": 6})
    # 0: a shard's first candidate always runs; 1: finished by an earlier attempt, reused as it was; 2: skipped.
    assert [[r["index"], "mean_score" in r, r.get("skipped")] for r in results] == [[0, True, None], [1, True, None], [2, False, "time limit"]]
