"""The ``bastion`` command as an operator runs it, in a subprocess."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest


def bastion(
    *args: str, env: dict[str, str] | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("WEB_", "DATABASE"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [("WEB_PORT", "abc"), ("PROVIDERS", "skynet"), ("DATABASE_URL", "nonsense")],
)
def test_bad_configuration_stops_start_up_with_one_line_and_status_2(
    tmp_path: Path, variable: str, value: str
) -> None:
    result = bastion("run", env={variable: value}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"bastion: configuration error: {variable}: ")
    assert "Traceback" not in result.stderr


def test_a_broken_knowledge_base_stops_start_up_naming_its_variable(tmp_path: Path) -> None:
    kb = tmp_path / "kb.yaml"
    kb.write_text("intents: [oops")
    result = bastion("run", env={"KNOWLEDGE_BASE_PATH": str(kb)}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("bastion: configuration error: KNOWLEDGE_BASE_PATH")


def test_config_check_shows_what_is_enabled_and_missing_without_secrets(tmp_path: Path) -> None:
    result = bastion(
        "config",
        "check",
        env={
            "TELEGRAM_BOT_TOKEN": "123:super-secret-token",
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": "https://bob:proxy-password@llm.internal:8443/v1",
        },
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "SQLite at data/bastion.db" in out
    assert "anthropic  skipped: set ANTHROPIC_API_KEY" in out
    assert "at https://***@llm.internal:8443/v1" in out
    assert "proxy-password" not in out and "bob" not in out
    assert re.search(r"rules      \d+ intents", out)
    assert "web chat   http://127.0.0.1:8080" in out
    assert "discord    not configured (missing DISCORD_BOT_TOKEN)" in out
    assert "telegram   on: long polling" in out
    assert "super-secret" not in out


def test_config_check_fails_on_bad_configuration(tmp_path: Path) -> None:
    result = bastion("config", "check", env={"MAX_MESSAGE_CHARS": "0"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "MAX_MESSAGE_CHARS" in result.stderr


def test_a_database_from_a_newer_bastion_stops_start_up_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with closing(sqlite3.connect(tmp_path / "data" / "bastion.db")) as db:
        db.execute("PRAGMA user_version = 999")
    result = bastion("run", env={"WEB_PORT": "0"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("bastion: configuration error: DATABASE_URL: ")
    assert "newer than this Bastion" in result.stderr and "Traceback" not in result.stderr
