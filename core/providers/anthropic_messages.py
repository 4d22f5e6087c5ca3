"""The Anthropic provider: the Messages API through the official SDK.

The Messages API is stricter than chat completions about the prompt's shape: the system prompt
is a parameter, not a message, and the turns must alternate starting with the user. The
conversion below enforces that, so a history that begins mid-conversation still works.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType

import anthropic
from anthropic.types import Message, MessageParam

from core.errors import FinalProviderError
from core.model import ChatMessage, Completion, Role, Usage, UserRef
from core.providers.classify import anthropic_errors, checked_text, token_count

OFFICIAL_BASE_URL = "https://api.anthropic.com"


class AnthropicMessagesProvider:
    """A ``Provider`` and ``HealthProbe`` on ``anthropic.AsyncAnthropic``, which it owns."""

    def __init__(
        self,
        api_key: str,
        model: str,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
        max_tokens: int = 512,
        name: str = "anthropic",
    ) -> None:
        self._api_key = api_key
        self._model = model
        self._base_url = base_url
        self._timeout = timeout
        self._max_tokens = max_tokens
        self._name = name
        self._client: anthropic.AsyncAnthropic | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def model(self) -> str:
        """The configured model (the budgets price a rung by it before any call)."""
        return self._model

    async def __aenter__(self) -> AnthropicMessagesProvider:
        self._client = anthropic.AsyncAnthropic(
            api_key=self._api_key,
            # Always explicit: left as None, the SDK would read ANTHROPIC_BASE_URL (or a
            # profile on disk) behind the settings' back.
            base_url=self._base_url or OFFICIAL_BASE_URL,
            # Retries are the ladder's; the SDK would also honour any Retry-After, uncapped.
            max_retries=0,
            timeout=self._timeout,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        """One Messages call, exactly one HTTP request; failures raise a ``ProviderError``.

        ``user`` is deliberately not sent: the vendor has no need to know who asked.
        """
        client = self._opened()
        system, messages = to_anthropic_prompt(prompt)
        if not messages:
            # Sending it would only earn a 400; say what is wrong instead.
            raise FinalProviderError(self._name, "the prompt has no user message")
        with anthropic_errors(self._name, self._timeout):
            # The SDK's timeout bounds each read; this one bounds the whole call.
            async with asyncio.timeout(self._timeout):
                response = await client.messages.create(
                    model=self._model,
                    max_tokens=self._max_tokens,
                    system=system if system else anthropic.omit,
                    messages=messages,
                )
        return self._completion(response)

    async def probe(self) -> None:
        """A one-token message: the cheapest request that proves the Messages API works.

        Listing models would spend nothing, but it succeeds while messages fail (spend limit,
        an overloaded model), and a probe that lies closes a circuit it should not.
        """
        client = self._opened()
        with anthropic_errors(self._name, self._timeout):
            async with asyncio.timeout(self._timeout):
                await client.messages.create(
                    model=self._model,
                    max_tokens=1,
                    messages=[{"role": "user", "content": "ping"}],
                )

    def _opened(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            raise RuntimeError(f"{type(self).__name__} is used outside 'async with'")
        return self._client

    def _completion(self, response: Message) -> Completion:
        # The SDK does not validate responses, so any field may be missing on an odd server.
        blocks = response.content or []
        text = "".join(block.text for block in blocks if block.type == "text")
        usage = response.usage
        return Completion(
            text=checked_text(self._name, text, refused=response.stop_reason == "refusal"),
            provider=self._name,
            model=response.model or self._model,
            usage=Usage(
                input_tokens=token_count(usage.input_tokens if usage else None),
                output_tokens=token_count(usage.output_tokens if usage else None),
            ),
        )


def to_anthropic_prompt(prompt: Sequence[ChatMessage]) -> tuple[str, list[MessageParam]]:
    """Split our prompt into the ``system`` parameter and Messages API turns.

    System entries are joined into one system prompt. Consecutive turns of the same role are
    merged (the API wants them alternating) and empty ones dropped (it rejects empty text).
    Assistant turns before the first user turn are dropped: the API requires the user to
    speak first, and a history cut to its newest messages can start with our own reply.
    """
    system = "\n\n".join(m.text for m in prompt if m.role is Role.SYSTEM and m.text.strip())
    turns: list[tuple[Role, list[str]]] = []
    for message in prompt:
        if message.role is Role.SYSTEM or not message.text.strip():
            continue
        if not turns and message.role is not Role.USER:
            continue
        if turns and turns[-1][0] is message.role:
            turns[-1][1].append(message.text)
        else:
            turns.append((message.role, [message.text]))
    messages: list[MessageParam] = []
    for role, texts in turns:
        content = "\n\n".join(texts)
        if role is Role.USER:
            messages.append({"role": "user", "content": content})
        else:
            messages.append({"role": "assistant", "content": content})
    return system, messages
