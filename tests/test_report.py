"""The answer first: the default report's verdict, its length at 80 and 120 columns, and
goldens of the rich (terminal) and plain (pipe) forms."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from test_cli import check_golden

from conftest import ROOT, run_cli

ONE = ["fixtures/lossdoctor_train/readme_cpu_2000"]
TWO = ["fixtures/lossdoctor_train/readme_cpu_2000", "fixtures/diagnosis/healthy_wide"]
# the question lossdoctor answers: nanoGPT's README CPU run against its GPU config, both real
MISSION = ["fixtures/lossdoctor_train/readme_cpu_2000", "fixtures/lossdoctor_train/gpu_5000"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _rich(paths: list[str], width: int, verbose: bool = False) -> str:
    """The report as a colour terminal shows it (ANSI styles kept)."""
    from rich.console import Console

    import lossdoctor
    from lossdoctor.report.terminal import render
    console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system="standard",
                      legacy_windows=False)
    console.print(render(lossdoctor.analyze(paths), verbose=verbose))
    return console.file.getvalue()


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("case, paths", [("one", ONE), ("two", TWO), ("mission", MISSION)])
def test_golden_default_report_rich_and_plain(case, paths, width):
    code, plain, _ = run_cli("analyze", *paths, "--width", str(width))  # a pipe: plain text
    assert code == 0 and not ANSI.search(plain)
    check_golden(f"report_{case}_{width}.txt", plain)
    rich = _rich(paths, width)
    assert ANSI.search(rich)
    check_golden(f"report_{case}_{width}_rich.txt", rich)
    assert ANSI.sub("", rich) == plain


@pytest.mark.parametrize("paths, limit, first, marker", [
    (ONE, 80, 30, "--max_iters=5000 --lr_decay_iters=5000"),
    (TWO, 120, 40, "Gap:"),
    (MISSION, 140, 40, "Gap:"),
])
def test_the_default_report_is_short_and_leads_with_the_answer(paths, limit, first, marker):
    lines = run_cli("analyze", *paths, "--width", "80")[1].splitlines()
    assert len(lines) <= limit
    assert any(marker in x for x in lines[:first])
    if marker == "Gap:":  # the causes follow the gap, largest first
        head = "\n".join(lines[:first])
        assert "training length" in head and "Do:" in head


def test_verbose_shows_everything_and_numbers_the_methods():
    _, default, _ = run_cli("analyze", *TWO, "--width", "80")
    _, verbose, _ = run_cli("analyze", *TWO, "--width", "80", "-v")
    for part in ("Config (effective value", "Derived facts", "side by side", "[1] eval noise:"):
        assert part in verbose and part not in default


def test_flags_are_wrapped_never_cut():
    _, out, _ = run_cli("analyze", *TWO, "--width", "60")
    assert "…" not in out and "--lr_decay_iters=" in out


def test_extrapolate_keeps_each_flag_whole_on_one_line_at_80_columns():
    code, out, _ = run_cli("extrapolate", *ONE, "--to", "5000", "--width", "80")
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 80
    cells = re.findall(r"│ (--\S+)(?: \\)?\s+│$", out, re.M)  # the flags column is the last
    assert {"--max_iters=5000", "--lr_decay_iters=5000", "--init_from=resume", "--decay_lr=False"} <= set(cells)
    assert any(c.startswith("--learning_rate=") for c in cells)


def test_rules_list_counts_in_numbers():
    _, out, _ = run_cli("rules", "list", "--width", "80")
    codes = re.findall(r"^│ (LD\d+)", out, re.M)
    assert codes.index("LD101") < codes.index("LD1001")
    assert codes == sorted(codes, key=lambda c: int(c[2:]))
    _, narrow, _ = run_cli("rules", "list", "--width", "40")  # the documented least: every title still shows
    assert max(len(line) for line in narrow.splitlines()) <= 40 and "(still-impr" in narrow


@pytest.mark.parametrize("paths", [ONE, TWO])
def test_analyze_plot_is_one_non_blank_figure(tmp_path, paths):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt
    import numpy as np
    path = tmp_path / "runs.png"
    code, _, err = run_cli("analyze", *paths, "--plot", str(path))
    assert code == 0, err
    image = plt.imread(str(path))  # (H, W, 4) floats in 0..1
    assert image.shape[0] >= 400 and image.shape[1] >= 1000
    assert np.std(image[..., :3]) > 0.05  # drawn on, not a blank canvas
    assert plt.get_fignums() == []  # the figure was closed: one per call, none left open


def test_plot_into_a_missing_folder_is_a_usage_error(tmp_path):
    pytest.importorskip("matplotlib")
    code, _, err = run_cli("analyze", *ONE, "--plot", str(tmp_path / "nowhere" / "x.png"))
    assert code == 2 and "no such folder" in err


def test_markdown_leads_with_tables_and_folds_the_rest():
    code, out, _ = run_cli("analyze", *TWO, "--format", "markdown")
    assert code == 0 and out.startswith("# lossdoctor analyze\n\n## Verdict")
    assert "| cause | share (nats) | 80% interval |" in out and "**Do:**" in out
    assert "| # | severity | rule | finding | flags | expected effect |" in out
    assert out.count("<details>") == out.count("</details>") >= 5
    verdict = out.split("## Findings")[0]
    assert "<details>" not in verdict and "`--max_iters=" in verdict
    _tables_are_rectangular(out)


def _tables_are_rectangular(markdown: str) -> None:
    """Every row of a table has as many cells as its header (escaped pipes are text)."""
    cells = re.compile(r"(?<!\\)\|")
    width = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            width = None
            continue
        n = len(cells.findall(line))
        width = n if width is None else width
        assert n == width, line


def test_markdown_of_extrapolate_has_the_scenario_table():
    code, out, _ = run_cli("extrapolate", *ONE, "--to", "5000", "--format", "markdown")
    assert code == 0 and "| scenario | val at step 5,000 | train | nanoGPT flags |" in out
    assert "| rerun |" in out and "`--max_iters=5000 --lr_decay_iters=5000`" in out and "</details>" in out
    _tables_are_rectangular(out)
    assert "[lo, hi]: the 80% interval" in out  # a pasted table says what its brackets are
    _, wide, _ = run_cli("extrapolate", *ONE, "--to", "5000", "--format", "markdown", "--level", "0.95")
    assert "[lo, hi]: the 95% interval" in wide


def test_a_value_that_rounds_to_zero_prints_without_a_sign():
    from lossdoctor.diagnose.template import compile_template
    t = compile_template("slope {val_slope:.3f}", {"val_slope"})
    assert t.render({"val_slope": -0.0001}, {"val_slope": "nats/1k steps"}) == "slope 0.000 nats/1k steps"
    assert t.render({"val_slope": -0.002}, {"val_slope": "nats/1k steps"}) == "slope -0.002 nats/1k steps"


def test_segments_without_steps_say_so(tmp_path):
    log = tmp_path / "two.log"
    log.write_text("Overriding: max_iters = 10\nstep 0: train loss 4.1700, val loss 4.1800\n"
                   "Overriding: max_iters = 20\nInitializing a new model from scratch\n")
    _, out, _ = run_cli("analyze", str(log), "-v", "--width", "120")
    assert "2: scratch, no steps" in out and "None" not in out.split("Config")[0]


@pytest.mark.parametrize("which, doc", [("cli", "docs/cli.md"), ("api", "docs/api.md")])
def test_the_reference_docs_are_current(which, doc, monkeypatch):
    from conftest import ROOT
    from lossdoctor.report.reference import api_markdown, cli_markdown
    monkeypatch.setenv("COLUMNS", "88")
    text = cli_markdown() if which == "cli" else api_markdown()
    assert text == (ROOT / doc).read_text(), f"regenerate: python -m lossdoctor.report.reference {which} > {doc}"


def test_the_verdict_says_why_runs_on_different_data_get_no_gap():
    _, out, _ = run_cli("analyze", "fixtures/lossdoctor_train/readme_cpu_2000", "fixtures/diagnosis/py_healthy_tiny",
                        "--width", "80")
    head = "\n".join(out.splitlines()[:6])
    assert "not split into causes" in head and "vocab_size" in head


def test_no_findings_says_whether_any_rule_applied():
    from lossdoctor.diagnose import Diagnosis
    from lossdoctor.diagnose.engine import NotApplicable
    from lossdoctor.report.findings import no_findings
    assert no_findings(Diagnosis((), (), ("LD101-still-improving",))) == "No findings: every applicable rule passed"
    none = Diagnosis((), (NotApplicable("LD101-still-improving", "needs val_slope"),), ())
    assert "no rule applies" in no_findings(none)


def test_runs_of_one_runs_table_are_titled_by_their_own_names():
    from lossdoctor.report.names import title_name
    assert title_name("logs/wandb/runs.csv#gpt2_last_char_token_to_char17") == "#gpt2_last_char_token_to_char17"
    assert title_name("out/cpu_run/train.log") == "cpu_run/train.log"
    from lossdoctor.report.names import title_names
    assert title_names(["logs/a/cpu.log", "logs/b/gpu.log"]) == ["cpu.log", "gpu.log"]
    assert title_names(["cpu_run/train.log", "gpu_run/train.log"]) == ["cpu_run/train.log", "gpu_run/train.log"]


def test_markdown_of_three_runs_has_the_runs_table():
    import lossdoctor
    from conftest import FIXTURES
    from lossdoctor.report.markdown import analysis_markdown
    paths = [FIXTURES / "nanogpt" / "tiny_resume", FIXTURES / "nanogpt" / "cpu_small" / "train.log",
             FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log"]
    md = analysis_markdown(lossdoctor.analyze([str(p) for p in paths]))
    assert "| run | final val | gap | best val | parameters | tokens seen |" in md
    assert "| `readme_cpu_2000/train.log` (best) | 1.8857 | +0.0000 |" in md


def test_at_80_columns_run_names_are_whole_in_the_runs_table_and_in_panel_titles(tmp_path):
    import shutil
    ref = ROOT / "lossdoctor" / "fit" / "reference"
    long_name = tmp_path / "a-run-whose-log-has-a-rather-long-descriptive-name-v2.log"
    shutil.copy(ref / "readme_cpu_seed1338_1000.log", long_name)
    paths = [str(long_name), str(ref / "readme_cpu_seed1338_2000.log"), str(ref / "readme_cpu_seed1338_3000.log")]
    _, out, _ = run_cli("analyze", *paths, "--width", "80")
    rows = [line for line in out.splitlines() if "readme_cpu_seed1338_2000.log" in line and "│" in line]
    assert any(line.count("│") > 4 for line in rows)  # its whole name in one cell of the runs table
    assert "│ a-run-whose-log-has-a-rather-long-descriptive-name-v2.log" in out  # opens its panel, uncut
    assert all(len(line) <= 80 for line in out.splitlines())
    _, wide, _ = run_cli("analyze", *paths, "--width", "140")  # where it fits, the title names the run
    assert "╭─ Findings for a-run-whose-log-has-a-rather-long-descriptive-name-v2.log: " in wide


def test_gaps_in_the_runs_table_have_four_decimals():
    from lossdoctor.report.compare import _gap
    assert [_gap(v) for v in (0.003759, 0.0063, 0.12345, None)] == ["0.0038", "0.0063", "0.1235", "-"]


def test_counts_in_the_runs_table_round_before_they_take_a_suffix():
    from lossdoctor.report.compare import _count
    assert [_count(v) for v in (512, 795_904, 999_936, 2_304_768, 999.6e6, 1e12, None)] == \
        ["512", "796k", "1M", "2.3M", "1G", "1T", "-"]


def test_markdown_and_terminal_verdicts_name_the_same_top_findings():
    from conftest import FIXTURES, shared_path
    from lossdoctor.report.verdict import top_findings
    stopped = shared_path("corpus/logs/nanogpt/druidowm-wandb-output-owt-ddp-interrupted.log")  # LD1705 explains LD101
    paths = [str(FIXTURES / "nanogpt" / "cpu_small"), str(stopped)]
    import lossdoctor
    an = lossdoctor.analyze(paths)
    _, md, _ = run_cli("analyze", *paths, "--format", "markdown")
    _, text, _ = run_cli("analyze", *paths, "--width", "200")
    verdict = text.split("╰")[0]
    for d in an.diagnoses:
        for f in top_findings(d, 2):
            code = f.rule.split("-", 1)[0]
            assert f"{code} {f.title}" in md and code in verdict


def test_runs_in_folders_of_one_name_are_told_apart(tmp_path):
    import shutil

    from conftest import FIXTURES
    for side in ("cpu", "gpu"):
        (tmp_path / side / "out").mkdir(parents=True)
    shutil.copy(FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log", tmp_path / "cpu" / "out" / "train.log")
    shutil.copy(FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log", tmp_path / "gpu" / "out" / "train.log")
    with (tmp_path / "gpu" / "out" / "train.log").open("a") as f:  # the same run, one eval lower at the end
        f.write("step 2000: train loss 1.6000, val loss 1.7000\n")
    logs = [str(tmp_path / side / "out" / "train.log") for side in ("cpu", "gpu")]
    _, out, _ = run_cli("analyze", *logs, "--width", "200")
    assert "Gap: cpu/out/train.log ends" in out and "above gpu/out/train.log" in out
    titles = re.findall(r"╭─ Findings for (\S+):", out)
    assert titles == ["cpu/out/train.log", "gpu/out/train.log"]
    _, md, _ = run_cli("analyze", *logs, "--format", "markdown")
    assert "## Findings: `cpu/out/train.log`" in md and "## Findings: `gpu/out/train.log`" in md


def test_a_plot_of_runs_with_train_losses_only_draws_each_of_them(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import lossdoctor
    from lossdoctor.report import plot
    for name, level in (("a", 2.0), ("b", 2.5)):
        (tmp_path / f"{name}.csv").write_text("step,loss\n" + "".join(f"{s},{level + 1 / (s + 1):.4f}\n"
                                                                      for s in range(50)))
    an = lossdoctor.analyze([str(tmp_path / "a.csv"), str(tmp_path / "b.csv")], diagnose_runs=False)
    figures = []
    monkeypatch.setattr(plot, "_save", lambda fig, path: figures.append(fig))
    plot.plot_runs(an.runs, an.facts, str(tmp_path / "x.png"))
    labels = figures[0].axes[0].get_legend_handles_labels()[1]
    assert labels == ["a.csv train (per iteration)", "b.csv train (per iteration)"]


def test_a_run_without_tokens_per_step_leaves_only_itself_out_of_the_tokens_panel(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import lossdoctor
    from lossdoctor.report import plot
    text = (ROOT / "fixtures" / "diagnosis" / "lr_high" / "train.log").read_text()
    (tmp_path / "bare.log").write_text("".join(x for x in text.splitlines(keepends=True)
                                               if x.startswith(("step ", "iter "))))  # no config: no tokens
    an = lossdoctor.analyze([str(tmp_path / "bare.log"), str(ROOT / "fixtures" / "diagnosis" / "lr_low")],
                            diagnose_runs=False)
    figures = []
    monkeypatch.setattr(plot, "_save", lambda fig, path: figures.append(fig))
    plot.plot_runs(an.runs, an.facts, str(tmp_path / "x.png"))
    by_step, by_tokens = figures[0].axes
    assert any("bare.log" in label for label in by_step.get_legend_handles_labels()[1])
    tokens = by_tokens.get_legend_handles_labels()[1]
    assert tokens and not any("bare.log" in label for label in tokens)  # lr_low is drawn, bare.log is not
    assert any("not drawn: bare.log" in t.get_text() for t in by_tokens.texts)


def _log(path, vals: list[float]) -> str:
    """A nanoGPT log of the README CPU config's batch (12 x 64), one eval every 100 steps."""
    head = "tokens per iteration will be: 768\nOverriding: batch_size = 12\nOverriding: block_size = 64\n"
    lines = "".join(f"step {i * 100}: train loss {v - 0.1:.4f}, val loss {v:.4f}\n" for i, v in enumerate(vals))
    path.write_text(head + lines)
    return str(path)


def test_runs_that_end_level_name_no_worse_run_and_say_where_they_differ(tmp_path):
    """Two runs ending at the same val (two modded-nanogpt records at 3.2785) had been
    called worse and better by +0.0000, with an empty line for the causes; the one that
    was lower at equal tokens was not named."""
    fast = _log(tmp_path / "fast.log", [4.2, 2.6, 2.3, 2.1, 2.0, 1.95, 1.93, 1.92, 1.91, 1.905, 1.9])
    slow = _log(tmp_path / "slow.log", [4.2, 3.0, 2.7, 2.5, 2.3, 2.15, 2.05, 1.98, 1.94, 1.92, 1.9])
    code, out, _ = run_cli("analyze", slow, fast, "--width", "80")
    assert code == 0
    text = re.sub(r"[│╭╮╰╯─]", " ", out)
    assert "Gap: none:" in text and "end at the same final val" in " ".join(text.split())
    assert "worse:" not in text and "the runs end level (no worse run)" in text
    assert "A level finish: no gap to attribute." in text and "attribution of the" not in text
    # of equal spend, the one lower on the way is the reference
    start = text.index("the runs end level (no worse run)")
    assert text.index("slow.log", start) < text.index("fast.log", start)  # slow: the one called worse
    assert "(below, the first is called the worse run and the second the better: the two spent alike" in \
        " ".join(text.split())
    flat = " ".join(text.split())
    assert re.search(r"at equal tokens \(5.95e\+05\) \S*fast.log is 0.0375 nats below \S*slow.log", flat)
    code, md, _ = run_cli("analyze", slow, fast, "--format", "markdown")
    assert "**Gap:** none:" in md and "is 0.0375 nats below" in md and "| cause |" not in md
    code, out, _ = run_cli("analyze", slow, _log(tmp_path / "worse.log", [4.2, 2.6, 2.3, 2.1, 2.0, 1.95, 1.93, 1.92,
                                                                            1.91, 1.905, 1.95]), "--width", "80")
    assert "Gap: none" not in out and "worse:" in out  # a real gap keeps its wording


def test_markdown_marks_a_headerless_log_s_defaults_as_not_trusted(tmp_path):
    """The Markdown config table says what the rich one says of a default the log does not
    vouch for (it had shown a plain `default`, as if known)."""
    lines = (ROOT / "fixtures" / "nanogpt" / "cpu_small" / "train.log").read_text().splitlines(keepends=True)
    (tmp_path / "loop.log").write_text("".join(x for x in lines if x.startswith(("step ", "iter "))))
    code, md, _ = run_cli("analyze", str(tmp_path / "loop.log"), "--format", "markdown")
    assert code == 0 and "| weight_decay | unknown (default 0.1) | default, not trusted |" in md
    code, md, _ = run_cli("analyze", str(ROOT / "fixtures" / "nanogpt" / "cpu_small" / "train.log"), "--format",
                          "markdown")
    assert "| weight_decay | 0.1 | default |" in md  # a log with its config: its defaults are train.py's


def test_verbose_at_80_columns_keeps_names_and_formulas_whole():
    """-v at 80 columns had cut names (`gradient_accumulation_ste` / `ps`) and formulas
    (`√(batch_size·block_si` / `ze)`) across lines; the overlap table's steps are whole."""
    log = str(ROOT / "fixtures" / "lossdoctor_train" / "readme_cpu_2000")
    other = str(ROOT / "fixtures" / "long" / "batch8-2000")
    code, out, _ = run_cli("analyze", log, other, "-v", "--width", "80")
    assert code in (0, 1)
    lines = out.splitlines()
    assert any(line.startswith("gradient_accumulation_steps ") for line in lines)
    assert any("√(batch_size·block_size)" in line for line in lines)
    assert any(line.startswith("iter_noise_per_token  ") for line in lines)  # a fact's line: name, value, how
    steps = [line.split("│")[3].strip() for line in lines if line.count("│") == 8 and "│ steps    │" in line]
    assert steps and all(s.replace(",", "").isdigit() for s in steps)


def test_verbose_report_of_huge_losses_draws_their_shape():
    """-v drew no sparkline for losses near 1e308 (their chunk means overflowed): an
    internal error where the plain report worked."""
    from lossdoctor.report.terminal import sparkline
    assert sparkline([1e308, 1e308, 1e308]) == "▁▁▁"
    assert sparkline([1e308, 5e307, 0.0]) == "█▅▁"  # half way: 3.5 of 7 rounds to 4
    assert sparkline([1.0, 2.0] * 100, width=10) == "▁" * 10  # chunk means of a flat zigzag
    code, out, err = run_cli("analyze", str(ROOT / "fixtures" / "fuzz" / "crashes" / "all_losses_1e308.log"), "-v")
    assert code in (0, 1) and "internal error" not in err and "Curves" in out


def test_a_known_null_in_a_finding_s_evidence_reads_none_as_in_the_facts_list():
    # constant_from is read as None (the run never went on at a constant LR): not "unknown"
    code, out, _ = run_cli("analyze", "fixtures/lossdoctor_train/readme_cpu_2000", "-v", "--format", "plain",
                           "--width", "300")
    assert code == 0 and "constant_from=none" in out and "constant_from=unknown" not in out
    code, md, _ = run_cli("analyze", "fixtures/lossdoctor_train/readme_cpu_2000", "--format", "markdown")
    assert code == 0 and "`constant_from=none`" in md and "constant_from=unknown" not in md


@pytest.mark.parametrize(("doc", "runs"), [
    ("walkthrough.md", ["fixtures/lossdoctor_train/readme_cpu_2000",
                        "corpus/logs/nanogpt/innerfirexy-shakespeare-char-gpu.log"]),
    ("getting-started.md", ["fixtures/lossdoctor_train/readme_cpu_2000"])])
def test_the_docs_show_what_analyze_prints(monkeypatch: pytest.MonkeyPatch, doc: str, runs: list[str]) -> None:
    import os
    import re

    from conftest import ROOT, run_cli, shared_path
    paths = [r if r.startswith("fixtures/") else os.path.relpath(shared_path(r), ROOT) for r in runs]
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    _, out, _ = run_cli("analyze", *paths, "--format", "rich")
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    panels = re.findall(r"^╭─ .*?^╰─*╯$", text, re.S | re.M)
    assert panels and all(p in out for p in panels)  # the verdict (and the gap), as printed


def test_the_config_table_gives_what_the_facts_infer_of_a_key_it_does_not_know():
    # the built-in trainer's CPU run: dtype is train.py's machine-dependent default in the
    # config, and the facts infer float32 (a YAML config, no autocast line)
    text = ANSI.sub("", _rich(ONE, 160, verbose=True))  # wide enough for the row on one line
    row = next(line for line in text.splitlines() if line.startswith("dtype ") and "│" in line)
    assert "unknown: bfloat16 on a bf16-capable CUDA machine, else float16; inferred 'float32' (facts)" in row


def test_the_config_table_gives_the_model_a_gpt2_start_built_not_its_configs_defaults(tmp_path):
    # train.py forces GPT-2's vocab_size, block_size and bias over the config's, and takes
    # gpt2-medium's layers: the table's "effective value" is the model's
    log = tmp_path / "train.log"
    log.write_text("Overriding: init_from = 'gpt2-medium'\nOverriding: block_size = 256\n"
                   "Initializing from OpenAI GPT-2 weights: gpt2-medium\n"
                   "loading weights from pretrained gpt: gpt2-medium\n"
                   "forcing vocab_size=50257, block_size=1024, bias=True\n"
                   + "".join(f"iter {i}: loss {3.5 - i / 100:.4f}, time 100.00ms, mfu 10.00%\n" for i in range(40)))
    text = ANSI.sub("", _rich([str(log)], 200, verbose=True))
    rows = {line.split("│")[0].strip(): line for line in text.splitlines() if line.count("│") == 2}  # config table
    assert "True" in rows["bias"] and "init_from=gpt2-medium" in rows["bias"] and "config's: False" in rows["bias"]
    assert "│ 24 " in rows["n_layer"] and "config's: 12" in rows["n_layer"]
    assert "│ 256 " in rows["block_size"] and "config's" not in rows["block_size"]  # cropped to the config's


def test_an_effect_that_rounds_to_zero_prints_unsigned_and_a_single_restart_reads_once():
    from lossdoctor.diagnose.effects import EffectEstimate
    from lossdoctor.report.findings import effect_text
    e = EffectEstimate("measured", -0.0001, "nats", "this run", lo=-0.0004, hi=0.02)
    assert effect_text(e).startswith("0.000 nats on the final val (0.000 to +0.020)")
    import lossdoctor
    from lossdoctor.fit.points import _in_last_run
    run = lossdoctor.load(ROOT / "fixtures" / "nanogpt" / "tiny_resume")
    assert len(run.segments) == 2 and _in_last_run(run).endswith("(its steps go back once)")


def test_the_verdict_of_a_run_without_val_gives_its_steps(tmp_path):
    import lossdoctor
    from lossdoctor.facts import compute_facts
    from lossdoctor.report.verdict import _losses
    lines = (ROOT / "fixtures" / "lossdoctor_train" / "readme_cpu_2000" / "train.log").read_text().splitlines()
    (tmp_path / "a.log").write_text("\n".join(x for x in lines if not x.startswith("step ")) + "\n")  # no evals
    said = _losses(compute_facts(lossdoctor.load(tmp_path / "a.log")))
    assert said.startswith("no val loss in the log") and said.endswith("; 2,001 steps")


@pytest.mark.parametrize(("value", "unit", "shown"), [
    (3.0002, "nats", "3.0002 nats"),  # a loss as logs print it: had been "3 nats"
    (1.8, "nats", "1.8000 nats"),
    (0.0055, "nats", "0.0055 nats"),  # a noise or a gap: significant digits
    (-0.0407, "nats/1k steps", "-0.0407 nats/1k steps"),
])
def test_a_fact_in_nats_keeps_the_digits_a_log_prints(value, unit, shown):
    from lossdoctor.facts import Fact
    from lossdoctor.report.terminal import format_fact
    assert format_fact(Fact("x", value, unit, "read", "test")) == shown


@pytest.mark.parametrize(("source", "shown"), [
    ("/dev/stdin", "/dev/stdin"),  # had been 'dev/stdin'
    ("/work/runs/cpu/train.log", "cpu/train.log"),
    ("train.log", "train.log"),
    ("/train.log", "/train.log"),
])
def test_a_runs_short_name_keeps_an_absolute_paths_root_when_it_is_all_of_it(source, shown):
    from lossdoctor.report.names import short_name
    assert short_name(source) == shown


def test_the_worse_runs_train_longer_finding_points_to_the_do_for_its_length():
    # one config, 400 against 1,000 steps: the Do gives the worse run's length; LD101's own
    # 2.5x beside it in the verdict would be a second length for one run
    pair = ["fixtures/calibration/d4w128-shakespeare-s1-400", "fixtures/calibration/d4w128-shakespeare-s1-1000"]
    lines = run_cli("analyze", *pair, "--width", "200")[1].splitlines()
    verdict = lines[:next(i for i, x in enumerate(lines) if x.startswith("╰"))]
    do = next(x for x in verdict if "Do:" in x)
    assert "1,000 steps" in do
    worse = next(i for i, x in enumerate(verdict) if "s1-400/train.log: val" in x)
    assert "LD101" in verdict[worse + 1] and \
        "(the Do above gives the length that reaches the better run's smoothed final val)" in verdict[worse + 1]
    assert "--max_iters" not in verdict[worse + 2]  # no flags of its own under it
    better = next(i for i, x in enumerate(verdict) if "s1-1000/train.log: val" in x)
    assert "LD101" in verdict[better + 1] and "--max_iters=2500" in verdict[better + 2]  # the better run keeps its own
    _, md, _ = run_cli("analyze", *pair, "--format", "markdown")
    assert "LD101 Val loss is still falling at the end of the run (the Do above gives the length" in md
    # a Do that is the better run's schedule alone gives no length: LD101 keeps its own flags
    lines = run_cli("analyze", "fixtures/diagnosis/healthy_tiny", "fixtures/diagnosis/decay_600k", "--width", "200")[1]
    at = lines.splitlines()
    i = next(k for k, x in enumerate(at) if "healthy_tiny/train.log: val" in x)
    assert "LD101" in at[i + 1] and "Do above" not in at[i + 1] and "--max_iters=" in at[i + 2]


def test_notes_every_run_carries_are_said_once():
    # two rows of a W&B runs table: each row's own note stays with it, the shared one is said once
    from conftest import FIXTURES
    path = FIXTURES / "formats" / "wandb_runs.csv"
    an = __import__("lossdoctor").analyze([str(path)])
    assert len(an.runs) > 1
    from lossdoctor.report.terminal import shared_notes
    common = shared_notes(an.runs)
    assert common and all(n in r.notes for r in an.runs for n in common)
    _, out, _ = run_cli("analyze", str(path), "--width", "300")
    for n in common:
        assert out.count(n) == 1
    assert f"Notes for each of the {len(an.runs)} runs" in out
    _, md, _ = run_cli("analyze", str(path), "--format", "markdown")
    assert all(md.count(n) == 1 for n in common)


def test_a_long_event_keeps_its_head_and_its_tail():
    from lossdoctor.report.terminal import _middle_cut
    line = "step  100/19560 | loss nan | lr 8.57e-05 | " + "x" * 200 + " *** JOB 1 CANCELLED DUE TO TIME LIMIT ***"
    cut = _middle_cut(line, 120)
    assert cut.startswith("step  100/19560") and cut.endswith("DUE TO TIME LIMIT ***") and " … " in cut
    assert len(cut) <= 121 and _middle_cut("short", 120) == "short"


def test_only_a_longer_run_s_flags_defer_to_the_do():
    # LD102 (best val early) tells a run to stop sooner: its flags are no length the Do gives
    import lossdoctor
    from lossdoctor.report.verdict import in_the_do
    said = "the Do above gives the length that reaches the better run's smoothed final val"
    longer = next(f for f in lossdoctor.analyze(ONE).diagnoses[0].findings if f.rule.startswith("LD101"))
    assert longer.flags == "--max_iters=5000 --lr_decay_iters=5000"
    shorter = dataclasses.replace(longer, rule="LD102-best-val-early", flags="--max_iters=100")
    assert in_the_do(longer, said, 1000) and not in_the_do(shorter, said, 1000)
    assert not in_the_do(longer, None, 1000)


def test_markdown_keeps_log_text_whole_as_markdown():
    from lossdoctor.report.markdown import _cell, _code, _prose
    quoted = "Assertion `total_batch_size % tokens_per_fwdbwd == 0' failed."
    assert _code(quoted) == f"`` {quoted} ``" and _code("plain") == "`plain`"  # a backtick inside does not end it
    assert _prose("hellaswag.py:<module>") == "hellaswag.py:&lt;module>"  # no tag for GitHub to drop
    assert _cell("a<br>b | <c>") == "a<br>b \\| &lt;c>"  # the cell's own line break stays
    assert _prose("torch/__init__.py: a & b, `x_y*z`") == "torch/\\_\\_init\\_\\_.py: a &amp; b, `x_y*z`"


def test_markdown_of_a_run_says_its_unparsed_lines_and_the_rules_that_did_not_apply(tmp_path):
    text = (ROOT / "fixtures" / "nanogpt" / "cpu_small" / "train.log").read_text()
    path = tmp_path / "train.log"
    path.write_text(text.replace("step 100:", "a line of something else\nstep 100:", 1))
    _, md, _ = run_cli("analyze", str(path), "--format", "markdown")
    assert "- 1 line not understood (kept; first at line" in md
    assert "rules not applicable to this run</summary>" in md


def test_markdown_of_many_runs_leaves_their_facts_to_the_json(monkeypatch):
    import lossdoctor
    from lossdoctor.report import markdown
    an = lossdoctor.analyze([str(ROOT / "fixtures" / "formats" / "wandb_runs.csv")])
    assert len(an.runs) == 2
    few = markdown.analysis_markdown(an)  # two runs: each folded in
    assert few.count("Facts of `") == 2 and "Each finding in full" in few and "`--format json` has them" not in few
    monkeypatch.setattr(markdown, "MAX_FOLDED_RUNS", 1)  # past the most folded: left to the JSON
    many = markdown.analysis_markdown(an)
    assert "Facts of `" not in many and "Each finding in full" not in many
    assert "Each run's findings in full, facts and config are left out here (2 runs): `--format json` has them." in many
    assert many.count("## Findings: ") == 2 and len(many) < len(few)


def test_flags_broken_by_the_width_end_in_a_continuation_and_paste_as_one_command():
    from lossdoctor.report.findings import Flags
    flags = "--n_layer=6 --n_head=6 --n_embd=384 --block_size=256 --dropout=0.2 --batch_size=64"
    assert Flags(flags).lines(200) == [flags]  # fits: one line, no continuation
    lines = Flags(flags).lines(40)
    assert all(len(x) <= 40 for x in lines) and all(x.endswith(" \\") for x in lines[:-1])
    assert not lines[-1].endswith("\\") and " ".join(x.removesuffix(" \\") for x in lines) == flags
    import shlex
    assert shlex.split("\n".join(lines).replace("\\\n", " ")) == flags.split()  # what a shell reads


@pytest.mark.parametrize("width", [40, 43, 44, 60])
def test_a_flag_too_long_for_a_continuation_wraps_plainly_and_never_strands_one(width):
    from io import StringIO

    from rich.console import Console

    from lossdoctor.report.findings import Flags
    out = StringIO()
    Console(file=out, width=width).print(Flags("--always_save_checkpoint=False --dropout=0.2 " + "x" * (width - 1)))
    lines = out.getvalue().splitlines()
    assert all(len(x) <= width for x in lines) and not any(x.strip() == "\\" for x in lines)


def test_an_unmatched_backtick_does_not_glue_prose_into_an_overlong_line(monkeypatch):
    import io

    from lossdoctor.cli_exits import wrapped
    monkeypatch.setenv("COLUMNS", "40")
    text = ("error: line 3 says Assertion `total_batch_size % tokens == 0' failed. Run `lossdoctor analyze LOG "
            "--peak-flops H100` to see it")
    out = wrapped(text, io.StringIO())
    assert max(len(x) for x in out.splitlines()) <= 40 and " ".join(out.split()) == text


@pytest.mark.parametrize("width", range(70, 90, 3))
def test_extrapolates_flag_lines_keep_their_continuation_at_any_width(width):
    code, out, _ = run_cli("extrapolate", *ONE, "--to", "5000", "--scenario", "custom", "--schedule",
                           "lr_decay_iters=5000", "--width", str(width))
    lines = out.splitlines()
    assert code == 0 and "…" not in out and max(len(x) for x in lines) <= width
    cut = [i for i, x in enumerate(lines) if x.rstrip(" │").endswith(" \\")]
    assert cut and all("--" in lines[i + 1] for i in cut)  # a continued line goes on with a flag
    said = " ".join(re.findall(r"--\w+=\S+", out))
    assert all(f in said for f in ("--max_iters=5000", "--lr_decay_iters=5000", "--learning_rate=0.001"))
