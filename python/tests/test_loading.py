"""The typed loader against the text-based reference (features.to_model_frame) on awkward values: by Arrow when
every number is one Arrow takes, by the text path otherwise."""

import numpy as np
import pandas as pd
import pytest

from modelship_trainer import loading
from modelship_trainer.features import build_input_contract, to_model_frame


def with_values(source: str, path, values: dict, quoted: bool = False):
    """The source CSV with row i of each column in `values` set to its values[i] (quoted: written as "value"),
    and row 1's target ' 1 '."""
    with open(source) as handle:
        lines = handle.read().rstrip().split("\n")
    header = lines[0].split(",")
    for i in range(max(len(v) for v in values.values())):
        cells = lines[i + 1].split(",")
        for column, column_values in values.items():
            if i < len(column_values):
                cells[header.index(column)] = f'"{column_values[i]}"' if quoted else column_values[i]
        if i == 0:
            cells[header.index("HighAmount")] = " 1 "
        lines[i + 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def assert_same_as_text_frame(csv: str, data: dict, typed):
    contract = build_input_contract(data)
    raw = pd.read_csv(csv, dtype=str, keep_default_na=False)
    X = to_model_frame(raw, contract)
    y = (raw[data["target"]].str.strip() == str(data["positive_class"])).astype(int).to_numpy()
    assert list(X.columns) == list(typed.X.columns)
    for c in X.columns:
        a, b = X[c].to_numpy(), typed.X[c].to_numpy()
        assert a.dtype == b.dtype, (c, a.dtype, b.dtype)
        assert (a == b).all() if a.dtype == object else np.array_equal(a, b, equal_nan=True), c
    assert (typed.y == y).all()
    rows = np.array([5, 0, 599, 17])
    for c in X.columns:  # a subset's frame is those rows of the whole frame
        a, b = X[c].to_numpy()[rows], typed.frame(rows)[c].to_numpy()
        assert (a == b).all() if a.dtype == object else np.array_equal(a, b, equal_nan=True), c
    return X


@pytest.mark.parametrize("quoted", [False, True])
def test_arrow_loading_gives_exactly_what_the_text_based_frame_gives_missing_tokens_and_odd_numbers_included(bank, tmp_path, monkeypatch, quoted):
    source, data = bank(600, 3)
    numbers = ["NA", "inf", "", "n/a", "-0", "1e3", "None", "NULL", "nan", "-inf", "1.5e400", "0.1", "007", "1E-3", "Nan", "N/A"]
    texts = ["NA", " Boston ", "", "n/a", "2/30/2020", "None", "007", "nan", " 1/1/2020", "NULL"]
    csv = with_values(source, tmp_path / "bank.csv", {"Age": numbers, "Credit Limit": numbers, "City": texts, "Transaction Date": texts}, quoted)
    monkeypatch.setattr(loading, "BLOCK_BYTES", 4096)  # many blocks, so categories are merged across them

    def no_text_path(*args):
        raise AssertionError("every number here is one Arrow reads: the text path must not run")

    monkeypatch.setattr(loading, "_read_as_text", no_text_path)
    typed = loading.read_typed(csv, data, build_input_contract(data))
    X = assert_same_as_text_frame(csv, data, typed)
    # Numbers: '-0', '1e3', '0.1', '007', '1E-3'; the rest are missing (non-finite numbers too).
    assert int(np.isnan(X["Age"].to_numpy()[:len(numbers)]).sum()) == 11
    assert list(X["City"].to_numpy()[:4]) == ["__missing__", "Boston", "__missing__", "__missing__"] and X["City"].to_numpy()[6] == "007"


def test_typed_loading_gives_exactly_what_the_text_based_frame_gives_awkward_values_included(bank, tmp_path, monkeypatch):
    source, data = bank(600, 3)
    # Awkward values in a numeric, a categorical, a date column and the target; 'abc' sends the file to the text path.
    awkward = [" 1.5 ", "NA", "abc", "1_000", "inf", "", "n/a", "-0", "1e3", "  ", "None", "2/30/2020"]
    csv = with_values(source, tmp_path / "bank.csv", {column: awkward for column in ("Age", "City", "Transaction Date")})
    monkeypatch.setattr(loading, "BLOCK_BYTES", 4096)
    typed = loading.read_typed(csv, data, build_input_contract(data))
    X = assert_same_as_text_frame(csv, data, typed)
    # 'abc', 'NA', 'inf', '', 'n/a', '  ', 'None', '2/30/2020' are missing ages; ' 1.5 ', '1_000', '-0', '1e3' are numbers.
    assert (len(X), int(np.isnan(typed.X["Age"].to_numpy()).sum())) == (600, 8)
