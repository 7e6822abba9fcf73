"""modelship trainer: scikit-learn pipeline search, ONNX export with a parity check, MLflow logging.

Runs as `python -m modelship_trainer REQUEST.json` (from python/ on PYTHONPATH). The contract with the TypeScript
training activity is versioned (CONTRACT_VERSION): a JSON request file in; JSON progress lines on stdout and a
result file out.
"""

CONTRACT_VERSION = 2  # 2: shard scores come from successive halving (a candidate may be `eliminated` on fewer rows)
