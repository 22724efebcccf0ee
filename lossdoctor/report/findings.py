"""Rich renderables for findings and rules: the library returns data, this draws it."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..diagnose import Diagnosis, EffectEstimate, Finding, Rule
from ..diagnose.effects import LOSS_UNITS
from .numbers import signed

STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
MAX_SKIPPED = 8  # not-applicable rules listed; the count is complete


class Flags:
    """Flags to paste after a train.py command, wrapped at the console's width between two
    flags, each line but the last ending in ` \\`: the lines copied together run as one
    command (a bare line break would end it, and run the next line's flags as another)."""

    def __init__(self, flags: str, style: str = "bold green") -> None:
        self.words, self.style = flags.split(), style

    def lines(self, width: int) -> list[str]:
        if len(whole := " ".join(self.words)) <= width:
            return [whole] if whole else []
        out, line = [], ""
        for word in self.words:
            if line and len(line) + 1 + len(word) + 2 > width:  # 2: the " \\" that ends a broken line
                out.append(line + " \\")
                line = word
            else:
                line = f"{line} {word}" if line else word
        return [*out, line] if line else out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if max((len(w) for w in self.words), default=0) + 2 > options.max_width:  # no room for a " \\" after it
            yield Text(" ".join(self.words), style=self.style, overflow="fold")
            return
        for line in self.lines(options.max_width):
            yield Text(line, style=self.style)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        longest = max((len(w) for w in self.words), default=0) + 2
        return Measurement(min(longest, options.max_width), min(len(" ".join(self.words)), options.max_width))


class _Named:
    """A panel titled `title` where that fits the console's width, else titled `short` and
    opened by `name`: a title too long for the panel would be cut."""

    def __init__(self, parts: list[RenderableType], title: str, short: str, name: str, style: str = "bold") -> None:
        self.parts, self.title, self.short, self.name, self.style = parts, title, short, name, style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if len(self.title) + 6 <= options.max_width:  # 6: the corners and the title's padding
            yield Panel(Group(*self.parts), title=Text(self.title), title_align="left")  # a file name is no markup
        else:
            yield Panel(Group(Text(self.name, style=self.style), *self.parts), title=Text(self.short),
                        title_align="left")


def render_diagnosis(d: Diagnosis, verbose: bool = True, title: str | None = None) -> RenderableType:
    """Each finding with its flags, advice and effect; `verbose` adds the evidence and the
    rules that did not apply, with why. `title` names the run."""
    parts: list[RenderableType] = []
    if not d.findings:
        parts.append(Text(f"{no_findings(d)}."))
    for i, f in enumerate(d.findings, 1):
        parts.append(_finding(i, f, verbose))
    if d.not_applicable and not verbose:
        n = len(d.not_applicable)
        parts.append(Text(f"{n} rule{'s' if n != 1 else ''} not applicable to this run (-v says why)",
                          style="dim"))
    elif d.not_applicable:
        lines = [f"{n.rule}: {n.reason}" for n in d.not_applicable[:MAX_SKIPPED]]
        more = len(d.not_applicable) - MAX_SKIPPED
        if more > 0:
            lines.append(f"... and {more} more (--format json lists them all)")
        n = len(d.not_applicable)
        parts.append(Text(f"Not applicable to this run ({n} rule{'s' if n != 1 else ''}):", style="dim"))
        parts.append(Padding(bullets(lines, style="dim"), (0, 0, 0, 2)))
    counts = f"{len(d.findings)} ({_counts(d)})"
    rules = f"{len(d.passed)} rules passed, {len(d.not_applicable)} not applicable"
    if title is not None:
        return _Named(parts, f"Findings for {title}: {counts}", f"Findings: {counts}", title)
    return _Named(parts, f"Findings: {counts}; {rules}", f"Findings: {counts}", rules, style="dim")


def no_findings(d: Diagnosis) -> str:
    """What a diagnosis without findings means: rules that applied and passed, or none that
    could apply (a checkpoint alone, a log with no losses)."""
    if d.passed:
        return "No findings: every applicable rule passed"
    return "No findings: no rule applies to what this input shows (-v says why)"


def _counts(d: Diagnosis) -> str:
    n = {s: sum(f.severity == s for f in d.findings) for s in ("error", "warning", "info")}
    return ", ".join(f"{v} {k}{'s' if v != 1 and k != 'info' else ''}" for k, v in n.items() if v) or "none"


class WideOrLines(ABC):
    """A table on a console at least WIDE columns wide; on a narrower one, a title and the
    same content as lines (`lines`), where a table would fold its names or numbers."""

    WIDE = 80
    TITLE = ""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if options.max_width >= self.WIDE:
            yield self.table()
            return
        yield Text(self.TITLE, style="italic")
        yield from self.lines()

    @abstractmethod
    def table(self) -> Table:
        """The content as one table."""

    @abstractmethod
    def lines(self) -> Iterator[RenderableType]:
        """The content as lines, under the title."""


def hanging(label: Text | str, text: RenderableType) -> RenderableType:
    """`label` then `text`, the text's wrapped lines indented under its first (a numbered
    item whose second line does not start under the number)."""
    grid = Table.grid()
    grid.add_column(no_wrap=True)
    grid.add_column()
    grid.add_row(label, text)
    return grid


def _finding(i: int, f: Finding, verbose: bool = True) -> RenderableType:
    head = hanging(Text(f"{i}. ", style="bold"),
                   Text.assemble((f"{f.severity.upper()} ", STYLE[f.severity]), (f"{f.rule} ", "bold"),
                                 (f"[{f.category}] ", "dim"), f.title))
    if f.explained_by and not verbose:  # a symptom: its cause above says what to do
        return Group(head, Text(f"   explained by {', '.join(_code(r) for r in f.explained_by)} (-v: details)",
                                style="dim"))
    if f.severity == "info" and not verbose:  # a note, not a fault: its title, -v for the rest
        return Group(head, hanging("   ", Flags(f.flags))) if f.flags else head
    body = Table.grid(padding=(0, 1))
    body.add_column(style="dim", no_wrap=True)
    body.add_column()
    body.add_row("", f.message)
    if f.explains:
        body.add_row("cause", Text(f"explains {', '.join(_code(r) for r in f.explains)}", style="bold"))
    if f.explained_by:
        body.add_row("symptom", f"explained by {', '.join(_code(r) for r in f.explained_by)}")
    if f.flags:
        body.add_row("flags", Flags(f.flags))
    if f.advice:
        body.add_row("do", f.advice)
    body.add_row("effect", effect_text(f.expected_effect))
    ev = ", ".join(f"{k}={evidence_value(v.value, v.status)}{_unit(v.unit, v.value)}" for k, v in f.evidence.items())
    if ev and verbose:
        body.add_row("evidence", Text(ev, style="dim"))
    return Group(head, body)


def bullets(items: list[str], style: str = "") -> Table:
    """A bulleted list whose wrapped lines hang under their text, not under the bullet."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for item in items:
        grid.add_row("•", Text(item, style=style))
    return grid


def _code(rule_id: str) -> str:
    return rule_id.split("-", 1)[0]


def effect_text(e: EffectEstimate) -> str:
    if e.kind == "none":
        return f"no change in loss expected: {e.source}"
    if e.kind == "unknown":
        return f"not estimated: {e.source}"
    if e.value is None:
        return f"not computed ({e.note}); source: {e.source}"
    kind = {"extrapolation": "predicted", "measured": "measured", "rule_of_thumb": "rule of thumb"}[e.kind]
    if e.unit in LOSS_UNITS:
        value = f"{signed(e.value)} {e.unit} on the {e.on}"
        if e.lo is not None and e.hi is not None:
            value += f" ({signed(e.lo)} to {signed(e.hi)})"
    else:
        value = f"{e.value:g} {e.unit}"
    if e.source.lower().startswith(kind):  # the source already says what kind it is
        return f"{value}; {e.source}"
    return f"{value}; {kind}: {e.source}"


def _unit(unit: str, value: object) -> str:
    """' nats' after a value; nothing after a fraction or an unknown value."""
    return f" {unit}" if unit and unit != "fraction" and value is not None else ""


def evidence_value(v: object, status: str) -> str:
    """A fact's value as a finding's evidence quotes it (rich, plain and Markdown alike)."""
    if v is None:  # a known null (no NaN step, no constant stretch) is "none", as the facts list says
        return "unknown" if status == "unknown" else "none"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


# -- rules --------------------------------------------------------------------------------

def render_rule_list(rules: list[Rule]) -> RenderableType:
    """Rules by number (LD101 before LD1001), each code over its severity, the title
    wrapping under its name."""
    t = Table(title=f"{len(rules)} rules (`lossdoctor rules show CODE` for one)", title_justify="left")
    t.add_column("code", no_wrap=True)  # its severity under it: the title keeps its room at 40 columns
    t.add_column("category", overflow="fold")
    t.add_column("title and name", ratio=2, overflow="fold")
    for r in sorted(rules, key=rule_number):
        name = r.id.split("-", 1)[1]
        t.add_row(Text.assemble(r.code, "\n", (r.severity, STYLE[r.severity])), r.category,
                  Text.assemble(r.title, (f" ({name})", "dim")))
    return t


def reflow(text: str) -> str:
    """The YAML's paragraphs with their hard line breaks joined, for the console to wrap."""
    paras = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(" ".join(p.split()) for p in paras)


def rule_number(r: Rule) -> tuple[str, int]:
    """('LD', 101) for LD101-still-improving: the order people count in."""
    m = re.match(r"([A-Z]+)(\d+)", r.code)
    return (m.group(1), int(m.group(2))) if m else (r.code, 0)


def render_rule(r: Rule) -> RenderableType:
    t = Table.grid(padding=(0, 1))
    t.add_column(style="dim", no_wrap=True)
    t.add_column()
    lets = "\n".join(f"{name} = {e.source}" for name, e in r.let)
    for label, value in (("title", r.title), ("category", r.category), ("severity", r.severity), ("file", r.path),
                         ("let", lets), ("when", r.when.source), ("message", r.message.source.strip()),
                         ("flags", r.flags.source if r.flags else ""),
                         ("advice", r.advice.source.strip() if r.advice else ""),
                         ("effect", f"{r.effect.kind}: {r.effect.source}"),
                         ("verify", f"{r.verify.flags.source if r.verify.flags else '(as run)'}"
                                    f"; {r.verify.metric} expected {r.verify.expect}; {r.verify.seeds} seeds"),
                         ("params", ", ".join(f"{k}={v}" for k, v in r.params.items())),
                         ("explains", ", ".join(r.explains)), ("overrides", ", ".join(r.overrides)),
                         ("facts", ", ".join(r.facts_used))):
        if value:
            t.add_row(label, value)
    refs = "\n".join(f"- {x}" for x in r.references)
    # the id alone in the border (a long title would be cut there); the title is the first row
    return Panel(Group(t, Text(""), Text(reflow(r.why)), Text(refs, style="dim")), title=Text(r.id),
                 title_align="left")
