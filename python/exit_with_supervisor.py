"""Runs a command that cannot watch its supervisor itself (the Temporal dev server, MLflow) and stops it when the
modelship supervisor goes away, even by SIGKILL.

The supervisor holds the write end of this process's stdin. When the supervisor exits, the kernel closes that pipe
and stdin reads EOF: then the whole process group (the command and whatever it started, e.g. MLflow's uvicorn
workers) gets SIGTERM, and SIGKILL after a grace period. Signals the supervisor sends to the group reach the command
directly; this wrapper only waits for it and exits with its status.

    python exit_with_supervisor.py COMMAND [ARGS...]
"""
import os
import signal
import subprocess
import sys
import threading

GRACE_SECONDS = 10


def stop_group_when_stdin_closes(child: subprocess.Popen) -> None:
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    print("exit_with_supervisor: the supervisor has gone; stopping", flush=True)
    os.killpg(0, signal.SIGTERM)
    try:
        child.wait(GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(0, signal.SIGKILL)


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL)
    # The group's SIGTERM/SIGINT reaches the child by itself; this process outlives it to report its status.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    threading.Thread(target=stop_group_when_stdin_closes, args=(child,), daemon=True).start()
    code = child.wait()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
