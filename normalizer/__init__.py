"""Pure steps RawMessage -> Report, chained like structlog processors.

Each step takes a Draft and returns a (new) Draft; ``normalize`` runs a chain. Steps are small
and pure so each can be tested alone and the chain reordered or extended by configuration.
"""

from normalizer.chain import Step, default_chain, normalize
from normalizer.draft import Draft

__all__ = ["Draft", "Step", "default_chain", "normalize"]
