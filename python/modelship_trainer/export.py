"""The fitted pipeline -> ONNX, and ONNX Runtime's probabilities for the parity check."""

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

PARITY_TOLERANCE = 1e-4


class ParityError(Exception):
    pass


def export_onnx(pipeline: Pipeline, contract: dict, path: str):
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType

    initial_types = [
        (spec["name"], DoubleTensorType([None, 1]) if spec["type"] == "double" else StringTensorType([None, 1]))
        for feature in contract["features"]
        for spec in feature["inputs"]
    ]
    model = to_onnx(pipeline, initial_types=initial_types, options={id(pipeline.steps[-1][1]): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    check_double_precision(model)
    with open(path, "wb") as handle:
        handle.write(model.SerializeToString())
    return model


def check_double_precision(model) -> None:
    """Refuses a graph whose tree ensembles compare in float32 (thresholds stored as a float list)."""
    for node in model.graph.node:
        if node.op_type.startswith("TreeEnsemble"):
            names = {attribute.name for attribute in node.attribute}
            if "nodes_values" in names or "nodes_values_as_tensor" not in names:
                raise ParityError(f"ONNX node {node.name} ({node.op_type}) has float32 thresholds; modelship ships double thresholds only")


def onnx_probabilities(path: str, frame: pd.DataFrame) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {}
    for node in session.get_inputs():
        column = frame[node.name]
        feeds[node.name] = (column.to_numpy(dtype=np.float64) if node.type == "tensor(double)" else column.to_numpy(dtype=object)).reshape(-1, 1)
    outputs = session.run(None, feeds)
    names = [o.name for o in session.get_outputs()]
    return np.asarray(outputs[names.index("probabilities")])[:, 1]
