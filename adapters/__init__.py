"""Platform adapters: each turns its platform's updates into ``core.model`` messages and back.

An adapter imports only ``core.model``, ``core.ports`` and helpers of ``core``, plus its own SDK.
"""
