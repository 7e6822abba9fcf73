"""Scoring script of a modelship deployment on an Azure ML managed online endpoint.

The request/response contract is the local endpoint's (src/serving/endpoint-server.ts):
  request   one record {"Age": 41, ...} or a list of 1..1000 records, raw fields as in the training CSV; a record
            may carry its own "inference_id" (a string, at most 128 characters), else one is generated
  200       {"predictions": [label...], "probabilities": [p...], "inference_ids": [id...], "model": {"name",
            "version"}, "deployment"}
            labels as the training data writes them ("malignant"/"benign"; numbers when both labels are numbers,
            so a 0/1 target answers 0/1); p is the probability of the positive class
  400       malformed JSON or an empty batch; 413 over 1000 records; 422 a record that does not fit, naming the field
The tabular doors of the local endpoint (src/serving/protocols/dataframe.ts) are taken too: Azure ML's
{"input_data": {"columns", "index", "data"}} (its studio "Test" tab) and MLflow's "dataframe_split",
"dataframe_records", "instances" and "inputs"; they answer {"predictions": [{"label", "probability"}...],
"inference_ids", "model", "deployment"}, as an MLflow scoring server answers for the registered pyfunc model.
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

import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from capture import INFERENCE_ID, Capture, request_id_of, take_inference_ids  # noqa: E402
from records import RecordError, check_records, positive_probabilities, prediction_labels, to_feeds  # noqa: E402

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
MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
AZUREML_KEY = "input_data"
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


class FormatError(ValueError):
    """A tabular request whose shape does not fit its format; `field` names the key."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def _split_records(value, key: str) -> list:
    shape = f'{{"{key}": {{"columns": ["Age", ...], "data": [[41, ...], ...]}}}}'
    if not isinstance(value, dict):
        raise FormatError(f'"{key}" must be an object of columns and data, e.g. {shape}', key)
    columns, data = value.get("columns"), value.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise FormatError(f'"{key}.columns" must be a list of column names, e.g. {shape}', f"{key}.columns")
    if not isinstance(data, list):
        raise FormatError(f'"{key}.data" must be a list of rows, e.g. {shape}', f"{key}.data")
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            got = f"{len(row)} values" if isinstance(row, list) else json.dumps(row)
            raise FormatError(f'"{key}.data[{index}]" must be a list of {len(columns)} values, one per column of "{key}.columns"; got {got}', f"{key}.data")
    return [dict(zip(columns, row)) for row in data]


def _tensor_records(value, key: str) -> list:
    fix = f'name the columns: {{"{key}": [{{"Age": 41, ...}}, ...]}} or {{"{key}": {{"Age": [41, ...], ...}}}}'
    if isinstance(value, list):
        for index, row in enumerate(value):
            if not isinstance(row, dict):
                raise FormatError(f'"{key}[{index}]" is not a record of named columns: {fix}', key)
        return value
    if not isinstance(value, dict):
        raise FormatError(f'"{key}" must be a list of records or an object of columns: {fix}', key)
    lists = [column for column, values in value.items() if isinstance(values, list)]
    if not lists:
        return [value]
    if len(lists) != len(value):
        scalar = next(column for column in value if column not in lists)
        raise FormatError(f'"{key}.{scalar}" must be a list like the other columns (one value per row)', f"{key}.{scalar}")
    rows = len(value[lists[0]])
    for column in lists:
        if len(value[column]) != rows:
            raise FormatError(f'"{key}.{column}" has {len(value[column])} values, "{key}.{lists[0]}" {rows}: every column needs one value per row', f"{key}.{column}")
    return [{column: value[column][i] for column in lists} for i in range(rows)]


def tabular_records(body: dict, key: str) -> list:
    """The rows of an Azure ML or MLflow request, as records (the rules of src/serving/protocols/dataframe.ts)."""
    keys = [k for k in body if k != "params"]
    if keys != [key]:
        extra = next(k for k in keys if k != key)
        known = ", ".join(f'"{name}"' for name in (*MLFLOW_KEYS, AZUREML_KEY))
        raise FormatError(f'unexpected key "{extra}": send exactly one of {known} (and optionally "params")', extra)
    value = body[key]
    if key == AZUREML_KEY:
        return value if isinstance(value, list) and all(isinstance(r, dict) for r in value) else _split_records(value, key)
    if key == "dataframe_split":
        return _split_records(value, key)
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise FormatError('"dataframe_records" must be a list of records ({"column": value, ...})', key)
        return value
    return _tensor_records(value, key)


def _door_key(body) -> str:
    """The tabular door a body came in by, or None for modelship's records (a contract column wins a name clash)."""
    if not isinstance(body, dict):
        return None
    return next((key for key in (*MLFLOW_KEYS, AZUREML_KEY) if key in body and key not in _state["columns"]), None)


@rawhttp
def run(request):
    if getattr(request, "method", "POST") != "POST":
        return _error(405, "POST records to score them")
    try:
        body = _body_of(request)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "the request body is not valid JSON")
    door = _door_key(body)
    if door:
        try:
            records = tabular_records(body, door)
        except FormatError as error:
            return _error(400, str(error), error.field)
    else:
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
    probabilities = positive_probabilities(session.run(None, to_feeds(contract, records)))
    threshold, labels = contract["threshold"], _state["labels"]
    predictions = [labels[1] if p >= threshold else labels[0] for p in probabilities]
    _state["capture"].collect(request_id_of(request), ids, records, predictions, probabilities)
    if door:
        predictions = [{"label": label, "probability": p} for label, p in zip(predictions, probabilities)]
        return {"predictions": predictions, "inference_ids": ids, "model": _state["model"], "deployment": _state["deployment"]}
    return {
        "predictions": predictions,
        "probabilities": probabilities,
        "inference_ids": ids,
        "model": _state["model"],
        "deployment": _state["deployment"],
    }
