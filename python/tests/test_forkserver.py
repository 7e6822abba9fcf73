"""The trainer's fork server: each job is a trainer run of its own (lines, exit status, signals), many at once."""

import json
import os
import signal
import subprocess
import sys

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_each_job_is_a_trainer_run_with_its_own_lines_exit_status_and_signals(tmp_path):
    refused = tmp_path / "refused.json"
    refused.write_text(json.dumps({"contract_version": "0.0", "mode": "prepare", "output_dir": str(tmp_path / "out")}))
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen([sys.executable, "-m", "modelship_trainer.forkserver"], cwd=PYTHON_DIR, env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert json.loads(server.stdout.readline()) == {"ready": True}

        def start(job, request):
            server.stdin.write(json.dumps({"job": job, "argv": ["modelship_trainer", str(request)], "env": env, "cwd": PYTHON_DIR}) + "\n")
            server.stdin.flush()

        # Two runs at once: a request of another contract version is refused (exit 2), a missing one crashes.
        start(1, refused)
        start(2, tmp_path / "missing.json")
        messages = {1: [], 2: []}
        while not all(messages[job] and "exit" in messages[job][-1] for job in messages):
            message = json.loads(server.stdout.readline())
            messages[message["job"]].append(message)

        refusal = [m for m in messages[1] if m.get("stream") == "stdout"]
        assert len(refusal) == 1 and json.loads(refusal[0]["line"])["kind"] == "contract"
        assert messages[1][-1] == {"job": 1, "exit": 2, "signal": None}
        crash = [m["line"] for m in messages[2] if m.get("stream") == "stderr"]
        assert crash[0].startswith("Traceback") and "FileNotFoundError" in crash[-1]
        assert messages[2][-1] == {"job": 2, "exit": 1, "signal": None}
        assert all("pid" in messages[job][0] for job in messages) and messages[1][0]["pid"] != messages[2][0]["pid"]

        # A signal to the pid the server names reaches the run (here blocked opening a FIFO as its request).
        fifo = tmp_path / "blocked.json"
        os.mkfifo(fifo)
        start(3, fifo)
        started = json.loads(server.stdout.readline())
        os.kill(started["pid"], signal.SIGTERM)
        assert started["job"] == 3 and json.loads(server.stdout.readline()) == {"job": 3, "exit": None, "signal": signal.SIGTERM}
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    assert server.returncode == 0, "the server stops when its stdin closes"
