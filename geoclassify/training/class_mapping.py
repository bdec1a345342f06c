"""Class-mapping files: label codes (e.g. CDL crop codes) to the model's classes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from geoclassify.errors import ConfigError, InputError

IGNORE = 255  # label value of pixels that take no part in the loss


@dataclass(frozen=True)
class ClassMapping:
    """A class mapping file, loaded: the classes in order, their colours and a lookup table from label code."""

    class_names: tuple[str, ...]
    colors: dict[str, list[int]]
    lut: np.ndarray  # code -> class index; IGNORE for nodata; -1 for unmapped codes

    def apply(self, labels: np.ndarray, where: str = "labels") -> np.ndarray:
        """Map a label array; codes the mapping does not know are an error naming them.

        Raises:
            InputError: a label is not an integer within the table, or its code is in no class.
        """
        if labels.dtype.kind not in "iu" or labels.max(initial=0) >= len(self.lut) or labels.min(initial=0) < 0:
            raise InputError(f"{where}: label values must be integers 0-{len(self.lut) - 1}")
        mapped = self.lut[labels]
        if (mapped < 0).any():
            missing = sorted(int(v) for v in np.unique(labels[mapped < 0]))
            raise InputError(f"{where}: label values {missing[:20]} are missing from the class mapping")
        return mapped.astype(np.uint8)


def parse_codes(items: list, name: str) -> list[int]:
    """The codes of class `name`'s list: integers and inclusive ranges written "1-61".

    Raises:
        ConfigError: an item is neither.
    """
    codes = []
    for item in items:
        text = str(item)
        lo, sep, hi = text.partition("-")
        try:
            codes += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
        except ValueError:
            raise ConfigError(f"class {name!r}: {text!r} is not a code or a range like 1-61") from None
    return codes


def load_class_mapping(path: str | Path, size: int = 256) -> ClassMapping:
    """Load a class mapping YAML file: `classes` (name -> codes, in the model's order), `nodata` codes, `colors`.

    `size` is the lookup table's length: the label codes it can map (0 to size - 1).

    Raises:
        ConfigError: the file is missing, has no `classes` mapping, lists something that is neither a code nor a
            range, or maps a code twice.
    """
    try:
        spec = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"class mapping file not found: {path}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("classes"), dict):
        raise ConfigError(f"{path}: a class mapping needs a 'classes' mapping of name -> codes")
    lut = np.full(size, -1, dtype=np.int16)
    for code in parse_codes(spec.get("nodata", []), "nodata"):
        lut[code] = IGNORE
    for index, (name, codes) in enumerate(spec["classes"].items()):
        for code in parse_codes(codes, name):
            if lut[code] != -1:
                raise ConfigError(f"{path}: code {code} is mapped twice (again in class {name!r})")
            lut[code] = index
    return ClassMapping(tuple(spec["classes"]), spec.get("colors", {}), lut)
