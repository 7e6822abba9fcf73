"""python -m modelship_trainer.forkserver: the trainer, imported once, forking one child per run.

A trainer run pays a second or more (much more on a busy machine) to import scikit-learn, pandas, SciPy and
MLflow before it does any work; a release runs the trainer once to prepare, once per shard and once to finish.
The worker keeps one fork server, which imports all that once and forks a child per run: the child is what
`python -m modelship_trainer REQUEST.json` would be, with its own pid (signals reach it), stdout, stderr and exit
status, and it still dies with its parent (the server, which dies with the worker).

Protocol, one JSON object per line. Stdin: {"job": id, "argv": [...], "env": {...}, "cwd": dir}. Stdout:
{"ready": true} once imported; per job {"job": id, "pid": n} once forked, {"job": id, "stream": "stdout" or
"stderr", "line": text} per line it writes, and last {"job": id, "exit": code or null, "signal": number or null}
once both its streams closed and it exited. The server stops when its stdin closes.
"""

import json
import os
import selectors
import signal
import sys
import traceback

from .__main__ import die_with_parent, main

# What a run imports (the modes import the rest at load time; MLflow, skl2onnx and ONNX Runtime on first use).
import mlflow  # noqa: E402,F401
import onnxruntime  # noqa: E402,F401
import skl2onnx  # noqa: E402,F401
from . import modes  # noqa: E402,F401


def send(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def run_child(job: dict, out_fd: int, err_fd: int) -> None:
    """In the forked child: become the trainer run the job asks for; never returns."""
    code = 1
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        for fd in (devnull, out_fd, err_fd):
            os.close(fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.clear()
        os.environ.update(job["env"])
        os.chdir(job["cwd"])
        sys.argv = list(job["argv"])
        code = main(sys.argv)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # noqa: BLE001 - the child reports every crash as python would, traceback on stderr
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class Job:
    def __init__(self, job_id, pid: int, out_fd: int, err_fd: int):
        self.id, self.pid = job_id, pid
        self.open = {out_fd: "stdout", err_fd: "stderr"}
        self.partial = {out_fd: b"", err_fd: b""}


def forward(job: Job, fd: int, chunk: bytes) -> None:
    """Sends the complete lines read so far; at the end of the stream (an empty chunk), the rest too."""
    data = job.partial[fd] + chunk
    if chunk:
        *lines, job.partial[fd] = data.split(b"\n")
    else:
        lines = [data] if data else []
    for line in lines:
        send({"job": job.id, "stream": job.open[fd], "line": line.decode("utf-8", errors="replace")})


def finish(job: Job) -> None:
    _, status = os.waitpid(job.pid, 0)
    if os.WIFSIGNALED(status):
        send({"job": job.id, "exit": None, "signal": os.WTERMSIG(status)})
    else:
        send({"job": job.id, "exit": os.WEXITSTATUS(status), "signal": None})


def serve() -> int:
    die_with_parent()
    # Ctrl-C in the worker's terminal reaches its whole process group: the worker then shuts down gracefully and
    # this server must keep serving until its stdin closes (each child takes Ctrl-C as a trainer process would).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    selector = selectors.DefaultSelector()
    commands = sys.stdin.fileno()
    selector.register(commands, selectors.EVENT_READ)
    pending = b""
    send({"ready": True})
    while True:
        for key, _ in selector.select():
            if key.fd == commands:
                chunk = os.read(commands, 65536)
                if not chunk:
                    return 0  # the worker is gone or stopping; running children get SIGTERM as the server exits
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        start(json.loads(line), selector)
                continue
            job, fd = key.data
            chunk = os.read(fd, 65536)
            forward(job, fd, chunk)
            if not chunk:
                selector.unregister(fd)
                os.close(fd)
                del job.open[fd]
                if not job.open:
                    finish(job)


def start(request: dict, selector: selectors.BaseSelector) -> None:
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        for fd in (out_read, err_read):
            os.close(fd)
        selector.close()
        run_child(request, out_write, err_write)
    os.close(out_write)
    os.close(err_write)
    job = Job(request["job"], pid, out_read, err_read)
    for fd in (out_read, err_read):
        selector.register(fd, selectors.EVENT_READ, (job, fd))
    send({"job": job.id, "pid": pid})


if __name__ == "__main__":
    sys.exit(serve())
