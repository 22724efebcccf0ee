"""verify RUN...: which experiments a run's findings and a gap give, and the model shrunk to
fit a budget (no training here)."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import FIXTURES, parse_text
from lossdoctor.analysis import analyze
from lossdoctor.errors import UsageError
from lossdoctor.trainer.config import resolve
from lossdoctor.verify.design import Experiment, default_base_config
from lossdoctor.verify.from_runs import base_from_run, plan_from_runs
from lossdoctor.verify.shrink import SHAPE_FLOOR, Shrunk, flops_per_step, rescale, shrink
from lossdoctor.verify.stats import Claim, Metric

CPU_SMALL = str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")


def _by_id(plan) -> dict[str, Experiment]:
    return {e.id: e for e in plan.experiments}


def test_a_runs_findings_become_experiments_on_its_config() -> None:
    plan = plan_from_runs(analyze([CPU_SMALL]), "cpu")
    assert (plan.base["n_layer"], plan.base["n_embd"], plan.base["batch_size"]) == (4, 128, 12)
    assert plan.base["dtype"] == "float32" and not plan.base["compile"]
    found = _by_id(plan)
    longer = found["LD101-still-improving"]
    assert longer.kind == "final loss" and any(f.startswith("--max_iters=") for f in longer.treatment)
    assert longer.claim.direction == "lower" and longer.expects == "effect"
    # eval_iters changes the measurement: tested as eval noise, against the run's own eval_iters
    few = found["LD1001-few-eval-iters"]
    assert few.kind == "eval noise" and few.baseline == ("--eval_iters=20",)


def test_what_cannot_be_trained_says_why() -> None:
    found = _by_id(plan_from_runs(analyze([CPU_SMALL]), "cpu"))
    assert found["LD1401-mfu-vs-a100"].kind == "code"  # about how MFU is measured: nothing to train
    assert "measured" in found["LD1601-few-evals"].derived  # eval_interval: when the run is measured
    dtype = found["LD1301-dtype-ignored-on-cpu"]
    assert dtype.kind == "code" and "already the config" in dtype.derived


def test_a_gap_between_two_runs_gives_one_experiment_per_key() -> None:
    other = str(FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log")
    analysis = analyze([CPU_SMALL, other])
    found = _by_id(plan_from_runs(analysis, "cpu"))
    gaps = [e for e in found.values() if e.id.startswith("gap-")]
    assert gaps, [e.id for e in found.values()]
    assert all(len(e.treatment) >= 1 and e.kind in ("final loss", "loss at equal steps") for e in gaps)
    assert "gap-lr_decay_iters" not in found or "gap-max_iters" not in found


def test_a_log_without_its_config_is_refused() -> None:
    run_text = "".join(f"step {i}: train loss {3 - i / 1000:.4f}, val loss {3.1 - i / 1000:.4f}\n"
                       for i in range(0, 1000, 100))
    from lossdoctor.analysis import Analysis
    from lossdoctor.facts import compute_facts
    run = parse_text(run_text)
    with pytest.raises(UsageError, match="does not show its config"):
        base_from_run(Analysis((run,), (compute_facts(run),)), 0, "cpu")


def test_shrink_halves_in_turns_down_to_the_floor() -> None:
    big = resolve(overrides={"n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256, "batch_size": 64,
                             "gradient_accumulation_steps": 4, "device": "cpu", "dtype": "float32",
                             "compile": False})
    budget = flops_per_step(default_base_config()) * 2
    s = shrink(big, lambda c: flops_per_step(c) <= budget)
    assert flops_per_step(s.config) <= budget
    assert {k for k, _, _ in s.changes} >= {"batch_size", "block_size"}
    assert int(s.config["n_embd"]) % int(s.config["n_head"]) == 0
    assert "model scaled down" in s.text
    never = shrink(big, lambda c: False)
    assert all(int(never.config[k]) >= v for k, v in SHAPE_FLOOR.items())
    assert shrink(big, lambda c: True).changes == ()


def test_rescale_scales_a_treatments_own_shape_values() -> None:
    small = resolve(overrides={"n_layer": 6, "n_head": 6, "n_embd": 192, "device": "cpu"})
    shrunk = Shrunk(small, (("n_embd", 384, 192),))
    e = Experiment("wider", "wider", (), ("--n_embd=512", "--dropout=0.1"), "loss at equal steps",
                   Claim.improves(Metric.loss()))
    assert rescale(e, shrunk).treatment == ("--n_embd=252", "--dropout=0.1")


def test_only_takes_a_rule_s_code_or_its_full_id() -> None:
    import argparse

    from lossdoctor.cli_verify import _only
    experiments = plan_from_runs(analyze([CPU_SMALL]), "cpu").experiments
    by_code = _only(argparse.Namespace(only=["LD101"]), experiments)
    by_id = _only(argparse.Namespace(only=["LD101-still-improving"]), experiments)
    assert [e.id for e in by_code] == [e.id for e in by_id] == ["LD101-still-improving"]
    with pytest.raises(UsageError, match="no such experiment"):
        _only(argparse.Namespace(only=["LD10"]), experiments)


def test_no_hardware_experiment_from_a_device_the_log_does_not_show() -> None:
    from lossdoctor.analysis import Analysis
    from lossdoctor.facts import compute_facts
    cpu = analyze([CPU_SMALL]).runs[0]  # Overriding: device = cpu
    headerless = parse_text("".join(f"step {i}: train loss {3 - i / 1000:.4f}, val loss {3.1 - i / 1000:.4f}\n"
                                    for i in range(0, 1000, 100)))  # train.py's default device, cuda, not shown
    runs = (cpu, headerless)
    plan = plan_from_runs(Analysis(runs, tuple(compute_facts(r) for r in runs)), "cpu")
    assert not any(e.id.startswith("hardware") for e in plan.experiments)


def test_the_gap_tries_the_heads_with_the_width_where_alone_they_would_not_divide(tmp_path) -> None:
    # the README CPU config (4 heads, width 128) against the GPU config (6 heads, width 384):
    # 6 heads on a width of 128 is no model nanoGPT builds, so heads and width go together
    cpu = (FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log").read_text()
    gpu = (cpu.replace("n_head: 4", "n_head: 6").replace("n_embd: 128", "n_embd: 384")
           .replace("number of parameters: 0.80M", "number of parameters: 7.11M"))  # 4 x 384, as printed
    assert gpu != cpu
    (tmp_path / "gpu.log").write_text(gpu.replace("val loss 1.8857", "val loss 1.7000"))
    (tmp_path / "cpu.log").write_text(cpu)
    plan = plan_from_runs(analyze([str(tmp_path / "cpu.log"), str(tmp_path / "gpu.log")]), "cpu")
    gap = {e.id: e.treatment for e in plan.experiments if e.id.startswith("gap-")}
    assert gap == {"gap-n_embd-n_head": ("--n_embd=384", "--n_head=6")}
    for flags in gap.values():  # every arm is a model the trainer builds
        resolve(args=list(flags), base=plan.base)


def test_the_plan_names_the_dtype_the_run_shows_not_train_pys_default():
    import lossdoctor
    from conftest import FIXTURES
    plan = lossdoctor.plan_from_runs(lossdoctor.analyze(str(FIXTURES / "nanogpt" / "cpu_small")), "cpu")
    # the log's GradScaler warning says float16 ran; train.py's bfloat16 is only its default
    assert any(n.startswith("dtype float16 (inferred) -> float32 on this CPU") for n in plan.notes)


def test_a_retraining_takes_only_what_the_log_shows_of_its_config(tmp_path) -> None:
    # another trainer's log shows some of its config: train.py's defaults (GPT-2 124M) are no guess
    # for the rest (a modded-nanogpt record prints its length, not its model)
    from conftest import shared_path
    modded = shared_path("corpus/logs/modded-nanogpt/2025-01-16-sub3min.log")
    with pytest.raises(UsageError, match="does not show n_layer, n_head, n_embd, block_size, batch_size"):
        plan_from_runs(analyze([str(modded)]), "cpu")
    # llm.c prints its gradient accumulation (`=> setting grad_accum_steps=16`): its run is planned as it ran
    llmc = shared_path("corpus/logs/llmc/hector-a100-stdout-hellaswag-cr-timelimit.log")
    plan = plan_from_runs(analyze([str(llmc)]), "cpu")
    base = plan.base
    assert (base["gradient_accumulation_steps"], base["batch_size"], base["block_size"]) == (16, 32, 1024)


def test_a_retraining_trains_the_whole_lineage_s_schedule(tmp_path) -> None:
    # a log that begins with a resume: the LR of the steps before it is not in it
    with pytest.raises(UsageError, match="begins with a resume at step 2,000"):
        plan_from_runs(analyze([str(FIXTURES / "long" / "batch8-constant-5000")]), "cpu")
    # the whole lineage, its last process at constant min_lr: the arms train the lineage's schedule
    lineage = tmp_path / "lineage.log"
    lineage.write_text((FIXTURES / "long" / "batch8-2000" / "train.log").read_text()
                       + (FIXTURES / "long" / "batch8-constant-5000" / "train.log").read_text())
    plan = plan_from_runs(analyze([str(lineage)]), "cpu")
    assert (plan.base["learning_rate"], plan.base["decay_lr"], plan.base["lr_decay_iters"]) == (1e-3, True, 2000)
    assert any("continued it at another LR" in n for n in plan.notes)


def test_a_resumed_fine_tune_is_said_to_be_trained_from_scratch_in_the_arms(tmp_path) -> None:
    from conftest import shared_path
    first = shared_path("corpus/logs/nanogpt/innerfirexy-gpt2-ddp4-init-gpt2-stopped.log").read_text()
    then = shared_path("corpus/logs/nanogpt/innerfirexy-gpt2-ddp8-resume.log").read_text()
    lineage = tmp_path / "ft.log"
    lineage.write_text(first + then)  # its last process resumed: the lineage began from GPT-2's weights
    plan = plan_from_runs(analyze([str(lineage)]), "cpu")
    assert "the run started from gpt2 weights; the arms train from scratch" in plan.notes


def test_verify_trains_on_the_data_the_log_names_where_it_is_found(tmp_path):
    """Without --data, a run's experiments train on the text its log says it read, where
    that file is here; else on the embedded corpus, as the note then says."""
    from lossdoctor.cli_verify import _data_note, _logged_data
    text = (FIXTURES / "long" / "lr5e-4-2000" / "train.log").read_text()
    data = tmp_path / "input.txt"
    data.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 200)
    (tmp_path / "here.log").write_text(text.replace("/work/shared/data/shakespeare_char/input.txt", str(data)))
    (tmp_path / "gone.log").write_text(text.replace("/work/shared/data/shakespeare_char/input.txt",
                                                    str(tmp_path / "missing.txt")))
    import lossdoctor
    found = _logged_data(lossdoctor.load(str(tmp_path / "here.log")))
    assert found is not None and found[0] == str(data) and found[1].source == str(data)  # loaded once, kept
    assert _logged_data(lossdoctor.load(str(tmp_path / "gone.log"))) is None
    assert "the data the run's log names" in _data_note({"dataset": "shakespeare_char"}, str(data), True)[0]


def test_only_sizes_the_model_for_the_experiments_it_keeps(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from lossdoctor.cli import main
    from lossdoctor.verify import shrink
    sized: list[str] = []

    def record(experiments, base, budget_s, seeds, data):  # type: ignore[no-untyped-def]
        sized.extend(e.id for e in experiments)
        raise UsageError("stop here")
    monkeypatch.setattr(shrink, "fit_model", record)
    run = str(FIXTURES / "nanogpt" / "cpu_small")
    assert main(["verify", run, "--only", "LD703", "--budget", "60s", "--out", f"{tmp_path}/v"]) == 2
    assert sized and all(i.startswith("LD703-") for i in sized)  # not the run's other experiments


def test_verify_of_a_run_loads_the_data_its_log_names_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from lossdoctor import trainer
    from lossdoctor.cli import main
    from lossdoctor.verify import shrink
    text = (FIXTURES / "long" / "lr5e-4-2000" / "train.log").read_text()
    data = tmp_path / "input.txt"
    data.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 200)
    (tmp_path / "here.log").write_text(text.replace("/work/shared/data/shakespeare_char/input.txt", str(data)))
    loads: list[object] = []
    load = trainer.load_data

    def counted(path: object) -> Any:
        loads.append(path)
        return load(path)  # type: ignore[arg-type]

    def sized(experiments, base, budget_s, seeds, given):  # type: ignore[no-untyped-def]
        assert given.source == str(data)
        raise UsageError("stop here")
    monkeypatch.setattr(trainer, "load_data", counted)
    monkeypatch.setattr(shrink, "fit_model", sized)
    assert main(["verify", str(tmp_path / "here.log"), "--budget", "60s", "--out", f"{tmp_path}/v"]) == 2
    assert loads == [str(data)]  # read to find it, and the same Data sizes the model
