"""Every error Bastion raises on purpose, in one tree.

::

    BastionError
    ├── ConfigurationError         invalid or missing setting; stops start-up, names the variable
    ├── ProviderError              a model call failed; the fallback ladder moves on by type only
    │   ├── RetryableProviderError     timeout, connection, rate limited, overloaded, 5xx
    │   │   ├── ProviderTimeoutError       no answer within the per-attempt timeout
    │   │   └── RateLimitedError           carries the provider's Retry-After, if it gave one
    │   └── FinalProviderError         bad request, content policy: not worth retrying here
    │       └── NeedsOperatorError         authentication, permission, exhausted quota: park it
    ├── ValidationFailed           a model reply was rejected; carries a reason code
    ├── StorageError               the conversation store could not do what was asked
    └── DeliveryError              a platform refused or failed to take a reply

Where a third-party exception is caught, ours is raised ``from`` it so the cause is kept.
"""

from __future__ import annotations


class BastionError(Exception):
    """Root of every error Bastion raises deliberately."""


class ConfigurationError(BastionError):
    """A setting is invalid; ``variable`` names it so the operator knows what to fix."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class ProviderError(BastionError):
    """A provider could not produce an answer."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class RetryableProviderError(ProviderError):
    """Worth trying again, on this provider after a pause or on the next one."""


class ProviderTimeoutError(RetryableProviderError):
    """No answer in time; the ladder says "timeout" for it in a reply's trail."""


class RateLimitedError(RetryableProviderError):
    """The provider asked us to slow down, possibly saying for how long."""

    def __init__(self, provider: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(provider, message)
        self.retry_after = retry_after


class FinalProviderError(ProviderError):
    """Retrying this provider will not help (bad request, content policy); try the next one."""


class NeedsOperatorError(FinalProviderError):
    """Only a person can fix this (a bad key, no permission, quota used up): park the provider."""


class ValidationFailed(BastionError):
    """A model reply broke a rule; ``reason`` is a stable code used for retries and metrics."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class StorageError(BastionError):
    """The conversation store failed."""


class DeliveryError(BastionError):
    """A platform did not accept a reply.

    ``retry_after``: the seconds the platform asked us to wait (a 429 longer than an adapter
    waits itself); the core sends the reply again no sooner, since an earlier try would only be
    refused and may lengthen the penalty.
    """

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
