"""The fallback ladder: LLMs with retries and circuit breakers, then the rules, then people."""
