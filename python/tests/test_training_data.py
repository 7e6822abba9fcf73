"""The split and samples (training_data.py) and the held-out rows' CSV (finish.write_rows_csv)."""

import numpy as np
import pandas as pd

from modelship_trainer import budget, training_data
from modelship_trainer.modes.finish import write_rows_csv


def request_for(path: str, data: dict, preset: str = "default") -> dict:
    return {"data": data, "data_path": path, "random_state": 42, "test_data_split": 0.2, "training_budget": {"preset": preset},
            "model_families": ["logistic_regression"], "n_iter": 2}


def test_the_refit_uses_every_training_row_up_to_the_budgets_cap_then_a_stratified_sample_of_them(bank, monkeypatch):
    path, data = bank(3_000, 7)
    whole = training_data.TrainingData(request_for(path, data))
    assert np.array_equal(whole.refit_idx, whole.train_idx)
    monkeypatch.setitem(budget.REFIT_ROWS, "default", 1_000)
    capped = training_data.TrainingData(request_for(path, data))
    # The split, the search sample and their digest do not depend on the cap.
    assert capped.split_digest == whole.split_digest and np.array_equal(capped.test_idx, whole.test_idx)
    assert len(capped.refit_idx) == 1_000 and set(capped.refit_idx) <= set(capped.train_idx)
    y = capped.typed.y
    assert abs(y[capped.refit_idx].mean() - y[capped.train_idx].mean()) < 0.005, "stratified"
    X, y_refit = capped.refit_rows()
    assert len(X) == len(y_refit) == 1_000 and list(X.columns) == list(capped.typed.X.columns)


def test_held_out_rows_are_written_with_the_same_values_by_arrow_and_by_pandas_when_a_text_needs_quotes(tmp_path):
    rows = pd.DataFrame({
        "Age": [49.0, np.nan, 7837.65, 1e21, 0.1 + 0.2, -0.0, 123456789012.5],
        "City": pd.Categorical(["Boston", "", " Reno ", "NA", "x", "Boston", "y"]),
        "HighAmount": pd.Categorical(["1", "0", "0", "1", "0", "0", "1"]),
    })
    plain, quoted = str(tmp_path / "plain.csv"), str(tmp_path / "quoted.csv")
    write_rows_csv(rows, plain)
    with_comma = rows.assign(City=pd.Categorical(["Boston", "", " Reno ", "NA", "a, b", "Boston", "y"]))
    write_rows_csv(with_comma, quoted)
    assert open(plain).read().splitlines()[:2] == ["Age,City,HighAmount", "49,Boston,1"]  # Arrow: shortest number text
    assert '"a, b"' in open(quoted).read()  # pandas
    for path, expected in ((plain, rows), (quoted, with_comma)):
        back = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert list(back.columns) == list(expected.columns)
        ages = np.array([float(v) if v else np.nan for v in back["Age"]])  # Python's parser: correctly rounded, as Node's
        assert np.array_equal(ages, expected["Age"].to_numpy(), equal_nan=True)
        assert list(back["City"]) == list(expected["City"].astype(str)) and list(back["HighAmount"]) == list(expected["HighAmount"].astype(str))
    empty = str(tmp_path / "empty.csv")
    write_rows_csv(rows.iloc[:0], empty)
    assert open(empty).read() == "Age,City,HighAmount\n"
