"""The typed loader against the text-based reference (features.to_model_frame) on awkward values."""

import numpy as np
import pandas as pd

from modelship_trainer import loading
from modelship_trainer.features import build_input_contract, to_model_frame


def test_typed_loading_gives_exactly_what_the_text_based_frame_gives_awkward_values_included(bank, tmp_path, monkeypatch):
    source, data = bank(600, 3)
    # Awkward values in a numeric, a categorical, a date column and the target.
    with open(source) as handle:
        lines = handle.read().rstrip().split("\n")
    header = lines[0].split(",")
    awkward = [" 1.5 ", "NA", "abc", "1_000", "inf", "", "n/a", "-0", "1e3", "  ", "None", "2/30/2020"]
    for i, value in enumerate(awkward):
        cells = lines[i + 1].split(",")
        for column in ("Age", "City", "Transaction Date"):
            cells[header.index(column)] = value
        if i == 0:
            cells[header.index("HighAmount")] = " 1 "
        lines[i + 1] = ",".join(cells)
    csv = tmp_path / "bank.csv"
    csv.write_text("\n".join(lines) + "\n")

    monkeypatch.setattr(loading, "CHUNK_ROWS", 128)  # several chunks, so categories are merged across them
    contract = build_input_contract(data)
    typed = loading.read_typed(str(csv), data, contract)
    raw = pd.read_csv(csv, dtype=str, keep_default_na=False)
    X = to_model_frame(raw, contract)
    y = (raw[data["target"]].str.strip() == str(data["positive_class"])).astype(int).to_numpy()
    assert list(X.columns) == list(typed.X.columns)
    for c in X.columns:
        a, b = X[c].to_numpy(), typed.X[c].to_numpy()
        assert a.dtype == b.dtype, (c, a.dtype, b.dtype)
        assert (a == b).all() if a.dtype == object else np.array_equal(a, b, equal_nan=True), c
    assert (typed.y == y).all()
    # 'abc', 'NA', 'inf', '', 'n/a', '  ', 'None', '2/30/2020' are missing ages; ' 1.5 ', '1_000', '-0', '1e3' are numbers.
    assert (len(X), int(np.isnan(typed.X["Age"].to_numpy()).sum())) == (600, 8)
