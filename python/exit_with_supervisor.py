"""Runs a command that cannot watch its supervisor itself (the Temporal dev server, MLflow) and stops it when the
modelship supervisor goes away, even by SIGKILL.

The supervisor holds the write end of this process's stdin. When the supervisor exits, the kernel closes that pipe
and stdin reads EOF: then the whole process group (the command and whatever it started, e.g. MLflow's uvicorn
workers) gets SIGTERM, and SIGKILL after a grace period. SIGTERM or SIGINT sent to this process (e.g. `kill <pid>`
with the pid `modelship dev` prints) is passed on to the command; this wrapper exits with the command's status.

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
    # Passed on, so a signal to this pid alone stops the command; when the supervisor signals the whole group the
    # command gets it twice, which Temporal and MLflow take as one stop. This process outlives it to report its status.
    def pass_on(signum, _frame):
        if child.poll() is None:
            child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, pass_on)
    threading.Thread(target=stop_group_when_stdin_closes, args=(child,), daemon=True).start()
    code = child.wait()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
