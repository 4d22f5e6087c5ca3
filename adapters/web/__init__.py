"""The local web chat: a small page and a JSON API on the shared HTTP application."""

from adapters.web.routes import web_chat_routes

__all__ = ["web_chat_routes"]
