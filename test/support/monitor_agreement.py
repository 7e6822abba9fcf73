"""Independent numpy/scipy computation of the monitor's statistics (test/monitor-statistics.test.ts compares).

Reads a JSON case file (argv[1]) and prints JSON: per feature case the bins' counts, PSI and threshold computed
here from the raw values; per performance case ROC AUC (scikit-learn) and DeLong's interval from the full pairwise
comparison matrix; Wilson bounds from scipy's binomtest; chi-squared quantiles from scipy.
"""

import json
import sys
from collections import Counter

import numpy as np
from scipy.stats import binomtest, chi2, norm
from sklearn.metrics import roc_auc_score

PSEUDO_COUNT = 0.5
QUANTILE_BINS = 10
MAX_CATEGORY_BINS = 20


def bin_counts(kind, reference, values, extra_edges=()):
    if kind == "categorical":
        frequency = Counter(v for v in reference if v is not None)
        kept = [c for c, _ in sorted(frequency.items(), key=lambda item: (-item[1], item[0]))[:MAX_CATEGORY_BINS]]
        index = {c: i for i, c in enumerate(kept)}

        def count(vs):
            counts = np.zeros(len(kept) + 2)
            for v in vs:
                counts[len(kept) + 1 if v is None else index.get(v, len(kept))] += 1
            return counts

        return count(reference), count(values)
    numbers = np.array([v for v in reference if v is not None], dtype=float)
    deciles = np.quantile(numbers, np.arange(1, QUANTILE_BINS) / QUANTILE_BINS, method="inverted_cdf")
    edges = np.unique(np.concatenate([deciles, np.array(extra_edges, dtype=float)]))

    def count(vs):
        counts = np.zeros(len(edges) + 2)
        present = np.array([v for v in vs if v is not None], dtype=float)
        # bin k holds edges[k-1] < v <= edges[k]: the first edge at or above v
        counts[: len(edges) + 1] = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
        counts[-1] = sum(1 for v in vs if v is None)
        return counts

    return count(reference), count(values)


def psi(reference, current):
    live = (reference > 0) | (current > 0)
    r = reference[live] + PSEUDO_COUNT
    c = current[live] + PSEUDO_COUNT
    e = r / r.sum()
    a = c / c.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def threshold(reference, current, alpha, tests):
    dof = max(1, int(np.count_nonzero(reference)) - 1)
    return float((1 / current.sum() + 1 / reference.sum()) * chi2.ppf(1 - alpha / tests, dof))


def delong(labels, scores):
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=float)
    positives = scores[labels == 1]
    negatives = scores[labels == 0]
    comparison = (positives[:, None] > negatives[None, :]) + 0.5 * (positives[:, None] == negatives[None, :])
    v10 = comparison.mean(axis=1)
    v01 = comparison.mean(axis=0)
    auc = float(roc_auc_score(labels, scores))
    se = np.sqrt(v10.var(ddof=1) / len(positives) + v01.var(ddof=1) / len(negatives))
    half = norm.ppf(0.975) * se
    return {"value": auc, "low": float(max(0.0, auc - half)), "high": float(min(1.0, auc + half))}


def main():
    with open(sys.argv[1], encoding="utf-8") as handle:
        cases = json.load(handle)
    features = []
    for case in cases["features"]:
        reference, current = bin_counts(case["kind"], case["reference"], case["window"], case.get("extraEdges", ()))
        features.append(
            {
                "reference": reference.tolist(),
                "current": current.tolist(),
                "psi": psi(reference, current),
                "threshold": threshold(reference, current, case["alpha"], case["tests"]),
            }
        )
    performance = [delong(case["labels"], case["scores"]) for case in cases["performance"]]
    wilson = []
    for k, n in cases["wilson"]:
        interval = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        wilson.append([float(interval.low), float(interval.high)])
    quantiles = [float(chi2.ppf(p, dof)) for p, dof in cases["chiSquared"]]
    json.dump({"features": features, "performance": performance, "wilson": wilson, "chiSquared": quantiles}, sys.stdout)


if __name__ == "__main__":
    main()
