"""Generation backends behind one small protocol (see ``base``)."""

from engine.backends.base import Backend, Completion
from engine.backends.llamacpp import LlamaCppBackend

__all__ = ["Backend", "Completion", "LlamaCppBackend"]
