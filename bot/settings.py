"""The one settings object, read from the environment and ``.env`` and validated at start.

Every field is listed in ``.env.example`` with its default and meaning; keep the two in step
(``tests/bot/test_settings.py`` checks that they are).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.errors import ConfigurationError

BUNDLED_KNOWLEDGE_BASE = Path(__file__).parent / "content" / "shop_knowledge.yaml"
BUNDLED_PRICING = Path(__file__).parent / "content" / "pricing.yaml"
BUNDLED_VALIDATOR_RULES = Path(__file__).parent / "content" / "validator_rules.yaml"
BUNDLED_FACTS = Path(__file__).parent / "content" / "facts"

# Rungs of the fallback ladder, in the order they may be listed. LLM rungs come first.
LLM_PROVIDERS = ("openai", "anthropic", "local")
AVAILABLE_PROVIDERS = (*LLM_PROVIDERS, "rules", "handoff")
DEFAULT_PROVIDERS = ("openai", "anthropic", "rules", "handoff")  # local only when asked for

_URL_FIELDS = frozenset(
    {
        "database_url",
        "openai_base_url",
        "anthropic_base_url",
        "telegram_base_url",
        "slack_base_url",
        "telegram_webhook_url",
    }
)
_SQLITE_URL = re.compile(r"^sqlite:///(?P<path>.+)$")


class Settings(BaseSettings):
    """Bastion's configuration; names match the environment variables, upper-cased."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # An empty value in .env means "use the default", as in .env.example.
        env_ignore_empty=True,
        frozen=True,
    )

    bot_name: str = Field("Bastion", min_length=1, max_length=64)
    database_url: str = "sqlite:///data/bastion.db"
    providers: Annotated[tuple[str, ...], NoDecode] = DEFAULT_PROVIDERS
    knowledge_base_path: Path = BUNDLED_KNOWLEDGE_BASE
    rules_min_confidence: float = Field(0.45, gt=0.0, le=1.0)
    # The rules answer before any model at this confidence or above; 0 turns it off.
    rules_first_confidence: float = Field(0.9, ge=0.0, le=1.0)
    system_prompt: str = (
        "You are the customer assistant of a small online shop. Answer briefly and only from "
        "what you know for sure; when unsure, say so and offer /human."
    )
    history_limit: int = Field(200, ge=0, le=10_000)

    # Context: what of the conversation reaches the model, within its token budget.
    context_budget_tokens: int = Field(8000, ge=256, le=2_000_000)
    reply_reserve_tokens: int = Field(1000, ge=16, le=100_000)
    keep_recent_turns: int = Field(3, ge=0, le=100)
    context_idle_reset_minutes: float = Field(30.0, ge=0, le=100_000)

    # Guardrails: what every model reply is checked against before a user sees it.
    validator_rules_path: Path = BUNDLED_VALIDATOR_RULES
    facts_dir: Path | None = BUNDLED_FACTS
    max_reply_chars: int = Field(4000, ge=100, le=100_000)

    # Response cache (general answers only) and input screening.
    cache_enabled: bool = True
    cache_max_entries: int = Field(10_000, ge=1, le=10_000_000)
    cache_ttl_seconds: float = Field(86_400.0, gt=0, le=30 * 86_400)
    risk_half_life_seconds: float = Field(600.0, gt=0, le=30 * 86_400)

    # Admission: per-user, per-chat and global rates (GCRA); a risky user's rate shrinks.
    rate_per_minute: float = Field(20.0, gt=0, le=100_000)
    rate_burst: int = Field(5, ge=1, le=100_000)
    chat_rate_per_minute: float = Field(60.0, gt=0, le=1_000_000)
    chat_rate_burst: int = Field(20, ge=1, le=1_000_000)
    global_rate_per_second: float = Field(20.0, gt=0, le=1_000_000)
    global_rate_burst: int = Field(40, ge=1, le=1_000_000)
    rate_max_keys: int = Field(100_000, ge=1, le=100_000_000)
    rate_min_scale: float = Field(0.2, gt=0, le=1)
    slow_down_window_seconds: float = Field(60.0, gt=0, le=86_400)
    risk_max_users: int = Field(100_000, ge=1, le=100_000_000)

    # Budgets: tokens and dollars per user per UTC day and month, and dollars for the whole bot
    # per UTC day. 0 means no limit. Past BUDGET_WARN_FRACTION the user is warned once and the
    # turn drops to cheaper rungs; at the limit only free answers are left until it resets.
    user_daily_tokens: int = Field(100_000, ge=0, le=10**12)
    user_monthly_tokens: int = Field(1_000_000, ge=0, le=10**12)
    user_daily_cost_usd: float = Field(0.50, ge=0, le=1_000_000)
    user_monthly_cost_usd: float = Field(5.00, ge=0, le=1_000_000)
    global_daily_cost_usd: float = Field(50.0, ge=0, le=10_000_000)
    budget_warn_fraction: float = Field(0.8, gt=0, lt=1)

    # The queue: turns run on a pool of workers, one at a time per conversation, with the
    # conversations served in turn; past MAX_BACKLOG waiting messages, new ones get "busy".
    # Workers are coroutines waiting on I/O (a model takes seconds), so they are cheap; this
    # caps the model calls in flight, e.g. 64 workers with 2 s answers serve 32 messages/s.
    workers: int = Field(64, ge=1, le=10_000)
    max_backlog: int = Field(1000, ge=1, le=1_000_000)
    # ... and per conversation, so one flooding chat fills its own lane, not everyone's.
    max_backlog_per_conversation: int = Field(50, ge=1, le=1_000_000)
    typing_interval_seconds: float = Field(4.0, gt=0, le=60)
    # How long a finished message's id is kept to recognise a platform's late second delivery.
    inbox_retention_hours: float = Field(24.0, gt=0, le=24 * 365)
    # A message is replayed after a crash at most this many times, then gets an apology.
    max_replays: int = Field(3, ge=1, le=100)

    # LLM providers: the names their own SDKs and docs use.
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    anthropic_model: str = "claude-haiku-4-5"
    max_reply_tokens: int = Field(512, ge=16, le=32_000)
    # The local rung: a GGUF model served by llama.cpp inside this process.
    local_model_path: Path | None = None
    local_context_size: int = Field(2048, ge=256, le=131_072)
    local_threads: int | None = Field(None, ge=1, le=256)
    local_startup_timeout_seconds: float = Field(120.0, gt=0, le=3600)
    pricing_path: Path = BUNDLED_PRICING

    # The ladder: deadlines, retries, circuits, probes.
    # At least the 0.5 s kept for the rules and people plus one 1 s attempt of a model.
    turn_deadline_seconds: float = Field(20.0, ge=2, le=600)
    provider_timeout_seconds: float = Field(8.0, gt=0, le=600)
    provider_attempts: int = Field(2, ge=1, le=10)
    retry_after_cap_seconds: float = Field(5.0, ge=0, le=600)
    circuit_failures: int = Field(3, ge=1, le=1000)
    circuit_cooldown_seconds: float = Field(30.0, gt=0, le=3600)
    health_check_seconds: float = Field(10.0, gt=0, le=3600)

    # People: hand-off tickets and the ops endpoints that list and close them.
    handoff_transcript_size: int = Field(10, ge=0, le=200)
    ops_token: SecretStr | None = None

    web_enabled: bool = True
    web_host: str = "127.0.0.1"
    web_port: int = Field(8080, ge=0, le=65535)
    max_message_chars: int = Field(4000, ge=1, le=100_000)

    log_level: Literal["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    shutdown_grace_seconds: float = Field(10.0, ge=0, le=600)

    # Platforms. An adapter starts when its credentials are set. Secrets stay SecretStr so
    # they never print by accident.
    # In groups: "addressed" answers a mention, a reply to the bot or a command; "commands"
    # answers commands only. Direct messages are always answered.
    group_replies: Literal["addressed", "commands"] = "addressed"
    telegram_bot_token: SecretStr | None = None
    # polling needs no public URL; webhook mounts /telegram/webhook on the shared HTTP app.
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_url: str | None = None  # the public https URL Telegram posts to
    telegram_webhook_secret: SecretStr | None = None
    # A self-hosted Bot API server: its base URL, e.g. http://127.0.0.1:8081/bot
    telegram_base_url: str = "https://api.telegram.org/bot"
    discord_bot_token: SecretStr | None = None
    # Slash commands sync to these guilds at once; empty syncs globally (can take an hour).
    discord_guild_ids: Annotated[tuple[int, ...], NoDecode] = ()
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None  # Socket Mode (no public URL needed)
    slack_signing_secret: SecretStr | None = None  # HTTP events on /slack/events
    slack_base_url: str = "https://slack.com/api/"  # GovSlack: https://slack-gov.com/api/
    slack_command: str = Field("/bastion", pattern=r"^/[a-z0-9_-]{1,31}$")

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _case_insensitive(cls, value: Any, info: Any) -> Any:
        if not isinstance(value, str):
            return value
        return value.upper() if info.field_name == "log_level" else value.lower()

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _telegram_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram accepts 1-256 of these characters; 16 at least so it cannot be guessed.
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{16,256}", value.get_secret_value()
        ):
            raise ValueError("must be 16 to 256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("slack_bot_token", "slack_app_token")
    @classmethod
    def _slack_token(cls, value: SecretStr | None, info: Any) -> SecretStr | None:
        # A token pasted into the wrong variable fails here, not as Slack's "invalid_auth".
        prefix = "xoxb-" if info.field_name == "slack_bot_token" else "xapp-"
        if value is not None and not value.get_secret_value().startswith(prefix):
            raise ValueError(f"must start with {prefix}")
        return value

    @field_validator("slack_signing_secret")
    @classmethod
    def _slack_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Slack's are 32 hex characters; anything short or blank is a pasting mistake.
        if value is not None and not re.fullmatch(r"\S{16,}", value.get_secret_value()):
            raise ValueError("must be the app's signing secret (16 or more characters, no spaces)")
        return value

    @field_validator("discord_guild_ids", mode="before")
    @classmethod
    def _guild_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return tuple(int(part) for part in value.split(",") if part.strip())
        except ValueError:
            raise ValueError("expected comma-separated numeric guild ids") from None

    @field_validator("facts_dir", mode="before")
    @classmethod
    def _facts_off(cls, value: Any) -> Any:
        # An empty value means "the default" (the demo facts), so "off" is how to have none.
        if isinstance(value, str) and value.strip().lower() in {"off", "none"}:
            return None
        return value

    @field_validator("ops_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # Short tokens can be guessed, and the log redactor does not mask very short strings.
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters; use a long random string")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value.startswith(("postgres://", "postgresql://")):
            raise ValueError(
                "PostgreSQL storage is not available in this version yet; use sqlite:///path.db"
            )
        if not _SQLITE_URL.match(value):
            raise ValueError("expected sqlite:///relative/path.db or sqlite:////absolute/path.db")
        return value

    @field_validator("providers", mode="before")
    @classmethod
    def _provider_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        names = tuple(part.strip().lower() for part in value.split(",") if part.strip())
        if not names:
            raise ValueError("name at least one provider, e.g. PROVIDERS=rules")
        for name in names:
            if name not in AVAILABLE_PROVIDERS:
                known = ", ".join(AVAILABLE_PROVIDERS)
                raise ValueError(f"unknown provider {name!r} (known: {known})")
        if len(set(names)) != len(names):
            raise ValueError("a provider is listed twice")
        if "handoff" in names and names[-1] != "handoff":
            raise ValueError("handoff is the last rung: list it last")
        return names

    def configured_providers(self) -> tuple[str, ...]:
        """``PROVIDERS`` without the LLMs that have no credentials: those rungs are skipped."""
        return tuple(name for name in self.providers if self.missing_for(name) is None)

    def missing_for(self, provider: str) -> str | None:
        """The variable a listed provider still needs, or None when it can run."""
        if provider == "openai" and self.openai_api_key is None and self.openai_base_url is None:
            return "OPENAI_API_KEY (or OPENAI_BASE_URL for a local server)"
        if provider == "anthropic" and self.anthropic_api_key is None:
            return "ANTHROPIC_API_KEY"
        if provider == "local" and self.local_model_path is None:
            return "LOCAL_MODEL_PATH"
        if provider == "handoff" and self.ops_token is None:
            # Without the ops endpoints nobody could see a ticket: promising a person would lie.
            return "OPS_TOKEN (so people can see and close hand-off tickets)"
        return None

    @model_validator(mode="after")
    def _budgets_fit(self) -> Settings:
        # Each message starts with the variable to change: load_settings reports it by name.
        if self.reply_reserve_tokens >= self.context_budget_tokens:
            raise ValueError("REPLY_RESERVE_TOKENS must be smaller than CONTEXT_BUDGET_TOKENS")
        if self.max_reply_tokens > self.reply_reserve_tokens:
            raise ValueError("MAX_REPLY_TOKENS must fit in REPLY_RESERVE_TOKENS")
        if "local" in self.providers and self.context_budget_tokens > self.local_context_size:
            raise ValueError(
                "CONTEXT_BUDGET_TOKENS must not exceed LOCAL_CONTEXT_SIZE when local is a rung"
            )
        if self.telegram_webhook_on:
            if not self.telegram_webhook_url or not self.telegram_webhook_url.startswith(
                "https://"
            ):
                raise ValueError("TELEGRAM_WEBHOOK_URL must be an https:// URL in webhook mode")
            if self.telegram_webhook_secret is None:
                raise ValueError("TELEGRAM_WEBHOOK_SECRET is needed in webhook mode")
        if self.slack_bot_token is not None and not (
            self.slack_app_token or self.slack_signing_secret
        ):
            raise ValueError(
                "SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP events) is needed "
                "with SLACK_BOT_TOKEN"
            )
        if self.slack_bot_token is None and (self.slack_app_token or self.slack_signing_secret):
            raise ValueError(
                "SLACK_BOT_TOKEN is needed with SLACK_APP_TOKEN or SLACK_SIGNING_SECRET"
            )
        if not self.web_enabled and (self.telegram_webhook_on or self.slack_http_events_on):
            raise ValueError(
                "WEB_ENABLED must stay true: Telegram webhook mode and Slack HTTP events are "
                "served on the shared HTTP port"
            )
        # A rough count (4 characters a token) is enough to catch a prompt that cannot fit.
        if len(self.system_prompt) / 4 > self.context_budget_tokens - self.reply_reserve_tokens:
            raise ValueError("SYSTEM_PROMPT alone is longer than CONTEXT_BUDGET_TOKENS allows")
        return self

    def platforms_configured(self) -> frozenset[str]:
        """The chat platforms whose adapter starts (their credentials are set)."""
        tokens = {
            "telegram": self.telegram_bot_token,
            "discord": self.discord_bot_token,
            "slack": self.slack_bot_token,
        }
        return frozenset(name for name, token in tokens.items() if token is not None)

    @property
    def telegram_webhook_on(self) -> bool:
        return self.telegram_bot_token is not None and self.telegram_mode == "webhook"

    @property
    def slack_http_events_on(self) -> bool:
        """Slack over HTTP events: a signing secret and no app token (Socket Mode wins)."""
        return (
            self.slack_bot_token is not None
            and self.slack_app_token is None
            and self.slack_signing_secret is not None
        )

    @property
    def sqlite_path(self) -> str:
        """The database file (or ``:memory:``) named by ``DATABASE_URL``."""
        match = _SQLITE_URL.match(self.database_url)
        assert match is not None  # guaranteed by the validator
        return match["path"]

    def secrets(self) -> list[str]:
        """Every configured secret value, for the log redactor."""
        values = (
            self.openai_api_key,
            self.anthropic_api_key,
            self.ops_token,
            self.telegram_bot_token,
            self.discord_bot_token,
            self.slack_bot_token,
            self.slack_app_token,
            self.slack_signing_secret,
            self.telegram_webhook_secret,
        )
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]


def load_settings(**overrides: Any) -> Settings:
    """Read and validate settings; a bad value raises ``ConfigurationError`` naming it."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        if not error["loc"]:  # a check across settings: its message starts with the variable
            variable, _, problem = str(error["msg"]).removeprefix("Value error, ").partition(" ")
            raise ConfigurationError(variable, problem) from None
        field = str(error["loc"][0])
        raise ConfigurationError(field.upper(), _explain(error, field)) from None


def _explain(error: Any, field: str) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    annotation = str(getattr(Settings.model_fields.get(field), "annotation", "")).lower()
    # Secrets, and URLs that can carry a password, are never echoed back.
    secret = "secret" in annotation or field in _URL_FIELDS
    if secret or not isinstance(error.get("input"), str | int | float):
        return message
    return f"{message} (got {error['input']!r})"
