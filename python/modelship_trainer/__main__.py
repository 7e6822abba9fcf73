"""python -m modelship_trainer REQUEST.json

The request's mode says which part of training runs (default "train", all of it in this process):
- prepare: read the data (typed), make the one stratified train/test split (recorded, never fitted on), draw the
  stratified search sample from the training rows and the candidates, split into shards (search.py);
  open the release's MLflow training run. Writes prepared.json and sample.parquet.
- shard: score one shard's candidates with stratified CV on the search sample. Writes shard.json.
- finish: gather the shards' scores, refit the winner on every training row, choose the decision threshold from
  out-of-fold predictions on the search sample, export the whole pipeline to ONNX, check parity between ONNX
  Runtime and scikit-learn on the held-out rows (max |diff| <= 1e-4, else exit 3), log files to MLflow.
  Writes result.json.
The training activities run these on any training worker; intermediate files travel as MLflow artifacts.

Progress: one JSON object per line on stdout, {"event": "progress", ...}; {"event": "candidate_done", ...} after
each scored candidate. The last stdout line is {"event": "done", "result": <path>}. A failure prints
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
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from threadpoolctl import threadpool_limits

from . import CONTRACT_VERSION
from .budget import resolve_budget
from .export import PARITY_TOLERANCE, ParityError, export_onnx, onnx_probabilities
from .features import build_input_contract, class_labels
from .importance import write_importance
from .loading import read_typed
from .pipelines import build_pipeline
from .progress import emit
from .search import best_threshold, gather, model_for, plan_shards, planned_fits, score_shard, shard_fits
from .tracking import log_to_mlflow, open_run

TARGET_COLUMN = "__target__"


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: str, value) -> str:
    with open(path + ".tmp", "w") as handle:
        json.dump(value, handle, indent=2)
    os.replace(path + ".tmp", path)  # atomic: a result file is always complete
    return path


def contract_of(request: dict) -> dict:
    data = request["data"]
    contract = build_input_contract(data)
    contract.update({"target": data["target"], "positive_class": str(data["positive_class"])})
    return contract


class Prepared:
    """The data read and split, and the search sample's row numbers (all within the training rows)."""

    def __init__(self, request: dict, check_digest: bool = True):
        data, seed = request["data"], int(request["random_state"])
        emit("progress", phase="load", message="reading data")
        # Workers of one release read the data path each: the digest proves they read the validated file.
        if check_digest and request.get("data_sha256") and sha256_file(request["data_path"]) != request["data_sha256"]:
            raise ValueError(f"{request['data_path']} is not the validated data (sha256 differs): every worker must read the same file")
        self.contract = contract_of(request)
        self.typed = read_typed(request["data_path"], data, self.contract)
        # The classes as the data writes them, so predictions answer with the data's own labels.
        targets = sorted({str(v).strip() for v in self.typed.raw[data["target"]].cat.categories})
        self.contract["classes"] = class_labels(pd.Series(targets, dtype=object), str(data["positive_class"]))
        y = self.typed.y
        indices = np.arange(len(y))
        # One stratified split, made once and recorded; the test rows are never used for fitting.
        self.train_idx, self.test_idx = train_test_split(indices, test_size=request["test_data_split"], stratify=y, random_state=seed)
        self.budget = resolve_budget(request)
        if len(self.train_idx) > self.budget["search_rows"]:
            self.sample_idx, _ = train_test_split(self.train_idx, train_size=self.budget["search_rows"], stratify=y[self.train_idx], random_state=seed)
        else:
            self.sample_idx = self.train_idx
        digest = hashlib.sha256()
        for part in (self.test_idx, self.sample_idx):
            digest.update(np.ascontiguousarray(part, dtype=np.int64).tobytes())
        self.split_digest = digest.hexdigest()
        emit("progress", phase="split", message=f"{len(self.train_idx)} training rows ({len(self.sample_idx)} in the search sample), {len(self.test_idx)} held out",
             train_rows=int(len(self.train_idx)), test_rows=int(len(self.test_idx)))

    def sample(self):
        return self.typed.X.iloc[self.sample_idx].reset_index(drop=True), self.typed.y[self.sample_idx]

    def shards(self, request: dict) -> list:
        """Every candidate of the search, drawn once, in shards sized for the sample."""
        return plan_shards(request["model_families"], int(request["n_iter"]), int(request["random_state"]), len(self.sample_idx))


def prepare(request: dict) -> dict:
    out = request["output_dir"]
    prepared = Prepared(request)
    budget = prepared.budget
    X_sample, y_sample = prepared.sample()
    sample_path = os.path.join(out, "sample.parquet")
    X_sample.assign(**{TARGET_COLUMN: y_sample}).to_parquet(sample_path, index=False)
    shards = prepared.shards(request)
    run = open_run(request)
    result = {
        "contract_version": CONTRACT_VERSION,
        "split_digest": prepared.split_digest,
        "train_rows": int(len(prepared.train_idx)),
        "test_rows": int(len(prepared.test_idx)),
        "sample_rows": int(len(y_sample)),
        "budget": budget,
        "sample": {"path": sample_path, "sha256": sha256_file(sample_path)},
        "shards": shards,
        "mlflow": run,
    }
    return {"result": write_json(os.path.join(out, "prepared.json"), result)}


def shard_record(spec: dict, candidates: list) -> dict:
    return {"id": spec["id"], "family": spec["family"], "candidates": candidates, "fits": shard_fits(candidates)}


def shard(request: dict) -> dict:
    sample = request["sample"]
    if sha256_file(sample["path"]) != sample["sha256"]:
        raise ValueError(f"{sample['path']} does not match its sha256 {sample['sha256']}")
    frame = pd.read_parquet(sample["path"])
    y = frame.pop(TARGET_COLUMN).to_numpy()
    spec = request["shard"]
    folds = int(request["cv_folds"])
    budget = resolve_budget(request)
    progress = {"done": 0, "total": planned_fits(len(spec["candidates"]), y, folds, budget)}
    candidates = score_shard(frame, y, contract_of(request), spec, folds=folds, seed=int(request["random_state"]), scoring=request["scoring"],
                             budget=budget, deadline=request.get("deadline"), completed=request.get("completed") or {}, progress=progress)
    result = {"contract_version": CONTRACT_VERSION, **shard_record(spec, candidates)}
    return {"result": write_json(os.path.join(request["output_dir"], "shard.json"), result)}


def finish(request: dict, prepared: Prepared | None = None, shard_results: list | None = None, started: float | None = None) -> dict:
    """Refit the winner on every training row, export, check parity, log; `prepared`/`shard_results` are given
    when the whole search ran in this process, read from the request's files otherwise."""
    started = started or time.time()
    out = request["output_dir"]
    data, seed = request["data"], int(request["random_state"])
    budget = resolve_budget(request)
    folds = int(request["cv_folds"])
    if shard_results is None:
        shard_results = []
        for path in request["shard_paths"]:
            with open(path) as handle:
                shard_results.append(json.load(handle))
    if prepared is None:
        prepared = Prepared(request)
        if prepared.split_digest != request["split_digest"]:
            raise ValueError("this worker's train/test split differs from the one the search used (library versions differ?): refusing to refit")
    contract, typed = prepared.contract, prepared.typed

    # Files written early so the text columns can be dropped before the refit: the held-out rows (as a caller
    # would send them) and the split.
    feature_columns = [f["column"] for f in contract["features"]]
    test_rows_path = os.path.join(out, "test_rows.csv")
    typed.raw.iloc[prepared.test_idx][feature_columns + [data["target"]]].to_csv(test_rows_path, index=False)
    typed.raw = None
    split_path = write_json(os.path.join(out, "split.json"), {
        "random_state": seed, "test_data_split": request["test_data_split"], "stratified": True,
        "train_rows": int(len(prepared.train_idx)), "test_rows": int(len(prepared.test_idx)), "search_sample_rows": int(len(prepared.sample_idx)),
        "test_indices": [int(i) for i in prepared.test_idx]})

    cv_results = gather(shard_results)
    best_family = max(cv_results, key=lambda f: cv_results[f]["best_score"])
    best_params = cv_results[best_family]["best_params"]
    fits = sum(s["fits"] for s in shard_results)  # the search's fits (the threshold's and the refit's not counted)

    X_sample, y_sample = prepared.sample()
    emit("progress", phase="threshold", message=f"choosing the decision threshold for {best_family} from out-of-fold predictions on the search sample")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oof_model = build_pipeline(contract, model_for(best_family, best_params, seed, len(y_sample) * (folds - 1) // folds, budget))
        oof = cross_val_predict(oof_model, X_sample, y_sample, cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed), method="predict_proba")[:, 1]
    threshold = best_threshold(y_sample, oof)
    contract["threshold"] = threshold

    emit("progress", phase="refit", message=f"refitting {best_family} on all {len(prepared.train_idx)} training rows")
    X_train, y_train = typed.X.iloc[prepared.train_idx], typed.y[prepared.train_idx]
    best = build_pipeline(contract, model_for(best_family, best_params, seed, len(y_train), budget))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best.fit(X_train, y_train)
    del X_train, y_train
    X_test, y_test = typed.X.iloc[prepared.test_idx], typed.y[prepared.test_idx]

    emit("progress", phase="export", message="exporting the pipeline to ONNX and checking parity")
    model_path = os.path.join(out, "model.onnx")
    export_onnx(best, contract, model_path)
    sklearn_proba = best.predict_proba(X_test)[:, 1]
    onnx_proba = onnx_probabilities(model_path, X_test)
    parity = float(np.max(np.abs(sklearn_proba - onnx_proba))) if len(onnx_proba) else 0.0
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
        "search_sample_rows": int(len(prepared.sample_idx)),
        "search_time_limit_s": budget["time_limit_s"],
        "search_halving": budget["halving"],
        "data_sha256": request.get("data_sha256", ""),
        "trainer_contract_version": CONTRACT_VERSION,
        **{f"best_{k}": v for k, v in best_params.items()},
    }
    emit("progress", phase="mlflow", message="logging the run to MLflow")
    run = log_to_mlflow(request, files, params, reference)

    result = {
        "contract_version": CONTRACT_VERSION,
        "best_family": best_family,
        "best_params": best_params,
        "cv": {family: summary["best_score"] for family, summary in cv_results.items()},
        "scoring": request["scoring"],
        "threshold": threshold,
        "parity_max_abs_diff": parity,
        "train_rows": int(len(prepared.train_idx)),
        "test_rows": int(len(prepared.test_idx)),
        "search_rows": int(len(prepared.sample_idx)),
        "fits": fits,
        "seconds": round(time.time() - started, 2),
        "files": {name: {"path": path, "sha256": sha256_file(path)} for name, path in files.items()},
        "mlflow": run,
        "reference_metrics": reference,
    }
    return {"result": write_json(os.path.join(out, "result.json"), result)}


def train(request: dict) -> dict:
    """All of training in this process: split and sample, every shard of the search in turn, then finish."""
    started = time.time()
    prepared = Prepared(request, check_digest=False)  # one process, as before the search was distributed
    budget = prepared.budget
    X_sample, y_sample = prepared.sample()
    shards = prepared.shards(request)
    folds = int(request["cv_folds"])
    deadline = started + budget["time_limit_s"] if budget["time_limit_s"] else None
    progress = {"done": 0, "total": sum(planned_fits(len(s["candidates"]), y_sample, folds, budget) for s in shards)}
    shard_results = []
    for spec in shards:
        candidates = score_shard(X_sample, y_sample, prepared.contract, spec, folds=folds, seed=int(request["random_state"]), scoring=request["scoring"],
                                 budget=budget, deadline=deadline, completed={}, progress=progress)
        shard_results.append(shard_record(spec, candidates))
    return finish(request, prepared, shard_results, started)


MODES = {"train": train, "prepare": prepare, "shard": shard, "finish": finish}


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
    mode = request.get("mode", "train")
    if mode not in MODES:
        emit("error", message=f"request mode {mode!r} is not one of {', '.join(MODES)}", kind="contract")
        return 2
    os.makedirs(request["output_dir"], exist_ok=True)
    # One thread per trainer by default: the search is parallel across shards and workers, and OpenMP threads
    # contending for a busy core made a gradient-boosting fit many times slower (minutes instead of seconds).
    threads = int(os.environ.get("MODELSHIP_TRAINER_THREADS") or 1)
    try:
        with threadpool_limits(limits=threads):
            emit("done", **MODES[mode](request))
        return 0
    except ParityError as error:
        emit("error", message=str(error), kind="parity")
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv))
