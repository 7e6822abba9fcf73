"""The reference for bench:scale's whole-release ratio: one HistGradientBoostingClassifier fit (native categorical
splits, early stopping) on every row of a generated file, with the contract's features as the trainer reads them
(numbers, date parts, categories as pandas categories). Only the fit is timed.
Usage: .venv/bin/python bench/one-fit.py DATA.csv DATA_CONTRACT.json THREADS -> one JSON line."""

import json
import sys
import time

from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from modelship_trainer.features import build_input_contract
from modelship_trainer.loading import read_typed

path, contract_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(contract_path) as handle:
    data = json.load(handle)
typed = read_typed(path, data, build_input_contract(data))
X = typed.X
X = X.astype({c: "category" for c in X.columns if X[c].dtype == object})
model = HistGradientBoostingClassifier(categorical_features="from_dtype", early_stopping=True, random_state=42)
with threadpool_limits(limits=threads):
    started = time.perf_counter()
    model.fit(X, typed.y)
    seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "threads": threads, "rows": len(X), "iterations": int(model.n_iter_)}))
