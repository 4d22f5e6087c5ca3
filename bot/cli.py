"""The ``bastion`` command: ``run``, ``chat`` and ``config check``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from bot.app import AdapterStartError, chat_in_console, run_bot
from bot.logs import configure_logging
from bot.settings import Settings, load_settings
from core.errors import ConfigurationError, StorageError
from core.providers.rules import load_knowledge_base

EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bastion", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot: the web chat and every configured adapter")
    commands.add_parser("chat", help="talk to the bot in this terminal")
    config = commands.add_parser("config", help="inspect the configuration")
    config.add_argument("action", choices=["check"], help="show what is enabled and missing")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
        if args.command == "config":
            print(describe(settings))
            return 0
        configure_logging(settings.log_level, settings.log_format, settings.secrets())
        if args.command == "run":
            asyncio.run(run_bot(settings))
        else:
            asyncio.run(chat_in_console(settings))
    except ConfigurationError as exc:
        print(f"bastion: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StorageError as exc:
        print(f"bastion: configuration error: DATABASE_URL: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except AdapterStartError as exc:
        print(f"bastion: cannot start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C in `bastion chat`
        return 0
    return 0


def describe(settings: Settings) -> str:
    """What ``bastion config check`` prints: enabled, missing, never a secret."""
    kb = load_knowledge_base(settings.knowledge_base_path)
    web = f"http://{settings.web_host}:{settings.web_port}" if settings.web_enabled else "disabled"
    lines = [
        "Bastion configuration",
        f"  storage    SQLite at {settings.sqlite_path}",
        f"  web chat   {web}",
        "  console    available: bastion chat",
        f"  logging    {settings.log_level}, {settings.log_format}",
        f"Fallback ladder (PROVIDERS={','.join(settings.providers)})",
    ]
    for name in settings.providers:
        lines.append(f"  {name:<10} {_rung(settings, name, len(kb.intents))}")
    lines += [
        f"  limits     {settings.turn_deadline_seconds:g} s a turn, "
        f"{settings.provider_timeout_seconds:g} s a call, {settings.provider_attempts} attempts; "
        f"a circuit opens after {settings.circuit_failures} failures for "
        f"{settings.circuit_cooldown_seconds:g} s",
        "Platform adapters",
    ]
    platforms = {
        "telegram": [("TELEGRAM_BOT_TOKEN", settings.telegram_bot_token)],
        "discord": [("DISCORD_BOT_TOKEN", settings.discord_bot_token)],
        "slack": [
            ("SLACK_BOT_TOKEN", settings.slack_bot_token),
            (
                "SLACK_APP_TOKEN or SLACK_SIGNING_SECRET",
                settings.slack_app_token or settings.slack_signing_secret,
            ),
        ],
    }
    for platform, needs in platforms.items():
        missing = [name for name, value in needs if value is None]
        if missing:
            lines.append(f"  {platform:<10} not configured (missing {', '.join(missing)})")
        else:
            lines.append(f"  {platform:<10} on: {_platform_mode(settings, platform)}")
    return "\n".join(lines)


def _shown(url: str | None) -> str | None:
    """``url`` without a user or password in it (a proxy's credentials are secrets too)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=f"***@{netloc}"))


def _platform_mode(settings: Settings, platform: str) -> str:
    if platform == "telegram":
        if settings.telegram_mode == "webhook":
            return f"webhook at {_shown(settings.telegram_webhook_url)}"
        return "long polling"
    if platform == "discord":
        guilds = len(settings.discord_guild_ids)
        synced = f"to {guilds} guilds" if guilds else "globally"
        return f"gateway; slash commands synced {synced}"
    return "HTTP events on /slack/events" if settings.slack_http_events_on else "Socket Mode"


def _rung(settings: Settings, name: str, intents: int) -> str:
    missing = settings.missing_for(name)
    if missing is not None:
        return f"skipped: set {missing}"
    match name:
        case "openai":
            where = _shown(settings.openai_base_url) or "api.openai.com"
            return f"{settings.openai_model} at {where}"
        case "anthropic":
            where = _shown(settings.anthropic_base_url) or "api.anthropic.com"
            return f"{settings.anthropic_model} at {where}"
        case "local":
            return f"{settings.local_model_path} in process (llama.cpp)"
        case "rules":
            return (
                f"{intents} intents from {settings.knowledge_base_path}"
                f" (min confidence {settings.rules_min_confidence})"
            )
        case _:
            ops = "on" if settings.ops_token else "off (set OPS_TOKEN)"
            return f"tickets for people; ops endpoints {ops}"


if __name__ == "__main__":
    sys.exit(main())
