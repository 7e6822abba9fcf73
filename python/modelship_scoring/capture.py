"""What a deployment scores, collected the way Azure ML's model data collector does, never at the cost of a request.

Each scored request is logged through azureml-ai-monitoring's Collector as two pandas DataFrames, in the
collections model monitoring recognises by name:
  model_inputs    one row per record: inference_id and the raw fields as the caller sent them
  model_outputs   one row per record: inference_id, prediction (the label answered), probability (positive class)
Both carry the request's correlation id (the x-request-id header, else a new UUID). The collector queues each
DataFrame in memory and a thread of its own posts it to the deployment's data-collector agent, which writes the
JSON lines to blob storage (modelDataCollector/{endpoint}/{deployment}/{collection}/yyyy/MM/dd/HH/*.jsonl).
The inference_id column is there for joining outcomes later: the agent may batch requests close in time under
one correlation id.

Settings come from the deployment's environment: AZUREML_MDC_ENABLED=true (or the platform's
AZUREML_MDC_CONFIG_PATH) turns collection on; MODELSHIP_CAPTURE_SAMPLING_RATE (0..1, default 1) samples whole
requests, so a sampled request has both its inputs and its outputs.

Failures never reach scoring: every exception and every error the collector reports (queue full, agent
unreachable) is counted and logged - the first one and then every 1000th, with the count."""

import logging
import os
import random
import uuid

try:  # Azure ML's data collector SDK (azureml-ai-monitoring)
    from azureml.ai.monitoring import Collector
    from azureml.ai.monitoring.context import BasicCorrelationContext
except ImportError:  # pragma: no cover - an environment without it collects nothing, and says so
    Collector = None
    BasicCorrelationContext = None

COLLECTIONS = ("model_inputs", "model_outputs")
INFERENCE_ID = "inference_id"
MAX_INFERENCE_ID_LENGTH = 128
LOG_EVERY = 1000
log = logging.getLogger("modelship.capture")


class _DeliveryErrors(logging.Filter):
    """Counts the errors the collector's worker thread logs (one per payload it could not deliver, with the
    reason) and lets through the first and every LOG_EVERY-th, so an absent agent does not flood the container
    log. On the sender's logger (which logs the same failure once more) it only drops them."""

    def __init__(self, capture: "Capture", counts: bool):
        super().__init__()
        self.capture = capture
        self.counts = counts

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        if not self.counts:
            return False
        count = self.capture.count_failure()
        if count == 1 or count % LOG_EVERY == 0:
            record.msg = f"{record.msg} (capture failures so far: {count})"
            return True
        return False


class Capture:
    def __init__(self):
        env = os.environ  # where the collector SDK reads its own settings too
        self.failures = 0
        self._inputs = None
        self._outputs = None
        self.sampling_rate = _sampling_rate(env.get("MODELSHIP_CAPTURE_SAMPLING_RATE"))
        enabled = env.get("AZUREML_MDC_ENABLED", "").lower() == "true" or bool(env.get("AZUREML_MDC_CONFIG_PATH"))
        if not enabled or self.sampling_rate <= 0:
            log.info("modelship: capture off (data collection is not enabled on this deployment)")
            return
        if Collector is None:
            log.warning("modelship: capture off: azureml-ai-monitoring is not installed in this environment")
            return
        try:
            self._inputs = Collector(name="model_inputs", on_error=self.failed)
            self._outputs = Collector(name="model_outputs", on_error=self.failed)
        except Exception as error:  # a collector that cannot start leaves scoring alone
            self.failed(error)
            self._inputs = self._outputs = None
            return
        logging.getLogger("mdc.worker").addFilter(_DeliveryErrors(self, counts=True))
        logging.getLogger("mdc.sender").addFilter(_DeliveryErrors(self, counts=False))
        log.info("modelship: capture on: %s, %g %% of requests", " and ".join(COLLECTIONS), self.sampling_rate * 100)

    @property
    def enabled(self) -> bool:
        return self._inputs is not None

    def count_failure(self) -> int:
        self.failures += 1
        return self.failures

    def failed(self, error: Exception) -> None:
        count = self.count_failure()
        if count == 1 or count % LOG_EVERY == 0:
            log.error("modelship: capture failed, the request was answered: %s (capture failures so far: %d)", error, count)

    def collect(self, request_id: str, ids: list, records: list, predictions: list, probabilities: list) -> None:
        """Hands one scored request to the collector; returns at once and never raises."""
        if not self.enabled or (self.sampling_rate < 1 and random.random() >= self.sampling_rate):
            return
        try:
            import pandas as pd

            context = BasicCorrelationContext(id=request_id)
            inputs = pd.DataFrame([{INFERENCE_ID: i, **record} for i, record in zip(ids, records)])
            context = self._inputs.collect(inputs, context)
            outputs = pd.DataFrame({INFERENCE_ID: ids, "prediction": predictions, "probability": probabilities})
            self._outputs.collect(outputs, context)
        except Exception as error:
            self.failed(error)


def take_inference_ids(records: list, feature_columns: set) -> tuple:
    """Each record's inference id: the caller's (its "inference_id" field, taken out of the record) or a new UUID.
    Returns (ids, records without the field, error or None); an error is (message, index) for a 422. A model
    with a feature named inference_id keeps it as a feature, and its ids are generated."""
    ids, stripped = [], []
    for index, record in enumerate(records):
        if isinstance(record, dict) and INFERENCE_ID in record and INFERENCE_ID not in feature_columns:
            value = record[INFERENCE_ID]
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_INFERENCE_ID_LENGTH:
                return None, None, f'record {index}: field "{INFERENCE_ID}" must be a non-empty string of at most {MAX_INFERENCE_ID_LENGTH} characters'
            ids.append(value)
            stripped.append({k: v for k, v in record.items() if k != INFERENCE_ID})
        else:
            ids.append(str(uuid.uuid4()))
            stripped.append(record)
    return ids, stripped, None


def request_id_of(request) -> str:
    headers = getattr(request, "headers", None) or {}
    for name in ("x-request-id", "x-ms-request-id"):
        value = headers.get(name) if hasattr(headers, "get") else None
        if value:
            return str(value)
    return str(uuid.uuid4())


def _sampling_rate(raw) -> float:
    if raw is None or raw == "":
        return 1.0
    try:
        rate = float(raw)
    except ValueError:
        log.warning("modelship: MODELSHIP_CAPTURE_SAMPLING_RATE=%s is not a number; collecting every request", raw)
        return 1.0
    return min(max(rate, 0.0), 1.0)
