"""Pipeline stages, each ``async (turn, call_next) -> Reply``; ``bot/wiring.py`` orders them."""
