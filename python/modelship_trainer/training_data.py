"""The data as every mode reads it: typed, split once (stratified, recorded) and sampled for the search and the
refit. The split and the samples are drawn from the target column alone; the model frame is built only for the
rows a mode uses."""

import hashlib

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from .budget import REFIT_ROWS, resolve_budget
from .features import build_input_contract, class_labels
from .files import sha256_file
from .loading import read_typed
from .progress import emit
from .search import plan_shards

TARGET_COLUMN = "__target__"  # the label's column in the search sample's parquet file


def contract_of(request: dict) -> dict:
    data = request["data"]
    contract = build_input_contract(data)
    contract.update({"target": data["target"], "positive_class": str(data["positive_class"])})
    return contract


class TrainingData:
    """The data read and split, and the search sample's row numbers (all within the training rows)."""

    def __init__(self, request: dict):
        data, seed = request["data"], int(request["random_state"])
        emit("progress", phase="load", message="reading data")
        # Workers of one release read the data path each: the digest proves they read the validated file.
        if request.get("data_sha256") and sha256_file(request["data_path"]) != request["data_sha256"]:
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
        # The refit's rows: every training row, or a stratified sample of them on big data.
        self.refit_rows_limit = REFIT_ROWS.get(self.budget["preset"], REFIT_ROWS["default"])
        if len(self.train_idx) > self.refit_rows_limit:
            self.refit_idx, _ = train_test_split(self.train_idx, train_size=self.refit_rows_limit, stratify=y[self.train_idx], random_state=seed)
        else:
            self.refit_idx = self.train_idx
        digest = hashlib.sha256()
        for part in (self.test_idx, self.sample_idx):
            digest.update(np.ascontiguousarray(part, dtype=np.int64).tobytes())
        self.split_digest = digest.hexdigest()
        emit("progress", phase="split", message=f"{len(self.train_idx)} training rows ({len(self.sample_idx)} in the search sample), {len(self.test_idx)} held out",
             train_rows=int(len(self.train_idx)), test_rows=int(len(self.test_idx)))

    def sample(self):
        return self.typed.frame(self.sample_idx), self.typed.y[self.sample_idx]

    def refit_rows(self):
        return self.typed.frame(self.refit_idx), self.typed.y[self.refit_idx]

    def test_rows(self):
        return self.typed.frame(self.test_idx), self.typed.y[self.test_idx]

    def shards(self, request: dict) -> list:
        """Every candidate of the search, drawn once, in shards sized for the sample."""
        return plan_shards(request["model_families"], int(request["n_iter"]), int(request["random_state"]), len(self.sample_idx))
