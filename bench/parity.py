"""Python half of bench/parity.ts: trains every model family on generated data with magnitudes up to 1e9 and values
that differ only in their last digits, exports each pipeline to ONNX as the trainer does, and writes per family the
model, its input contract, the held-out raw rows and scikit-learn's probabilities on them.

    python bench/parity.py OUT_DIR [ROWS] [SEED]
Prints one JSON line per family: {"family", "python_max_abs_diff", "rows", "dir"}."""

import json
import os
import sys
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from modelship_trainer.export import export_onnx, onnx_probabilities  # noqa: E402
from modelship_trainer.features import build_input_contract, to_model_frame  # noqa: E402
from modelship_trainer.pipelines import build_pipeline  # noqa: E402
from modelship_trainer.search import search_spaces  # noqa: E402

# Deep models: many thresholds, many of them between values a float32 cannot tell apart.
FAMILY_PARAMS = {
    "random_forest": {"n_estimators": 100, "max_depth": None, "min_samples_leaf": 1},
    "hist_gradient_boosting": {"max_iter": 200, "max_leaf_nodes": 31, "learning_rate": 0.1, "min_samples_leaf": 5},
    "logistic_regression": {"C": 1.0},
}


def generate(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    balance = np.round(10 ** rng.uniform(2, 9, rows), 2)  # 100 … 1,000,000,000
    amount = np.round(rng.exponential(50, rows), 2)
    after = np.round(balance - amount, 2)  # the balance's last digits moved by an amount
    reference = 987_654_321 + rng.integers(0, 100, rows) * 0.01  # 987654321.00 … .99: float32 sees one value
    income = np.round(10 ** rng.uniform(2, 6, rows), 2)
    rate = rng.uniform(0, 1, rows)  # full double digits
    segment = rng.choice(["retail", "private", "business", "student", "senior"], rows)
    region = rng.choice([f"R{i:02d}" for i in range(20)], rows)
    signal = (
        2.0 * (reference - 987_654_321 > 0.5)
        + 1.5 * (after > 1e6)
        + 1.0 * ((after % 1) > 0.5)  # the cents
        + 1.0 * (segment == "business")
        + 0.8 * (income > 3e4)
        + 2.0 * (rate - 0.5)
        - 3.0
    )
    label = (rng.random(rows) < 1 / (1 + np.exp(-signal))).astype(int)
    frame = pd.DataFrame({
        "Account Balance": balance, "Balance After Transaction": after, "Reference Value": reference,
        "Annual Income": income, "Rate": rate, "Segment": segment, "Region": region, "Label": label,
    })
    text = frame.astype(object).map(lambda v: repr(float(v)) if isinstance(v, float) else str(v))  # shortest round-trip
    for column in ["Account Balance", "Balance After Transaction", "Annual Income", "Rate"]:
        text.loc[rng.random(rows) < 0.03, column] = ""  # 3 % missing
    return text


def main(out_dir: str, rows: int, seed: int) -> None:
    os.makedirs(out_dir, exist_ok=True)
    raw = generate(rows, seed)
    test_rows = rows // 4
    train_raw, test_raw = raw.iloc[test_rows:].reset_index(drop=True), raw.iloc[:test_rows].reset_index(drop=True)
    test_raw.loc[test_raw.sample(frac=0.02, random_state=seed).index, "Region"] = "a-region-never-seen"
    data = {"numeric_features": ["Account Balance", "Balance After Transaction", "Reference Value", "Annual Income", "Rate"],
            "date_features": [], "categorical_features": ["Segment", "Region"], "date_format": "YYYY-MM-DD"}
    contract = build_input_contract(data)
    contract.update({"target": "Label", "positive_class": "1", "threshold": 0.5, "classes": ["0", "1"]})
    X_train, X_test = to_model_frame(train_raw, contract), to_model_frame(test_raw, contract)
    y_train = (train_raw["Label"] == "1").astype(int).to_numpy()
    for family, (estimator, _) in search_spaces(seed).items():
        family_dir = os.path.join(out_dir, family)
        os.makedirs(family_dir, exist_ok=True)
        pipeline = build_pipeline(contract, estimator.set_params(**FAMILY_PARAMS[family]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipeline.fit(X_train, y_train)
        model_path = os.path.join(family_dir, "model.onnx")
        export_onnx(pipeline, contract, model_path)
        sklearn_proba = pipeline.predict_proba(X_test)[:, 1]
        diff = float(np.max(np.abs(sklearn_proba - onnx_probabilities(model_path, X_test))))
        test_raw.to_csv(os.path.join(family_dir, "test_rows.csv"), index=False)
        with open(os.path.join(family_dir, "input_contract.json"), "w") as handle:
            json.dump(contract, handle)
        with open(os.path.join(family_dir, "sklearn_probabilities.json"), "w") as handle:
            json.dump([float(p) for p in sklearn_proba], handle)
        print(json.dumps({"family": family, "python_max_abs_diff": diff, "rows": int(len(X_test)), "dir": family_dir}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 8000, int(sys.argv[3]) if len(sys.argv) > 3 else 7)
