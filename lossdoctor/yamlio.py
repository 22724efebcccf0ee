"""YAML reading: data only, never objects.

`safe_load` builds only plain YAML types (the constructor set of `yaml.safe_load`), in
libyaml's C parser when PyYAML was built with it (about 10x faster on the rule files),
else in PyYAML's pure-Python one. A `!!python/...` tag (`!!python/object/apply:os.system`,
`!!python/name:...`) is refused with an error that says so: the safe constructors never
build it, and the message tells the user why rather than "could not determine a
constructor".
"""

from __future__ import annotations

from functools import lru_cache
from typing import IO, Any

PYTHON_TAG = "tag:yaml.org,2002:python/"


def safe_load(stream: str | bytes | IO[str] | IO[bytes]) -> Any:
    """The document in `stream` as plain data; yaml.YAMLError (a ConstructorError for a
    python tag) when it is not valid YAML or asks for an object."""
    import yaml
    return yaml.load(stream, Loader=_loader())  # the safe constructors only, plus the refusal


@lru_cache(maxsize=1)
def _loader() -> Any:
    """CSafeLoader (or SafeLoader without libyaml) with python tags refused by name. A
    subclass, so that yaml's own loaders are left as they are."""
    import yaml
    base = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    loader: Any = type("DataOnlyLoader", (base,), {})
    loader.add_multi_constructor(PYTHON_TAG, _refuse_python_tag)
    return loader


def _refuse_python_tag(loader: Any, suffix: str, node: Any) -> Any:
    """The constructor of every `!!python/...` tag: an error at the tag's line, and nothing built."""
    import yaml
    raise yaml.constructor.ConstructorError(
        None, None, f"the tag !!python/{suffix} is refused for safety: python tags can run code, "
        "and this file is read as data only", node.start_mark)
