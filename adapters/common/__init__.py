"""What every chat-platform adapter shares: the adapter contract and message splitting."""

from adapters.common.platform import PlatformAdapter

__all__ = ["PlatformAdapter"]
