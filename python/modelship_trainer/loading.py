"""Typed, memory-aware reading of the training CSV: only the contract's columns, read in chunks; numeric columns
become float64 as they are read (Python's float(), so values are exactly what features.to_model_frame gives);
categorical, date and target columns are pandas categories (each distinct text stored once). Dates and categories
are converted once per distinct value, not once per row. The result equals to_model_frame on the text frame."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from modelship_scoring.records import DATE_PARTS, MISSING, MISSING_CATEGORY, date_parts, is_missing, parse_date, parse_number

CHUNK_ROWS = 200_000


@dataclass
class TypedData:
    raw: pd.DataFrame  # the contract's columns as read: numerics float64, the rest categories (for test_rows.csv)
    X: pd.DataFrame  # one column per ONNX input, as features.to_model_frame builds it
    y: np.ndarray  # 1 for the positive class


def parse_numbers(values: pd.Series) -> np.ndarray:
    """Text -> float64 by parse_number's rules, vectorised: missing tokens and non-finite values become NaN."""
    stripped = values.str.strip()
    missing = stripped.str.lower().isin(MISSING).to_numpy()
    try:
        numbers = np.where(missing, "nan", stripped.to_numpy(dtype=object)).astype(np.float64)
    except ValueError:  # some text is not a number: parse_number makes it NaN, one value at a time
        numbers = values.map(parse_number).to_numpy(dtype=np.float64)
    numbers[~np.isfinite(numbers)] = np.nan
    return numbers


def read_typed(path: str, data: dict, contract: dict) -> TypedData:
    target = data["target"]
    numeric = [f["column"] for f in contract["features"] if f["kind"] == "numeric"]
    text = [f["column"] for f in contract["features"] if f["kind"] != "numeric"] + [target]
    dtypes = {**{c: str for c in numeric}, **{c: "category" for c in text}}
    numbers = {c: [] for c in numeric}
    categories = {c: [] for c in text}
    reader = pd.read_csv(path, usecols=numeric + text, dtype=dtypes, keep_default_na=False, na_filter=False, chunksize=CHUNK_ROWS)
    for chunk in reader:
        for column in numeric:
            numbers[column].append(parse_numbers(chunk[column]))
        for column in text:
            categories[column].append(chunk[column])
    raw = {c: np.concatenate(numbers[c]) if numbers[c] else np.array([], dtype=np.float64) for c in numeric}
    raw.update({c: union_categoricals(categories[c]) if categories[c] else pd.Categorical([]) for c in text})
    columns = [f["column"] for f in contract["features"]] + [target]
    raw_frame = pd.DataFrame({c: raw[c] for c in columns})

    X = {}
    for feature in contract["features"]:
        values = raw[feature["column"]]
        if feature["kind"] == "numeric":
            X[feature["inputs"][0]["name"]] = values
        elif feature["kind"] == "categorical":
            mapped = np.array([MISSING_CATEGORY if is_missing(v) else str(v).strip() for v in values.categories], dtype=object)
            X[feature["inputs"][0]["name"]] = mapped[values.codes]
        else:
            parts = [date_parts(parse_date(v, feature["format"])) for v in values.categories]
            for spec in feature["inputs"]:
                X[spec["name"]] = np.array([p[spec["part"]] for p in parts], dtype=np.float64)[values.codes]
    target_values = raw[target]
    positive = np.array([str(v).strip() == str(data["positive_class"]) for v in target_values.categories], dtype=bool)
    y = positive[target_values.codes].astype(int)
    return TypedData(raw=raw_frame, X=pd.DataFrame(X), y=y)


__all__ = ["TypedData", "read_typed", "parse_numbers", "DATE_PARTS"]
