"""The hyperparameter search: the model families and their spaces, the candidates and how they are split into
shards, scoring one shard's candidates with stratified CV, per-fit progress and the decision threshold.

A shard is a batch of candidates of one family with all their folds: the unit of work of one training activity,
so shards of one release can run on different training workers. Candidates are drawn once (prepare) and carried
in the shard, so every worker scores exactly the same settings.
"""

import itertools
import math
import time
import warnings

import numpy as np
from scipy.stats import loguniform, randint
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, get_scorer
from sklearn.model_selection import ParameterSampler, StratifiedKFold

from .pipelines import build_pipeline
from .progress import emit

# Candidates per shard once the search sample is big enough for a fit to outweigh a worker's start-up (~2 s).
CANDIDATES_PER_SHARD = 5
SMALL_SEARCH_ROWS = 20_000
# On samples too small to halve (below HALVING_FACTOR * MIN_RUNG_ROWS rows every candidate is scored on every row,
# whatever its shard) the shards are sized by cost: about SMALL_SHARD_SECONDS of fits each (a shard's own cost, a
# fork of the trainer, the sample fetched and its scores uploaded, is a tenth of that), so a family whose search
# costs more than that is split and every training slot stays busy until the search ends, while a cheap family
# stays one shard. A candidate's cost is its family's seconds per sample row (3-fold CV, the space's settings on
# average, one core), measured on the demo's 4,000 rows: a forest about 1 s, gradient boosting 0.25 s, the linear
# model 0.04 s. Only the sizes of the shards depend on it, never a score.
SMALL_SHARD_SECONDS = 2.5
CANDIDATE_SECONDS_PER_ROW = {"random_forest": 2.5e-4, "hist_gradient_boosting": 6e-5, "logistic_regression": 1e-5}
# Successive halving within a shard (see rung_plan): a third of a rung's candidates go on to three times the rows.
HALVING_FACTOR = 3
# No rung below this many rows: at 5 % positives that is 150 in a rung, 50 in each fold's validation part.
MIN_RUNG_ROWS = 3_000
# Nor with fewer rows of the rarer class than this per fold (rare positives: bigger rungs, or no halving).
MIN_CLASS_ROWS_PER_FOLD = 10


def search_spaces(random_state: int) -> dict:
    return {
        # Bootstrap always on: each tree then sees at most the budget's forest_rows_per_tree rows (max_samples),
        # which keeps the forest's cost flat as the data grows.
        "random_forest": (
            RandomForestClassifier(random_state=random_state, n_jobs=1, bootstrap=True),
            {
                "n_estimators": randint(50, 200),
                "max_depth": randint(3, 20),
                "min_samples_split": randint(2, 20),
                "min_samples_leaf": randint(1, 20),
                "class_weight": [None, "balanced"],
            },
        ),
        # Early stopping on a validation slice of the fit's own training rows: max_iter is a ceiling.
        "hist_gradient_boosting": (
            HistGradientBoostingClassifier(random_state=random_state, early_stopping=True, validation_fraction=0.1, n_iter_no_change=10),
            {
                "learning_rate": loguniform(0.02, 0.3),
                "max_iter": randint(100, 500),
                "max_leaf_nodes": randint(8, 48),
                "min_samples_leaf": randint(10, 80),
                "l2_regularization": loguniform(1e-4, 1.0),
                "class_weight": [None, "balanced"],
            },
        ),
        # The baseline: a linear model on the same features.
        "logistic_regression": (
            LogisticRegression(max_iter=2000),
            {"C": loguniform(1e-3, 1e2), "class_weight": [None, "balanced"]},
        ),
    }


def plain(value):
    return value.item() if hasattr(value, "item") else value


def candidates_per_shard(family: str, n_iter: int, search_rows: int) -> int:
    """How many of a family's candidates one shard holds (see SMALL_SHARD_SECONDS and CANDIDATES_PER_SHARD)."""
    if search_rows > SMALL_SEARCH_ROWS:
        return CANDIDATES_PER_SHARD
    if search_rows >= HALVING_FACTOR * MIN_RUNG_ROWS:
        return n_iter  # halving decides within a shard: one shard per family keeps its promotions as they are
    per_candidate = search_rows * CANDIDATE_SECONDS_PER_ROW.get(family, max(CANDIDATE_SECONDS_PER_ROW.values()))
    batches = max(1, round(n_iter * per_candidate / SMALL_SHARD_SECONDS))
    return math.ceil(n_iter / batches)


def plan_shards(families: list, n_iter: int, seed: int, search_rows: int) -> list:
    """Every candidate of every family, drawn once, in shards of candidates_per_shard: on small samples shards of
    a few seconds of fits each (a cheap family stays whole), batches of CANDIDATES_PER_SHARD on big ones.
    Families take turns in the order."""
    spaces = search_spaces(seed)
    by_family = []
    for family in families:
        candidates = [
            {"index": i, "params": {k: plain(v) for k, v in params.items()}}
            for i, params in enumerate(ParameterSampler(spaces[family][1], n_iter=n_iter, random_state=seed))
        ]
        per_shard = candidates_per_shard(family, len(candidates), search_rows)
        batches = math.ceil(len(candidates) / per_shard)
        by_family.append([
            {"id": f"{family}-{b + 1}of{batches}", "family": family, "candidates": candidates[b * per_shard : (b + 1) * per_shard]}
            for b in range(batches)
        ])
    return [shard for turn in itertools.zip_longest(*by_family) for shard in turn if shard is not None]


def model_for(family: str, params: dict, seed: int, fit_rows: int, budget: dict, tree_fraction: float | None = None):
    """The candidate's estimator for a fit on `fit_rows` rows. A forest's trees each see at most the budget's
    forest_rows_per_tree rows; `tree_fraction` (the search's lower rungs) instead gives each tree that share of
    the fit's rows: the share the trees get on the rung that decides."""
    estimator = clone(search_spaces(seed)[family][0]).set_params(**params)
    if family == "random_forest":
        if tree_fraction is not None and tree_fraction < 1:
            estimator.set_params(max_samples=tree_fraction)
        elif tree_fraction is None and fit_rows > budget["forest_rows_per_tree"]:
            estimator.set_params(max_samples=int(budget["forest_rows_per_tree"]))
    return estimator


def rung_plan(candidates: int, sample_rows: int, halving: bool = True, min_rows: int = MIN_RUNG_ROWS) -> list:
    """Successive halving within a shard: [(candidates scored, rows)] per rung. The last rung scores on the whole
    search sample; each earlier one scores HALVING_FACTOR times as many candidates on a HALVING_FACTOR times
    smaller stratified part of it, until one candidate is left at the top or a rung would have fewer than
    min_rows rows (small samples, or no halving: one rung, every candidate on every row)."""
    if not halving:
        return [(candidates, sample_rows)]
    by_candidates = 1
    while HALVING_FACTOR ** (by_candidates - 1) < candidates:
        by_candidates += 1
    by_rows = 1
    while sample_rows / HALVING_FACTOR ** by_rows >= min_rows:
        by_rows += 1
    rungs = min(by_candidates, by_rows)
    return [(math.ceil(candidates / HALVING_FACTOR ** i), sample_rows if i == rungs - 1 else round(sample_rows / HALVING_FACTOR ** (rungs - 1 - i)))
            for i in range(rungs)]


def shard_plan(candidates: int, y: np.ndarray, folds: int, budget: dict) -> list:
    """The rungs of a shard on the sample's labels `y`: a rung keeps MIN_RUNG_ROWS rows and, in every fold,
    MIN_CLASS_ROWS_PER_FOLD rows of the rarer class (a stratified rung has the sample's class shares)."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=2)
    rarest = int(counts.min()) if len(y) else 0
    needed = math.ceil(len(y) * MIN_CLASS_ROWS_PER_FOLD * folds / rarest) if rarest else len(y) + 1
    return rung_plan(candidates, len(y), budget.get("halving", True), max(MIN_RUNG_ROWS, needed))


def planned_fits(candidates: int, y: np.ndarray, folds: int, budget: dict) -> int:
    return sum(count for count, _ in shard_plan(candidates, y, folds, budget)) * folds


def rung_rows(y: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """`rows` row positions of the sample, stratified by class; a smaller rung's rows are part of a bigger one's."""
    if rows >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        picked.append(members[: max(1, round(rows * len(members) / len(y)))])
    return np.sort(np.concatenate(picked))


class FoldFeatures:
    """A rung's feature matrices per fold for one family, computed on first use: the pipeline's `features` step
    (build_pipeline) fitted on the fold's training rows, then the training and validation rows transformed. Every
    candidate of a family has the same features step, so on small samples (up to SMALL_SEARCH_ROWS rows: a few MB)
    a shard fits it once per fold instead of once per fit, where it costs as much as a linear model's fit."""

    def __init__(self, contract: dict, family: str, seed: int, X_rung, splits: list):
        self.features = build_pipeline(contract, search_spaces(seed)[family][0]).named_steps["features"]
        self.X_rung, self.splits, self.cache = X_rung, splits, {}

    def matrices(self, fold: int):
        if fold not in self.cache:
            train, valid = self.splits[fold]
            features = clone(self.features)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.cache[fold] = (features.fit_transform(self.X_rung.iloc[train]), features.transform(self.X_rung.iloc[valid]))
        return self.cache[fold]


def candidate_key(index: int, rows: int) -> str:
    """How an earlier attempt's finished work is found again: one candidate scored on so many rows."""
    return f"{index}@{rows}"


def _rank_score(record: dict) -> float:
    score = record["rungs"][-1]["mean_score"]
    return score if score == score else float("-inf")  # NaN (a fold with one class) ranks last


def score_shard(X, y, contract: dict, shard: dict, *, folds: int, seed: int, scoring: str, budget: dict, deadline: float | None,
                completed: dict, progress: dict) -> list:
    """Scores the shard's candidates with stratified CV by successive halving (rung_plan): every candidate on the
    smallest rung, the best third promoted to a rung three times bigger, up to the whole search sample (X, y).
    Only candidates scored on the whole sample can win; the others are marked `eliminated`.

    `completed` holds rung scores an earlier attempt finished (candidate_key; never refitted). Past the deadline
    a rung starts no candidate but its first, and only the best candidate so far goes on, straight to the whole
    sample: shards run in no fixed order, so every shard (and so every family) still ends with one candidate
    scored on the whole sample."""
    scorer = get_scorer(scoring)
    plan = shard_plan(len(shard["candidates"]), y, folds, budget)
    # The forest's trees get the same share of a fit's rows on every rung as on the last one (so a rung's cost
    # falls with its rows, and a setting ranks alike on all of them).
    top_fit_rows = len(y) * (folds - 1) / folds
    tree_fraction = min(1.0, budget["forest_rows_per_tree"] / top_fit_rows) if top_fit_rows else 1.0
    records = {c["index"]: {"index": c["index"], "params": c["params"], "rungs": []} for c in shard["candidates"]}
    alive = list(shard["candidates"])
    skipped = set()
    done_before = progress["done"]
    rung = 0
    while True:
        count, rows = plan[rung]
        past_deadline = deadline is not None and time.time() > deadline
        if rung > 0:
            ranked = sorted(alive, key=lambda c: (-_rank_score(records[c["index"]]), c["index"]))
            keep = 1 if past_deadline else count
            for candidate in ranked[keep:]:
                records[candidate["index"]]["eliminated"] = f"not promoted after rung {rung} of {len(plan)}"
            alive = ranked[:keep]
            if past_deadline:
                rung = len(plan) - 1  # straight to the whole sample
            count, rows = plan[rung]
        positions = rung_rows(y, rows, seed)
        X_rung, y_rung = X.iloc[positions], y[positions]
        splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(X_rung, y_rung))
        fold_features = FoldFeatures(contract, shard["family"], seed, X_rung, splits) if rows <= SMALL_SEARCH_ROWS else None
        fraction = None if rung == len(plan) - 1 else tree_fraction
        where = f", rung {rung + 1} of {len(plan)}: {rows:,} rows" if len(plan) > 1 else ""
        for position, candidate in enumerate(alive):
            key = candidate_key(candidate["index"], rows)
            if key in completed:
                records[candidate["index"]]["rungs"].append({k: completed[key][k] for k in ("rows", "mean_score", "fold_scores", "seconds")})
                progress["done"] += folds
                continue
            if position > 0 and deadline is not None and time.time() > deadline:
                skipped.add(candidate["index"])
                if records[candidate["index"]]["rungs"]:
                    records[candidate["index"]]["eliminated"] = f"time limit before rung {rung + 1} of {len(plan)}"
                continue
            started, scores = time.time(), []
            for fold, (train, valid) in enumerate(splits):
                estimator = model_for(shard["family"], candidate["params"], seed, len(train), budget, fraction)
                if fold_features:
                    # The pipeline's own steps, its features fitted once per fold: the same matrices, the same fit.
                    model, X_train, X_valid = estimator, *fold_features.matrices(fold)
                else:
                    model, X_train, X_valid = build_pipeline(contract, estimator), X_rung.iloc[train], X_rung.iloc[valid]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(X_train, y_rung[train])
                scores.append(float(scorer(model, X_valid, y_rung[valid])))
                progress["done"] += 1
                emit("progress", phase="search", family=shard["family"], done=progress["done"], total=progress["total"],
                     message=f"fit {progress['done']}/{progress['total']} ({shard['family']}{where})")
            scored = {"rows": int(rows), "mean_score": float(np.mean(scores)), "fold_scores": scores, "seconds": round(time.time() - started, 3)}
            records[candidate["index"]]["rungs"].append(scored)
            emit("candidate_done", shard=shard["id"], key=key, candidate={"index": candidate["index"], **scored})  # kept in the heartbeat
        alive = [c for c in alive if c["index"] not in skipped]
        if rung == len(plan) - 1:
            break
        rung += 1
    progress["done"] = done_before + planned_fits(len(shard["candidates"]), y, folds, budget)  # cut work counts as done
    results = []
    for candidate in shard["candidates"]:
        record = records[candidate["index"]]
        if not record["rungs"]:
            results.append({"index": record["index"], "params": record["params"], "skipped": "time limit"})
            continue
        last = record["rungs"][-1]
        results.append({**record, "rows": last["rows"], "mean_score": last["mean_score"], "fold_scores": last["fold_scores"],
                        "seconds": round(sum(r["seconds"] for r in record["rungs"]), 3)})
    return results


def shard_fits(candidates: list) -> int:
    """Fits a shard's scores stand for, on every rung."""
    return sum(len(r["fold_scores"]) for c in candidates for r in c.get("rungs", []))


def gather(shard_results: list) -> dict:
    """Per family: the best candidate among those scored on the whole search sample (a candidate eliminated on a
    smaller rung cannot win), its params, and every candidate's last mean score with the rows it was scored on
    (None when skipped)."""
    families = {}
    for shard in shard_results:
        for candidate in shard["candidates"]:
            entry = families.setdefault(shard["family"], {"candidates": []})
            entry["candidates"].append(candidate)
    summary = {}
    for family, entry in families.items():
        scored = sorted(entry["candidates"], key=lambda c: c["index"])
        finalists = [c for c in scored if "mean_score" in c and "eliminated" not in c]
        best = max(finalists, key=lambda c: (c["mean_score"] == c["mean_score"], c["mean_score"]))  # NaN loses
        summary[family] = {
            "best_score": best["mean_score"],
            "best_params": best["params"],
            "best_index": best["index"],
            "mean_test_score": [c.get("mean_score") for c in scored],
            "rows_scored": [c.get("rows") for c in scored],
            "finalists": len(finalists),
            "eliminated": sum(1 for c in scored if "eliminated" in c),
            "skipped": sum(1 for c in scored if "skipped" in c),
        }
    return summary


def best_threshold(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The threshold that maximises F1 on out-of-fold predictions (training rows only): every distinct
    probability (to 4 decimals) is tried at once from sorted counts, the lowest of equal F1s wins."""
    labels = np.asarray(labels).astype(bool)
    if len(labels) == 0:
        return 0.5
    thresholds = np.unique(np.round(probabilities, 4))
    order = np.sort(probabilities)
    positives_sorted = np.sort(probabilities[labels])
    predicted = len(order) - np.searchsorted(order, thresholds, side="left")  # rows with p >= t
    tp = len(positives_sorted) - np.searchsorted(positives_sorted, thresholds, side="left")
    fp, fn = predicted - tp, labels.sum() - tp
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros(len(thresholds)), where=denominator > 0)
    return float(thresholds[int(np.argmax(f1))])
