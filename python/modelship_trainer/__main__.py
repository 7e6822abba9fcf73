"""python -m modelship_trainer REQUEST.json

Steps: read the CSV as text -> one stratified train/test split (recorded, never fitted on) -> randomized search with
stratified CV per model family on the training rows only -> best family refitted -> decision threshold from
out-of-fold predictions -> the whole pipeline (preprocessing included) exported to ONNX -> parity between ONNX
Runtime and scikit-learn on the test rows (max |diff| <= 1e-4, else exit 3) -> files and an MLflow run.

Progress: one JSON object per line on stdout, {"event": "progress", ...}. The result is written to
<output_dir>/result.json; the last stdout line is {"event": "done", "result": <path>}. A failure prints
{"event": "error", "message": ...} and exits non-zero.
"""

import hashlib
import json
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import roc_auc_score, accuracy_score
from sklearn.model_selection import RandomizedSearchCV, StratifiedKFold, cross_val_predict, train_test_split

from . import CONTRACT_VERSION
from .export import PARITY_TOLERANCE, ParityError, export_onnx, onnx_probabilities
from .features import build_input_contract, class_labels, to_model_frame
from .importance import write_importance
from .pipelines import build_pipeline
from .progress import emit
from .search import ProgressScorer, best_threshold, search_spaces
from .tracking import log_to_mlflow


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def train(request: dict) -> dict:
    started = time.time()
    out = request["output_dir"]
    os.makedirs(out, exist_ok=True)
    data = request["data"]
    seed = int(request["random_state"])

    emit("progress", phase="load", message="reading data")
    raw = pd.read_csv(request["data_path"], dtype=str, keep_default_na=False)
    target = raw[data["target"]].str.strip()
    y = (target == str(data["positive_class"])).astype(int).to_numpy()
    contract = build_input_contract(data)
    contract.update({"target": data["target"], "positive_class": str(data["positive_class"]), "classes": class_labels(target, str(data["positive_class"]))})
    X = to_model_frame(raw, contract)

    # One stratified split, made once and recorded; the test rows are never used for fitting.
    indices = np.arange(len(raw))
    train_idx, test_idx = train_test_split(indices, test_size=request["test_data_split"], stratify=y, random_state=seed)
    X_train, y_train = X.iloc[train_idx], y[train_idx]
    X_test, y_test = X.iloc[test_idx], y[test_idx]
    emit("progress", phase="split", message=f"{len(train_idx)} training rows, {len(test_idx)} held out", train_rows=int(len(train_idx)), test_rows=int(len(test_idx)))

    families = request["model_families"]
    spaces = search_spaces(seed)
    n_iter, folds = int(request["n_iter"]), int(request["cv_folds"])
    total = len(families) * n_iter * folds
    state = {"done": 0}
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    results, cv_results = {}, {}
    for family in families:
        estimator, space = spaces[family]
        search = RandomizedSearchCV(
            build_pipeline(contract, estimator),
            {f"model__{k}": v for k, v in space.items()},
            n_iter=n_iter,
            scoring=ProgressScorer(request["scoring"], total, family, state),
            cv=cv,
            random_state=seed,
            n_jobs=1,
            refit=True,
            error_score="raise",
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search.fit(X_train, y_train)
        results[family] = search
        cv_results[family] = {
            "best_score": float(search.best_score_),
            "best_params": {k.removeprefix("model__"): (v.item() if hasattr(v, "item") else v) for k, v in search.best_params_.items()},
            "mean_test_score": [float(s) for s in search.cv_results_["mean_test_score"]],
        }
        emit("progress", phase="family_done", family=family, message=f"{family}: best CV {request['scoring']} {search.best_score_:.4f}", done=state["done"], total=total)

    best_family = max(results, key=lambda f: results[f].best_score_)
    best = results[best_family].best_estimator_
    emit("progress", phase="threshold", message=f"choosing the decision threshold for {best_family} from out-of-fold predictions")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oof = cross_val_predict(clone(best), X_train, y_train, cv=cv, method="predict_proba")[:, 1]
    threshold = best_threshold(y_train, oof)
    contract["threshold"] = threshold

    emit("progress", phase="export", message="exporting the pipeline to ONNX and checking parity")
    model_path = os.path.join(out, "model.onnx")
    export_onnx(best, contract, model_path)
    sklearn_proba = best.predict_proba(X_test)[:, 1]
    onnx_proba = onnx_probabilities(model_path, X_test)
    parity = float(np.max(np.abs(sklearn_proba - onnx_proba))) if len(onnx_proba) else 0.0
    if not parity <= PARITY_TOLERANCE:
        raise ParityError(f"ONNX and scikit-learn probabilities differ by {parity:.3g} on the test rows (limit {PARITY_TOLERANCE})")

    # Files: the model, its input contract, the held-out rows (raw, as a caller would send them) and the
    # scikit-learn probabilities on them (golden predictions), the split and the search results.
    contract_path = os.path.join(out, "input_contract.json")
    test_rows_path = os.path.join(out, "test_rows.csv")
    golden_path = os.path.join(out, "test_predictions.json")
    split_path = os.path.join(out, "split.json")
    cv_path = os.path.join(out, "cv_results.json")
    feature_columns = [f["column"] for f in contract["features"]]
    raw.iloc[test_idx][feature_columns + [data["target"]]].to_csv(test_rows_path, index=False)
    with open(contract_path, "w") as handle:
        json.dump(contract, handle, indent=2)
    with open(golden_path, "w") as handle:
        json.dump({"probabilities": [float(p) for p in sklearn_proba]}, handle)
    with open(split_path, "w") as handle:
        json.dump({"random_state": seed, "test_data_split": request["test_data_split"], "stratified": True,
                   "train_rows": int(len(train_idx)), "test_rows": int(len(test_idx)), "test_indices": [int(i) for i in test_idx]}, handle)
    with open(cv_path, "w") as handle:
        json.dump(cv_results, handle, indent=2)

    reference = {
        "test_roc_auc_sklearn": float(roc_auc_score(y_test, sklearn_proba)),
        "test_accuracy_sklearn": float(accuracy_score(y_test, sklearn_proba >= threshold)),
        "cv_best_score": float(results[best_family].best_score_),
        "parity_max_abs_diff": parity,
        "threshold": threshold,
    }
    for family, summary in cv_results.items():
        reference[f"cv_{family}"] = summary["best_score"]
    files = {
        "model/model.onnx": model_path,
        "model/input_contract.json": contract_path,
        "data/test_rows.csv": test_rows_path,
        "data/test_predictions.json": golden_path,
        "data/split.json": split_path,
        "search/cv_results.json": cv_path,
    }
    emit("progress", phase="importance", message="permutation importance on the held-out rows")
    files["evaluation/feature_importance.json"] = write_importance(os.path.join(out, "feature_importance.json"), best, X_test, y_test, contract, request["scoring"], seed)
    params = {
        "best_family": best_family,
        "n_iter": n_iter,
        "cv_folds": folds,
        "random_state": seed,
        "test_data_split": request["test_data_split"],
        "scoring": request["scoring"],
        "data_sha256": request.get("data_sha256", ""),
        "trainer_contract_version": CONTRACT_VERSION,
        **{f"best_{k}": v for k, v in cv_results[best_family]["best_params"].items()},
    }
    emit("progress", phase="mlflow", message="logging the run to MLflow")
    run = log_to_mlflow(request, files, params, reference)

    result = {
        "contract_version": CONTRACT_VERSION,
        "best_family": best_family,
        "best_params": cv_results[best_family]["best_params"],
        "cv": {family: summary["best_score"] for family, summary in cv_results.items()},
        "scoring": request["scoring"],
        "threshold": threshold,
        "parity_max_abs_diff": parity,
        "train_rows": int(len(train_idx)),
        "test_rows": int(len(test_idx)),
        "fits": state["done"],
        "seconds": round(time.time() - started, 2),
        "files": {name: {"path": path, "sha256": sha256_file(path)} for name, path in files.items()},
        "mlflow": run,
        "reference_metrics": reference,
    }
    result_path = os.path.join(out, "result.json")
    with open(result_path + ".tmp", "w") as handle:
        json.dump(result, handle, indent=2)
    os.replace(result_path + ".tmp", result_path)  # atomic: a result file is always complete
    return {"result": result_path}


def die_with_parent():
    """If the worker that started us dies (even by SIGKILL), stop too, so a retry never races an orphan."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        except OSError:
            pass


def main(argv):
    die_with_parent()
    if len(argv) != 2:
        sys.stderr.write("usage: python -m modelship_trainer REQUEST.json\n")
        return 2
    with open(argv[1]) as handle:
        request = json.load(handle)
    if request.get("contract_version") != CONTRACT_VERSION:
        emit("error", message=f"request contract_version {request.get('contract_version')} is not {CONTRACT_VERSION}", kind="contract")
        return 2
    try:
        emit("done", **train(request))
        return 0
    except ParityError as error:
        emit("error", message=str(error), kind="parity")
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv))
