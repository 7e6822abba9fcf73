"""Typed, memory-aware reading of the training CSV: only the contract's columns, streamed in blocks by Arrow's CSV
reader. Numeric columns become float64 as they are read (Arrow parses numbers correctly rounded, as Python's float
does), so no text is kept for them; categorical, date and target columns are pandas categories, each distinct text
stored once and converted once. A file with number text Arrow does not take (' 1.5 ' with other whitespace,
'abc', '1_000') is read again with numbers as text, parsed by parse_number's rules, so the result always equals
features.to_model_frame on the text frame.

The table is kept compact (float64 numbers, category codes: about 85 bytes a row for the default contract);
the model frame (one column per ONNX input, category texts as objects) is built only for the rows a mode needs:
the search sample, the refit's rows, the held-out rows."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from pandas.api.types import union_categoricals

from modelship_scoring.records import DATE_PARTS, MISSING, MISSING_CATEGORY, date_parts, is_missing, parse_date, parse_number

BLOCK_BYTES = 16 << 20  # Arrow's CSV block: about 50,000 banking rows


@dataclass
class TypedData:
    raw: pd.DataFrame  # the contract's columns as read: numerics float64, the rest categories (for test_rows.csv)
    y: np.ndarray  # 1 for the positive class
    contract: dict = field(repr=False)
    _X: pd.DataFrame | None = field(default=None, repr=False)

    def frame(self, rows=None) -> pd.DataFrame:
        """The model frame (features.to_model_frame's) of the given row numbers (all rows when None)."""
        return model_frame(self.raw if rows is None else self.raw.iloc[rows], self.contract)

    @property
    def X(self) -> pd.DataFrame:
        """Every row's model frame (small data; big data asks frame() for the rows it needs)."""
        if self._X is None:
            self._X = self.frame()
        return self._X


def model_frame(raw: pd.DataFrame, contract: dict) -> pd.DataFrame:
    """One column per ONNX input from the typed columns: each distinct category or date text converted once."""
    X = {}
    for feature in contract["features"]:
        values = raw[feature["column"]]
        if feature["kind"] == "numeric":
            X[feature["inputs"][0]["name"]] = values.to_numpy(dtype=np.float64)
        elif feature["kind"] == "categorical":
            categorical = values.array
            mapped = np.array([MISSING_CATEGORY if is_missing(v) else str(v).strip() for v in categorical.categories], dtype=object)
            X[feature["inputs"][0]["name"]] = mapped[categorical.codes]
        else:
            categorical = values.array
            parts = [date_parts(parse_date(v, feature["format"])) for v in categorical.categories]
            for spec in feature["inputs"]:
                X[spec["name"]] = np.array([p[spec["part"]] for p in parts], dtype=np.float64)[categorical.codes]
    return pd.DataFrame(X)


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
    """Numbers parsed by Arrow when every value is a number or a usual missing token: no text kept for them at
    all. Otherwise the whole file is read again with numbers as text, parsed by parse_number's rules."""
    header = pd.read_csv(path, nrows=0).columns
    for column in [f["column"] for f in contract["features"]] + [data["target"]]:
        if column not in header:
            error = KeyError(column)
            error.add_note(f"{path} has no column {column!r}, which the data contract names. Fix: the file or the contract (modelship data validate lists every difference).")
            raise error
    target = data["target"]
    numeric = [f["column"] for f in contract["features"] if f["kind"] == "numeric"]
    text = [f["column"] for f in contract["features"] if f["kind"] != "numeric"] + [target]
    try:
        columns = _read_arrow(path, numeric, text)
    except pa.ArrowInvalid:
        columns = _read_as_text(path, numeric, text)
    ordered = [f["column"] for f in contract["features"]] + [target]
    raw = pd.DataFrame({c: columns.pop(c) for c in ordered}, copy=False)  # one block per column: no consolidating copy
    target_values = raw[target].array
    positive = np.array([str(v).strip() == str(data["positive_class"]) for v in target_values.categories], dtype=bool)
    y = positive[target_values.codes].astype(int)
    return TypedData(raw=raw, y=y, contract=contract)


def _gather(numbers: dict, categories: dict) -> dict:
    """Chunks -> one float64 array or one pandas Categorical per column, each column's chunks freed in turn.
    Numeric chunks may be Arrow arrays (nulls become NaN) or float64 arrays."""
    columns = {}
    for column in list(numbers):
        chunks = numbers.pop(column)
        if chunks and isinstance(chunks[0], pa.Array):
            values = pa.chunked_array(chunks, type=pa.float64()).to_numpy()
            if not values.flags.writeable:  # one block without nulls is Arrow's own memory
                values = values.copy()
        else:
            values = np.concatenate(chunks) if chunks else np.array([], dtype=np.float64)
        del chunks
        pa.default_memory_pool().release_unused()  # that column's Arrow memory back to the system
        values[~np.isfinite(values)] = np.nan
        columns[column] = values
    for column in list(categories):
        chunks = categories.pop(column)
        columns[column] = union_categoricals(chunks) if chunks else pd.Categorical([])
    return columns


def _read_arrow(path: str, numeric: list, text: list) -> dict:
    """Arrow's streaming CSV reader, block by block: numbers stay Arrow arrays until the end (one copy each into
    float64, so the many small blocks leave no fragmented heap behind); text columns become categories per block."""
    types = {**{c: pa.float64() for c in numeric}, **{c: pa.dictionary(pa.int32(), pa.string()) for c in text}}
    convert = pa_csv.ConvertOptions(include_columns=numeric + text, column_types=types, null_values=_NA_TOKENS,
                                    strings_can_be_null=False)
    numbers = {c: [] for c in numeric}
    categories = {c: [] for c in text}
    with pa_csv.open_csv(path, read_options=pa_csv.ReadOptions(block_size=BLOCK_BYTES), convert_options=convert) as reader:
        for batch in reader:
            for column in numeric:
                numbers[column].append(batch.column(column))
            for column in text:
                dictionary = batch.column(column)
                categories[column].append(pd.Categorical.from_codes(dictionary.indices.to_numpy(), categories=pd.Index(dictionary.dictionary.to_pylist(), dtype=object)))
    return _gather(numbers, categories)


def _read_as_text(path: str, numeric: list, text: list) -> dict:
    dtypes = {**{c: str for c in numeric}, **{c: "category" for c in text}}
    numbers = {c: [] for c in numeric}
    categories = {c: [] for c in text}
    reader = pd.read_csv(path, usecols=numeric + text, dtype=dtypes, keep_default_na=False, na_filter=False, chunksize=200_000)
    for chunk in reader:
        for column in numeric:
            numbers[column].append(parse_numbers(chunk[column]))
        for column in text:
            categories[column].append(chunk[column].array)  # the Categorical alone: the chunk can be freed
    return _gather(numbers, categories)


__all__ = ["TypedData", "read_typed", "model_frame", "parse_numbers", "DATE_PARTS"]
