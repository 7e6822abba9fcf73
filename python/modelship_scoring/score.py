"""Scoring script of a modelship deployment on an Azure ML managed online endpoint.

The request/response contract is the local endpoint's (src/serving/endpoint-server.ts):
  request   one record {"Age": 41, ...} or a list of 1..1000 records, raw fields as in the training CSV; a record
            may carry its own "inference_id" (a string, at most 128 characters), else one is generated
  200       {"predictions": [label...], "probabilities": [p...], "inference_ids": [id...], "model": {"name",
            "version"}, "deployment"}
            labels as the training data writes them ("malignant"/"benign"; numbers when both labels are numbers,
            so a 0/1 target answers 0/1); p is the probability of the positive class
  400       malformed JSON or an empty batch; 413 over 1000 records; 422 a record that does not fit, naming the field
Errors are real HTTP statuses (AMLResponse), and a success returns an object: the inference server encodes it
once (returning a JSON string would be encoded twice).

init() opens model.onnx and input_contract.json from AZUREML_MODEL_DIR (the registered model folder, possibly
one level down). MODELSHIP_MODEL_NAME, MODELSHIP_MODEL_VERSION and MODELSHIP_DEPLOYMENT come from the
deployment's environment variables. Scored requests are collected for Azure ML model monitoring (capture.py);
a failing collection never fails a request."""

import json
import logging
import os
import sys

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from capture import INFERENCE_ID, Capture, request_id_of, take_inference_ids  # noqa: E402
from records import RecordError, check_records, parse_number, to_feeds  # noqa: E402

try:  # the Azure ML inference server (azureml-inference-server-http)
    from azureml_inference_server_http.api.aml_request import rawhttp
    from azureml_inference_server_http.api.aml_response import AMLResponse
except ImportError:  # pragma: no cover - older images
    try:
        from azureml.contrib.services.aml_request import rawhttp
        from azureml.contrib.services.aml_response import AMLResponse
    except ImportError:  # outside Azure (the contract tests): the same interface, no Flask
        def rawhttp(fn):
            return fn

        class AMLResponse:
            def __init__(self, message, status_code, response_headers=None, json_str=False):
                self.status_code = status_code
                self.headers = dict(response_headers or {})
                self.body = json.dumps(message) if json_str else message


MAX_BATCH_RECORDS = 1000
log = logging.getLogger("modelship.score")
_state = {}


def _find(root: str, name: str) -> str:
    for folder, _, files in os.walk(root):
        if name in files:
            return os.path.join(folder, name)
    raise FileNotFoundError(f"{name} not found under AZUREML_MODEL_DIR={root}")


def init():
    root = os.environ.get("AZUREML_MODEL_DIR")
    if not root:
        raise RuntimeError("AZUREML_MODEL_DIR is not set: the deployment has no registered model attached")
    with open(_find(root, "input_contract.json"), encoding="utf-8") as handle:
        contract = json.load(handle)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(_find(root, "model.onnx"), options, providers=["CPUExecutionProvider"])
    expected = {spec["name"] for feature in contract["features"] for spec in feature["inputs"]}
    missing = [i.name for i in session.get_inputs() if i.name not in expected]
    if missing:
        raise RuntimeError(f"the model's inputs {', '.join(missing)} are not in its input contract")
    _state.update(
        session=session,
        contract=contract,
        labels=prediction_labels(contract),
        model={"name": os.environ.get("MODELSHIP_MODEL_NAME"), "version": os.environ.get("MODELSHIP_MODEL_VERSION")},
        deployment=os.environ.get("MODELSHIP_DEPLOYMENT"),
        columns={feature["column"] for feature in contract["features"]},
        capture=Capture(),
    )
    log.info("modelship: loaded model %s v%s", _state["model"]["name"], _state["model"]["version"])


def prediction_labels(contract: dict) -> tuple:
    """[negative, positive] predictions, by the rule of predictionLabels (src/model/input-contract.ts)."""
    classes = contract.get("classes")
    if not classes:
        return (0, 1)
    numbers = [parse_number(label) for label in classes]
    if any(np.isnan(n) for n in numbers):
        return tuple(classes)
    return tuple(int(n) if n.is_integer() else n for n in numbers)


def _error(status: int, message: str, field: str = None):
    error = {"message": message}
    if field:
        error["field"] = field
    return AMLResponse({"error": error}, status, json_str=True)


def _body_of(request):
    raw = request.get_data() if hasattr(request, "get_data") else request
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8")
    return json.loads(raw) if isinstance(raw, str) else raw


@rawhttp
def run(request):
    if getattr(request, "method", "POST") != "POST":
        return _error(405, "POST records to score them")
    try:
        body = _body_of(request)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "the request body is not valid JSON")
    records = body if isinstance(body, list) else [body]
    if not records:
        return _error(400, "the request has no records: send one record or a non-empty list")
    if len(records) > MAX_BATCH_RECORDS:
        return _error(413, f"the request has {len(records)} records; at most {MAX_BATCH_RECORDS} per request")
    contract = _state["contract"]
    ids, records, id_error = take_inference_ids(records, _state["columns"])
    if id_error:
        return _error(422, id_error, INFERENCE_ID)
    try:
        check_records(contract, records)
    except RecordError as error:
        return _error(422, str(error), error.field)
    session = _state["session"]
    outputs = session.run(None, to_feeds(contract, records))
    probabilities = np.asarray(outputs[1] if not isinstance(outputs[1], list) else [row[1] for row in outputs[1]])
    if probabilities.ndim == 2:
        probabilities = probabilities[:, 1]
    probabilities = [float(p) for p in probabilities]
    threshold, labels = contract["threshold"], _state["labels"]
    predictions = [labels[1] if p >= threshold else labels[0] for p in probabilities]
    _state["capture"].collect(request_id_of(request), ids, records, predictions, probabilities)
    return {
        "predictions": predictions,
        "probabilities": probabilities,
        "inference_ids": ids,
        "model": _state["model"],
        "deployment": _state["deployment"],
    }
