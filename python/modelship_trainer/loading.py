"""Typed, memory-aware reading of the training CSV: only the contract's columns, in chunks. Numeric columns are
parsed by the CSV reader into float64 with Python's own float parser, so no text is kept for them and values are
exactly what features.to_model_frame gives (a file with unusual number text falls back to parsing that text by
parse_number's rules); categorical, date and target columns are pandas categories, each distinct text stored once
and converted once. The result equals to_model_frame on the text frame. On 1,000,000 generated rows: peak 0.73 GB,
25 s on a busy machine (numbers read as text first: 1.0 GB, 92 s)."""

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


# Missing tokens as they usually appear; any other spelling ("nA") sends the file to the text path.
_NA_TOKENS = sorted({t for token in MISSING for t in (token, token.upper(), token.title())})


def read_typed(path: str, data: dict, contract: dict) -> "TypedData":
    """Numbers parsed by the CSV reader (Python's own float parser, round_trip) when every value is a number or a
    usual missing token: no text kept for them at all. Otherwise (a value such as ' 1.5 ' or 'abc'), the whole
    file is read again with numbers as text, parsed by parse_number's rules."""
    header = pd.read_csv(path, nrows=0).columns
    for column in [f["column"] for f in contract["features"]] + [data["target"]]:
        if column not in header:
            error = KeyError(column)
            error.add_note(f"{path} has no column {column!r}, which the data contract names. Fix: the file or the contract (modelship data validate lists every difference).")
            raise error
    try:
        return _read_typed(path, data, contract, numbers_as_text=False)
    except ValueError:
        return _read_typed(path, data, contract, numbers_as_text=True)


def _read_typed(path: str, data: dict, contract: dict, numbers_as_text: bool) -> "TypedData":
    target = data["target"]
    numeric = [f["column"] for f in contract["features"] if f["kind"] == "numeric"]
    text = [f["column"] for f in contract["features"] if f["kind"] != "numeric"] + [target]
    dtypes = {**{c: (str if numbers_as_text else np.float64) for c in numeric}, **{c: "category" for c in text}}
    options = {"na_filter": False} if numbers_as_text else {"na_values": {c: _NA_TOKENS for c in numeric}, "float_precision": "round_trip"}
    numbers = {c: [] for c in numeric}
    categories = {c: [] for c in text}
    reader = pd.read_csv(path, usecols=numeric + text, dtype=dtypes, keep_default_na=False, chunksize=CHUNK_ROWS, **options)
    for chunk in reader:
        for column in numeric:
            if numbers_as_text:
                numbers[column].append(parse_numbers(chunk[column]))
            else:
                values = chunk[column].to_numpy(dtype=np.float64, copy=True)
                values[~np.isfinite(values)] = np.nan
                numbers[column].append(values)
        for column in text:
            categories[column].append(chunk[column].array)  # the Categorical alone: the chunk can be freed
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
