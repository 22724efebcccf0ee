"""Short names of runs for titles and tables: what tells runs apart at 80 columns."""

from __future__ import annotations

from collections.abc import Sequence


def short_name(source: str, among: Sequence[str] = ()) -> str:
    """The last two parts of a run's path ('cpu_run/train.log'), for titles; more where
    two of the runs `among` would read alike ('cpu/out/train.log', 'gpu/out/train.log')."""
    parts = source.split(" + ")[0].replace("\\", "/").rstrip("/").split("/")
    others = [o.split(" + ")[0].replace("\\", "/").rstrip("/").split("/") for o in among if o != source]
    n = 2
    while n < len(parts) and any(o[-n:] == parts[-n:] for o in others):
        n += 1
    if parts[:-n] == [""]:  # all of an absolute path: '/dev/stdin', not 'dev/stdin'
        n += 1
    return "/".join(parts[-n:])


def title_name(source: str) -> str:
    """short_name, but a run of a runs table ('runs.csv#baseline') by its own name alone
    ('#baseline'): a title cut at the panel's width keeps what tells the runs apart."""
    name = short_name(source)
    return "#" + name.rsplit("#", 1)[1] if "#" in name else name


def title_names(sources: list[str]) -> list[str]:
    """Each run's name in its panel title: title_name's last part ('gpu.log', '#baseline')
    where those tell the runs apart, else title_name ('cpu_run/train.log')."""
    full = [title_name(s) for s in sources]
    last = [n.rsplit("/", 1)[-1] for n in full]
    if len(set(last)) == len(last):
        return last
    if len(set(full)) == len(full):
        return full
    return [short_name(s, sources) for s in sources]  # same folders' names: as many parts as tell them apart
