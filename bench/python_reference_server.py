"""Reference for bench/endpoint.ts: what the original scoring script did — scikit-learn predict_proba on a
100-tree random forest behind a simple HTTP server. It also writes the same model as ONNX (with the trainer's
export and input contract) so the Node servers score the very same model and records.

    python bench/python_reference_server.py DATA.csv OUT_DIR PORT
Prints "ready" when it listens."""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import yaml
from sklearn.ensemble import RandomForestClassifier

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
from modelship_trainer.export import export_onnx  # noqa: E402
from modelship_trainer.pipelines import build_pipeline  # noqa: E402
from modelship_trainer.features import build_input_contract, to_model_frame  # noqa: E402


def main(data_path, out_dir, port):
    config = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "config", "default.yaml")))
    data = {**config["data"], "positive_class": "1"}
    raw = pd.read_csv(data_path, dtype=str, keep_default_na=False)
    contract = build_input_contract(data)
    contract.update({"target": data["target"], "positive_class": "1", "threshold": 0.5})
    X = to_model_frame(raw, contract)
    y = (raw[data["target"]].str.strip() == "1").astype(int).to_numpy()
    pipeline = build_pipeline(contract, RandomForestClassifier(n_estimators=100, max_depth=12, random_state=42, n_jobs=1)).fit(X, y)
    os.makedirs(out_dir, exist_ok=True)
    export_onnx(pipeline, contract, os.path.join(out_dir, "model.onnx"))
    with open(os.path.join(out_dir, "input_contract.json"), "w") as handle:
        json.dump(contract, handle)
    columns = [f["column"] for f in contract["features"]]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            records = body if isinstance(body, list) else [body]
            frame = to_model_frame(pd.DataFrame(records, columns=columns).astype(object).map(lambda v: "" if v is None else str(v)), contract)
            probabilities = pipeline.predict_proba(frame)[:, 1]
            answer = json.dumps({"predictions": [int(p >= 0.5) for p in probabilities], "probabilities": probabilities.tolist()}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # the load generator closes connections at the end of each run

    server = Server(("127.0.0.1", int(port)), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:4])
