"""Raw CSV text -> model input columns. Mirrors src/data/values.ts: the same missing tokens, date formats and
derived date parts (year, month, day_of_week with Monday = 0, day_number = days since 1970-01-01)."""

import re
from datetime import date

import numpy as np
import pandas as pd

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


def onnx_name(column: str, used: set) -> str:
    """A safe, unique ONNX input name for a column (spaces and punctuation become _)."""
    base = re.sub(r"\W+", "_", column).strip("_") or "column"
    name, n = base, 2
    while name in used:
        name, n = f"{base}_{n}", n + 1
    used.add(name)
    return name


def build_input_contract(data: dict) -> dict:
    """The model's input signature: which raw column feeds which ONNX input, and how."""
    used: set = set()
    inputs = []
    for column in data["numeric_features"]:
        inputs.append({"column": column, "kind": "numeric", "inputs": [{"name": onnx_name(column, used), "type": "double"}]})
    for column in data["date_features"]:
        parts = [{"name": onnx_name(f"{column}__{part}", used), "type": "double", "part": part} for part in DATE_PARTS]
        inputs.append({"column": column, "kind": "date", "format": data["date_format"], "inputs": parts})
    for column in data["categorical_features"]:
        inputs.append({"column": column, "kind": "categorical", "inputs": [{"name": onnx_name(column, used), "type": "string"}]})
    return {"version": 1, "features": inputs}


def to_model_frame(raw: pd.DataFrame, contract: dict) -> pd.DataFrame:
    """Raw string columns -> one column per ONNX input (doubles and strings)."""
    out = {}
    for feature in contract["features"]:
        values = raw[feature["column"]]
        if feature["kind"] == "numeric":
            out[feature["inputs"][0]["name"]] = values.map(parse_number).astype(np.float64)
        elif feature["kind"] == "categorical":
            out[feature["inputs"][0]["name"]] = values.map(lambda v: MISSING_CATEGORY if is_missing(v) else str(v).strip()).astype(object)
        else:
            days = values.map(lambda v: parse_date(v, feature["format"]))
            parts = pd.DataFrame([date_parts(d) for d in days], index=raw.index)
            for spec in feature["inputs"]:
                out[spec["name"]] = parts[spec["part"]].astype(np.float64)
    return pd.DataFrame(out, index=raw.index)
