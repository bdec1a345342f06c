"""Model architectures, the model card and the model file format."""

from geoclassify.models.card import ModelCard
from geoclassify.models.registry import create_model, list_models, register_model

__all__ = ["ModelCard", "create_model", "list_models", "register_model"]
