"""Durable Functions backend for devhost: the SDK's own replay over Azurite tables."""

from devhost.durable.runtime import DurableRuntime, UnknownOrchestrator

__all__ = ["DurableRuntime", "UnknownOrchestrator"]
