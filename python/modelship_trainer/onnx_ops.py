"""A median imputer that converts to plain ONNX ops (IsNaN + Where).

scikit-learn's SimpleImputer converts to the ai.onnx.ml Imputer op, which ONNX Runtime implements for float32
only; the pipeline runs in float64 end to end so that ONNX and scikit-learn agree to 1e-4 on tree splits."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from skl2onnx import update_registered_converter
from skl2onnx.algebra.onnx_ops import OnnxIsNaN, OnnxWhere
from skl2onnx.common.data_types import guess_numpy_type


class MedianImputer(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        with np.errstate(all="ignore"):
            medians = np.nanmedian(X, axis=0) if X.shape[0] else np.zeros(X.shape[1])
        self.statistics_ = np.where(np.isnan(medians), 0.0, medians)  # an all-empty column imputes 0
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=np.float64)
        return np.where(np.isnan(X), self.statistics_.reshape(1, -1), X)


def _shape(operator):
    source = operator.inputs[0].type
    operator.outputs[0].type = source.__class__([source.shape[0], operator.raw_operator.n_features_in_])


def _convert(scope, operator, container):
    opv = container.target_opset
    source = operator.inputs[0]
    fill = operator.raw_operator.statistics_.astype(guess_numpy_type(source.type)).reshape(1, -1)
    result = OnnxWhere(OnnxIsNaN(source, op_version=opv), fill, source, op_version=opv, output_names=operator.outputs[:1])
    result.add_to(scope, container)


update_registered_converter(MedianImputer, "ModelshipMedianImputer", _shape, _convert)


# Tree ensembles: scikit-learn's trees split float32 values, so the pipeline casts to float32 before the model
# (CastTransformer) and skl2onnx's float32 tree converter reproduces it (parity ~1e-7 in practice).
from skl2onnx.common import tree_ensemble as _tree_ensemble  # noqa: E402

# skl2onnx 1.20 passes a Python bool for the missing-value flag of HistGradientBoosting nodes, which protobuf
# refuses ("Expected an int, got a boolean"); ONNX wants 0/1.
_original_add_node = _tree_ensemble.add_node


def _add_node_with_int_flag(*args, **kwargs):
    if "nodes_missing_value_tracks_true" in kwargs:
        kwargs["nodes_missing_value_tracks_true"] = int(kwargs["nodes_missing_value_tracks_true"])
    return _original_add_node(*args, **kwargs)


_tree_ensemble.add_node = _add_node_with_int_flag
