"""python -m modelship_trainer REQUEST.json

The request's mode says which part of training runs (modes/): prepare (split, search sample, shards), shard (score
one shard's candidates) or finish (refit the winner, export, parity, MLflow). The training activities run these on
any training worker; intermediate files travel as MLflow artifacts.

Stdout: one JSON line per event (protocol.TrainerEvent): progress, candidate_done after each candidate scored on
one rung, and last {"event": "done", "result": <path of the file written>}. A refusal prints
{"event": "error", "kind": ..., "message": ...} and exits 2 (contract) or 3 (parity); a crash exits non-zero with
its traceback on stderr.
"""

import json
import os
import sys

from threadpoolctl import threadpool_limits

from .export import ParityError
from .modes import MODES
from .progress import emit
from .protocol import CONTRACT_VERSION


def die_with_parent():
    """If the worker that started us dies (even by SIGKILL), stop too, so a retry never races an orphan."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        except OSError:
            pass


def main(argv):
    die_with_parent()
    if len(argv) != 2:
        sys.stderr.write("usage: python -m modelship_trainer REQUEST.json\n")
        return 2
    with open(argv[1]) as handle:
        request = json.load(handle)
    if request.get("contract_version") != CONTRACT_VERSION:
        emit("error", message=f"request contract_version {request.get('contract_version')} is not {CONTRACT_VERSION}", kind="contract")
        return 2
    mode = request.get("mode")
    if mode not in MODES:
        emit("error", message=f"request mode {mode!r} is not one of {', '.join(MODES)}", kind="contract")
        return 2
    os.makedirs(request["output_dir"], exist_ok=True)
    # One thread per trainer by default: the search is parallel across shards and workers, and OpenMP threads
    # contending for a busy core made a gradient-boosting fit many times slower (minutes instead of seconds).
    threads = int(os.environ.get("MODELSHIP_TRAINER_THREADS") or 1)
    try:
        with threadpool_limits(limits=threads):
            emit("done", result=MODES[mode](request))
        return 0
    except ParityError as error:
        emit("error", message=str(error), kind="parity")
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv))
