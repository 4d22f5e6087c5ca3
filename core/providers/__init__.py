"""Providers: the things that answer a prompt (language models, the rules tier, a human)."""
