"""ONNX converters that keep the exported graph in double precision, so it decides as scikit-learn does:

- a median imputer that converts to plain ONNX ops (IsNaN + Where): scikit-learn's SimpleImputer converts to the
  ai.onnx.ml Imputer op, which ONNX Runtime implements for float32 only;
- random forest and histogram gradient boosting as TreeEnsembleClassifier version 3 with double thresholds.
Facts behind this: /work/shared/notes/onnx-fidelity.md (measured with onnxruntime 1.23.2, Python and Node)."""

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


# Tree ensembles in double precision. skl2onnx always emits TreeEnsembleClassifier version 1, whose thresholds
# are float32: a value near a split (balances in the millions, values differing in their last digits) can go the
# other way than in scikit-learn. ai.onnx.ml version 3 stores thresholds, leaf weights and base values as double
# tensors (`*_as_tensor`), and onnxruntime (Python and Node) then compares double inputs in double. The stock
# converter already computes those values in double for double inputs (for forests it even adjusts each threshold
# so that `x <= w` in double equals scikit-learn's `(float)x <= threshold`); it only writes them as float lists.
from onnx import TensorProto, numpy_helper  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier  # noqa: E402
from skl2onnx.common import tree_ensemble as _tree_ensemble  # noqa: E402
from skl2onnx.common._registration import get_converter, get_shape_calculator  # noqa: E402
from skl2onnx.common.data_types import DoubleTensorType  # noqa: E402
from skl2onnx.operator_converters.random_forest import convert_sklearn_random_forest_classifier  # noqa: E402

TREE_ENSEMBLE_DOUBLE_VERSION = 3  # ai.onnx.ml opset of TreeEnsembleClassifier with the *_as_tensor attributes
_AS_TENSOR = ("nodes_values", "nodes_hitrates", "class_weights", "base_values")


class _DoubleTreeContainer:
    """The converter's container, except that a TreeEnsembleClassifier node is written in version 3 with double
    tensors, and its probabilities (always float in ONNX) are cast to double where skl2onnx declared double."""

    def __init__(self, container, scope, operator):
        self._container, self._scope = container, scope
        self._double_probabilities = isinstance(operator.outputs[1].type, DoubleTensorType)

    def __getattr__(self, name):
        return getattr(self._container, name)

    def add_node(self, op_type, inputs, outputs, op_domain="", op_version=None, **attrs):
        if op_type != "TreeEnsembleClassifier":
            return self._container.add_node(op_type, inputs, outputs, op_domain=op_domain, op_version=op_version, **attrs)
        for key in _AS_TENSOR:
            if key in attrs:
                attrs[f"{key}_as_tensor"] = numpy_helper.from_array(np.asarray(attrs.pop(key), dtype=np.float64).ravel(), name=key)
        if not self._double_probabilities:
            return self._container.add_node(op_type, inputs, outputs, op_domain=op_domain, op_version=TREE_ENSEMBLE_DOUBLE_VERSION, **attrs)
        label, probabilities = outputs
        float_probabilities = self._scope.get_unique_variable_name("probabilities_float")
        self._container.add_node(op_type, inputs, [label, float_probabilities], op_domain=op_domain, op_version=TREE_ENSEMBLE_DOUBLE_VERSION, **attrs)
        self._container.add_node("Cast", float_probabilities, probabilities, op_version=13, to=TensorProto.DOUBLE,
                                 name=self._scope.get_unique_operator_name("CastProbabilities"))


def _convert_tree_classifier_in_double(scope, operator, container):
    if not isinstance(operator.inputs[0].type, DoubleTensorType):
        raise TypeError("modelship exports trees with double inputs only (a float32 input would round values near a split)")
    model = operator.raw_operator
    if isinstance(model, HistGradientBoostingClassifier) and model.is_categorical_ is not None and np.any(model.is_categorical_):
        raise ValueError("HistGradientBoosting with native categorical splits does not convert faithfully to ONNX; encode categories as codes")
    convert_sklearn_random_forest_classifier(scope, operator, _DoubleTreeContainer(container, scope, operator), op_version=TREE_ENSEMBLE_DOUBLE_VERSION)


for _model in (RandomForestClassifier, HistGradientBoostingClassifier):
    _alias = f"Sklearn{_model.__name__}"
    update_registered_converter(_model, _alias, get_shape_calculator(_alias), _convert_tree_classifier_in_double,
                                options=get_converter(_alias).get_allowed_options())

# skl2onnx 1.20 passes a Python bool for the missing-value flag of HistGradientBoosting nodes, which protobuf
# refuses ("Expected an int, got a boolean"); ONNX wants 0/1.
_original_add_node = _tree_ensemble.add_node


def _add_node_with_int_flag(*args, **kwargs):
    if "nodes_missing_value_tracks_true" in kwargs:
        kwargs["nodes_missing_value_tracks_true"] = int(kwargs["nodes_missing_value_tracks_true"])
    return _original_add_node(*args, **kwargs)


_tree_ensemble.add_node = _add_node_with_int_flag
