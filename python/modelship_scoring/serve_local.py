"""Serves score.py over HTTP the way the Azure ML inference server calls it, for the contract tests:
init() once, then POST /score -> run(request); an AMLResponse keeps its status, any other value is encoded once
as JSON with 200; an exception in run() is a 500. Prints "listening <port>" when ready; logs at INFO on stderr.
As the inference server does, AML_APP_ROOT names the folder of the entry script (default: this folder), so the
code a deployment downloaded is the code that runs.

    AZUREML_MODEL_DIR=... [AML_APP_ROOT=...] python serve_local.py [port]"""

import importlib
import json
import logging
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.environ.get("AML_APP_ROOT") or os.path.dirname(os.path.abspath(__file__)))
score = importlib.import_module("score")


class _Request:
    def __init__(self, method: str, data: bytes, headers):
        self.method = method
        self._data = data
        self.headers = headers

    def get_data(self):
        return self._data


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        try:
            result = score.run(_Request("POST", self.rfile.read(length), self.headers))
            if isinstance(result, score.AMLResponse):
                status, body = result.status_code, result.body
            else:
                status, body = 200, json.dumps(result)
        except Exception as error:  # the inference server answers 500 when run() raises
            status, body = 500, json.dumps({"error": {"message": str(error)}})
        payload = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s | %(name)s | %(levelname)s | %(message)s")
    score.init()
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), _Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()
