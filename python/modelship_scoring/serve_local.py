"""Serves score.py over HTTP the way the Azure ML inference server calls it, for the contract tests:
init() once, then POST /score -> run(request); an AMLResponse keeps its status, any other value is encoded once
as JSON with 200; an exception in run() is a 500. Prints "listening <port>" when ready.

    AZUREML_MODEL_DIR=... python serve_local.py [port]"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import score


class _Request:
    def __init__(self, method: str, data: bytes):
        self.method = method
        self._data = data

    def get_data(self):
        return self._data


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        try:
            result = score.run(_Request("POST", self.rfile.read(length)))
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
    score.init()
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), _Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()
