"""The architecture registry: `register_model`, `list_models` and the lookup by name.

It imports no architecture (and not torch): an architecture module imports it and registers itself with
`@register_model`, and `geoclassify.models.factory` imports the built-in ones before it builds or lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from geoclassify.errors import ModelFileError

if TYPE_CHECKING:
    import torch.nn as nn

Factory = Callable[..., "nn.Module"]


@dataclass(frozen=True)
class RegisteredModel:
    """An architecture in the registry: `factory(in_channels, num_classes, **kwargs)` builds it."""

    name: str
    task: str
    factory: Factory
    description: str
    hub: bool = False  # pretrained=True can download hub weights


_REGISTRY: dict[str, RegisteredModel] = {}


def register_model(name: str, task: str, description: str = "", hub: bool = False) -> Callable[[Factory], Factory]:
    """Decorator: register `factory(in_channels, num_classes, **kwargs) -> nn.Module` under `name`.

    Args:
        name: the architecture's name in model cards and on the command line.
        task: "classification" or "segmentation".
        description: one line for `geoclassify models` (default: the factory's docstring).
        hub: the factory accepts `pretrained=True` and downloads published weights.

    Returns:
        The decorator, which returns the factory unchanged.
    """

    def wrap(factory: Factory) -> Factory:
        _REGISTRY[name] = RegisteredModel(name, task, factory, description or (factory.__doc__ or "").strip(), hub)
        return factory

    return wrap


def list_models() -> list[RegisteredModel]:
    """The architectures registered so far, by name.

    `geoclassify.models.factory.list_models` is the same list with the built-in architectures loaded first.

    Returns:
        The registered architectures, sorted by name.
    """
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def lookup(name: str) -> RegisteredModel:
    """The registered architecture called `name`.

    Args:
        name: a registered architecture name.

    Returns:
        Its registry entry.

    Raises:
        ModelFileError: no architecture of that name is registered.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ModelFileError(f"unknown architecture {name!r}; known: {', '.join(sorted(_REGISTRY))}, "
                             "timm:<name> or unet:<timm encoder>") from None
