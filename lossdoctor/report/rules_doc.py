"""docs/rules.md, written from the rule files (`lossdoctor rules doc > docs/rules.md`)."""

from __future__ import annotations

from ..diagnose import CATEGORIES, Rule

HEADER = """\
# Rules

Generated from the files in `rules/` by `lossdoctor rules doc > docs/rules.md`; do not edit
by hand. How to write a rule, the expression language and the case format:
docs/rule-authoring.md.

Each rule reads facts (`lossdoctor analyze RUN --format json` lists them with their units
and sources), fires when its `when` expression is true, and says what to do with exact
nanoGPT flags and an expected effect whose source is named: an extrapolation of the run,
a value measured on the run, or a cited rule of thumb (marked as such). A rule whose facts
are unknown for a run is reported as not applicable, with the reason.

Findings are listed root cause first: a rule that `explains` another comes before it when
both fire, and the report says so ("explains LD602"). Otherwise they are ordered by
severity, then how the run ended (a crash or stop), then faults before advice (categories
train_longer, eval_noise, measurement, resume, throughput, precision, config), then the
size of the expected effect.

"""


def rules_markdown(rules: list[Rule]) -> str:
    out = [HEADER, "| id | category | severity | title |", "|---|---|---|---|"]
    order = sorted(rules, key=lambda r: (CATEGORIES.index(r.category), r.id))
    for r in order:
        out.append(f"| [{r.id}](#{r.id.lower()}) | {r.category} | {r.severity} | {r.title} |")
    out.append("")
    for r in order:
        out += [f"## {r.id}", "", f"**{r.title}** — category `{r.category}`, severity `{r.severity}`.", "",
                r.why.strip(), "", f"- when: `{r.when.source}`"]
        if r.params:
            out.append("- params: " + ", ".join(f"`{k} = {v}`" for k, v in r.params.items()))
        if r.let:
            out.append("- let: " + ", ".join(f"`{k} = {e.source}`" for k, e in r.let))
        if r.flags:
            out.append("- flags: `" + r.flags.source + "`")
        if r.advice:
            out.append(f"- advice: {' '.join(r.advice.source.split())}")
        e = r.effect
        if e.kind == "extrapolation" and e.to is not None:
            out.append(f"- expected effect: extrapolation of the run ({e.scenario}) to step `{e.to.source}`")
        elif e.kind == "none":
            out.append(f"- expected effect: none on the loss ({e.source})")
        elif e.kind == "unknown":
            out.append(f"- expected effect: not estimated ({' '.join(e.source.split())})")
        elif e.value is not None:
            kind = "rule of thumb" if e.kind == "rule_of_thumb" else "measured on the run"
            out.append(f"- expected effect ({kind}): `{e.value.source}` {e.unit}; {' '.join(e.source.split())}")
        vf = r.verify.flags.source if r.verify.flags else "the run as is"
        out.append(f"- verify: `{vf}`, {r.verify.metric} expected {r.verify.expect} over {r.verify.seeds} seeds")
        out.append(f"- facts: {', '.join(f'`{f}`' for f in r.facts_used)}")
        if r.explains:
            out.append(f"- explains: {', '.join(r.explains)}")
        if r.references:
            out.append("- references:")
            out += [f"  - {x}" for x in r.references]
        out.append(f"- cases: {', '.join(f'{c.name} ({c.expect})' for c in r.cases)}")
        out.append("")
    return "\n".join(out)
