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
from .progress import _print_lock, emit

# Candidates per shard once the search sample is big enough for a fit to outweigh a worker's start-up (~2 s).
CANDIDATES_PER_SHARD = 5
SMALL_SEARCH_ROWS = 20_000


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


def plan_shards(families: list, n_iter: int, seed: int, search_rows: int) -> list:
    """Every candidate of every family, drawn once, in shards: one per family on small samples (a fit is cheaper
    than starting a worker), batches of CANDIDATES_PER_SHARD otherwise. Families take turns in the order."""
    spaces = search_spaces(seed)
    per_shard = n_iter if search_rows <= SMALL_SEARCH_ROWS else CANDIDATES_PER_SHARD
    by_family = []
    for family in families:
        candidates = [
            {"index": i, "params": {k: plain(v) for k, v in params.items()}}
            for i, params in enumerate(ParameterSampler(spaces[family][1], n_iter=n_iter, random_state=seed))
        ]
        batches = math.ceil(len(candidates) / per_shard)
        by_family.append([
            {"id": f"{family}-{b + 1}of{batches}", "family": family, "candidates": candidates[b * per_shard : (b + 1) * per_shard]}
            for b in range(batches)
        ])
    return [shard for turn in itertools.zip_longest(*by_family) for shard in turn if shard is not None]


def model_for(family: str, params: dict, seed: int, fit_rows: int, budget: dict):
    estimator = clone(search_spaces(seed)[family][0]).set_params(**params)
    if family == "random_forest" and fit_rows > budget["forest_rows_per_tree"]:
        estimator.set_params(max_samples=int(budget["forest_rows_per_tree"]))
    return estimator


def score_shard(X, y, contract: dict, shard: dict, *, folds: int, seed: int, scoring: str, budget: dict, deadline: float | None,
                completed: dict, progress: dict) -> list:
    """Scores each candidate of the shard with stratified CV on (X, y), the search sample. `completed` holds the
    scores of candidates an earlier attempt finished (never refitted); a candidate not started before the deadline
    is skipped, except each shard's first: shards run in no fixed order, so this keeps every family's share of
    the search (one candidate in CANDIDATES_PER_SHARD at least) whichever shards ran first."""
    scorer = get_scorer(scoring)
    splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(X, y))
    results = []
    for candidate in shard["candidates"]:
        key = str(candidate["index"])
        if key in completed:
            results.append(completed[key])
            continue
        if deadline is not None and time.time() > deadline and candidate is not shard["candidates"][0]:
            results.append({"index": candidate["index"], "params": candidate["params"], "skipped": "time limit"})
            progress["done"] += folds
            continue
        started, scores = time.time(), []
        for train, valid in splits:
            model = build_pipeline(contract, model_for(shard["family"], candidate["params"], seed, len(train), budget))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X.iloc[train], y[train])
            scores.append(float(scorer(model, X.iloc[valid], y[valid])))
            with _print_lock:
                progress["done"] += 1
            emit("progress", phase="search", family=shard["family"], done=progress["done"], total=progress["total"],
                 message=f"fit {progress['done']}/{progress['total']} ({shard['family']})")
        result = {"index": candidate["index"], "params": candidate["params"], "mean_score": float(np.mean(scores)),
                  "fold_scores": scores, "seconds": round(time.time() - started, 3)}
        results.append(result)
        emit("candidate_done", shard=shard["id"], candidate=result)  # the activity keeps it in its heartbeat
    return results


def gather(shard_results: list) -> dict:
    """Per family: best score, its params, every candidate's mean score (None when skipped)."""
    families = {}
    for shard in shard_results:
        for candidate in shard["candidates"]:
            entry = families.setdefault(shard["family"], {"candidates": []})
            entry["candidates"].append(candidate)
    summary = {}
    for family, entry in families.items():
        scored = sorted(entry["candidates"], key=lambda c: c["index"])
        best = max((c for c in scored if "mean_score" in c), key=lambda c: c["mean_score"])
        summary[family] = {
            "best_score": best["mean_score"],
            "best_params": best["params"],
            "best_index": best["index"],
            "mean_test_score": [c.get("mean_score") for c in scored],
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
