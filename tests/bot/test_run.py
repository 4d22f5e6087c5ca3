"""``bastion run`` as a process: serves the chat, stops cleanly on SIGTERM, keeps history."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx

LISTENING = re.compile(r"web chat listening on (http://\S+)")


@contextmanager
def running_bot(cwd: Path, **env: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    full_env = {**os.environ, "WEB_PORT": "0", "LOG_FORMAT": "text", **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=cwd,
        env=full_env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _wait_for_url(process)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def _wait_for_url(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if match := LISTENING.search(line):
            return match.group(1)
    raise AssertionError("bot did not start:\n" + "".join(seen))


def stop(process: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str]:
    process.send_signal(sig)
    _, err = process.communicate(timeout=30)
    return process.returncode, err


def test_run_serves_the_chat_and_sigterm_exits_zero_keeping_history(tmp_path: Path) -> None:
    with running_bot(tmp_path) as (process, url):
        reply = httpx.post(f"{url}/api/chat", json={"user_id": "u1", "text": "when are you open?"})
        assert reply.status_code == 200 and "Monday" in reply.json()["replies"][0]["text"]
        code, err = stop(process, signal.SIGTERM)
    assert code == 0, err
    assert "stopped" in err and "Traceback" not in err

    # The default database is data/bastion.db under the working directory, created on demand.
    with closing(sqlite3.connect(tmp_path / "data" / "bastion.db")) as db:
        assert db.execute("SELECT COUNT(*) FROM messages").fetchone() == (2,)

    with running_bot(tmp_path) as (process, url):
        health = httpx.get(f"{url}/healthz")
        assert health.json()["status"] == "ok"
        forget = httpx.post(f"{url}/api/chat", json={"user_id": "u1", "text": "/forget"})
        assert "2 messages" in forget.json()["replies"][0]["text"]
        code, _ = stop(process, signal.SIGINT)
    assert code == 0


def test_a_taken_port_is_one_readable_line(tmp_path: Path) -> None:
    with running_bot(tmp_path) as (process, url):
        port = url.rsplit(":", 1)[1]
        second = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            cwd=tmp_path,
            env={**os.environ, "WEB_PORT": port},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        stop(process, signal.SIGTERM)
    assert second.returncode == 2
    assert second.stderr.strip().startswith(
        "bastion: configuration error: WEB_PORT: cannot listen"
    )
