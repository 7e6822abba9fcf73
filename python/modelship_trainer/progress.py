"""Progress lines on stdout (one JSON object per line), shared by every step of the trainer."""

import json
import sys
import threading

_print_lock = threading.Lock()


def emit(event: str, **fields):
    with _print_lock:
        sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
        sys.stdout.flush()
