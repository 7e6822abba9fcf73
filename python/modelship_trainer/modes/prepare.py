"""Mode prepare: read the data (typed), make the one stratified train/test split (recorded, never fitted on),
draw the stratified search sample from the training rows and the candidates, split into shards (search.py); open
the release's MLflow training run. Writes sample.parquet and prepared.json."""

import os

from ..files import file_ref, write_json
from ..protocol import CONTRACT_VERSION, PreparedFile
from ..tracking import open_run
from ..training_data import TARGET_COLUMN, TrainingData


def run(request: dict) -> str:
    out = request["output_dir"]
    data = TrainingData(request)
    X_sample, y_sample = data.sample()
    sample_path = os.path.join(out, "sample.parquet")
    X_sample.assign(**{TARGET_COLUMN: y_sample}).to_parquet(sample_path, index=False)
    prepared: PreparedFile = {
        "contract_version": CONTRACT_VERSION,
        "split_digest": data.split_digest,
        "train_rows": int(len(data.train_idx)),
        "test_rows": int(len(data.test_idx)),
        "sample_rows": int(len(y_sample)),
        "budget": data.budget,
        "sample": file_ref(sample_path),
        "shards": data.shards(request),
        "mlflow": open_run(request),
    }
    return write_json(os.path.join(out, "prepared.json"), prepared)
