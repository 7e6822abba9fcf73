"""Mode finish: gather the shards' scores, refit the winner on every training row (on big data a stratified
sample of budget.REFIT_ROWS of them), choose the decision threshold from out-of-fold predictions on the
search sample, export the whole pipeline to ONNX, check parity between ONNX Runtime and scikit-learn on the
held-out rows (the first PARITY_ROWS of them; max |diff| <= 1e-4, else exit 3), log files to MLflow.
Writes result.json."""

import csv
import json
import os
import time
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from ..budget import resolve_budget
from ..export import PARITY_TOLERANCE, ParityError, export_onnx, onnx_probabilities
from ..files import file_ref, write_json
from ..importance import write_importance
from ..pipelines import build_pipeline
from ..progress import emit
from ..protocol import CONTRACT_VERSION, ResultFile, ShardFile
from ..search import best_threshold, gather, model_for
from ..tracking import log_to_mlflow
from ..training_data import TrainingData

# ONNX Runtime in Python is checked against scikit-learn on at most this many held-out rows (the first ones: the
# held-out rows are in random order); evaluation checks ONNX Runtime in Node on every held-out row against the
# scikit-learn probabilities written here.
PARITY_ROWS = 200_000
CSV_BLOCK_ROWS = 200_000  # CSV text is several times the typed rows: written a block at a time


def write_rows_csv(rows, path: str) -> None:
    """The rows as CSV text: by Arrow's writer, unquoted, numbers in their shortest round-trip text (49 for 49.0);
    when a text needs quoting (a comma, a quote, a line break) by pandas, block by block."""
    try:
        with open(path + ".tmp", "w", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerow(rows.columns)  # the header as pandas writes it
        with open(path + ".tmp", "ab") as handle, pa_csv.CSVWriter(handle, pa.Schema.from_pandas(rows, preserve_index=False),
                                                                     write_options=pa_csv.WriteOptions(include_header=False, quoting_style="none")) as writer:
            for start in range(0, len(rows), CSV_BLOCK_ROWS):
                writer.write_table(pa.Table.from_pandas(rows.iloc[start:start + CSV_BLOCK_ROWS], preserve_index=False))
    except pa.ArrowInvalid:
        with open(path + ".tmp", "w", newline="") as handle:
            for start in range(0, max(len(rows), 1), CSV_BLOCK_ROWS):
                rows.iloc[start:start + CSV_BLOCK_ROWS].to_csv(handle, index=False, header=start == 0)
    os.replace(path + ".tmp", path)


def read_shards(paths: list) -> list[ShardFile]:
    shards = []
    for path in paths:
        with open(path) as handle:
            shards.append(json.load(handle))
    return shards


def run(request: dict) -> str:
    started = time.time()
    out = request["output_dir"]
    data_settings, seed = request["data"], int(request["random_state"])
    budget = resolve_budget(request)
    folds = int(request["cv_folds"])
    shard_results = read_shards(request["shard_paths"])
    data = TrainingData(request)
    if data.split_digest != request["split_digest"]:
        raise ValueError("this worker's train/test split differs from the one the search used (library versions differ?): refusing to refit")
    contract, typed = data.contract, data.typed

    # Files written early, so the table can be dropped before the refit: the held-out rows (as a caller would
    # send them) and the split.
    feature_columns = [f["column"] for f in contract["features"]]
    test_rows_path = os.path.join(out, "test_rows.csv")
    write_rows_csv(typed.raw.iloc[data.test_idx][feature_columns + [data_settings["target"]]], test_rows_path)
    split_path = write_json(os.path.join(out, "split.json"), {
        "random_state": seed, "test_data_split": request["test_data_split"], "stratified": True,
        "train_rows": int(len(data.train_idx)), "test_rows": int(len(data.test_idx)), "search_sample_rows": int(len(data.sample_idx)),
        "refit_rows": int(len(data.refit_idx)), "test_indices": [int(i) for i in data.test_idx]})
    X_sample, y_sample = data.sample()
    X_refit, y_refit = data.refit_rows()
    X_test, y_test = data.test_rows()
    typed.raw = None

    cv_results = gather(shard_results)
    best_family = max(cv_results, key=lambda f: cv_results[f]["best_score"])
    best_params = cv_results[best_family]["best_params"]
    fits = sum(s["fits"] for s in shard_results)  # the search's fits (the threshold's and the refit's not counted)

    emit("progress", phase="threshold", message=f"choosing the decision threshold for {best_family} from out-of-fold predictions on the search sample")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oof_model = build_pipeline(contract, model_for(best_family, best_params, seed, len(y_sample) * (folds - 1) // folds, budget))
        oof = cross_val_predict(oof_model, X_sample, y_sample, cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed), method="predict_proba")[:, 1]
    threshold = best_threshold(y_sample, oof)
    contract["threshold"] = threshold
    del X_sample

    every = "all" if len(data.refit_idx) == len(data.train_idx) else f"a stratified {len(data.refit_idx)} of the"
    emit("progress", phase="refit", message=f"refitting {best_family} on {every} {len(data.train_idx)} training rows")
    best = build_pipeline(contract, model_for(best_family, best_params, seed, len(y_refit), budget))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best.fit(X_refit, y_refit)
    del X_refit, y_refit

    emit("progress", phase="export", message="exporting the pipeline to ONNX and checking parity")
    model_path = os.path.join(out, "model.onnx")
    export_onnx(best, contract, model_path)
    sklearn_proba = best.predict_proba(X_test)[:, 1]
    parity_rows = min(len(X_test), PARITY_ROWS)
    onnx_proba = onnx_probabilities(model_path, X_test.iloc[:parity_rows])
    parity = float(np.max(np.abs(sklearn_proba[:parity_rows] - onnx_proba))) if len(onnx_proba) else 0.0
    if not parity <= PARITY_TOLERANCE:
        raise ParityError(f"ONNX and scikit-learn probabilities differ by {parity:.3g} on the test rows (limit {PARITY_TOLERANCE})")

    # Files: the model, its input contract, the scikit-learn probabilities on the held-out rows (golden
    # predictions), the split and the search results.
    contract_path = write_json(os.path.join(out, "input_contract.json"), contract)
    golden_path = write_json(os.path.join(out, "test_predictions.json"), {"probabilities": [float(p) for p in sklearn_proba]})
    cv_path = write_json(os.path.join(out, "cv_results.json"), cv_results)

    reference = {
        "test_roc_auc_sklearn": float(roc_auc_score(y_test, sklearn_proba)),
        "test_accuracy_sklearn": float(accuracy_score(y_test, sklearn_proba >= threshold)),
        "cv_best_score": float(cv_results[best_family]["best_score"]),
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
        "n_iter": int(request["n_iter"]),
        "cv_folds": folds,
        "random_state": seed,
        "test_data_split": request["test_data_split"],
        "scoring": request["scoring"],
        "training_budget": budget["preset"],
        "search_sample_rows": int(len(data.sample_idx)),
        "refit_rows": int(len(data.refit_idx)),
        "search_time_limit_s": budget["time_limit_s"],
        "search_halving": budget["halving"],
        "data_sha256": request.get("data_sha256", ""),
        "trainer_contract_version": CONTRACT_VERSION,
        **{f"best_{k}": v for k, v in best_params.items()},
    }
    emit("progress", phase="mlflow", message="logging the run to MLflow")
    run_logged = log_to_mlflow(request, files, params, reference)

    result: ResultFile = {
        "contract_version": CONTRACT_VERSION,
        "best_family": best_family,
        "best_params": best_params,
        "cv": {family: summary["best_score"] for family, summary in cv_results.items()},
        "scoring": request["scoring"],
        "threshold": threshold,
        "parity_max_abs_diff": parity,
        "train_rows": int(len(data.train_idx)),
        "test_rows": int(len(data.test_idx)),
        "search_rows": int(len(data.sample_idx)),
        "fits": fits,
        "seconds": round(time.time() - started, 2),
        "files": {name: file_ref(path) for name, path in files.items()},
        "mlflow": run_logged,
        "reference_metrics": reference,
    }
    return write_json(os.path.join(out, "result.json"), result)
