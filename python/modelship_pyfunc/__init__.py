"""The python_function flavour of a registered modelship model: MLflow's loader_module.

A registered version's model/ folder is an MLflow Model (src/registry/mlflow-model.ts writes its MLmodel): the ONNX
flavour for onnx-aware tools, and this flavour for everything that speaks pyfunc (mlflow.pyfunc.load_model,
`mlflow models serve` and `predict`, mlflow.evaluate, Azure ML's no-code MLflow deployments). It scores raw
columns as the endpoint does: the input contract turns them into the ONNX inputs (records.py, the one Python
home of the value rules, shipped beside this package in the model's code/ folder), and onnxruntime runs the graph.

predict(DataFrame of the contract's columns) -> DataFrame with `label` (as the training data writes the classes)
and `probability` (of the positive class), row for row. Needs only MLflow, onnxruntime, numpy and pandas."""

import json
import os

import numpy as np
import onnxruntime as ort
import pandas as pd

try:  # inside a packaged model: records.py sits beside this package in code/
    from records import check_records, positive_probabilities, prediction_labels, to_feeds
except ImportError:  # in the project: the Azure scoring code's copy
    from modelship_scoring.records import check_records, positive_probabilities, prediction_labels, to_feeds

MODEL_FILE = "model.onnx"
CONTRACT_FILE = "input_contract.json"


class ModelshipModel:
    """The ONNX graph and its input contract; predict as the local endpoint scores."""

    def __init__(self, model_dir: str):
        with open(os.path.join(model_dir, CONTRACT_FILE), encoding="utf-8") as handle:
            self.contract = json.load(handle)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(os.path.join(model_dir, MODEL_FILE), options, providers=["CPUExecutionProvider"])
        self.columns = [feature["column"] for feature in self.contract["features"]]
        self.labels = prediction_labels(self.contract)

    def predict(self, model_input, params=None):  # noqa: ARG002 - pyfunc's signature; this model takes no parameters
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        missing = [column for column in self.columns if column not in frame.columns]
        if missing:
            raise ValueError(f"missing column(s) {', '.join(missing)}: send one column per field of the contract ({', '.join(self.columns)})")
        # Native Python values (pandas boxes them in to_dict), NaN and None alike read as missing by the value rules.
        records = frame[self.columns].to_dict(orient="records")
        check_records(self.contract, records)
        probabilities = positive_probabilities(self.session.run(None, to_feeds(self.contract, records)))
        threshold = self.contract["threshold"]
        labels = [self.labels[1] if p >= threshold else self.labels[0] for p in probabilities]
        return pd.DataFrame({"label": labels, "probability": np.asarray(probabilities, dtype=np.float64)})


def _load_pyfunc(path: str) -> ModelshipModel:
    """MLflow's entry point: `path` is the model folder (MLmodel, model.onnx, input_contract.json)."""
    return ModelshipModel(path)
