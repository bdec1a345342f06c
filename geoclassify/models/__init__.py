"""Model architectures, the model card and the model file format.

Only the card is imported eagerly; the registry (and torch) load on first use.
"""

from geoclassify.models.card import ModelCard

__all__ = ["ModelCard", "create_model", "list_models", "register_model"]


def __getattr__(name: str):
    if name in ("create_model", "list_models", "register_model"):
        from geoclassify.models import registry

        return getattr(registry, name)
    raise AttributeError(name)
