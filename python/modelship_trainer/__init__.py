"""modelship trainer: scikit-learn pipeline search, ONNX export with a parity check, MLflow logging.

Runs as `python -m modelship_trainer REQUEST.json` (from python/ on PYTHONPATH). The contract with the TypeScript
training activities is versioned (protocol.CONTRACT_VERSION) and typed (protocol.py): a JSON request file in; JSON
event lines on stdout and a result file out.
"""
