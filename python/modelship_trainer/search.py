"""The hyperparameter search: the model families and their spaces, per-fit progress and the decision threshold."""

import numpy as np
from scipy.stats import loguniform, randint
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, get_scorer

from .progress import _print_lock, emit


def search_spaces(random_state: int) -> dict:
    return {
        # The original's space.
        "random_forest": (
            RandomForestClassifier(random_state=random_state, n_jobs=1),
            {
                "n_estimators": randint(50, 200),
                "max_depth": randint(3, 20),
                "min_samples_split": randint(2, 20),
                "min_samples_leaf": randint(1, 20),
                "bootstrap": [True, False],
                "class_weight": [None, "balanced"],
            },
        ),
        "hist_gradient_boosting": (
            HistGradientBoostingClassifier(random_state=random_state, early_stopping=False),
            {
                "learning_rate": loguniform(0.02, 0.3),
                "max_iter": randint(50, 250),
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


class ProgressScorer:
    """Wraps the search's scorer to report each finished fit (the search calls it once per fit)."""

    def __init__(self, scoring: str, total: int, family: str, state: dict):
        self.scorer = get_scorer(scoring)
        self.total, self.family, self.state = total, family, state

    def __call__(self, estimator, X, y):
        score = self.scorer(estimator, X, y)
        with _print_lock:
            self.state["done"] += 1
            done = self.state["done"]
        emit("progress", phase="search", family=self.family, done=done, total=self.total, message=f"fit {done}/{self.total} ({self.family})")
        return score


def best_threshold(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The threshold that maximises F1 on out-of-fold predictions (training rows only)."""
    best, best_f1 = 0.5, -1.0
    for threshold in np.unique(np.round(probabilities, 4)):
        f1 = f1_score(labels, probabilities >= threshold, zero_division=0)
        if f1 > best_f1:
            best, best_f1 = float(threshold), f1
    return best
