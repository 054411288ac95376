"""Durable Functions backend for devhost: the SDK's own replay over Azurite tables."""

from devhost.durable.runtime import OrchestrationRuntime, UnknownOrchestrator
from devhost.durable.service import DurableRuntime

__all__ = ["DurableRuntime", "OrchestrationRuntime", "UnknownOrchestrator"]
