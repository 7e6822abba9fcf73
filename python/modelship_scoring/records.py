"""Raw records -> ONNX inputs, without pandas: the one Python home of the value rules (missing tokens, numbers,
date formats and date parts, categories). Mirrors src/data/values.ts and src/model/input-contract.ts; the trainer
imports these rules and the Azure scoring script ships with this file, so training and serving read values alike."""

import json
import re
from datetime import date

import numpy as np

MISSING = {"", "na", "n/a", "nan", "null", "none"}
MISSING_CATEGORY = "__missing__"
DATE_PARTS = ("year", "month", "day_of_week", "day_number")
_EPOCH = date(1970, 1, 1).toordinal()
_DATE_PATTERNS = {
    "M/D/YYYY": (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$"), (3, 1, 2)),
    "D/M/YYYY": (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$"), (3, 2, 1)),
    "YYYY-MM-DD": (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), (1, 2, 3)),
}


def is_missing(raw) -> bool:
    return raw is None or (isinstance(raw, float) and np.isnan(raw)) or str(raw).strip().lower() in MISSING


def parse_number(raw) -> float:
    if is_missing(raw):
        return np.nan
    try:
        value = float(str(raw).strip())
    except ValueError:
        return np.nan
    return value if np.isfinite(value) else np.nan


def parse_date(raw, fmt: str) -> float:
    """Days since 1970-01-01, or NaN when missing or not a real date."""
    if is_missing(raw):
        return np.nan
    regex, order = _DATE_PATTERNS[fmt]
    match = regex.match(str(raw).strip())
    if not match:
        return np.nan
    year, month, day = (int(match.group(g)) for g in order)
    try:
        return float(date(year, month, day).toordinal() - _EPOCH)
    except ValueError:
        return np.nan


def date_parts(day_number: float) -> dict:
    if np.isnan(day_number):
        return {part: np.nan for part in DATE_PARTS}
    d = date.fromordinal(int(day_number) + _EPOCH)
    return {"year": d.year, "month": d.month, "day_of_week": d.weekday(), "day_number": day_number}


def as_text(value):
    """A JSON value as JavaScript's String() writes it (true, 1, 1.5), so both servers read records alike."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def category_value(raw) -> str:
    text = as_text(raw)
    return MISSING_CATEGORY if is_missing(text) else text.strip()


class RecordError(ValueError):
    """A record that does not fit the contract; `field` names the offending field."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def _number_like(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_records(contract: dict, records: list) -> None:
    """The checks of checkRecords (src/model/input-contract.ts), with the same messages."""
    known = {feature["column"] for feature in contract["features"]}
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise RecordError(f"record {index} is not an object of field: value pairs", "")
        for feature in contract["features"]:
            column = feature["column"]
            if column not in record:
                raise RecordError(f'record {index}: missing field "{column}" (send null for an unknown value)', column)
            value = record[column]
            if isinstance(value, (dict, list)):
                kind = "number" if feature["kind"] == "numeric" else "string"
                raise RecordError(f'record {index}: field "{column}" must be a {kind}, not {"a list" if isinstance(value, list) else "an object"}', column)
            if feature["kind"] == "numeric" and value is not None and not _number_like(value):
                if not is_missing(as_text(value)) and np.isnan(parse_number(as_text(value))):
                    raise RecordError(f'record {index}: field "{column}" must be a number, got {_json(value)}', column)
            if feature["kind"] == "date" and value is not None:
                if not is_missing(as_text(value)) and np.isnan(parse_date(as_text(value), feature["format"])):
                    raise RecordError(f'record {index}: field "{column}" must be a date written {feature["format"]}, got {_json(value)}', column)
        for field in record:
            if field not in known:
                raise RecordError(f'record {index}: unknown field "{field}"', field)


def prediction_labels(contract: dict) -> tuple:
    """[negative, positive] predictions, by the rule of predictionLabels (src/model/input-contract.ts)."""
    classes = contract.get("classes")
    if not classes:
        return (0, 1)
    numbers = [parse_number(label) for label in classes]
    if any(np.isnan(n) for n in numbers):
        return tuple(classes)
    return tuple(int(n) if n.is_integer() else n for n in numbers)


def positive_probabilities(outputs: list) -> list:
    """The positive class's probability per row from an ONNX run's outputs (a [n, 2] tensor, or one map per row)."""
    probabilities = np.asarray(outputs[1] if not isinstance(outputs[1], list) else [row[1] for row in outputs[1]])
    if probabilities.ndim == 2:
        probabilities = probabilities[:, 1]
    return [float(p) for p in probabilities]


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def to_feeds(contract: dict, records: list) -> dict:
    """ONNX feeds for checked records: doubles (NaN when missing; the model imputes) and strings, shape [n, 1]."""
    n = len(records)
    feeds = {}
    for feature in contract["features"]:
        column = feature["column"]
        if feature["kind"] == "categorical":
            values = [category_value(r[column]) for r in records]
            feeds[feature["inputs"][0]["name"]] = np.array(values, dtype=object).reshape(n, 1)
        elif feature["kind"] == "numeric":
            values = [float(r[column]) if _number_like(r[column]) and np.isfinite(r[column]) else parse_number(as_text(r[column])) for r in records]
            feeds[feature["inputs"][0]["name"]] = np.array(values, dtype=np.float64).reshape(n, 1)
        else:
            parts = [date_parts(parse_date(as_text(r[column]), feature["format"])) for r in records]
            for spec in feature["inputs"]:
                feeds[spec["name"]] = np.array([p[spec["part"]] for p in parts], dtype=np.float64).reshape(n, 1)
    return feeds
