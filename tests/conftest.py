"""Shared fixtures: a fresh SQLite file per test, settings isolated from the developer's env."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.http import build_http_app
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings, load_settings
from core.storage.sqlite import SqliteStore
from tests.llm_server import FakeLLMServer


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variable from the shell or a developer's .env may change what a test sees."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "store.db") as opened:
        yield opened


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path / 'bastion.db'}",
            "web_port": 0,
            **overrides,
        }
        return load_settings(_env_file=None, **values)

    return make


@pytest.fixture
async def runtime(make_settings: Callable[..., Settings]) -> AsyncIterator[Runtime]:
    async with open_runtime(make_settings()) as opened:
        yield opened


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the real app, pipeline and SQLite file (in process, no socket)."""
    transport = httpx.ASGITransport(app=build_http_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://bastion.test") as http:
        yield http


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    """The fake OpenAI and Anthropic APIs on 127.0.0.1 (see tests/llm_server.py)."""
    async with FakeLLMServer() as server:
        yield server


@pytest.fixture
def server(llm: FakeLLMServer) -> FakeLLMServer:
    """The same fake as ``llm``, by the name the provider and fake-server tests use."""
    return llm
