"""The OpenAI provider: chat completions through the official SDK.

With ``base_url`` it also serves any OpenAI-compatible server (Ollama, vLLM, LM Studio, the
llama.cpp server). The SDK's own retries are off: the fallback ladder decides whether, when and
where to try again, and it needs every failure as one of our typed errors, fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType
from urllib.parse import urlsplit

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from core.model import ChatMessage, Completion, Role, Usage, UserRef
from core.providers.classify import checked_text, openai_errors, token_count

OFFICIAL_BASE_URL = "https://api.openai.com/v1"


class OpenAIChatProvider:
    """A ``Provider`` and ``HealthProbe`` on ``openai.AsyncOpenAI``, which it opens and closes."""

    def __init__(
        self,
        api_key: str,
        model: str,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
        max_tokens: int = 512,
        name: str = "openai",
    ) -> None:
        self._api_key = api_key
        self._model = model
        self._base_url = base_url
        self._timeout = timeout
        self._max_tokens = max_tokens
        self._name = name
        self._client: openai.AsyncOpenAI | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def model(self) -> str:
        """The configured model (the budgets price a rung by it before any call)."""
        return self._model

    async def __aenter__(self) -> OpenAIChatProvider:
        self._client = openai.AsyncOpenAI(
            api_key=self._api_key,
            # Always explicit: left as None, the SDK would read OPENAI_BASE_URL from the
            # environment behind the settings' back.
            base_url=self._base_url or OFFICIAL_BASE_URL,
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
        """One chat completion, exactly one HTTP request; failures raise a ``ProviderError``.

        ``user`` is deliberately not sent: the vendor has no need to know who asked.
        """
        client = self._opened()
        official = is_official_endpoint(self._base_url)
        with openai_errors(self._name, self._timeout):
            # The SDK's timeout bounds each read; this one bounds the whole call.
            async with asyncio.timeout(self._timeout):
                response = await client.chat.completions.create(
                    model=self._model,
                    messages=to_openai_messages(prompt),
                    max_completion_tokens=self._max_tokens if official else openai.omit,
                    max_tokens=openai.omit if official else self._max_tokens,
                )
        return self._completion(response)

    async def probe(self) -> None:
        """A one-token completion: the cheapest request that proves completions work.

        Listing models would spend nothing, but it succeeds while completions fail (quota used
        up, the model overloaded), and a probe that lies closes a circuit it should not.
        """
        client = self._opened()
        official = is_official_endpoint(self._base_url)
        with openai_errors(self._name, self._timeout):
            async with asyncio.timeout(self._timeout):
                await client.chat.completions.create(
                    model=self._model,
                    messages=[{"role": "user", "content": "ping"}],
                    max_completion_tokens=1 if official else openai.omit,
                    max_tokens=openai.omit if official else 1,
                )

    def _opened(self) -> openai.AsyncOpenAI:
        if self._client is None:
            raise RuntimeError(f"{type(self).__name__} is used outside 'async with'")
        return self._client

    def _completion(self, response: ChatCompletion) -> Completion:
        # The SDK does not validate responses, so any field may be missing on an odd server.
        choice = response.choices[0] if response.choices else None
        text = checked_text(
            self._name,
            choice.message.content if choice is not None and choice.message else None,
            refused=choice is not None and choice.finish_reason == "content_filter",
        )
        usage = response.usage
        return Completion(
            text=text,
            provider=self._name,
            model=response.model or self._model,
            usage=Usage(
                input_tokens=token_count(usage.prompt_tokens if usage else None),
                output_tokens=token_count(usage.completion_tokens if usage else None),
            ),
        )


def is_official_endpoint(base_url: str | None) -> bool:
    """Whether requests go to OpenAI itself rather than to a compatible server.

    It decides the token-limit field: OpenAI's reasoning models reject the deprecated
    ``max_tokens`` and want ``max_completion_tokens``, while compatible servers (Ollama,
    llama.cpp, older vLLM) only know ``max_tokens``.
    """
    return urlsplit(base_url or OFFICIAL_BASE_URL).hostname == urlsplit(OFFICIAL_BASE_URL).hostname


def to_openai_messages(prompt: Sequence[ChatMessage]) -> list[ChatCompletionMessageParam]:
    """Our prompt as chat-completion messages, order and roles kept as they are."""
    messages: list[ChatCompletionMessageParam] = []
    for message in prompt:
        if message.role is Role.SYSTEM:
            messages.append({"role": "system", "content": message.text})
        elif message.role is Role.ASSISTANT:
            messages.append({"role": "assistant", "content": message.text})
        else:
            messages.append({"role": "user", "content": message.text})
    return messages
