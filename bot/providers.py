"""Builds the LLM rungs ``PROVIDERS`` names, importing each SDK only when it is configured."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from bot.settings import Settings
from core.errors import ConfigurationError

# Ollama, vLLM and llama.cpp servers ignore the key, but the SDK insists on one.
NO_KEY = "not-needed"


def llm_provider(settings: Settings, name: str) -> AbstractAsyncContextManager[Any]:
    """The provider for ``name`` ("openai", "anthropic" or "local"), not yet entered."""
    try:
        if name == "openai":
            from core.providers.openai_chat import OpenAIChatProvider

            key = settings.openai_api_key
            return OpenAIChatProvider(
                key.get_secret_value() if key else NO_KEY,
                settings.openai_model,
                base_url=settings.openai_base_url,
                timeout=settings.provider_timeout_seconds,
                max_tokens=settings.max_reply_tokens,
            )
        if name == "anthropic":
            from core.providers.anthropic_messages import AnthropicMessagesProvider

            assert settings.anthropic_api_key is not None  # configured_providers() checked
            return AnthropicMessagesProvider(
                settings.anthropic_api_key.get_secret_value(),
                settings.anthropic_model,
                base_url=settings.anthropic_base_url,
                timeout=settings.provider_timeout_seconds,
                max_tokens=settings.max_reply_tokens,
            )
        if name == "local":
            from core.providers.local_llama import LocalLlamaProvider

            assert settings.local_model_path is not None  # configured_providers() checked
            return LocalLlamaProvider(
                settings.local_model_path,
                context_size=settings.local_context_size,
                threads=settings.local_threads,
                timeout=settings.provider_timeout_seconds,
                max_tokens=settings.max_reply_tokens,
                startup_timeout=settings.local_startup_timeout_seconds,
            )
    except ImportError as exc:
        raise ConfigurationError(
            "PROVIDERS", f"{name} needs its SDK: pip install 'bastion[{name}]' ({exc.name})"
        ) from exc
    raise ConfigurationError("PROVIDERS", f"{name} is not a language model provider")
