"""Settings: defaults, readable errors naming the variable, and .env.example kept in step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import Settings, load_settings
from core.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_embedded_setup() -> None:
    settings = load_settings(_env_file=None)
    assert settings.sqlite_path == "data/bastion.db"
    assert settings.providers == ("openai", "anthropic", "rules", "handoff")
    # No keys and no OPS_TOKEN: the LLM rungs and the hand-off are skipped, the rules remain.
    assert settings.configured_providers() == ("rules",)
    assert (settings.web_host, settings.web_port) == ("127.0.0.1", 8080)
    assert settings.knowledge_base_path.exists()


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("WEB_PORT", "eighty", "valid integer"),
        ("WEB_PORT", "70000", "less than or equal to 65535"),
        ("RULES_MIN_CONFIDENCE", "high", "valid number"),
        ("PROVIDERS", "rules,gpt9", "unknown provider 'gpt9'"),
        ("PROVIDERS", "handoff,rules", "list it last"),
        ("PROVIDERS", "rules,rules", "listed twice"),
        ("TURN_DEADLINE_SECONDS", "1", "greater than or equal to 2"),
        ("OPS_TOKEN", "short", "at least 16 characters"),
        ("PROVIDER_ATTEMPTS", "many", "valid integer"),
        ("PROVIDERS", " , ", "at least one provider"),
        ("DATABASE_URL", "sqlite:/bastion.db", "expected sqlite:///"),
        ("DATABASE_URL", "mysql://localhost/db", "expected sqlite:///"),
        ("LOG_FORMAT", "xml", "'text' or 'json'"),
        ("HISTORY_LIMIT", "-3", "greater than or equal to 0"),
    ],
)
def test_a_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(_env_file=None)
    assert caught.value.variable == variable
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_values_are_read_from_a_dotenv_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("WEB_PORT=9000\nPROVIDERS=Rules\nLOG_LEVEL=debug\nTELEGRAM_BOT_TOKEN=\n")
    settings = load_settings(_env_file=env)
    assert (settings.web_port, settings.providers, settings.log_level) == (
        9000,
        ("rules",),
        "DEBUG",
    )


def test_an_llm_runs_when_its_credentials_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")  # Ollama needs no key
    monkeypatch.setenv("OPS_TOKEN", "a-long-random-ops-token")
    settings = load_settings(_env_file=None)
    assert settings.configured_providers() == ("openai", "anthropic", "rules", "handoff")
    assert "sk-ant-test" in settings.secrets()
    assert settings.telegram_bot_token is None  # empty means unset


def test_a_bad_secret_is_reported_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_PORT", "x")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(_env_file=None)
    assert "xoxb-very-secret" not in str(caught.value)


def test_env_example_lists_every_setting_with_a_default_and_meaning() -> None:
    text = (ROOT / ".env.example").read_text()
    listed = re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.M)
    assert sorted(listed) == sorted(name.upper() for name in Settings.model_fields)
    for name in listed:
        comment = re.search(rf"((?:^#.*\n)+){name}=", text, flags=re.M)
        assert comment is not None and "Default" in comment.group(1), name


def test_env_example_as_a_dotenv_file_is_valid() -> None:
    settings = load_settings(_env_file=ROOT / ".env.example")
    assert settings.providers == ("openai", "anthropic", "rules", "handoff")


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"REPLY_RESERVE_TOKENS": "9000"}, "REPLY_RESERVE_TOKENS"),
        ({"MAX_REPLY_TOKENS": "2000"}, "MAX_REPLY_TOKENS"),
        ({"SYSTEM_PROMPT": "x" * 40_000}, "SYSTEM_PROMPT"),
        (
            {
                "PROVIDERS": "local,rules",
                "LOCAL_MODEL_PATH": "m.gguf",
                "LOCAL_CONTEXT_SIZE": "2048",
            },
            "CONTEXT_BUDGET_TOKENS",
        ),
    ],
)
def test_settings_that_cannot_work_together_name_the_one_to_change(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], variable: str
) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(_env_file=None)
    assert caught.value.variable == variable


def test_platform_settings_are_checked_across_each_other() -> None:
    def problem(**values: str) -> str:
        try:
            load_settings(_env_file=None, **values)
        except ConfigurationError as error:
            return str(error)
        return ""

    token = {"telegram_bot_token": "123:abc"}
    assert "TELEGRAM_WEBHOOK_URL" in problem(**token, telegram_mode="webhook")
    assert "TELEGRAM_WEBHOOK_SECRET" in problem(
        **token, telegram_mode="webhook", telegram_webhook_url="https://bot.example/telegram"
    )
    assert "TELEGRAM_WEBHOOK_SECRET" in problem(telegram_webhook_secret="short")
    assert "SLACK_APP_TOKEN" in problem(slack_bot_token="xoxb-1")
    assert "WEB_ENABLED" in problem(
        slack_bot_token="xoxb-1", slack_signing_secret="s" * 32, web_enabled="false"
    )
    assert problem(slack_app_token="xapp-1").startswith("SLACK_BOT_TOKEN")
    assert problem(slack_signing_secret="s" * 32).startswith("SLACK_BOT_TOKEN")
    assert problem(slack_bot_token="xapp-1", slack_app_token="xapp-1").startswith(
        "SLACK_BOT_TOKEN"
    )
    assert problem(slack_bot_token="xoxb-1", slack_app_token="xoxb-1").startswith(
        "SLACK_APP_TOKEN"
    )
    short = problem(slack_bot_token="xoxb-1", slack_signing_secret="abc")
    assert short.startswith("SLACK_SIGNING_SECRET") and "abc" not in short
    assert problem(slack_bot_token="xoxb-1", slack_signing_secret=" " * 20).startswith(
        "SLACK_SIGNING_SECRET"
    )
    assert "DISCORD_GUILD_IDS" in problem(discord_guild_ids="12,abc")
    assert problem(discord_guild_ids="12, 34") == ""
