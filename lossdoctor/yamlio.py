"""YAML reading: data only, never objects.

`safe_load` builds only plain YAML types (the constructor set of `yaml.safe_load`), in
libyaml's C parser when PyYAML was built with it (about 10x faster on the rule files),
else in PyYAML's pure-Python one. A `!!python/...` tag (`!!python/object/apply:os.system`,
`!!python/name:...`) is refused with an error that says so: the safe constructors never
build it, and the message tells the user why rather than "could not determine a
constructor". A mapping key written twice is an error too, not the last value silently.
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
    loader: Any = type("DataOnlyLoader", (base,), {"construct_mapping": _unique_keys})
    loader.add_multi_constructor(PYTHON_TAG, _refuse_python_tag)
    return loader


def _unique_keys(loader: Any, node: Any, deep: bool = False) -> Any:
    """A mapping whose keys are each written once: a key written twice is an error at its
    second line (YAML would keep the last one, and a typo'd copy would pass silently). Keys
    a merge (`<<`) brings in may be overridden, as YAML says."""
    import yaml
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            key = loader.construct_object(key_node)  # the key as YAML reads it: `yes` is `true`, `0x10` is 16
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"the key {key_node.value!r} is written twice",
                    key_node.start_mark)
            seen.add(key)
    return super(type(loader), loader).construct_mapping(node, deep)


def _refuse_python_tag(loader: Any, suffix: str, node: Any) -> Any:
    """The constructor of every `!!python/...` tag: an error at the tag's line, and nothing built."""
    import yaml
    raise yaml.constructor.ConstructorError(
        None, None, f"the tag !!python/{suffix} is refused for safety: python tags can run code, "
        "and this file is read as data only", node.start_mark)
