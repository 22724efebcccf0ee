"""lossdoctor.verify.design and runner: the default experiments, scaling to a budget, and
tiny A/B runs on the embedded corpus (resume, a kill mid-run, an absent device)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from lossdoctor.errors import LossdoctorError
from lossdoctor.trainer import Trainer, resolve
from lossdoctor.verify import VERDICTS, Claim, Metric
from lossdoctor.verify.budget import Times, arm_speeds
from lossdoctor.verify.design import (
    MIN_STEPS,
    Experiment,
    default_base_config,
    default_experiments,
    scale,
)
from lossdoctor.verify.runner import FIRST_SEED, run_experiments


def _loss_experiment(treatment: tuple[str, ...] = ("--batch_size=8",), eid: str = "batch-8") -> Experiment:
    return Experiment(eid, "a bigger batch lowers the val loss", (), treatment, "loss at equal steps",
                      Claim.improves(Metric.loss(), recommendation=" ".join(treatment)))


class _Counter:
    """Counts Trainer.setup and Trainer.step calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.setups = self.steps = 0
        setup, step = Trainer.setup.__func__, Trainer.step  # type: ignore[attr-defined]

        def counted_setup(cls: Any, *a: Any, **k: Any) -> Any:
            self.setups += 1
            return setup(cls, *a, **k)

        def counted_step(trainer: Any) -> Any:
            self.steps += 1
            return step(trainer)

        monkeypatch.setattr(Trainer, "setup", classmethod(counted_setup))
        monkeypatch.setattr(Trainer, "step", counted_step)


def test_default_design() -> None:
    base = default_base_config()
    exps = {e.id: e for e in default_experiments(base)}
    assert list(exps) == ["train-longer", "batch-24", "compile", "bf16", "bf16-loss", "nanogpt-cpu-dtype",
                          "eval-iters"]
    longer = exps["train-longer"]
    assert longer.kind == "final loss" and longer.baseline == ()
    assert longer.treatment == ("--max_iters=4000", "--lr_decay_iters=4000")
    assert longer.claim.direction == "lower" and longer.claim.metric.kind == "loss"
    assert exps["batch-24"].treatment == ("--batch_size=24",) and exps["batch-24"].kind == "loss at equal steps"
    assert "equal tokens" in exps["batch-24"].design
    assert exps["compile"].kind == "throughput" and exps["compile"].claim.direction == "higher"
    assert exps["compile"].treatment == ("--compile=True",)
    assert exps["bf16"].kind == "throughput" and exps["bf16"].treatment == ("--dtype=bfloat16",)
    assert exps["bf16-loss"].expects == "no effect"
    cpu = exps["nanogpt-cpu-dtype"]
    assert cpu.kind == "code" and "nullcontext()" in cpu.derived and cpu.expects == "no effect"
    ev = exps["eval-iters"]
    assert ev.kind == "eval noise" and ev.treatment == ("--eval_iters=200",) and ev.claim.direction == "lower"


def test_scale_fits_the_budget_and_says_how() -> None:
    base = default_base_config()
    longer = default_experiments(base)[0]
    s = scale(longer, base, 60.0, 0.07, seeds=3)
    assert s.seeds * s.cost_per_seed_s <= 60.0
    assert s.treatment["max_iters"] == 2 * s.baseline["max_iters"] >= 2 * MIN_STEPS
    assert s.treatment["lr_decay_iters"] == s.treatment["max_iters"]
    assert s.text.startswith(f"max_iters 2000 -> {s.baseline['max_iters']}")
    assert f"the effect at {s.baseline['max_iters']} steps, not at 2000" in s.text
    batch = default_experiments(base)[1]
    assert "longer runs usually shrink a batch-size effect" in scale(batch, base, 60.0, 0.07).text
    assert scale(longer, base, 1e6, 0.07).text == ""  # fits unscaled


def test_too_small_budget_is_refused_with_the_minimum() -> None:
    base = default_base_config()
    with pytest.raises(LossdoctorError, match=r"too small.*100 steps.*needs (\d+)s.*give --budget \d+[sm]"):
        scale(default_experiments(base)[0], base, 10.0, 0.07)
    from lossdoctor.verify.design import suggested
    assert [suggested(s) for s in (30, 37, 100, 1000)] == ["40s", "50s", "3m", "22m"]  # room over the need


def test_run_refuses_a_too_small_budget(tmp_path: Any, data: Any, tiny: Any) -> None:
    out = tmp_path / "out"
    with pytest.raises(LossdoctorError, match=r"too small.*need \d+s.*give --budget \d+[sm]"):
        run_experiments([_loss_experiment()], budget_s=0.2, out_dir=str(out), data=data, base=tiny)
    assert not out.exists()  # no plan.json, nor an empty folder, from a call that trained nothing


@pytest.fixture
def steady_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner plans from a fixed speed (10 ms a step, 3 ms an eval batch, about the tiny
    model's on 2 idle cores), so that a busy machine changes how long the tests take, not
    what is planned."""
    from lossdoctor.verify import runner
    monkeypatch.setattr(runner, "measure_speed", lambda *a, **k: (0.010, 0.003))


@pytest.mark.usefixtures("steady_speed")
def test_loss_experiment_end_to_end(tmp_path: Any, data: Any, tiny: Any) -> None:
    report = run_experiments([_loss_experiment()], budget_s=8, seeds=2, max_seeds=3, out_dir=str(tmp_path),
                             data=data, base=tiny)
    (r,) = report.experiments
    v = r.verification
    assert v.verdict in VERDICTS and v.verdict != "not verifiable here"
    assert v.paired and v.n_seeds in (2, 3) and r.seeds == tuple(FIRST_SEED + i for i in range(v.n_seeds))
    assert r.flags == "--batch_size=8" and "equal tokens" in r.how
    assert report.noise is not None and report.noise.unit == "nats"
    assert (tmp_path / "batch-8" / f"treatment-seed{FIRST_SEED}.json").exists()


@pytest.mark.usefixtures("steady_speed")
def test_identical_arms_are_never_confirmed(tmp_path: Any, data: Any, tiny: Any) -> None:
    same = Experiment("same", "nothing changes", ("--dropout=0.0",), ("--dropout=0.0",), "loss at equal steps",
                      Claim.improves(Metric.loss()))
    report = run_experiments([same], budget_s=6, seeds=3, max_seeds=3, out_dir=str(tmp_path), data=data,
                             base=tiny)
    v = report.experiments[0].verification
    assert v.verdict != "confirmed"
    assert v.verdict == "no effect" and v.effect is not None and v.effect.estimate == 0.0


@pytest.mark.usefixtures("steady_speed")
def test_rerun_reuses_every_finished_arm(tmp_path: Any, data: Any, tiny: Any,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    first = run_experiments([_loss_experiment()], budget_s=6, seeds=2, max_seeds=4, out_dir=str(tmp_path),
                            data=data, base=tiny)
    count = _Counter(monkeypatch)
    again = run_experiments([_loss_experiment()], budget_s=6, seeds=2, max_seeds=4, out_dir=str(tmp_path),
                            data=data, base=tiny)
    assert (count.setups, count.steps) == (0, 0)
    assert again.experiments == first.experiments
    assert again.notes[1] == "0 training steps taken in this call"


@pytest.mark.usefixtures("steady_speed")
def test_a_rerun_on_other_data_reuses_nothing(tmp_path: Any, data: Any, tiny: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from lossdoctor.trainer.data import prepare_text
    run_experiments([_loss_experiment()], budget_s=6, seeds=2, max_seeds=4, out_dir=str(tmp_path),
                    data=data, base=tiny)
    other = prepare_text("".join(chr(32 + (i * 7) % 90) for i in range(60_000)), "other text")
    count = _Counter(monkeypatch)
    run_experiments([_loss_experiment()], budget_s=6, seeds=2, max_seeds=4, out_dir=str(tmp_path),
                    data=other, base=tiny)
    assert count.steps > 0  # the same config on other tokens: trained again, not read back


@pytest.mark.usefixtures("steady_speed")
def test_a_rerun_plans_as_the_first_whatever_its_setup_took(tmp_path: Any, data: Any, tiny: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The seconds before the plan (imports, reading runs) vary between calls; the plan,
    and so every scaled step count, is the first call's."""
    first = run_experiments([_loss_experiment()], budget_s=6, seeds=2, max_seeds=4, out_dir=str(tmp_path),
                            data=data, base=tiny, spent_s=0.1)
    count = _Counter(monkeypatch)
    again = run_experiments([_loss_experiment()], budget_s=6, seeds=2, max_seeds=4, out_dir=str(tmp_path),
                            data=data, base=tiny, spent_s=1.5)
    assert (count.setups, count.steps) == (0, 0)
    assert again.experiments == first.experiments


@pytest.mark.usefixtures("steady_speed")
def test_a_kill_keeps_finished_arms_and_a_rerun_completes(tmp_path: Any, data: Any, tiny: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    first_arm: list[int] = []

    def killer(done: int, total: int, what: str) -> None:
        if "treatment" in what:
            first_arm.append(done - 1)
            raise KeyboardInterrupt

    exp = _loss_experiment()
    with pytest.raises(KeyboardInterrupt):
        run_experiments([exp], budget_s=6, seeds=2, max_seeds=2, out_dir=str(tmp_path), data=data, base=tiny,
                        progress=killer)
    folder = tmp_path / "batch-8"
    assert sorted(os.listdir(folder)) == [f"baseline-seed{FIRST_SEED}.json"]
    count = _Counter(monkeypatch)
    report = run_experiments([exp], budget_s=6, seeds=2, max_seeds=2, out_dir=str(tmp_path), data=data,
                             base=tiny)
    assert report.experiments[0].verification.n_seeds == 2
    assert count.setups == 3  # the killed treatment, and both arms of the second seed
    arms = [f"{arm}-seed{s}.json" for arm in ("baseline", "treatment") for s in (FIRST_SEED, FIRST_SEED + 1)]
    assert sorted(os.listdir(folder)) == sorted(["done.json", *arms])


@pytest.mark.usefixtures("steady_speed")
def test_training_stays_within_the_planned_steps(tmp_path: Any, data: Any, tiny: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    exp = _loss_experiment()
    count = _Counter(monkeypatch)
    report = run_experiments([exp], budget_s=8, seeds=2, max_seeds=4, out_dir=str(tmp_path), data=data,
                             base=tiny)
    plan = json.loads((tmp_path / "plan.json").read_text())
    base = resolve(base=tiny, overrides={"out_dir": str(tmp_path / "runs")})
    planned = scale(exp, base, 8, plan["seconds_per_step"], 2, plan["seconds_per_eval_batch"],
                    arm_speeds(exp, base, Times(plan["seconds_per_step"], plan["seconds_per_eval_batch"],
                                                plan["arms"])))
    assert planned.seeds * planned.cost_per_seed_s <= 8
    trained = int(report.notes[1].split()[0])  # "N training steps taken in this call"
    assert 0 < trained <= count.steps
    # the runner plans with the budget left after its timing, so its steps per seed are at
    # most those planned here from the whole budget; max_seeds=4 bounds the seeds
    assert trained <= planned.steps_per_seed * 4


def test_an_absent_device_is_not_verifiable(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    report = run_experiments(default_experiments(), device="cuda", out_dir=str(tmp_path))
    assert {r.verification.verdict for r in report.experiments} == {"not verifiable here"}
    assert all(r.verification.reason == "no cuda device" for r in report.experiments if r.id != "nanogpt-cpu-dtype")
    # what is settled from the code keeps its own reason
    assert "train.py" in next(r for r in report.experiments if r.id == "nanogpt-cpu-dtype").verification.reason


def test_a_compile_failure_is_not_verifiable(tmp_path: Any, data: Any, tiny: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    def broken(model: Any, *a: Any, **k: Any) -> Any:
        raise RuntimeError("no C++ compiler\nmore detail")

    monkeypatch.setattr(torch, "compile", broken)
    compile_exp = next(e for e in default_experiments(tiny) if e.id == "compile")
    report = run_experiments([compile_exp], budget_s=70, out_dir=str(tmp_path), data=data, base=tiny)
    v = report.experiments[0].verification
    assert v.verdict == "not verifiable here"
    assert v.reason == "compile failed here: RuntimeError: no C++ compiler"


def test_throughput_and_code_experiments(tmp_path: Any, data: Any, tiny: Any) -> None:
    picked = [e for e in default_experiments(tiny) if e.id in ("bf16", "nanogpt-cpu-dtype")]
    report = run_experiments(picked, budget_s=5, out_dir=str(tmp_path), data=data, base=tiny)
    bf16, code = report.experiments
    assert bf16.verification.verdict in VERDICTS and bf16.verification.n_seeds >= 3
    assert "CPU bf16 features detected" in bf16.how and "tokens/s" in bf16.verification.metric.unit
    assert code.verification.verdict == "not verifiable here"
    assert code.verification.reason.startswith("derived from nanoGPT's train.py")


def test_progress_off_a_terminal_is_a_line_per_training(capsys: Any) -> None:
    from lossdoctor.cli_verify import _progress
    with _progress(None) as progress:  # type: ignore[arg-type]  (stderr is captured: no terminal)
        assert progress is not None
        for done, what in ((0, "LD101 base seed 1"), (50, "LD101 base seed 1"), (100, "LD101 treatment seed 1")):
            progress(done, 400, what)
    err = capsys.readouterr().err.splitlines()
    assert err == ["lossdoctor verify: LD101 base seed 1 (0 of 400 steps done)",
                   "lossdoctor verify: LD101 treatment seed 1 (100 of 400 steps done)"]


def test_an_experiment_whose_arm_the_trainer_refuses_is_not_verifiable(tmp_path: Any, data: Any, tiny: Any) -> None:
    bad = _loss_experiment(("--n_head=6",), "bad-heads")  # 6 heads on a width of 16
    report = run_experiments([bad], budget_s=5, seeds=2, max_seeds=2, out_dir=str(tmp_path), data=data, base=tiny)
    v = report.experiments[0].verification
    assert v.verdict == "not verifiable here" and "no config the trainer takes" in v.reason
