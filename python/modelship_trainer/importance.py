"""Permutation importance on the held-out rows, per raw feature column (a date's parts are shuffled together),
measured with the search's scoring metric. Written as evaluation/feature_importance.json and logged with the run;
the release review charts it."""

import json

import numpy as np
from sklearn.metrics import get_scorer

MAX_ROWS = 5000
REPEATS = 5


def permutation_importance_by_feature(pipeline, X, y, contract: dict, scoring: str, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    if len(X) > MAX_ROWS:  # a stratified-enough random subset keeps this to seconds on big data
        keep = np.sort(rng.choice(len(X), MAX_ROWS, replace=False))
        X, y = X.iloc[keep], y[keep]
    scorer = get_scorer(scoring)
    baseline = float(scorer(pipeline, X, y))
    rows = []
    for feature in contract["features"]:
        columns = [spec["name"] for spec in feature["inputs"]]
        drops = []
        for _ in range(REPEATS):
            shuffled = X.copy()
            order = rng.permutation(len(X))
            for column in columns:
                shuffled[column] = X[column].to_numpy()[order]
            drops.append(baseline - float(scorer(pipeline, shuffled, y)))
        rows.append({"feature": feature["column"], "importance_mean": float(np.mean(drops)), "importance_std": float(np.std(drops))})
    rows.sort(key=lambda row: -row["importance_mean"])
    return {"metric": scoring, "baseline": baseline, "rows": len(X), "repeats": REPEATS, "features": rows}


def write_importance(path: str, pipeline, X, y, contract: dict, scoring: str, seed: int) -> str:
    with open(path, "w") as handle:
        json.dump(permutation_importance_by_feature(pipeline, X, y, contract, scoring, seed), handle, indent=2)
    return path
