"""Raw CSV text -> model input columns, by the value rules in modelship_scoring/records.py (which mirror
src/data/values.ts): the same missing tokens, date formats and date parts."""

import re

import numpy as np
import pandas as pd

from modelship_scoring.records import DATE_PARTS, MISSING_CATEGORY, date_parts, is_missing, parse_date, parse_number


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


def class_labels(target: pd.Series, positive_class: str) -> list:
    """[negative, positive] as the data writes them, so predictions answer with the data's own labels."""
    others = sorted(set(target) - {positive_class})
    if len(others) != 1:
        raise ValueError(f"the target must have exactly two values, {positive_class!r} and one other; found {sorted(set(target))[:5]}")
    return [others[0], positive_class]
