"""The scikit-learn pipelines (preprocessing + model) that are searched, refitted and exported whole to ONNX.

Every pipeline keeps its feature matrix in float64 and is exported with double inputs, so the served graph decides
as scikit-learn does (see onnx_ops.py for the double-threshold trees):
- trees (random forest, histogram gradient boosting): no scaling (it only adds float rounding in front of the
  splits); categoricals become ordinal codes (one column each, fast at a million rows; a category unseen in
  training is -1); missing numbers are imputed with the median for forests and left to HGB's own NaN routing;
- logistic regression: median imputation + standard scaling, one-hot categoricals (unseen → all zeros).
"""

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from skl2onnx.sklapi import CastTransformer

from .onnx_ops import MedianImputer

UNKNOWN_CATEGORY_CODE = -1


def is_tree_model(estimator) -> bool:
    return isinstance(estimator, (RandomForestClassifier, HistGradientBoostingClassifier))


def build_pipeline(contract: dict, estimator) -> Pipeline:
    numeric = [spec["name"] for f in contract["features"] if f["kind"] != "categorical" for spec in f["inputs"]]
    categorical = [f["inputs"][0]["name"] for f in contract["features"] if f["kind"] == "categorical"]
    trees = is_tree_model(estimator)
    transformers = []
    if numeric:
        if isinstance(estimator, HistGradientBoostingClassifier):
            numeric_steps = "passthrough"  # HGB routes NaN itself, and the converter keeps that routing
        elif trees:
            numeric_steps = MedianImputer()
        else:
            numeric_steps = Pipeline([("impute", MedianImputer()), ("scale", StandardScaler())])
        transformers.append(("numeric", numeric_steps, numeric))
    if categorical:
        if trees:
            # Codes, not HGB's native categorical splits: those convert to ONNX silently wrong (numeric thresholds).
            encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=UNKNOWN_CATEGORY_CODE)
        else:
            encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        # The encoders' ONNX outputs are float32 (exact for codes and 0/1); the cast keeps the matrix in float64.
        transformers.append(("categorical", Pipeline([("encode", encoder), ("cast", CastTransformer(dtype=np.float64))]), categorical))
    return Pipeline([("features", ColumnTransformer(transformers)), ("model", estimator)])
