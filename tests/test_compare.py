"""The gap between runs: an attribution that adds up, on real runs of the built-in trainer
and nanoGPT, and the cases where runs cannot be compared."""

from __future__ import annotations

import io
import json

import pytest

from conftest import FIXTURES, ROOT, parse_text, shared_path

DIAG = FIXTURES / "diagnosis"


def _analysis(*paths):
    import lossdoctor
    return lossdoctor.analyze([str(p) for p in paths], diagnose_runs=False)


def _total(c):
    return sum(a.delta_val for a in c.attribution) + (c.unexplained.delta_val if c.unexplained else 0.0)


def test_golden_gap_report_of_two_builtin_trainer_configs(monkeypatch):
    from rich.console import Console

    from lossdoctor.report.compare import render
    monkeypatch.chdir(ROOT)
    an = _analysis("fixtures/diagnosis/healthy_tiny", "fixtures/diagnosis/healthy_small")
    console = Console(file=io.StringIO(), width=100, color_system=None, legacy_windows=False)
    console.print(render(an.comparison, list(an.runs)))
    text = console.file.getvalue()
    golden = ROOT / "tests" / "golden" / "compare_healthy.txt"
    import os
    if os.environ.get("LOSSDOCTOR_REGEN"):
        golden.write_text(text)
    assert text == golden.read_text()


@pytest.mark.parametrize("pair", [("healthy_tiny", "healthy_small"), ("model_too_small", "healthy_wide"),
                                  ("lr_low", "heavy_wd"), ("warmup_long", "healthy_small"),
                                  ("tiny_batch", "decay_600k")])
def test_the_attribution_adds_up_to_the_gap(pair):
    an = _analysis(*(DIAG / p for p in pair))
    c = an.comparison
    assert c.gap is not None and c.gap > 0
    assert _total(c) == pytest.approx(c.gap, abs=1e-9)
    for a in c.attribution:
        assert a.interval[0] <= a.delta_val <= a.interval[1] and a.method


def test_model_size_is_named_when_only_the_model_differs():
    c = _analysis(DIAG / "healthy_tiny", DIAG / "healthy_small").comparison
    causes = {a.cause: a for a in c.attribution}
    assert "model size" in causes and "n_embd 64 vs 128" in causes["model size"].method
    assert "training length" not in causes or abs(causes["training length"].delta_val) < 0.05  # same steps
    assert c.unexplained.delta_val == 0.0


def test_two_identical_runs_have_no_gap_and_no_causes():
    c = _analysis(DIAG / "healthy_small", DIAG / "healthy_small").comparison
    assert c.gap == 0.0 and c.attribution == () and c.unexplained is None and c.diff == ()


def test_runs_with_no_common_range_compare_on_config_and_extrapolation():
    def log(first, last, val0, lr):
        lines = [f"Overriding: learning_rate = {lr}", "tokens per iteration will be: 768"]
        for s in range(first, last + 1, 100):
            v = val0 - 0.0004 * (s - first)
            lines.append(f"step {s}: train loss {v - 0.05:.4f}, val loss {v:.4f}")
        return "\n".join(lines) + "\n"
    import lossdoctor
    from lossdoctor.compare import compare
    a, b = parse_text(log(0, 900, 3.0, 0.001), "a.log"), parse_text(log(2000, 3000, 2.0, 0.002), "b.log")
    c = compare([a, b], [lossdoctor.compute_facts(a), lossdoctor.compute_facts(b)])
    assert any("share no range" in n for n in c.notes)
    assert c.gap == pytest.approx((3.0 - 0.36) - (2.0 - 0.4))
    assert _total(c) == pytest.approx(c.gap)
    assert "learning_rate" in [d["key"] for d in c.diff]


def test_runs_without_val_are_compared_on_train():
    import lossdoctor
    from lossdoctor.compare import compare
    def log(loss):
        return "".join(f"iter {i}: loss {loss - 0.001 * i:.4f}, time 10.00ms, mfu -100.00%\n" for i in range(40))
    a, b = parse_text(log(3.0), "a.log"), parse_text(log(2.5), "b.log")
    c = compare([a, b], [lossdoctor.compute_facts(a), lossdoctor.compute_facts(b)])
    assert c.metric == "train" and any("compared on train loss" in n for n in c.notes)
    assert c.gap == pytest.approx(0.5) and _total(c) == pytest.approx(c.gap)


def test_different_vocabularies_are_not_attributed():
    c = _analysis(DIAG / "healthy_small", FIXTURES / "lossdoctor_train" / "tiny").comparison
    assert c.comparable is False and c.attribution == ()
    assert any("not directly comparable" in n and "vocab_size" in n for n in c.notes)


def test_three_runs_give_a_table_against_the_best():
    c = _analysis(DIAG / "healthy_tiny", DIAG / "healthy_small", DIAG / "healthy_wide").comparison
    assert len(c.table) == 3 and sum(r["reference"] for r in c.table) == 1
    best = next(r for r in c.table if r["reference"])
    assert best["gap"] == 0 and all(r["gap"] >= 0 for r in c.table)


def test_json_comparison_object(monkeypatch):
    from lossdoctor.cli import main
    from contextlib import redirect_stdout
    monkeypatch.chdir(ROOT)
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["compare", "fixtures/diagnosis/healthy_tiny", "fixtures/diagnosis/healthy_small",
                     "--format", "json"])
    doc = json.loads(out.getvalue())
    c = doc["comparison"]
    assert code == 0 and {"diff", "attribution", "unexplained"} <= set(c)
    for a in c["attribution"]:
        assert {"cause", "delta_val", "method", "interval"} <= set(a)
    assert sum(a["delta_val"] for a in c["attribution"]) + c["unexplained"]["delta_val"] == pytest.approx(c["gap"])


def test_typical_case_laptop_cpu_run_against_the_default_gpu_run():
    gpu = shared_path("corpus/logs/nanogpt/propathee-gpu-wandb-stderr-interleaved.log")
    an = _analysis(FIXTURES / "lossdoctor_train" / "readme_cpu_2000", gpu)
    c = an.comparison
    assert an.runs[c.other].source.endswith("readme_cpu_2000/train.log")  # the CPU run is the worse
    diff = {d["key"]: d["values"] for d in c.diff}
    assert diff["eval_iters"] == (20, 200)
    d = c.derived
    assert d["tokens_per_iter"] == (768, 16384)
    assert 1.4e6 < d["tokens_seen"][0] < 1.6e6 and 80e6 < d["tokens_seen"][1] < 84e6
    assert 0.75e6 < d["params"][0] < 0.85e6 and 10.5e6 < d["params"][1] < 10.8e6
    causes = {a.cause: a for a in c.attribution}
    ovf = causes["overfitting"]
    assert ovf.delta_val < -0.15  # the GPU run would be better still at its best val
    assert 1.45 < d["best_val"][1] < 1.49 and 2000 <= d["best_val_step"][1] <= 2500
    assert causes["device/precision numerics"].delta_val == 0.0
    assert causes["training length"].delta_val > 0
    notes = " ".join(c.notes)
    assert "still falling" in notes and "run to its end" in notes and "312 TFLOPS" in notes
    assert "--max_iters=" in c.to_reach["flags"]
    rest = c.attribution[-1]
    assert rest.cause == "model size, context length, batch size and regularization"
    assert _total(c) == pytest.approx(c.gap)
