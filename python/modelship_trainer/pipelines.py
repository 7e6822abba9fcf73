"""The scikit-learn pipelines (preprocessing + model) that are searched,
refitted and exported whole to ONNX."""

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from skl2onnx.sklapi import CastTransformer

from .onnx_ops import MedianImputer


def build_pipeline(contract: dict, estimator) -> Pipeline:
    numeric = [spec["name"] for f in contract["features"] if f["kind"] != "categorical" for spec in f["inputs"]]
    categorical = [f["inputs"][0]["name"] for f in contract["features"] if f["kind"] == "categorical"]
    transformers = []
    if numeric:
        transformers.append(("numeric", Pipeline([("impute", MedianImputer()), ("scale", StandardScaler())]), numeric))
    if categorical:
        # The cast keeps the whole feature matrix in float64, so trees convert with float64 thresholds.
        encode = Pipeline([("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)), ("cast", CastTransformer(dtype=np.float64))])
        transformers.append(("categorical", encode, categorical))
    steps = [("features", ColumnTransformer(transformers))]
    if isinstance(estimator, (RandomForestClassifier, HistGradientBoostingClassifier)):
        # Trees split float32 features, as scikit-learn's forests do internally; see onnx_ops.py.
        steps.append(("float32", CastTransformer(dtype=np.float32)))
    return Pipeline(steps + [("model", estimator)])
