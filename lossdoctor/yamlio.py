"""YAML reading: data only, never objects.

`safe_load` builds only plain YAML types (the constructor set of `yaml.safe_load`), in
libyaml's C parser when PyYAML was built with it (about 10x faster on the rule files),
else in PyYAML's pure-Python one.
"""

from __future__ import annotations

from typing import IO, Any


def safe_load(stream: str | bytes | IO[str] | IO[bytes]) -> Any:
    import yaml
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        return yaml.safe_load(stream)
    return yaml.load(stream, Loader=loader)  # CSafeLoader: the safe constructors only
