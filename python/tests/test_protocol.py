"""The trainer protocol: protocol.schema.json is generated from protocol.py, and what the trainer writes (its
files and stdout lines, in every mode) is exactly what protocol.py declares."""

import json
import os
import subprocess
import sys
from typing import get_args

import pytest

from modelship_trainer import protocol

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA_PATH = os.path.join(PYTHON_DIR, "modelship_trainer", "protocol.schema.json")


def test_the_schema_file_is_generated_from_protocol_py():
    with open(SCHEMA_PATH) as handle:
        committed = json.load(handle)
    assert committed == protocol.json_schema(), "run `python -m modelship_trainer.protocol > modelship_trainer/protocol.schema.json` in python/"


def test_every_file_carries_the_contract_version():
    assert get_args(protocol.ContractVersion) == (protocol.CONTRACT_VERSION,)
    for message in ("PreparedFile", "ShardFile", "ResultFile"):
        assert protocol.MESSAGES[message].__annotations__["contract_version"] == protocol.ContractVersion


def test_messages_are_closed_a_field_more_or_less_is_refused():
    from pydantic import ValidationError

    done = {"event": "done", "result": "/tmp/result.json"}
    protocol.adapter("TrainerEvent").validate_python(done, strict=True)
    for wrong in ({**done, "extra": 1}, {"event": "done"}, {"event": "finished", "result": "x"}):
        with pytest.raises(ValidationError):
            protocol.adapter("TrainerEvent").validate_python(wrong, strict=True)


def trainer(request: dict, folder) -> tuple[int, list[dict], str]:
    """Runs `python -m modelship_trainer` as the activities do; returns its exit code, stdout events and stderr."""
    path = folder / f"request-{request.get('mode')}.json"
    path.write_text(json.dumps(request))
    run = subprocess.run([sys.executable, "-m", "modelship_trainer", str(path)], cwd=PYTHON_DIR, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": PYTHON_DIR}, check=False)
    return run.returncode, [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")], run.stderr


def checked_event(event: dict) -> dict:
    protocol.adapter("TrainerEvent").validate_python(event, strict=True)
    return event


def checked(events: list[dict], message: str) -> dict:
    """Every stdout line is a TrainerEvent; the last one names the file written, which must be a `message`."""
    for event in events:
        checked_event(event)
    assert events[-1]["event"] == "done", events[-1]
    with open(events[-1]["result"]) as handle:
        written = json.load(handle)
    protocol.adapter(message).validate_python(written, strict=True)
    return written


def test_prepare_shard_and_finish_write_what_the_protocol_declares(bank, tmp_path):
    data_path, data = bank(1_200, 11)
    base = {
        "contract_version": protocol.CONTRACT_VERSION, "data": data, "test_data_split": 0.25, "n_iter": 2, "cv_folds": 2, "random_state": 42,
        "scoring": "roc_auc", "model_families": ["logistic_regression", "hist_gradient_boosting"],
        "training_budget": {"preset": "default"}, "data_path": data_path,
    }
    code, events, stderr = trainer({**base, "mode": "prepare", "output_dir": str(tmp_path / "prepare")}, tmp_path)
    assert code == 0, stderr
    prepared = checked(events, "PreparedFile")
    assert [e["phase"] for e in events if e["event"] == "progress"] == ["load", "split"]
    assert prepared["mlflow"] is None and (prepared["train_rows"], prepared["test_rows"]) == (900, 300)

    shard_paths = []
    for shard in prepared["shards"]:
        out = tmp_path / "shards" / shard["id"]
        code, events, stderr = trainer({**base, "mode": "shard", "output_dir": str(out), "sample": prepared["sample"], "shard": shard,
                                        "deadline": None, "completed": {}}, tmp_path)
        assert code == 0, stderr
        scored = checked(events, "ShardFile")
        assert scored["id"] == shard["id"] and scored["fits"] == 2 * 2
        assert [e["key"] for e in events if e["event"] == "candidate_done"] == ["0@900", "1@900"]
        shard_paths.append(events[-1]["result"])

    code, events, stderr = trainer({**base, "mode": "finish", "output_dir": str(tmp_path / "finish"), "split_digest": prepared["split_digest"],
                                    "shard_paths": shard_paths}, tmp_path)
    assert code == 0, stderr
    result = checked(events, "ResultFile")
    assert result["fits"] == 2 * 2 * 2 and result["parity_max_abs_diff"] <= 1e-4
    assert sorted(result["files"]) == ["data/split.json", "data/test_predictions.json", "data/test_rows.csv", "evaluation/feature_importance.json",
                                       "model/input_contract.json", "model/model.onnx", "search/cv_results.json"]


@pytest.mark.parametrize("mode", [None, "train"])
def test_a_request_without_a_known_mode_is_refused_as_a_contract_error(tmp_path, mode):
    request = {"contract_version": protocol.CONTRACT_VERSION, "output_dir": str(tmp_path / "out")}
    code, events, _ = trainer(request if mode is None else {**request, "mode": mode}, tmp_path)
    assert code == 2
    assert [checked_event(e) for e in events] == [{"event": "error", "kind": "contract", "message": f"request mode {mode!r} is not one of prepare, shard, finish"}]


def test_a_request_of_another_contract_version_is_refused(tmp_path):
    code, events, _ = trainer({"contract_version": 1, "mode": "prepare", "output_dir": str(tmp_path)}, tmp_path)
    assert code == 2
    assert [checked_event(e) for e in events] == [{"event": "error", "kind": "contract", "message": f"request contract_version 1 is not {protocol.CONTRACT_VERSION}"}]

