"""`lossdoctor extrapolate`: scenarios, intervals, refusals, JSON, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, parse_text, shared_path

pytest.importorskip("scipy")

import lossdoctor  # noqa: E402
from lossdoctor.cli import main  # noqa: E402
from lossdoctor.diagnose import diagnose  # noqa: E402
from lossdoctor.errors import UsageError  # noqa: E402
from lossdoctor.fit import Calibration, CustomSchedule, Extrapolator, calibrate, calibration, laws, reference, shape  # noqa: E402
from lossdoctor.fit import streams as fit_streams  # noqa: E402
from lossdoctor.fit.extrapolate import CannotExtrapolate, extrapolate  # noqa: E402
from lossdoctor.fit.notes import NO_SAVE  # noqa: E402
from lossdoctor.fit.points import TRAIN_BINS  # noqa: E402
from lossdoctor.nanogpt import lr_at  # noqa: E402

SCHED = dict(learning_rate=1e-3, warmup_iters=100, lr_decay_iters=2000, min_lr=1e-4, decay_lr=True)
TRUE = dict(L0=0.8, A=3.0, alpha=0.25, C=0.00027, lam=0.9985)  # anneal bonus ~0.16 nats


def law_curve(n: int, params: dict = TRUE, sched: dict = SCHED) -> np.ndarray:
    lr = lr_at(np.arange(n + 1), **sched)
    fit = laws.LawFit("mtl", params, 0.0)
    return fit.predict(np.arange(n + 1), laws.features(lr, sched["warmup_iters"]))


def make_log(n: int = 2000, noise: float = 0.03, gap: float = 0.05, seed: int = 0,
             val_shift: np.ndarray | None = None, sched: dict = SCHED, log_every: int = 1) -> str:
    """A nanoGPT-format log whose losses follow the law, with noise like a real run's; an
    iteration's loss every `log_every` steps (the same draws whatever `log_every`)."""
    rng = np.random.default_rng(seed)
    y = law_curve(n, sched=sched)
    lines = [f"Overriding: {k} = {v}" for k, v in {**sched, "max_iters": n, "eval_interval": 250,
                                                      "eval_iters": 20, "gradient_accumulation_steps": 1,
                                                      "batch_size": 12, "block_size": 64}.items()]
    lines.append("tokens per iteration will be: 768")
    for i in range(n + 1):
        if i % 250 == 0:
            e = noise / np.sqrt(20)
            val = y[i] + gap + rng.normal(0, e) + (val_shift[i] if val_shift is not None else 0.0)
            lines.append(f"step {i}: train loss {y[i] + rng.normal(0, e):.4f}, val loss {val:.4f}")
        loss = y[i] + rng.normal(0, noise)
        if i % log_every == 0:
            lines.append(f"iter {i}: loss {loss:.4f}, time 40.00ms, mfu 0.01%")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def synthetic():
    return parse_text(make_log())


def test_recovers_a_curve_that_follows_the_law(synthetic):
    x = extrapolate(synthetic, 5000)
    truth = {"rerun": law_curve(5000, sched={**SCHED, "lr_decay_iters": 5000})[5000] + 0.05}
    rerun = next(s for s in x.scenarios if s.name == "rerun")
    assert abs(rerun.val.mean - truth["rerun"]) < 0.03
    assert rerun.val.lo < truth["rerun"] < rerun.val.hi
    assert x.horizon_ratio == 2.5 and x.last_step == 2000


def test_scenarios_differ_and_carry_exact_flags(synthetic):
    x = extrapolate(synthetic, 5000)
    by = {s.name: s for s in x.scenarios}
    assert by["rerun"].flags == "--max_iters=5000 --lr_decay_iters=5000"
    assert by["resume"].flags == "--init_from=resume --max_iters=5000 --lr_decay_iters=5000"
    assert by["constant"].flags == "--init_from=resume --max_iters=5000 --decay_lr=False --learning_rate=0.0001"
    # a fresh cosine anneals again; resuming re-warms; staying at min_lr gains least
    assert by["rerun"].val.mean < by["resume"].val.mean < by["constant"].val.mean
    for s in x.scenarios:
        assert s.val.lo < s.val.mean < s.val.hi and s.val.level == 0.8


def test_every_flag_of_a_run_decayed_to_0_is_one_train_py_takes(tmp_path):
    # configurator.py asserts a literal's type is the default's: --min_lr=0 is an int and dies
    from lossdoctor import nanogpt
    text = (FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log").read_text()
    log = tmp_path / "train.log"
    log.write_text(text.replace("min_lr: 0.0001", "min_lr: 0"))  # a config file may set an int: it is not checked
    run = lossdoctor.load(str(log))
    assert run.config.trusted("min_lr") == 0
    x = extrapolate(run, 3000)
    y = extrapolate(run, 3000, scenarios=("custom",), schedule={"lr_decay_iters": 3000, "min_lr": 0.0})
    flags = {s.name: s.flags for s in (*x.scenarios, *y.scenarios)}
    assert flags["constant"].endswith("--decay_lr=False --learning_rate=0.0")
    assert flags["custom"].endswith("--lr_decay_iters=3000 --min_lr=0.0")
    for word in " ".join(flags.values()).split():
        key, value = word[2:].split("=", 1)
        assert nanogpt.accepts(key, nanogpt.configurator_value(value)), word


def test_wider_level_gives_a_wider_interval(synthetic):
    a = extrapolate(synthetic, 5000, scenarios=("rerun",), level=0.5).scenarios[0].val
    b = extrapolate(synthetic, 5000, scenarios=("rerun",), level=0.95).scenarios[0].val
    assert (b.hi - b.lo) > (a.hi - a.lo) and a.mean == pytest.approx(b.mean)


def test_custom_schedule(synthetic):
    x = extrapolate(synthetic, 4000, scenarios=("custom",),
                    schedule=dict(warmup_iters=100, lr_decay_iters=4000, min_lr=1e-5, learning_rate=1e-3))
    (s,) = x.scenarios
    assert s.name == "custom" and "--min_lr=1e-05" in s.flags and s.val is not None


def test_target_inside_the_observed_range_is_the_smoothed_value(synthetic):
    x = extrapolate(synthetic, 1500)
    (s,) = x.scenarios
    assert s.name == "observed" and abs(s.val.mean - (law_curve(2000)[1500] + 0.05)) < 0.03
    assert any("inside the observed range" in n for n in x.notes)


def test_overfitting_is_said_and_not_extrapolated():
    shift = np.zeros(2001)
    shift[1000:] = np.linspace(0, 0.4, 1001)  # val turns up while train keeps falling
    x = extrapolate(parse_text(make_log(val_shift=shift)), 5000)
    assert x.overfitting is not None and x.overfitting.best_step in (750, 1000)
    assert all(s.val is None and "past its minimum" in s.note for s in x.scenarios)


def test_val_turns_up_by_ld501_s_bar():
    from lossdoctor.diagnose import load_rules
    from lossdoctor.fit import points
    assert points.RISE_Z == pytest.approx(load_rules().get("LD501").params["min_z"], abs=0.005)
    def curves(last_val: float) -> points.Curves:  # train falls far; val rises from 2.00 at step 250
        return points.Curves(np.array([0, 250, 500, 750]), np.array([3.0, 1.9, 1.7, 1.5]),
                             np.array([3.0, 2.0, 2.03, last_val]), np.zeros(0, int), np.zeros(0))
    assert points.overfitting(curves(2.05), 0.02) is None  # 2.5 eval sd: under 2·√2
    assert points.overfitting(curves(2.06), 0.02) == (250, 2.0)


def test_a_plateau_with_one_low_eval_is_not_past_its_minimum():
    # eval_iters 20 and iterations of sd 0.09: one eval's sd is 0.02; the dip at step 1000 is
    # 3.5 of them, the last eval 5 above it, and train drifts down by 1 sd: a low eval, not a
    # turn, as train has not fallen past its noise (LD501's test)
    rng = np.random.default_rng(0)
    lines = ["Overriding: eval_iters = 20", "Overriding: eval_interval = 100"]
    for i in range(2001):
        if i % 100 == 0:
            val = 2.30 - 0.07 * (i == 1000) + 0.03 * (i == 2000)
            lines.append(f"step {i}: train loss {2.25 - 0.00001 * i:.4f}, val loss {val:.4f}")
        lines.append(f"iter {i}: loss {2.25 + rng.normal(0, 0.09):.4f}, time 40.00ms, mfu 0.01%")
    run = parse_text("\n".join(lines) + "\n")
    x = extrapolate(run, 3000)
    assert x.overfitting is None
    assert not any(f.rule.startswith("LD501") for f in diagnose(run).findings)


@pytest.mark.parametrize("text, why", [
    ("step 0: train loss 4.0, val loss 4.0\nstep 250: train loss 3.0, val loss 3.1\n", "too few points"),
    ("".join(f"iter {i}: loss 2.0000, time 1.00ms, mfu 0.01%\nstep {i}: train loss 2.0, val loss 2.0\n"
             for i in range(0, 2000, 10)), "constant"),
    ("iter 0: loss 4.0, time 1.00ms, mfu 0.01%\niter 1: loss nan, time 1.00ms, mfu 0.01%\n",
     r"non-finite iteration loss from step 1 on \(the run diverged\)"),
    ("iter 0: loss nan, time 1.00ms, mfu 0.01%\niter 1: loss 4.0, time 1.00ms, mfu 0.01%\n"
     "iter 2: loss nan, time 1.00ms, mfu 0.01%\n", r"from step 2 on \(the run diverged\)"),
    ("step 0: train loss nan, val loss nan\niter 0: loss nan, time 1.00ms, mfu 0.01%\n",
     "non-finite eval loss at step 0, before any update: not a divergence"),
])
def test_cannot_extrapolate_says_why(text, why):
    with pytest.raises(CannotExtrapolate, match=why):
        extrapolate(parse_text(text), 5000)


@pytest.mark.parametrize("bad", ["nan", "inf"])  # an inf, as fp16's loss scaler skips it, is a NaN's kind
def test_a_nan_loss_the_run_went_on_past_is_left_out_and_said_not_called_a_divergence(tmp_path, bad):
    import re
    log = FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log"
    lines = log.read_text().splitlines(keepends=True)
    it = next(i for i, x in enumerate(lines) if x.startswith("iter 1234:"))
    ev = next(i for i, x in enumerate(lines) if x.startswith("step 1000:"))
    without = lines[:it] + lines[it + 1:]  # the same run, that iteration not logged
    nan = [*lines[:it], re.sub(r"loss [\d.]+", f"loss {bad}", lines[it]), *lines[it + 1:]]
    nan[ev] = re.sub(r"train loss [\d.]+", f"train loss {bad}", nan[ev])
    (tmp_path / "a.log").write_text("".join(nan))
    (tmp_path / "b.log").write_text("".join(without))
    x = extrapolate(lossdoctor.load(str(tmp_path / "a.log")), 5000, scenarios=("rerun",))
    assert any("1 eval, 1 iteration with a NaN/inf loss (the first at step 1,000)" in n for n in x.notes)
    assert all(math.isfinite(v) for v in (x.scenarios[0].val.mean, x.scenarios[0].train.mean))
    without[ev] = nan[ev]  # the same NaN train at that eval, the NaN iteration not logged at all
    (tmp_path / "c.log").write_text("".join(without))
    clean = extrapolate(lossdoctor.load(str(tmp_path / "c.log")), 5000, scenarios=("rerun",))
    assert x.scenarios[0].val.mean == pytest.approx(clean.scenarios[0].val.mean, abs=1e-9)
    assert x.scenarios[0].train.mean == pytest.approx(clean.scenarios[0].train.mean, abs=1e-9)
    from lossdoctor.fit.points import curves
    run = lossdoctor.load(str(tmp_path / "a.log"))
    assert len(curves(run).ev_val) == len(run.evals)  # the eval whose train is NaN keeps its val


def test_target_before_the_first_step_is_refused():
    # a log whose first logged step is 500 (its earlier lines cut): step 300 is not in it
    text = "\n".join(line for line in make_log().splitlines()
                     if not line.startswith(("iter ", "step ")) or int(line.split()[1].rstrip(":")) >= 500)
    with pytest.raises(CannotExtrapolate, match=r"target step 300 is before the first observed step \(500\)"):
        extrapolate(parse_text(text + "\n"), 300)


def test_a_target_inside_the_warmup_of_a_run_just_past_it_is_refused(tmp_path):
    # fitted from half its steps, some of them warmup steps: the target at 70 is still no point of the law's
    text = README_CPU.read_text()
    cut = tmp_path / "train.log"
    cut.write_text(text[:text.index("iter 121:")])
    x = Extrapolator(lossdoctor.load(str(cut)))
    with pytest.raises(CannotExtrapolate, match=r"step 70 is inside the run's warmup \(100 steps\)"):
        x.extrapolate(70)
    assert x.extrapolate(110).scenarios[0].name == "observed"


def test_a_run_refused_at_any_step_is_not_given_a_farthest_step():
    """Past 5x, a run the law cannot describe is told why, not sent to a 'farthest step'
    that is then refused for that reason."""
    diverged = lossdoctor.load(FIXTURES / "diagnosis" / "diverge")
    with pytest.raises(CannotExtrapolate, match="misses this run's own points") as e:
        extrapolate(diverged, 10**6)
    assert "farthest" not in str(e.value)
    # the likeliest reason first: its spikes, as LD203 finds them
    assert "its iteration losses spike (1 spike, the first at step 359), as an unstable run's do" in str(e.value)
    with pytest.raises(CannotExtrapolate, match="farthest this run supports is step 10,000"):
        extrapolate(lossdoctor.load(FIXTURES / "lossdoctor_train" / "readme_cpu_2000"), 10**6)
    from lossdoctor.fit import limits
    with pytest.raises(limits.BeyondEpochs, match="already 12.0 epochs"):
        limits.check(10**6, 3000, 0.004, 7.7)  # past the epochs already: said before the horizon


def test_a_target_inside_the_run_says_how_far_the_eval_it_quotes_lies():
    x = extrapolate(lossdoctor.load(FIXTURES / "lossdoctor_train" / "readme_cpu_2000"), 1260, scenarios=("rerun",))
    assert any("the log's eval at step 1,250 (the nearest, 10 steps before): val" in n for n in x.notes)
    y = extrapolate(lossdoctor.load(FIXTURES / "lossdoctor_train" / "readme_cpu_2000"), 1250, scenarios=("rerun",))
    assert any("the log's eval at step 1,250: val" in n for n in y.notes)


def test_constant_at_a_min_lr_of_0_says_it_trains_nothing():
    run = parse_text(make_log(sched={**SCHED, "min_lr": 0.0}))
    assert run.config.get("min_lr") == 0
    (c,) = extrapolate(run, 4000, scenarios=("constant",)).scenarios
    assert "--learning_rate=0.0" in c.flags and "no step updates a weight" in c.note
    (r,) = extrapolate(run, 4000, scenarios=("resume",)).scenarios
    assert r.note is None or "no step updates" not in r.note


def test_past_the_step_a_schedule_reaches_a_lr_of_0_the_loss_and_its_interval_stay_as_there():
    x = Extrapolator(lossdoctor.load(str(README_CPU)))
    decayed = CustomSchedule(lr_decay_iters=3000, min_lr=0.0)
    there = x.extrapolate(3000, scenarios=("custom",), schedule=decayed).scenarios[0]
    later = x.extrapolate(5000, scenarios=("custom",), schedule=decayed).scenarios[0]
    assert (later.val, later.train) == (there.val, there.train)
    assert "--max_iters=5000" in later.flags and "its LR is 0 from step 3,000" in later.note
    notes = x.extrapolate(5000, scenarios=("custom",), schedule=decayed).notes  # of the value held, not of 5,000's
    said = next(n for n in notes if n.startswith("custom without the reference runs"))
    assert f"with them {later.val.mean:.4f}" in said
    assert later.path is not None and later.path.steps[-1] == 5000 and later.path.values[-1] == there.path.values[-1]
    rerun = x.extrapolate(5000, scenarios=("rerun",)).scenarios[0]  # a LR above 0 to the end: not held
    assert "its LR is 0" not in (rerun.note or "")
    # one step past the run, its LR 0 from its end on: said there too
    end = x.extrapolate(2001, scenarios=("custom",), schedule=CustomSchedule(lr_decay_iters=1999, min_lr=0.0))
    assert "its LR is 0 from step 2,000: no later step updates a weight" in (end.scenarios[0].note or "")


def test_missing_schedule_is_assumed_and_said():
    text = make_log()
    text = "\n".join(line for line in text.splitlines() if "min_lr" not in line and "warmup" not in line) + "\n"
    x = extrapolate(parse_text(text), 3000)
    assert any("the values in parentheses are used" in n and "min_lr (default" in n for n in x.notes)


def test_json_document_and_cli_exit_codes(tmp_path, capsys):
    log = tmp_path / "train.log"
    log.write_text(make_log())
    assert main(["extrapolate", str(log), "--to", "5000", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["target_step"] == 5000 and {"name", "parameters"} <= set(doc["model"])
    assert {"residual_scale", "backtest_error"} <= set(doc["fit"])
    names = [s["name"] for s in doc["scenarios"]]
    assert names == ["rerun", "resume", "constant"]
    for s in doc["scenarios"]:
        assert set(s) >= {"name", "flags", "val", "train"}
        assert set(s["val"]) == {"mean", "lo", "hi", "level"}
    bad = tmp_path / "short.log"
    bad.write_text("step 0: train loss 4.0, val loss 4.0\n")
    assert main(["extrapolate", str(bad), "--to", "100"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lossdoctor: error: {bad}: cannot extrapolate:") and err.count("\n") == 1


def test_real_run_written_by_the_trainer():
    run = lossdoctor.load(str(FIXTURES / "lossdoctor_train" / "tiny"))
    x = lossdoctor.extrapolate(run, 250)
    assert {s.name for s in x.scenarios} == {"rerun", "resume", "constant"}
    assert all(np.isfinite(s.val.mean) for s in x.scenarios)


def test_calibrate_with_a_second_horizon_says_what_it_changes(synthetic):
    other = parse_text(make_log(n=1000, seed=1, sched={**SCHED, "lr_decay_iters": 1000}), "other.log")
    x = extrapolate(synthetic, 5000, scenarios=("rerun",), calibrate=other)
    assert any("fitted jointly with other.log" in n for n in x.notes)
    assert any(n.startswith("rerun without the other runs: val") and "as wide" in n for n in x.notes)


def test_plot_writes_a_png(tmp_path, synthetic):
    pytest.importorskip("matplotlib")
    from lossdoctor.report.plot import plot_extrapolation
    path = tmp_path / "curve.png"
    plot_extrapolation(synthetic, extrapolate(synthetic, 5000), str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_plot_of_a_log_without_val_shows_its_train_and_the_train_predicted(monkeypatch):
    pytest.importorskip("matplotlib")
    from lossdoctor.report import plot
    text = "".join(x for x in make_log().splitlines(keepends=True) if not x.startswith("step "))  # no evals
    run = parse_text(text)
    x = extrapolate(run, 4000)
    assert all(s.val is None and s.train is not None for s in x.scenarios)
    figures = []
    monkeypatch.setattr(plot, "_save", lambda fig, path: figures.append(fig))
    plot.plot_extrapolation(run, x, "x.png")
    ax = figures[0].axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert [lab.split(":")[0] for lab in labels if ":" in lab] == ["rerun", "resume", "constant"]
    assert all(": train " in lab for lab in labels if ":" in lab)  # the predictions drawn are train's
    lo, hi = ax.get_ylim()
    assert lo < hi and lo < float(run.iters.loss[-1]) < hi  # the right way up, the run's end in view
    assert lo < min(s.train.lo for s in x.scenarios) and max(s.train.hi for s in x.scenarios) < hi


def test_few_evals_predict_train_only_and_say_why():
    text = "".join(f"iter {i}: loss {3.0 * (i + 10) ** -0.2 + 1.0:.4f}, time 1.00ms, mfu 0.01%\n"
                   for i in range(0, 500))
    x = extrapolate(parse_text("Overriding: learning_rate = 0.001\nOverriding: warmup_iters = 10\n"
                               "Overriding: lr_decay_iters = 500\nOverriding: min_lr = 0.0001\n" + text), 1000)
    assert all(s.val is None and s.train is not None for s in x.scenarios)
    assert any("too few to predict val" in n for n in x.notes)


README_CPU = FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log"  # seed 1337, a real run


def test_shipped_reference_runs_have_the_readme_cpu_config():
    runs = reference.runs()
    assert [int(r.curves()[1].step.max()) for r in runs] == list(reference.HORIZONS)
    assert all(reference.mismatch(r) == [] for r in runs)


def test_a_run_of_the_reference_config_joins_them_and_says_how_far_off_it_lies():
    run = lossdoctor.load(str(README_CPU))
    assert reference.mismatch(run) == []
    x = extrapolate(run, 5000, scenarios=("rerun",))
    alone = extrapolate(run, 5000, scenarios=("rerun",), reference=False)
    ref = x.model.reference
    assert ref is not None and ref.offset.val is not None and abs(ref.offset.val) < reference.TOLERANCE
    assert alone.model.reference is None
    assert any("their points join the fit" in n for n in x.notes)
    assert any(n.startswith("rerun without the reference runs: val") for n in x.notes)
    v, va = x.scenarios[0].val, alone.scenarios[0].val
    assert v.mean != va.mean and v.hi - v.lo < va.hi - va.lo  # more horizons: a narrower interval
    # with them the ensemble; without them the calibrated law alone through L0 = 0
    # (calibration.ALONE_UNREFERENCED), which the note comparing the two also uses
    assert x.model.weights.free > 0 and alone.model.weights == (1.0, 0.0) and alone.model.val_parameters.L0 == 0.0
    assert any("used alone, through L0 = 0" in n for n in alone.notes)
    assert not any("used alone" in n for n in x.notes)
    note = next(n for n in x.notes if n.startswith("rerun without the reference runs: val"))
    assert f"{va.mean:.4f} [{va.lo:.4f}, {va.hi:.4f}]" in note


def test_a_cut_of_a_reference_run_is_not_fitted_with_them(tmp_path):
    # its own later points (the 5000-step run it was cut from) would be in the fit
    text = Path(reference.DIR, "readme_cpu_seed1338_5000.log").read_text()
    cut = tmp_path / "train.log"
    cut.write_text(text[:text.index("iter 1001:")])
    run = lossdoctor.load(str(cut))
    assert reference.mismatch(run) == [] and run.part_of(reference.runs()[-1])
    x = extrapolate(run, 5000, scenarios=("rerun",))
    assert x.model.reference is None
    assert any(n.startswith("the run is one of the reference runs") for n in x.notes)


def test_the_law_alone_is_not_blended_into_a_run_whose_val_stopped_following_train():
    x = extrapolate(lossdoctor.load(str(FIXTURES / "diagnosis" / "py_mid_overfit")), 2400, scenarios=("rerun",))
    assert any("is not blended in: val has stopped following train" in n for n in x.notes)
    assert not any("each estimate blends the two" in n for n in x.notes)


@pytest.mark.parametrize("log", ["fixtures", "groundtruth"])
def test_one_step_past_the_run_keeps_the_run_s_own_level_and_far_past_it_the_joint_fit_s(log):
    # the joint fit with the reference runs lies where the seed-1338 runs are; the run's own
    # fit minus the joint one at its end is carried past its end, fading (reference.carry):
    # nanoGPT's 1,000-step run had been given 2.1235 [2.1098, 2.1372] one step past its end,
    # where its own fit gives 2.1361 and it logged 2.1394
    from conftest import shared_path
    path = README_CPU if log == "fixtures" else shared_path("groundtruth/gt_T1000.log")
    run = lossdoctor.load(str(path))
    last = int(run.curves()[0].step.max())
    inside = extrapolate(run, last, scenarios=("rerun",)).scenarios[0].val
    next_step = extrapolate(run, last + 1, scenarios=("rerun", "resume"))
    end = next_step.model.reference.end.val
    assert abs(end) > (0.003 if log == "fixtures" else 0.01)  # the run stands off the joint fit at its end
    for s in next_step.scenarios:
        assert abs(s.val.mean - inside.mean) < 0.002 and s.val.lo <= inside.mean <= s.val.hi
    assert reference.carry(last + 1, last) > 0.99
    assert reference.carry(int(2.5 * last), last) < 0.01 and reference.carry(last, last) == 1.0


def test_other_config_or_other_data_do_not_join_the_reference_runs():
    other = lossdoctor.load(str(FIXTURES / "diagnosis" / "healthy_small"))
    assert reference.mismatch(other)
    assert extrapolate(other, 2 * int(other.curves()[1].step.max())).model.reference is None
    # the same config, every loss 0.3 nats higher (as with other data): off the references
    import re
    text = re.sub(r"(loss:? )(\d+\.\d+)", lambda m: f"{m[1]}{float(m[2]) + 0.3:.4f}", README_CPU.read_text())
    x = extrapolate(parse_text(text), 5000, scenarios=("rerun",))
    assert x.model.reference is None
    assert any("off the reference runs of its config" in n and "fitted without them" in n for n in x.notes)


def test_cli_no_reference_and_repeated_calibrate(capsys):
    assert main(["extrapolate", str(README_CPU), "--to", "4000", "--format", "json", "--no-reference"]) == 0
    assert json.loads(capsys.readouterr().out)["model"]["reference"] is None
    two = [f"{reference.DIR}/readme_cpu_seed1338_{h}.log" for h in (1000, 3000)]
    assert main(["extrapolate", str(README_CPU), "--to", "4000", "--format", "json", "--no-reference",
                 "--calibrate", two[0], "--calibrate", two[1]]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert sum("fitted jointly with" in n for n in notes) == 2


def test_an_extrapolator_fits_once_for_every_target(synthetic, monkeypatch):
    fitted = []
    fit_stream = fit_streams.fit_stream
    monkeypatch.setattr(fit_streams, "fit_stream", lambda *a, **k: fitted.append(1) or fit_stream(*a, **k))
    x = Extrapolator(synthetic)
    first = x.extrapolate(4000)
    once = len(fitted)
    assert once == 3  # the train stream, the val stream, the train stream's backtest
    rerun = x.extrapolate(5000, scenarios=("rerun",))
    custom = x.extrapolate(6000, scenarios=("custom",), schedule=dict(warmup_iters=100, lr_decay_iters=6000,
                                                                      min_lr=1e-5))
    assert len(fitted) == once and custom.scenarios[0].name == "custom"
    assert x.extrapolate(5000, scenarios=("rerun",)) is rerun  # asked again: the same answer, made once
    monkeypatch.setattr(fit_streams, "fit_stream", fit_stream)
    assert rerun == extrapolate(synthetic, 5000, scenarios=("rerun",))
    assert first == extrapolate(synthetic, 4000)


def test_a_custom_schedule_as_a_dict_or_a_value():
    run = parse_text(make_log())
    x = Extrapolator(run)
    a = x.extrapolate(4000, scenarios=("custom",), schedule=dict(lr_decay_iters=4000, min_lr=1e-5))
    b = x.extrapolate(4000, scenarios=("custom",), schedule=CustomSchedule(lr_decay_iters=4000, min_lr=1e-5))
    assert a is b and "--min_lr=1e-05" in a.scenarios[0].flags
    with pytest.raises(UsageError, match="unknown schedule key"):
        x.extrapolate(4000, scenarios=("custom",), schedule=dict(decay_iters=4000))


def test_an_extrapolator_of_a_run_that_cannot_be_extrapolated_says_so_when_asked():
    x = Extrapolator(parse_text("step 0: train loss 4.0, val loss 4.0\n"))  # nothing is read yet
    with pytest.raises(CannotExtrapolate, match="every point is at step 0"):
        x.extrapolate(100)


def test_a_calibration_is_passed_explicitly(synthetic):
    shipped = calibration.DEFAULT
    mean = shipped.val_prior.mean
    other = Calibration(shape.ShapePrior((mean[0] + 0.5, mean[1], mean[2]), shipped.val_prior.cov, 0.2, "other"),
                        shipped.train_prior, 0.2, 0.02, 0.01, "other")
    x = Extrapolator(synthetic, calibration=other).extrapolate(5000, scenarios=("rerun",))
    y = Extrapolator(synthetic, calibration=shipped).extrapolate(5000, scenarios=("rerun",))
    assert x.model.prior.calibrated_on == "other" and y.model.prior.calibrated_on == shipped.source
    assert x.model.prior.alpha == pytest.approx(np.exp(mean[0] + 0.5))
    assert x.model.val_parameters != y.model.val_parameters
    assert x.scenarios[0].val.sd > y.scenarios[0].val.sd  # its model error: 2% + 1% per doubling
    assert calibration.DEFAULT is shipped and calibration.VAL_PRIOR is shipped.val_prior  # nothing installed
    assert not hasattr(calibration, "using")
    assert Extrapolator(synthetic, calibration=shipped).extrapolate(5000, scenarios=("rerun",)) == y


def test_the_readme_cpu_config_gets_its_own_calibration_and_other_configs_the_family_error(synthetic):
    readme = lossdoctor.load(FIXTURES / "lossdoctor_train" / "readme_cpu_2000")
    assert calibration.for_config(readme.config) is calibration.DEFAULT
    # the synthetic log shows no model shape: not known to be the README config
    assert calibration.for_config(synthetic.config) is calibration.FAMILY
    assert calibration.FAMILY.val_prior is calibration.DEFAULT.val_prior
    assert calibration.FAMILY.model_error(2.5) > calibration.DEFAULT.model_error(2.5)
    x = Extrapolator(synthetic).extrapolate(5000, scenarios=("rerun",))
    assert x == Extrapolator(synthetic, calibration=calibration.FAMILY).extrapolate(5000, scenarios=("rerun",))


def test_the_model_error_fit_recovers_the_error_the_spread_leaves_unexplained():
    rng = np.random.default_rng(0)
    cases = []
    for ratio in (1.5, 2.0, 2.5, 5.0) * 30:
        truth, sd = 2.0, 0.01
        model = (0.004 + 0.01 * np.log2(ratio)) * truth  # the unexplained sd
        cases.append((ratio, truth + rng.normal(0, np.hypot(model, sd)), truth, sd))
    base, per = calibrate.model_error_fit(cases)
    assert base == pytest.approx(0.004, abs=0.004) and per == pytest.approx(0.01, abs=0.003)
    assert calibrate.model_error_fit([(2.0, 2.0, 2.0, 0.01)]) == (0.0, 0.0)  # nothing unexplained


def test_iterations_logged_10x_as_often_are_thinned_to_as_many_points():
    """The same run logging every iteration instead of every 10th: as many points to fit,
    nearly the same prediction."""
    sparse = extrapolate(parse_text(make_log(log_every=10)), 5000, scenarios=("rerun",))
    dense = extrapolate(parse_text(make_log(log_every=1)), 5000, scenarios=("rerun",))
    # about TRAIN_BINS bins either way (10x as many iterations in each), plus the 8 evals
    assert dense.fit.points.val == sparse.fit.points.val == 8
    assert dense.fit.points.train <= sparse.fit.points.train <= 8 + 2 * TRAIN_BINS
    (s,), (d,) = sparse.scenarios, dense.scenarios
    truth = law_curve(5000, sched={**SCHED, "lr_decay_iters": 5000})[5000] + 0.05
    assert abs(s.val.mean - truth) < 0.03 and abs(d.val.mean - truth) < 0.03
    assert abs(s.val.mean - d.val.mean) < 0.005 and abs(s.train.mean - d.train.mean) < d.train.sd / 2


def test_no_prediction_past_the_measured_epochs():
    """The ensemble is measured to 4 epochs of the data, the calibrated law alone (from 2000
    steps off the README CPU config) to 7.7 (calibration.ENSEMBLE_EPOCHS, ALONE_EPOCHS)."""
    from lossdoctor.fit.extrapolate import BeyondEpochs
    alone = lossdoctor.load(FIXTURES / "heldout" / "batch24-2000")  # 1536 tokens/step, tiny Shakespeare
    limit = int(calibration.ALONE_EPOCHS * 1_003_854 / 1536)  # 5032 steps
    x = extrapolate(alone, 5000, scenarios=("rerun",))
    assert any("7.7 epochs of the training data: " in n and "; past 4 epochs" in n for n in x.notes)
    with pytest.raises(BeyondEpochs, match=r"step 5,100 is 7.8 epochs of the training data, beyond the 7.7") as no:
        extrapolate(alone, 5100, scenarios=("rerun",))
    farthest = no.value.farthest
    assert farthest is not None and f"the farthest this run supports is step {farthest:,}; " in str(no.value)
    assert limit - 10 <= farthest <= limit and no.value.limit == calibration.ALONE_EPOCHS
    # the log names the dataset, not its size: the refusal says the epochs rest on the standard split
    why = str(no.value)
    assert "the epochs assume a train split of 1,003,854 tokens" in why and "--dataset-tokens" in why
    with pytest.raises(BeyondEpochs) as given:
        extrapolate(alone, 5100, scenarios=("rerun",), dataset_tokens=1_003_854)
    assert "assume" not in str(given.value)  # a size given is not assumed
    extrapolate(alone, farthest, scenarios=("rerun",))  # the farthest step the message names is predicted
    with pytest.raises(BeyondEpochs):
        extrapolate(alone, farthest + 1, scenarios=("rerun",))
    ensemble = lossdoctor.load(FIXTURES / "calibration" / "d4w128-shakespeare-s1-1000")  # 1024 tokens/step
    assert not any("past 4 epochs" in n for n in extrapolate(ensemble, 3900, scenarios=("rerun",)).notes)
    with pytest.raises(BeyondEpochs, match=r"step 4,000 is 4.1 epochs of the training data, beyond the 4 "):
        extrapolate(ensemble, 4000, scenarios=("rerun",))


def test_no_prediction_past_the_measured_horizon(synthetic):
    from lossdoctor.fit.extrapolate import MAX_HORIZON
    last = int(synthetic.curves()[0].step[-1])
    extrapolate(synthetic, int(MAX_HORIZON * last))  # 5x: measured, predicted
    with pytest.raises(CannotExtrapolate, match="beyond what this run supports"):
        extrapolate(synthetic, int(MAX_HORIZON * last) + 100)
    # where the epochs the backtests measure end before 5x, the refusal names that step, not 5x
    batch24 = lossdoctor.load(str(FIXTURES / "repetition" / "r2w96-2000"))  # 7.7 epochs at step 5,032
    with pytest.raises(CannotExtrapolate, match=r"the farthest this run supports is step 5,032 \(7.7 epochs"):
        extrapolate(batch24, 12_000)


def test_through_the_origin_fits_a_only():
    u = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    y = np.array([2.0, 4.0, 6.0])
    coef, cov, chi2 = shape.through_origin(u, y, np.ones(3))
    assert np.allclose(coef[:, 0], 0.0) and coef[0, 1] == pytest.approx(2.0) and chi2[0] == pytest.approx(0.0)
    assert coef[1, 1] == pytest.approx(4.0) and chi2[1] == pytest.approx(8.0)
    assert cov[0, 0, 0] == 0.0 and cov[0, 1, 1] == pytest.approx(1 / 14)
    falling = shape.through_origin(np.array([[1.0, 2.0]]), np.array([-1.0, -2.0]), np.ones(2))[0]
    assert falling[0, 1] == 0.0  # A >= 0


def test_off_the_readme_config_from_2000_steps_the_calibrated_law_alone_through_the_origin():
    """calibration.ALONE_FROM: a 2000-step run of another config gets the calibrated law
    alone with L0 = 0, and says so; a 1000-step one keeps the ensemble's fits (the law alone
    is only blended in); the README CPU config (DEFAULT) is not touched."""
    long = lossdoctor.load(FIXTURES / "long" / "lr5e-4-2000")
    x = Extrapolator(long).extrapolate(5000, scenarios=("rerun",))
    assert x.model.weights == (1.0, 0.0) and x.model.val_parameters.L0 == 0.0
    assert any("through L0 = 0" in n for n in x.notes)
    short = lossdoctor.load(FIXTURES / "calibration" / "d4w128-shakespeare-s1-1000")
    y = Extrapolator(short).extrapolate(2000, scenarios=("rerun",))
    assert y.model.weights.free > 0 and not any("through L0 = 0" in n for n in y.notes)
    assert calibration.FAMILY.alone(2000, referenced=False) and not calibration.FAMILY.alone(1999, referenced=False)
    assert not calibration.DEFAULT.alone(10_000, referenced=True)


def test_between_the_grid_and_the_long_runs_the_two_laws_are_blended_by_log_steps():
    """calibration.BLEND_FROM: from 1000 to 2000 steps the law alone's share grows with log2
    of the steps from SHORT_SHARE to 1, so a log cut a step before ALONE_FROM is predicted as
    the whole log is (it had been the ensemble's, 0.06 nats off), and the blend is the two
    laws' mixture."""
    import dataclasses
    fam, s = calibration.FAMILY, calibration.SHORT_SHARE
    assert 0 < s < 1 and fam.alone_share(400, False) == s == fam.alone_share(1000, False)
    assert fam.alone_share(2000, False) == 1.0 and 0.99 < fam.alone_share(1999, False) < 1
    assert fam.alone_share(1414, False) == pytest.approx(s + (1 - s) / 2, abs=1e-3)
    assert calibration.DEFAULT.alone_share(1500, True) == 0.0  # the README CPU config with its reference runs
    log = (FIXTURES / "long" / "block32-2000" / "train.log").read_text().splitlines(keepends=True)
    end = next(i for i, line in enumerate(log) if line.startswith("iter 1500:"))
    run = parse_text("".join(log[:end + 1]))
    ways = _ways(run, {"ensemble": dataclasses.replace(fam, alone_from=None, blend_from=None),
                       "alone": dataclasses.replace(fam, alone_from=0, blend_from=None)}, 5000)
    x = Extrapolator(run).extrapolate(5000, scenarios=("rerun",))
    (e,), (a,), (b,) = (ways["ensemble"].scenarios, ways["alone"].scenarios, x.scenarios)
    w = fam.alone_share(1500, False)
    assert b.val.mean == pytest.approx((1 - w) * e.val.mean + w * a.val.mean)
    assert b.train.mean == pytest.approx((1 - w) * e.train.mean + w * a.train.mean)
    assert b.val.sd > min(e.val.sd, a.val.sd) and b.val.lo < b.val.mean < b.val.hi
    assert b.weights.calibrated == pytest.approx((1 - w) * e.weights.calibrated + w * a.weights.calibrated)
    assert x.model.weights == ways["ensemble"].model.weights  # the laws' backtest weights: the ensemble's
    assert x.alone_share == pytest.approx(w) and ways["ensemble"].alone_share == 0.0 == ways["alone"].alone_share - 1
    inside = [Extrapolator(run, calibration=c).extrapolate(1500).scenarios[0].val.mean
              for c in (fam, dataclasses.replace(fam, alone_from=None, blend_from=None))]
    assert inside[0] == inside[1]  # inside the run, the run as the ensemble fits it
    assert any(f"blends the two, {w:.0%} the law alone" in n and f"{e.val.mean:.4f} by the ensemble" in n
               and f"{a.val.mean:.4f} by the law alone" in n for n in x.notes)
    whole = Extrapolator(lossdoctor.load(FIXTURES / "long" / "block32-2000")).extrapolate(5000, scenarios=("rerun",))
    end = next(i for i, line in enumerate(log) if line.startswith("iter 1999:"))
    (cut,) = Extrapolator(parse_text("".join(log[:end + 1]))).extrapolate(5000, scenarios=("rerun",)).scenarios
    assert abs(cut.val.mean - whole.scenarios[0].val.mean) < 0.01


def _ways(run, cals, to):
    """The run's extrapolation to `to` with each calibration; the law alone's moved to the
    run's end as the ensemble fits it (blend.anchored), as a blend takes it."""
    from lossdoctor.fit import blend
    xs = {k: Extrapolator(run, calibration=c) for k, c in cals.items()}
    out = {k: x.extrapolate(to, scenarios=("rerun",)) for k, x in xs.items()}
    last = out["ensemble"].last_step
    out["alone"] = blend.anchored(out["alone"], blend.ends(xs["ensemble"].extrapolate(last),
                                                           xs["alone"].extrapolate(last)))
    return out


def test_below_the_blend_window_the_two_laws_are_blended_at_the_short_share():
    """calibration.SHORT_SHARE: a grid run of 400 steps is the mixture of the ensemble and
    the law alone, said in a note of its own; both sides carry the blend's model error
    (SHORT_ERROR), not the long runs' (ALONE_ERROR_PER_DOUBLING); inside the run, the fit
    is the ensemble's."""
    import dataclasses
    fam, s = calibration.FAMILY, calibration.SHORT_SHARE
    run = lossdoctor.load(FIXTURES / "calibration" / "d4w128-shakespeare-s1-400")
    ways = {k: x.scenarios[0] for k, x in _ways(run, {"ensemble": dataclasses.replace(fam, alone_from=None),
                                                      "alone": fam.alone_sibling(400), "shipped": fam}, 1000).items()}
    e, a, b = ways["ensemble"].val, ways["alone"].val, ways["shipped"].val
    assert b.mean == pytest.approx((1 - s) * e.mean + s * a.mean) and abs(e.mean - a.mean) > 0.01
    # one step past the run, the run's level as the ensemble fits it: the law alone, through
    # L0 = 0, misses this run's end by 0.04, and the blend had been 0.015 below it there
    next_step = _ways(run, {"ensemble": dataclasses.replace(fam, alone_from=None), "alone": fam.alone_sibling(400),
                            "shipped": fam}, 401)
    raw = Extrapolator(run, calibration=fam.alone_sibling(400)).extrapolate(401, scenarios=("rerun",))
    at = {k: v.scenarios[0].val.mean for k, v in next_step.items()}
    assert abs(at["shipped"] - at["ensemble"]) < 0.002 < 0.01 < abs(raw.scenarios[0].val.mean - at["ensemble"])
    x = Extrapolator(run).extrapolate(1000, scenarios=("rerun",))
    assert x.fit_path == _ways(run, {"ensemble": dataclasses.replace(fam, alone_from=None),
                                     "alone": fam.alone_sibling(400)}, 1000)["ensemble"].fit_path
    assert x.alone_share == s and any("at most the 1,000 steps up to which the ensemble" in n
                                      and f"{s:.0%} the law alone" in n for n in x.notes)
    # both sides carry the blend's model error (SHORT_ERROR), up to the grid's 1,000-step runs; in
    # the window the law alone's side carries the long runs'; the ensemble of a run that rules
    # the law alone out, the error of such runs
    short = fam.model_error(2.5, short=True)
    assert fam.alone_sibling(400).model_error(2.5, alone=True) == short == fam.alone_sibling(1000).model_error(
        2.5, alone=True) and short != fam.model_error(2.5)
    assert fam.alone_sibling(1500).model_error(2.5, alone=True) == fam.model_error(2.5, alone=True)
    from lossdoctor.fit.notes import share
    said = next(n for n in x.notes if "the interval carries the model error" in n)
    assert f"({share(short)} of the loss at this horizon" in said
    ruled_out = Extrapolator(lossdoctor.load(FIXTURES / "calibration" / "d2w64-shakespeare-s1-400")).extrapolate(1000)
    said = next(n for n in ruled_out.notes if "the interval carries the model error" in n)
    # ruled out (its backtest refutes the law alone): the ensemble's error measured on such runs
    assert ruled_out.alone_share == 0.0 and fam.model_error(2.5, ruled_out=True) != fam.model_error(2.5)
    assert f"({share(fam.model_error(2.5, ruled_out=True))} of the loss at this horizon" in said


def test_a_run_whose_backtest_rules_the_law_alone_out_is_not_blended(monkeypatch):
    log = (FIXTURES / "long" / "lr5e-4-2000" / "train.log").read_text().splitlines(keepends=True)
    end = next(i for i, line in enumerate(log) if line.startswith("iter 1500:"))
    run = parse_text("".join(log[:end + 1]))
    blended = Extrapolator(run).extrapolate(5000, scenarios=("rerun",))
    errors = blended.model.laws.backtest_rms_sigma
    monkeypatch.setattr(fit_streams, "REFUTED", 0.5 * errors.calibrated / errors.free)
    x = Extrapolator(run).extrapolate(5000, scenarios=("rerun",))
    assert not any("blends the two" in n for n in x.notes) and x.scenarios[0].val != blended.scenarios[0].val
    assert any("of the estimates of a run of 1,500 steps, is not blended in: on this run's own backtest" in n
               for n in x.notes)


def test_a_run_whose_val_has_turned_up_gets_the_ensemble_not_the_law_alone(monkeypatch):
    """A memorizing run (py_small_overfit, 1,500 steps: val past its minimum, train heading
    for 0) is not blended with the law alone, which put its train at 4,000 steps 0.2 above
    where it ended; from 2,000 steps, such a run gets the ensemble, said."""
    x = extrapolate(lossdoctor.load(FIXTURES / "diagnosis" / "py_small_overfit"), 4000, scenarios=("rerun",))
    assert any("is not blended in: val has turned up (its best 1.3282 at step 1,200)" in n for n in x.notes)
    assert x.scenarios[0].train.mean < 0.2 and x.model.weights.free > 0.5
    from lossdoctor.fit import points as fit_points
    from lossdoctor.fit.results import Overfitting
    monkeypatch.setattr(fit_points, "overfitting", lambda cur, sig: Overfitting(1500, 1.95))
    y = Extrapolator(lossdoctor.load(FIXTURES / "long" / "lr5e-4-2000")).extrapolate(5000, scenarios=("rerun",))
    assert y.model.val_parameters.L0 != 0.0 and not any("from 2,000 steps on" in n for n in y.notes)
    assert any("would be used here, but val has turned up (its best 1.9500 at step 1,500)" in n for n in y.notes)
    from lossdoctor.fit import limits
    with pytest.raises(limits.BeyondEpochs, match="beyond the 4 the backtests measure"):  # the ensemble's limit
        Extrapolator(lossdoctor.load(FIXTURES / "long" / "lr5e-4-2000")).extrapolate(6000, scenarios=("rerun",))
    monkeypatch.undo()  # the law alone's: 7.7 epochs
    assert Extrapolator(lossdoctor.load(FIXTURES / "long" / "lr5e-4-2000")).extrapolate(6000).alone_share == 1.0


def test_a_blend_is_the_mixture_of_the_two_estimates():
    from lossdoctor.fit import blend
    from lossdoctor.fit.results import Estimate
    a, b = Estimate(2.0, 1.9, 2.1, 0.8, 0.05), Estimate(1.8, 1.75, 1.85, 0.8, 0.03)
    assert blend.estimate(a, b, 0.0).mean == 2.0 and blend.estimate(a, b, 1.0).sd == pytest.approx(0.03)
    m = blend.estimate(a, b, 0.25)
    assert m.mean == pytest.approx(1.95)
    assert m.sd == pytest.approx(np.sqrt(0.75 * 0.05 ** 2 + 0.25 * 0.03 ** 2 + 0.25 * 0.75 * 0.2 ** 2))
    assert blend.estimate(a, None, 0.5) is None
    assert blend.percent(0.9993) == "99.9%" and blend.percent(0.58) == "58%"


def test_the_calibrated_law_alone_has_its_own_model_error_per_doubling():
    import math
    fam = calibration.FAMILY
    assert fam.model_error(2.5, alone=True) == pytest.approx(calibration.ALONE_ERROR_PER_DOUBLING * math.log2(2.5))
    assert fam.model_error(2.5) == pytest.approx(fam.model_error_base + fam.model_error_per_doubling * math.log2(2.5))
    assert calibration.DEFAULT.model_error(2.5, alone=True) == calibration.DEFAULT.model_error(2.5)  # none of its own
    cases = [(4.0, 2.02, 2.0, 0.0), (4.0, 1.98, 2.0, 0.0)]  # 1% of the loss off at two doublings
    assert calibrate.model_error_fit(cases, base=False) == pytest.approx((0.0, 0.005), abs=1e-6)


def test_a_repeated_step_is_worth_less_to_val_as_muennighoff_counts_it():
    from lossdoctor.fit import repeat
    w = repeat.worth(5, 0.5)  # epochs read by the middle of each step: 0.25, 0.75, 1.25, 1.75, 2.25
    assert w[:2].tolist() == [1.0, 1.0] and w[2] == pytest.approx(np.exp(-0.25 / repeat.R_STAR))
    assert np.all(np.diff(w[1:]) < 0)
    assert repeat.effective_epochs(0.5) == 0.5 and repeat.effective_epochs(1.0) == 1.0
    assert repeat.effective_epochs(7.7) == pytest.approx(6.44, abs=0.01)  # 1 + 15.4 (1 - e^(-6.7/15.4))
    n, per = 20_000, 7.7 / 20_000  # summed, the steps' worth is D' / U
    assert float(np.sum(repeat.worth(n, per))) * per == pytest.approx(repeat.effective_epochs(7.7), abs=1e-3)


def test_worth_counts_in_the_lr_area_and_not_in_the_annealing_area():
    from lossdoctor.fit.areas import Annealing, Eta
    e = lr_at(np.arange(3000), **SCHED) / SCHED["learning_rate"]
    w = np.linspace(1.0, 0.5, len(e))
    plain, worth = Eta(e), Eta(e, worth=w)
    steps = np.array([0, 1, 1500, 3000])
    assert np.allclose(worth.s1(steps), np.concatenate([[0.0], np.cumsum(e * w)])[steps])
    assert np.allclose(plain.s1(steps), np.concatenate([[0.0], np.cumsum(e)])[steps])
    lams = np.array([0.99, 0.999])
    assert np.array_equal(Annealing(worth, lams).at(steps), Annealing(plain, lams).at(steps))


def test_val_counts_repeated_data_and_train_every_step():
    """A run predicted to 7.7 epochs: val is higher than with every step counted in full,
    train is the same, and the note says how many epochs of new data the target is worth."""
    import dataclasses
    run = lossdoctor.load(FIXTURES / "heldout" / "batch24-2000")  # 3.1 epochs, to 7.7 at step 5000
    fam = calibration.for_config(run.config)
    assert fam.repeat_r_star == 15.4
    counted = Extrapolator(run, calibration=fam).extrapolate(5000, scenarios=("rerun",))
    (x,) = counted.scenarios
    (y,) = Extrapolator(run, calibration=dataclasses.replace(fam, repeat_r_star=None)).extrapolate(
        5000, scenarios=("rerun",)).scenarios
    assert 0.01 < x.val.mean - y.val.mean < 0.03 and x.train.mean == y.train.mean
    assert any("7.7 epochs of the training data: val counts them" in n and "as 6.4 epochs of new data" in n
               for n in counted.notes)


def test_a_log_without_the_epochs_says_val_is_predicted_as_if_no_data_repeats(synthetic):
    x = extrapolate(synthetic, 4000, scenarios=("rerun",))
    assert any("does not show the data's size: val is predicted as if no data repeats" in n for n in x.notes)
    assert not any("tokens per step" in n for n in x.notes)  # the log prints its tokens per iteration
    assert not any("no data repeats" in n for n in extrapolate(synthetic, 1000, scenarios=("rerun",)).notes)


def test_json_says_how_val_counts_repeated_data(capsys):
    """batch24 (off the README CPU config) counts repeated data, with the target's epochs
    and what they are worth; the README CPU config does not (null)."""
    assert main(["extrapolate", str(FIXTURES / "heldout" / "batch24-2000"), "--to", "5000", "--format", "json"]) == 0
    rep = json.loads(capsys.readouterr().out)["model"]["repeated_data"]
    assert rep["r_star"] == 15.4 and rep["epochs"] == pytest.approx(7.65, abs=0.01)
    assert rep["effective_epochs"] == pytest.approx(6.4, abs=0.05)
    readme = FIXTURES / "lossdoctor_train" / "readme_cpu_2000"
    assert main(["extrapolate", str(readme), "--to", "4000", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"]["repeated_data"] is None


def test_a_run_already_past_the_measured_epochs_is_told_so_not_given_a_step_behind_it():
    from lossdoctor.fit import limits
    with pytest.raises(limits.BeyondEpochs, match=r"already 12.0 epochs of the training data at its last step "
                                                  r"\(3,000\), past the 7.7 .*no later step is predicted"):
        limits.check(7500, 3000, 0.004, 7.7)
    limits.check(1900, 1000, 0.004, 7.7)  # 7.6 epochs: inside


def test_the_run_s_own_backtest_can_overrule_the_calibrated_law_alone(monkeypatch):
    """streams.REFUTED: where the calibrated law would be used alone, a run on which its
    backtest error is over REFUTED times the free law's gets the ensemble, and is told so."""
    run = lossdoctor.load(FIXTURES / "long" / "lr5e-4-2000")
    errors = Extrapolator(run).extrapolate(5000, scenarios=("rerun",)).model.laws.backtest_rms_sigma
    assert errors is not None and errors.calibrated < fit_streams.REFUTED * errors.free
    monkeypatch.setattr(fit_streams, "REFUTED", 0.5 * errors.calibrated / errors.free)
    x = Extrapolator(run).extrapolate(5000, scenarios=("rerun",))
    assert x.model.weights != (1.0, 0.0) and not any("from 2,000 steps on" in n for n in x.notes)
    note = next(n for n in x.notes if "would be used here" in n)
    assert f"errs {errors.calibrated:.1f} sigma against the free law's {errors.free:.1f}" in note


def test_a_log_without_its_config_is_not_extrapolated_on_nanogpts_defaults():
    text = "\n".join(line for line in README_CPU.read_text().splitlines() if line.startswith(("iter ", "step ")))
    run = parse_text(text)
    assert calibration.differences(run.config) == []  # nor said to differ in them
    with pytest.raises(CannotExtrapolate, match="does not show learning_rate or lr_decay_iters.*would be a guess"):
        extrapolate(run, 5000, scenarios=("rerun",))
    shown = "Overriding: learning_rate = 0.001\nOverriding: lr_decay_iters = 2000\n" + text
    assert extrapolate(parse_text(shown), 5000, scenarios=("rerun",)).scenarios[0].val is not None
    with pytest.raises(CannotExtrapolate, match="given to fit jointly: the log does not show learning_rate"):
        extrapolate(lossdoctor.load(README_CPU), 5000, calibrate=run)  # nor is it fitted beside another run


def test_a_log_of_another_trainer_with_no_loss_is_told_it_has_none():
    run = lossdoctor.load(FIXTURES / "formats" / "llmc_assert.log")  # llm.c, failed before its first step
    with pytest.raises(CannotExtrapolate, match="the run has no loss values"):
        extrapolate(run, 100)


def test_a_run_at_a_constant_lr_is_not_told_to_set_lr_decay_iters():
    """train.py ignores lr_decay_iters with decay_lr=False: the flags leave it out."""
    text = README_CPU.read_text().replace("learning_rate: 0.001\n", "learning_rate: 0.001\ndecay_lr: false\n", 1)
    assert "decay_lr: false" in text
    x = extrapolate(parse_text(text), 5000, scenarios=("rerun", "resume"))
    assert [s.flags for s in x.scenarios] == ["--max_iters=5000", "--init_from=resume --max_iters=5000"]


def test_runs_fitted_jointly_must_be_of_the_same_config_and_modelled(tmp_path):
    """calibrate: a run of another model, or one in bpb, is refused with why; one of the
    same config whose schedule differs (its warmup) joins."""
    run = lossdoctor.load(FIXTURES / "calibration" / "d2w64-shakespeare-s1-400")
    other = lossdoctor.load(FIXTURES / "calibration" / "d6w64-shakespeare-s1-600")
    with pytest.raises(CannotExtrapolate, match="is not a run of the same config: n_layer 6 vs 2"):
        extrapolate(run, 1000, calibrate=other)
    with pytest.raises(CannotExtrapolate, match="given to fit jointly: val is in bpb"):
        extrapolate(run, 1000, calibrate=lossdoctor.load(FIXTURES / "formats" / "nanochat_base_train.log"))
    same = lossdoctor.load(FIXTURES / "calibration" / "d2w64-shakespeare-s1-600")  # warmup 30, not 20
    assert any("fitted jointly with" in n for n in extrapolate(run, 1000, calibrate=same).notes)
    inside = extrapolate(run, 300, calibrate=same).notes  # the smoothed value: no with/without to compare
    assert not any("without the other runs" in n for n in inside)
    with pytest.raises(CannotExtrapolate, match="is the run extrapolated: its points would count twice"):
        extrapolate(run, 1000, calibrate=lossdoctor.load(FIXTURES / "calibration" / "d2w64-shakespeare-s1-400"))
    with pytest.raises(CannotExtrapolate, match="s1-600.train.log, given to fit jointly, is given twice"):
        extrapolate(run, 1000, calibrate=[same, same])
    longer = FIXTURES / "calibration" / "d2w64-shakespeare-s1-600" / "train.log"
    lines = longer.read_text().splitlines(keepends=True)
    (tmp_path / "cut.log").write_text("".join(lines[:len(lines) * 2 // 3]))  # the longer log cut: not another run
    with pytest.raises(CannotExtrapolate, match="cut.log, given to fit jointly, is a part of the run extrapolated"):
        extrapolate(same, 1000, calibrate=lossdoctor.load(tmp_path / "cut.log"))
    with pytest.raises(CannotExtrapolate, match="s1-600.train.log, given to fit jointly, holds the run extrapolated"):
        extrapolate(lossdoctor.load(tmp_path / "cut.log"), 1000, calibrate=same)  # the other way round
    # a reference run given where the reference runs join: counted twice; without them, it joins as any run
    readme = lossdoctor.load(README_CPU)
    ref = lossdoctor.load(reference.DIR + "/readme_cpu_seed1338_3000.log")
    with pytest.raises(CannotExtrapolate, match="is one of the reference runs, or a part of one: they join"):
        extrapolate(readme, 4000, calibrate=ref)
    assert any("fitted jointly with" in n for n in extrapolate(readme, 4000, calibrate=ref, reference=False).notes)


def test_inside_the_run_an_overfitting_val_is_the_log_s_and_a_custom_schedule_is_predicted():
    shift = np.zeros(2001)
    shift[1000:] = np.linspace(0, 0.4, 1001)
    run = parse_text(make_log(val_shift=shift))
    before = extrapolate(run, 750)
    assert before.scenarios[0].val is not None  # before its minimum the law holds
    past = extrapolate(run, 2000)
    assert past.scenarios[0].val is None and "the log's own evals" in past.scenarios[0].note
    assert past.scenarios[0].train is not None
    x = extrapolate(parse_text(make_log()), 2000, scenarios=("custom",),
                    schedule=CustomSchedule(100, 600_000, 1e-4, 1e-3, True))
    observed, custom = x.scenarios
    assert (observed.name, custom.name) == ("observed", "custom") and observed.val is not None
    # inside the run the law is not measured under another schedule: said, not predicted
    from lossdoctor.fit import notes
    assert custom.val is None and custom.train is None and custom.note == notes.CUSTOM_INSIDE
    assert custom.flags.endswith("--lr_decay_iters=600000 --min_lr=0.0001")
    beyond = extrapolate(parse_text(make_log()), 3000, scenarios=("custom",),
                         schedule=CustomSchedule(100, 600_000, 1e-4, 1e-3, True))
    rerun = extrapolate(parse_text(make_log()), 3000, scenarios=("rerun",)).scenarios[0]
    assert beyond.scenarios[0].val.mean > rerun.val.mean + 0.004  # barely decaying: no annealing bonus


def test_a_target_before_the_fitted_points_is_declined():
    with pytest.raises(CannotExtrapolate, match="before the points the law is fitted on"):
        extrapolate(parse_text(make_log()), 50)


def test_a_curve_the_law_misses_by_far_is_declined_and_a_noiseless_one_is_not():
    def wave(line: str) -> str:  # iter i: loss y, ... -> y + 0.3 sin(i / 60): a curve no LR schedule makes
        if not line.startswith("iter "):
            return line
        _, i, _, y, *rest = line.split()
        return f"iter {i} loss {float(y.rstrip(',')) + 0.3 * np.sin(int(i.rstrip(':')) / 60):.4f}, {' '.join(rest)}"
    wavy = "\n".join(wave(line) for line in make_log().splitlines()) + "\n"
    with pytest.raises(CannotExtrapolate, match="misses this run's own points by") as e:
        extrapolate(parse_text(wavy), 4000)
    assert "spike" not in str(e.value)  # a wave is no spike
    # a key the header leaves at train.py's default is what ran: not named as a doubt
    quiet = "".join(x for x in wavy.splitlines(keepends=True) if not x.startswith("Overriding: decay_lr"))
    with pytest.raises(CannotExtrapolate, match="misses this run's own points by") as e:
        extrapolate(parse_text(quiet), 4000)
    assert "decay_lr" not in str(e.value) and "may not be what ran" not in str(e.value)
    smooth = make_log(noise=0.0)  # losses rounded to 4 decimals: tiny sigma, small misses in nats
    assert extrapolate(parse_text(smooth), 4000).scenarios[0].val is not None


def test_a_run_whose_lr_barely_fell_is_not_extrapolated_into_a_full_anneal_by_its_own_fit():
    """lr_decay_iters=600000 over 1000 steps: the run shows no annealing, so its own fit's
    annealing coefficient is free; the calibrated law predicts the rerun alone, and says so."""
    from lossdoctor.fit import limits
    x = lossdoctor.extrapolate(lossdoctor.load(str(FIXTURES / "diagnosis" / "decay_600k")), 2000)
    for s in x.scenarios:
        assert 1.5 < s.val.mean < 2.5 and s.val.hi - s.val.lo < 0.3
        assert "the calibrated law predicts alone" in s.note
    e = np.linspace(1.0, 0.1, 100)
    assert limits.anneal_support(e, e, 0) == 1 and limits.anneal_support(np.ones(100), e, 0) == 0
    half = np.linspace(1.0, 0.55, 100)  # half the fall: between 1 and 1 / ANNEAL_SUPPORT, the free law fades
    assert limits.anneal_support(half, e, 0) == pytest.approx((0.5 - 0.25) / 0.75)


def test_a_schedule_that_anneals_past_the_run_moves_its_prediction_smoothly(tmp_path):
    """A 300-step cut of a 2000-step cosine, given its own schedule: the free law's weight
    fades as the target's LR falls further than the run's did, with no jump where it ends."""
    lines = README_CPU.read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if line.startswith("iter 300:"))
    (tmp_path / "train.log").write_text("".join(lines[:cut + 1]))
    x = Extrapolator(lossdoctor.load(tmp_path / "train.log"))
    sched = {"warmup_iters": 100, "lr_decay_iters": 2000, "min_lr": 1e-4}
    means = [x.extrapolate(t, scenarios=("custom",), schedule=sched).scenarios[-1].train.mean
             for t in range(460, 560, 10)]
    assert max(abs(np.diff(means))) < 0.03  # it had jumped by 0.24 between 500 and 510
    assert "the free law, whose annealing is fitted on the run's own fall, weighs" in x.extrapolate(
        480, scenarios=("custom",), schedule=sched).scenarios[-1].note


def test_a_rerun_of_a_resumed_run_starts_from_scratch(tmp_path):
    # the log's last process ran with init_from=resume: its command, given the rerun's flags
    # alone, would resume
    x = extrapolate(lossdoctor.load(FIXTURES / "nanogpt" / "tiny_resume"), 450)
    flags = {s.name: s.flags for s in x.scenarios}
    assert flags["rerun"].startswith("--init_from=scratch --max_iters=450")
    assert flags["resume"].startswith("--init_from=resume")
    # a log caught before the resumed process logged a step: its command resumes all the same
    lines = (FIXTURES / "nanogpt" / "tiny_resume" / "train.log").read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith("Resuming training from"))
    (tmp_path / "train.log").write_text("".join(lines[:first + 1]))
    run = lossdoctor.load(tmp_path / "train.log")
    assert run.lineage() == (0,) and run.resumes_last()
    assert lossdoctor.compute_facts(run).value("init_from") == "resume"  # the rules' flags start fresh too
    assert extrapolate(run, 600, scenarios=("rerun",)).scenarios[0].flags.startswith("--init_from=scratch")
    assert "init_from" not in extrapolate(lossdoctor.load(FIXTURES / "nanogpt" / "cpu_small"), 450).scenarios[0].flags


def test_a_custom_warmup_other_than_the_run_s_says_what_the_law_does_not_model(synthetic):
    other = extrapolate(synthetic, 3000, scenarios=("custom",), schedule={"warmup_iters": 10})
    assert "its warmup is 10 steps, the run's 100" in other.scenarios[-1].note
    same = extrapolate(synthetic, 3000, scenarios=("custom",), schedule={"warmup_iters": 100, "min_lr": 5e-5})
    assert same.scenarios[-1].note is None
    with pytest.raises(CannotExtrapolate, match=r"the schedule is still in its warmup at step 3,000 \(warmup_iters 3"):
        extrapolate(synthetic, 3000, scenarios=("custom",), schedule={"warmup_iters": 3000})
    # without decay_lr train.py runs no get_lr: its keys are refused, and no warmup is said
    with pytest.raises(UsageError, match=r"with decay_lr=False train.py reads no warmup_iters, min_lr"):
        extrapolate(synthetic, 3000, scenarios=("custom",), schedule={"decay_lr": False, "warmup_iters": 10,
                                                                      "min_lr": 0.5})
    flat = extrapolate(synthetic, 3000, scenarios=("custom",), schedule={"decay_lr": False}).scenarios[-1]
    assert flat.note is None and flat.flags.endswith("--learning_rate=0.001 --decay_lr=False")


def test_a_longer_custom_warmup_counts_its_steps_past_the_run_s_at_their_own_lr(tmp_path):
    # healthy_tiny (warmup 20) cut at 500, given warmup_long's schedule (warmup 950, same seed): that run
    # logged val 2.3366 at 1,000 against healthy_tiny's 2.3134; counted at the peak, the warmup had been
    # predicted 0.035 better than the rerun
    text = (FIXTURES / "diagnosis" / "healthy_tiny" / "train.log").read_text()
    log = tmp_path / "train.log"
    log.write_text(text[:text.index("\niter 501:") + 1])
    x = extrapolate(lossdoctor.load(str(log)), 1000, scenarios=("rerun", "custom"),
                    schedule={"warmup_iters": 950, "lr_decay_iters": 1000})
    rerun, custom = x.scenarios
    assert custom.val.mean > rerun.val.mean and custom.val.lo < 2.3366 < custom.val.hi
    assert "this schedule's other 930 at their own LR" in " ".join(custom.note.split())


def test_a_fine_tune_from_gpt2_weights_is_not_extrapolated():
    run = parse_text("Overriding: init_from = gpt2-xl\n" + make_log())
    with pytest.raises(CannotExtrapolate, match=r"starts from OpenAI's GPT-2 weights \(init_from=gpt2-xl\)"):
        extrapolate(run, 4000)


def test_a_resumed_run_whose_config_file_fine_tunes_gpt2_is_not_extrapolated(tmp_path):
    import shutil

    import lossdoctor
    from conftest import FIXTURES
    head = "Overriding config with config/finetune.py:\ninit_from = 'gpt2'\nmax_iters = 4000\n\n"
    resumed = parse_text(head + "Overriding: init_from = resume\n" + make_log())
    assert resumed.config.replaced["init_from"].value == "gpt2" and resumed.config.get("init_from") == "resume"
    with pytest.raises(CannotExtrapolate, match=r"config file sets init_from='gpt2' \(the log overrides it"):
        extrapolate(resumed, 4000)
    # beside its checkpoint, as a resumed run's folder holds it, the replaced value is kept
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "train.log").write_text(head + "Overriding: init_from = resume\n" + make_log())
    shutil.copy(FIXTURES / "nanogpt" / "tiny_resume" / "ckpt.pt", folder / "ckpt.pt")
    assert lossdoctor.load(str(folder)).config.replaced["init_from"].value == "gpt2"
    # the same config file started from scratch by a flag is not a fine-tune
    scratch = parse_text(head + "Overriding: init_from = scratch\n" + make_log())
    assert scratch.config.replaced["init_from"].value == "gpt2"
    assert extrapolate(scratch, 4000).scenarios


def test_a_curve_unlike_the_calibrated_shape_names_its_stream_and_quotes_both_shapes(synthetic, monkeypatch):
    from lossdoctor.fit import notes as notes_mod
    cal = calibration.DEFAULT
    monkeypatch.setattr(notes_mod.shape, "distance", lambda post, prior: 4.0 if prior is cal.train_prior else 1.0)
    [bends] = [n for n in extrapolate(synthetic, 4000, reference=False).notes if "bends unlike" in n]
    alpha = shape.from_theta(np.array(cal.train_prior.mean))[0]
    assert bends.startswith("the run's train curve") and f"4.0 prior sd from the prior's (alpha {alpha:.3f}" in bends


def test_the_flags_column_gives_a_flag_a_line_and_keeps_words_together(synthetic):
    from io import StringIO

    from rich.console import Console

    from lossdoctor.report.extrapolation import render
    out = StringIO()
    x = extrapolate(synthetic, 1500, scenarios=("custom",), schedule=np.full(1501, 1e-3))
    Console(file=out, width=80).print(render(synthetic, x))
    text = out.getvalue()
    assert "(the law fitted to the run)" in text  # one line, not a word a line
    assert "--max_iters=1500 " in text
    assert "its LRs are the per-step schedule given: no nanoGPT flag" in " ".join(text.split())
    assert next(s for s in x.scenarios if s.name == "custom").flags == "--max_iters=1500"  # the rest: its note
    flat = " ".join(text.split())  # the model line wraps at 80 columns
    assert "; val shape alpha" in flat and "(its prior alpha" in flat  # whose shape, and its prior


@pytest.mark.parametrize("width", [40, 50, 60, 80])
def test_no_flag_is_cut_in_two_at_any_console_width(synthetic, width):
    from io import StringIO

    from rich.console import Console

    from lossdoctor.report.extrapolation import render
    x = extrapolate(synthetic, 4000)
    out = StringIO()
    Console(file=out, width=width).print(render(synthetic, x))
    words = set(out.getvalue().replace("│", " ").split())
    flags = {f for s in x.scenarios for f in (s.flags or "").split()}
    assert flags and flags <= words  # each flag whole on one line
    assert max(len(line) for line in out.getvalue().splitlines()) <= width
    text = out.getvalue()  # a column where every flag fits on a line, else the flags below the table
    assert ("┃ nanoGPT flags" in text) == (width == 80) and ("\nnanoGPT flags:" in text) == (width != 80)


def test_the_words_after_a_flag_wrap_under_it_in_the_flags_column(synthetic):
    from io import StringIO

    from rich.console import Console

    from lossdoctor.report.extrapolation import render
    x = extrapolate(synthetic, 4000, scenarios=("custom", "rerun"), schedule=np.full(4001, 1e-3))
    out = StringIO()
    Console(file=out, width=80).print(render(synthetic, x))
    text = out.getvalue()
    assert "┃ nanoGPT flags" in text and "--max_iters=4000 " in text and "--lr_decay_iters=4000" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_inside_the_run_the_interval_carries_how_far_the_law_misses_the_run_there():
    def shifted(line: str) -> str:  # iterations 900-1100 log 0.08 above the law
        if line.startswith("iter ") and 900 <= int(line.split()[1][:-1]) <= 1100:
            head, loss, rest = line.split(" ", 3)[:2], float(line.split()[3][:-1]), line.split(",", 1)[1]
            return f"{' '.join(head)} loss {loss + 0.08:.4f},{rest}"
        return line
    plain = make_log()
    bumped = "\n".join(shifted(line) for line in plain.split("\n"))
    a = extrapolate(parse_text(plain), 1000, scenarios=()).scenarios[0].train
    b = extrapolate(parse_text(bumped), 1000, scenarios=()).scenarios[0].train
    assert b.hi - b.lo > 2 * (a.hi - a.lo) and b.hi - b.lo > 2 * 1.28 * 0.03



def test_inside_the_run_the_val_interval_widens_where_the_law_misses_the_evals():
    shift = np.zeros(2001)
    shift[750:1251] = 0.08  # the evals at 750, 1000 and 1250 sit 0.08 above the law
    a = extrapolate(parse_text(make_log()), 1000, scenarios=()).scenarios[0].val
    b = extrapolate(parse_text(make_log(val_shift=shift)), 1000, scenarios=()).scenarios[0].val
    assert a is not None and b is not None
    assert b.hi - b.lo > 3 * (a.hi - a.lo) and b.lo <= b.mean + 0.03 <= b.hi

def test_inside_the_run_the_local_miss_is_how_far_the_law_misses_the_evals_there(monkeypatch):
    from lossdoctor.fit import interval
    shift = np.zeros(2001)
    shift[750:1251] = 0.08  # the evals at 750, 1000 and 1250 sit 0.08 above the law
    misses: dict[int, float] = {}
    real = interval.with_local_miss

    def spy(fits, to, train_sd, val_sd, share=1.0, weights=None):
        feats = fits.own.features
        misses[to] = share * interval.local_miss(fits.val, fits.own.designs["val"], lambda s: feats.at("val", s),
                                                 weights or fits.backtest.weights, to)
        out = real(fits, to, train_sd, val_sd, share, weights)
        assert out[1] == pytest.approx(math.hypot(val_sd, misses[to]))  # the miss joins the eval noise
        return out
    monkeypatch.setattr(interval, "with_local_miss", spy)
    extrapolate(parse_text(make_log()), 1000, scenarios=())
    assert misses[1000] < 0.005  # on the law: only the points' own noise, which is taken out
    extrapolate(parse_text(make_log(val_shift=shift)), 1000, scenarios=())
    assert 0.012 < misses[1000] < 0.08  # three of the five nearest 0.08 off; the law bends part way to them


def test_one_step_past_the_run_its_interval_keeps_how_far_the_law_missed_the_run_there():
    # the train law misses this run's last points by about 0.07 (it logged 1.5369 at step
    # 2,000, the law's smoothed value is 1.61): one step on, the interval had been 6x narrower
    # than at the last step, and excluded what was logged there
    run = lossdoctor.load(FIXTURES / "diagnosis" / "small_overfit")
    at = extrapolate(run, 2000, scenarios=()).scenarios[0].train
    past = extrapolate(run, 2001, scenarios=("rerun",)).scenarios[0].train
    far = extrapolate(run, 4000, scenarios=("rerun",)).scenarios[0].train
    assert at is not None and past is not None and far is not None
    assert past.lo <= 1.5369 <= past.hi and past.hi - past.lo == pytest.approx(at.hi - at.lo, rel=0.05)
    assert far.hi - far.lo < 0.6 * (at.hi - at.lo)  # it fades as the run's own level does (reference.carry)


def test_past_the_run_the_miss_at_its_end_is_the_scenarios_laws_own():
    # decay_600k's LR barely decayed: one step past it, every scenario's LR falls below the
    # run's, and the calibrated law predicts alone. Its miss at the run's end, not the
    # ensemble's, is what the interval carries: train had been 2.2694 [2.2592, 2.2795], where
    # the log shows 2.2412 at step 1,000
    run = lossdoctor.load(FIXTURES / "diagnosis" / "decay_600k")
    x = extrapolate(run, 1001, scenarios=("resume",))
    train = x.scenarios[0].train
    assert x.scenarios[0].weights.free == 0.0 and train is not None and train.lo <= 2.2412 <= train.hi


def test_val_whose_evals_end_before_the_log_does_carries_the_model_error_of_its_own_horizon(monkeypatch):
    from lossdoctor.fit import calibration
    # a crashed run: iterations to 1,790, its last eval at 1,600 (eval_interval 200); val's
    # prediction at 2,000 is a 1.25x extrapolation of its evals, not 1.12x
    text = (FIXTURES / "calibration" / "d4w128-shakespeare-s1-2000" / "train.log").read_text()
    cut = text[: text.index("\niter 1791:") + 1]
    asked: list[tuple[float, bool]] = []
    real = calibration.Calibration.model_error

    def spy(self, ratio, alone=False, train=False, short=False, ruled_out=False):
        asked.append((ratio, train))
        return real(self, ratio, alone, train, short, ruled_out)
    monkeypatch.setattr(calibration.Calibration, "model_error", spy)
    x = extrapolate(parse_text(cut), 2000, scenarios=("rerun",))
    assert x.scenarios[0].val is not None
    assert max(r for r, train in asked if not train) == pytest.approx(2000 / 1600)
    assert max(r for r, train in asked if train) == pytest.approx(2000 / 1790)


def test_with_dropout_the_iterations_are_moved_onto_the_eval_mode_train_losses():
    from lossdoctor.fit import points
    # dropout on: every iteration's loss sits 0.1 above the eval-mode train at the evals
    text = "Overriding: dropout = 0.1\n" + "\n".join(
        line if not line.startswith("iter ") else
        f"{line.split(' loss ')[0]} loss {float(line.split(' loss ')[1].split(',')[0]) + 0.1:.4f},"
        f"{line.split(',', 1)[1]}" for line in make_log().split("\n"))
    cur = points.curves(parse_text(text))
    assert points.dropout_gap(cur, 200, 0.1) == pytest.approx(0.1, abs=0.01)
    assert points.dropout_gap(cur, 200, 0.0) == 0.0  # dropout off: the two are one measure
    assert points.dropout_gap(cur, 200, None) == pytest.approx(0.1, abs=0.01)  # unknown, but far beyond noise
    plain = points.curves(parse_text(make_log()))
    assert points.dropout_gap(plain, 200, None) == 0.0  # unknown and within noise: left alone
    sparse = "\n".join(line for line in text.split("\n")  # log_interval 10: 5 logged iterations each side
                       if not line.startswith("iter ") or int(line.split()[1][:-1]) % 10 == 0)
    assert points.dropout_gap(points.curves(parse_text(sparse)), 200, 0.1) == pytest.approx(0.1, abs=0.02)
    x = extrapolate(parse_text(text), 1500, scenarios=())
    logged = [float(line.split("train loss ")[1].split(",")[0]) for line in text.split("\n")
              if line.startswith("step 1500:")][0]
    assert x.scenarios[0].train.lo <= logged <= x.scenarios[0].train.hi


def test_a_log_that_begins_with_a_resume_says_the_steps_before_it_are_not_its_own():
    # resumed at 2000 with a new cosine to 5000: the same kind of schedule, so a note
    resumed = lossdoctor.load(str(FIXTURES / "long" / "lr2e-3-resume-5000" / "train.log"))
    x = extrapolate(resumed, 7500, scenarios=("rerun",))
    assert any(n.startswith("the log begins at step 2,000, resumed") for n in x.notes)
    # resumed at 2000 at a constant LR: its first 2000 steps were the cosine, not that LR
    later = FIXTURES / "long" / "lr2e-3-constant-5000" / "train.log"
    with pytest.raises(CannotExtrapolate, match="begins at step 2,000 with a resume at a constant LR"):
        extrapolate(lossdoctor.load(str(later)), 7500, scenarios=("constant",))
    both = (FIXTURES / "long" / "lr2e-3-2000" / "train.log").read_text() + later.read_text()
    whole = extrapolate(parse_text(both), 7500, scenarios=("constant",))
    assert not any("the log begins at step" in n for n in whole.notes)
    assert whole.scenarios[0].val.mean == pytest.approx(1.715, abs=0.01)


def test_a_calibrate_run_that_begins_with_a_resume_is_said_to():
    run = lossdoctor.load(str(FIXTURES / "long" / "drop0.1-2000" / "train.log"))
    later = lossdoctor.load(str(FIXTURES / "long" / "drop0.1-resume-5000" / "train.log"))
    x = extrapolate(run, 5000, scenarios=("rerun",), calibrate=later)
    [joint] = [n for n in x.notes if n.startswith("fitted jointly with")]
    assert "(5,000 steps); the log begins at step 2,000, resumed" in joint


def test_a_continuation_at_another_lr_is_rerun_and_resumed_on_the_runs_own_schedule(tmp_path):
    long = FIXTURES / "long"
    # a 2,000-step cosine run at 2e-3, then resumed at its min_lr to 5,000; its val turns up, so
    # it gets the ensemble, and 4 epochs at most (5,228 steps)
    log = tmp_path / "cat.log"
    log.write_text((long / "lr2e-3-2000" / "train.log").read_text()
                   + (long / "lr2e-3-constant-5000" / "train.log").read_text())
    x = extrapolate(lossdoctor.load(str(log)), 5200)
    rows = {s.name: s for s in x.scenarios}
    assert rows["rerun"].flags == ("--init_from=scratch --max_iters=5200 --learning_rate=0.002 --warmup_iters=100 "
                                   "--decay_lr=True --lr_decay_iters=5200")  # the cosine at 2e-3, not 2e-4 flat
    assert rows["resume"].flags.startswith("--init_from=resume --max_iters=5200 --learning_rate=0.002")
    assert rows["constant"].flags.endswith("--decay_lr=False --learning_rate=0.0002")
    assert rows["resume"].val.mean != rows["constant"].val.mean  # the cosine resume is not the constant LR
    assert rows["rerun"].val.mean < rows["resume"].val.mean
    lower = (long / "lr2e-3-constant-5000" / "train.log").read_text().replace(
        "Overriding: learning_rate = 0.0002", "Overriding: learning_rate = 0.0001")  # continued below its min_lr
    log.write_text((long / "lr2e-3-2000" / "train.log").read_text() + lower)
    on = {s.name: s for s in extrapolate(lossdoctor.load(str(log)), 5200).scenarios}
    assert on["constant"].flags.endswith("--learning_rate=0.0001")  # on at the LR it ended on, not the first's min
    x = extrapolate(lossdoctor.load(str(log)), 5200, scenarios=("custom",),
                    schedule={"warmup_iters": 100, "lr_decay_iters": 5200, "min_lr": 1e-4})
    said = list(x.notes) + [sc.note or "" for sc in x.scenarios]
    assert not any("warmup" in n and "the run's 0" in n for n in said)  # its warmup is the first schedule's 100


def test_val_flat_while_train_falls_is_not_extrapolated_where_the_datas_size_is_unknown():
    from lossdoctor.fit import points
    run = lossdoctor.load(str(FIXTURES / "diagnosis" / "overfit_small_data"))  # a 30k-character file, 42 epochs
    x = extrapolate(run, 3000)
    assert all(s.val is None and s.train is not None for s in x.scenarios)
    assert any(n.startswith("val has stopped following train") and "val is not extrapolated" in n for n in x.notes)
    assert not any("as if no data repeats" in n for n in x.notes)  # not said beside it
    inside = extrapolate(run, 1200, scenarios=())  # inside the run the law's smoothed val is still given
    assert inside.scenarios[0].val is not None
    healthy = points.curves(lossdoctor.load(str(FIXTURES / "diagnosis" / "healthy_small")))
    assert points.val_stalled(healthy, 0.012) is None
    # one noisy last eval after a falling tail (calibration grid, pycode): val still follows train
    pycode = points.curves(lossdoctor.load(str(FIXTURES / "calibration" / "d2w64-pycode-s1-1000")))
    assert points.val_stalled(pycode, 0.012) is None


def test_a_schedule_that_does_not_decay_is_given_by_the_flags_train_py_reads(capsys):
    log = str(FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log")
    assert main(["extrapolate", log, "--to", "3000", "--scenario", "custom", "--schedule", "decay_lr=False",
                 "--format", "json"]) == 0
    (s,) = json.loads(capsys.readouterr().out)["scenarios"]  # get_lr's keys are not read with decay_lr=False
    assert s["flags"] == "--max_iters=3000 --learning_rate=0.001 --decay_lr=False"
    assert main(["extrapolate", log, "--to", "3000", "--scenario", "custom", "--schedule", "decay_lr=no"]) == 2
    assert "decay_lr='no' is not True or False" in capsys.readouterr().err


@pytest.mark.parametrize("argv, said", [
    (["--schedule", "warmup_iters=1.5"], "warmup_iters=1.5 is not a whole number of steps"),
    (["--schedule", "warmup_iters=100,warmup_iters=200"], "warmup_iters is given twice"),
    (["--schedule", ""], "--schedule is empty"),
    (["--plot", ""], "--plot: empty"),
])
def test_extrapolate_refuses_a_schedule_or_plot_it_would_otherwise_bend(argv, said, capsys):
    log = str(FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log")
    assert main(["extrapolate", log, "--to", "5000", *argv]) == 2
    assert said in capsys.readouterr().err


def test_extrapolate_gives_each_scenario_once_and_refuses_a_step_no_run_reaches(capsys):
    log = str(FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log")
    assert main(["extrapolate", log, "--to", "5000", "--scenario", "rerun", "--scenario", "rerun",
                 "--format", "json"]) == 0
    assert [s["name"] for s in json.loads(capsys.readouterr().out)["scenarios"]] == ["rerun"]
    assert main(["extrapolate", log, "--to", "99999999999999999999999"]) == 2
    assert "too large: 99999999999999999999999" in capsys.readouterr().err
    x = extrapolate(lossdoctor.load(str(FIXTURES / "diagnosis" / "lr_high")), 2000)
    from lossdoctor.report.extrapolation import detail_lines
    assert x.model.weights.calibrated == 0 and "with the run's own, free shape" in detail_lines(x)[0]


def test_only_a_decaying_first_schedule_is_restored_over_a_continuation(tmp_path):
    from lossdoctor.fit import lr as lr_mod
    from lossdoctor.fit.scenarios import _restore
    long = FIXTURES / "long"
    cosine_then_flat = (long / "lr2e-3-2000" / "train.log").read_text() + (
        long / "lr2e-3-constant-5000" / "train.log").read_text()
    sched = lr_mod.read(parse_text(cosine_then_flat), 5000)
    assert sched.origin is not None and sched.base.learning_rate == 2e-3
    assert _restore(sched.base, sched.params) == " --learning_rate=0.002 --warmup_iters=100 --decay_lr=True"
    flat = (long / "lr2e-3-2000" / "train.log").read_text().replace(
        "Overriding: learning_rate = 0.002\n", "Overriding: decay_lr = False\nOverriding: learning_rate = 0.002\n", 1)
    flat_then_cosine = flat + (long / "lr2e-3-resume-5000" / "train.log").read_text()
    sched = lr_mod.read(parse_text(flat_then_cosine), 5000)
    assert sched.params.decay_lr and sched.origin is None  # a constant first schedule: the last settings stand


def test_a_target_step_past_what_a_float_keeps_exact_is_refused(capsys):
    log = str(FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log")
    assert main(["extrapolate", log, "--to", str(2**53 + 1)]) == 2
    assert f"too large: {2**53 + 1}" in capsys.readouterr().err
    run = lossdoctor.load(log)
    with pytest.raises(CannotExtrapolate, match=r"step 1,000,000,000,000,000,000,000,000,000,000 is beyond"):
        extrapolate(run, 10**30)  # from Python: the number as given, not through a float


def test_a_val_not_extrapolated_is_not_called_past_its_minimum():
    from lossdoctor.report.extrapolation import no_val
    x = extrapolate(lossdoctor.load(str(FIXTURES / "diagnosis" / "overfit_small_data")), 3000)
    assert x.overfitting is None and {no_val(x, s) for s in x.scenarios} == {"not extrapolated"}


def test_steps_at_lr_0_add_no_annealing_gain():
    # an LR at 0 updates no weight: from the first of the closing steps at 0, S2 (and so
    # the law's loss) stays where it was, whatever the annealing's memory
    from lossdoctor.fit.areas import Annealing, Eta
    e = np.concatenate([np.linspace(1.0, 0.1, 500), np.zeros(500)])
    s2 = Annealing(Eta(e), np.array([0.99, 0.999])).at(np.array([400, 500, 501, 700, 1000]))
    assert np.all(s2[:, 2:] == s2[:, [1]]) and np.all(s2[:, 1] > s2[:, 0])
    ramp = Annealing(Eta(np.linspace(1.0, 0.1, 1000)), np.array([0.99])).at(np.array([500, 1000]))
    assert ramp[0, 1] > ramp[0, 0]  # an LR above 0 keeps realising it


def test_a_short_run_left_off_the_reference_runs_is_told_its_length_may_be_why():
    from lossdoctor.fit.notes import reference_dropped
    assert "a run of 300 steps, shorter than the 800" in reference_dropped(0.103, 300)
    assert reference_dropped(0.103, 2000).endswith("other data or code?; fitted without them")


def test_the_fit_s_areas_stop_where_the_predictions_do_at_lr_0():
    from lossdoctor.fit.areas import Annealing, Eta
    from lossdoctor.fit.laws import areas
    e = np.concatenate([np.linspace(1.0, 0.1, 500), np.zeros(500)])
    f = areas(e, (0.99,))
    steps = np.array([400, 500, 600, 1000])
    assert np.allclose(f.s2[0.99][steps], Annealing(Eta(e), np.array([0.99])).at(steps)[0])


def test_an_array_schedule_is_not_called_a_file():
    """From Python a custom schedule may be an array: its refusals name no file."""
    run = lossdoctor.load(FIXTURES / "lossdoctor_train" / "readme_cpu_2000")
    for sched, why, error in ((np.full(10, 1e-3), r"the per-step schedule gives 10 LRs; 5001 are needed", UsageError),
                              (np.full(5001, 1e-4), r"the per-step schedule's largest LR 0.0001 is not the run's peak",
                               CannotExtrapolate)):
        with pytest.raises(error, match=why) as no:
            extrapolate(run, 5000, scenarios=("custom",), schedule=sched)
        assert "file" not in str(no.value)


def test_no_val_baseline_where_no_scenario_extrapolates_val():
    """A stalled val (the data's size unknown) is not extrapolated: the power law on val is
    not given in its place (it said 1.768 against the last vals' 1.94-1.95)."""
    run = lossdoctor.load(FIXTURES / "diagnosis" / "overfit_small_data")
    x = extrapolate(run, 3000)
    assert all(s.val is None for s in x.scenarios)
    assert x.baseline.val is None and x.model.laws.baselines == ()
    assert extrapolate(run, 1500).baseline.val is not None  # inside the run: the smoothed value stands


def test_a_run_without_evals_keeps_its_train_baselines(tmp_path):
    """Without evals there is no val fit, so every scenario's val is None by construction:
    the schedule-blind baselines, fitted on train, are not withheld for that."""
    lines = (FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log").read_text().splitlines(keepends=True)
    (tmp_path / "noeval.log").write_text("".join(x for x in lines if not x.startswith("step ")))
    x = extrapolate(lossdoctor.load(tmp_path / "noeval.log"), 4000, scenarios=("rerun",))
    assert x.scenarios[0].val is None and {b.name for b in x.model.laws.baselines} == {"power", "exponential",
                                                                                      "log-power"}


def test_a_continuation_at_its_min_lr_is_judged_on_its_first_schedule(tmp_path):
    """A run continued at its min_lr (decay_lr=False) keeps, for the calibration's notes, the
    LR settings of its first process: lr2e-3's continuation had been said to differ in
    learning_rate 0.0002, its constant LR, not its peak of 0.002."""
    long = FIXTURES / "long"
    first = (long / "lr2e-3-2000" / "train.log").read_text()
    then = (long / "lr2e-3-constant-5000" / "train.log").read_text()
    (tmp_path / "lr2e-3.log").write_text(first + then)
    x = extrapolate(lossdoctor.load(tmp_path / "lr2e-3.log"), 7500, scenarios=("rerun",))
    differ = next(n for n in x.notes if "this run differs in" in n)
    assert "learning_rate 0.002 (calibrated: 0.001)" in differ and "0.0002 (calibrated: 0.001)" not in differ
    # the same pair with the README CPU config's LRs: no config differs, but the last process changed its LR
    readme = "".join(line for line in (first + then).splitlines(keepends=True)
                     if line not in ("Overriding: learning_rate = 0.002\n", "Overriding: min_lr = 0.0002\n"))
    (tmp_path / "readme.log").write_text(readme.replace("learning_rate = 0.0002", "learning_rate = 0.0001"))
    notes = extrapolate(lossdoctor.load(tmp_path / "readme.log"), 7500, scenarios=("rerun",)).notes
    assert not any("this run differs in" in n for n in notes)
    assert any("its last process changed its LR settings" in n and "model error measured on other configs" in n
               for n in notes)


def test_a_continuation_goes_on_from_the_step_its_checkpoint_holds(tmp_path):
    from lossdoctor.fit import points, scenarios
    # always_save_checkpoint=False: the last save, at the best val (step 1800), not the last step (2000)
    log = FIXTURES / "diagnosis" / "small_overfit" / "train.log"
    run = lossdoctor.load(str(log))
    assert scenarios.resume_step(run, points.curves(run)) == (1800, "its last checkpoint save is at step 1,800")
    x = Extrapolator(run).extrapolate(4000)
    by = {s.name: s for s in x.scenarios}
    for name in ("resume", "constant"):
        assert by[name].note.startswith("goes on from step 1,800, not 2,000 (its last checkpoint save")
    assert by["rerun"].note is None or "1,800" not in by["rerun"].note
    # no save printed: nanoGPT's rule, saved only when val improves, gives the same step
    quiet = tmp_path / "quiet.log"
    quiet.write_text("".join(x for x in log.read_text().splitlines(True) if not x.startswith("saving checkpoint")))
    run = lossdoctor.load(str(quiet))
    step, why = scenarios.resume_step(run, points.curves(run))
    assert step == 1800 and why.startswith("always_save_checkpoint=False")
    by = {s.name: s for s in Extrapolator(run).extrapolate(4000).scenarios}
    for name in ("resume", "constant"):  # and the log shows no checkpoint to go on from
        assert by[name].note.startswith("goes on from step 1,800") and by[name].note.endswith(NO_SAVE)
    assert by["rerun"].note is None or NO_SAVE not in by["rerun"].note
    # a last process that resumed and printed no save: the checkpoint is the one it resumed from
    base = (FIXTURES / "long" / "batch8-2000" / "train.log").read_text()
    more = (FIXTURES / "long" / "batch8-resume-5000" / "train.log").read_text()
    lineage = tmp_path / "lineage.log"
    lineage.write_text(base + "".join(x for x in more.splitlines(True) if not x.startswith("saving checkpoint")))
    run = lossdoctor.load(str(lineage))
    step, why = scenarios.resume_step(run, points.curves(run))
    assert step == run.segments[-1].first_step == 2000 and why.startswith("its last process printed no save")
    # a run whose last save is at its last step goes on from there, and says nothing
    run = lossdoctor.load(str(FIXTURES / "lossdoctor_train" / "readme_cpu_2000"))
    assert scenarios.resume_step(run, points.curves(run)) == (points.curves(run).last, None)


def test_a_continuation_of_a_log_that_shows_no_save_says_it_needs_a_checkpoint(tmp_path):
    """train.py prints every save; a log that shows none (cut, or edited) may have left no
    ckpt.pt for --init_from=resume to load."""
    text = (FIXTURES / "nanogpt" / "cpu_small" / "train.log").read_text()
    (tmp_path / "quiet.log").write_text("".join(x for x in text.splitlines(True) if not x.startswith("saving")))
    for log, said in ((FIXTURES / "nanogpt" / "cpu_small" / "train.log", False), (tmp_path / "quiet.log", True)):
        by = {s.name: s for s in extrapolate(lossdoctor.load(str(log)), 400).scenarios}
        assert by["rerun"].note is None
        for name in ("resume", "constant"):
            assert (by[name].note == NO_SAVE) is said, (log, name)


def test_a_log_that_ends_inside_its_warmup_is_not_extrapolated(tmp_path):
    text = (FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log").read_text().splitlines()
    cut = next(i for i, line in enumerate(text) if line.startswith("iter 58:"))  # warmup_iters is 100
    (tmp_path / "train.log").write_text("\n".join(text[:cut + 1]) + "\n")
    run = lossdoctor.load(str(tmp_path / "train.log"))
    for to in (40, 172):
        with pytest.raises(CannotExtrapolate, match=r"ends at step 58, inside its warmup \(100 steps\)"):
            extrapolate(run, to)


def test_every_scenario_without_val_says_so_in_its_cell(tmp_path, capsys):
    lines = (FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log").read_text().splitlines(keepends=True)
    (tmp_path / "train.log").write_text("".join(lines[:300]))  # one eval after step 0: val is not fitted
    assert main(["extrapolate", str(tmp_path / "train.log"), "--to", "1000"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("│ rerun", "│ resume"))]
    assert len(rows) == 2 and all("not extrapolated" in r for r in rows)  # rerun's had been a bare "-"


def test_a_resume_predicts_the_loss_up_after_its_re_warm():
    """The calibration grid's d4w128 run, resumed from 400 to 1000 steps with a new cosine:
    the LR jumps from 6e-5 back to 4.4e-4, and every grid run measured a bump up (+0.002 to
    +0.026 nats at the first eval after it); the law had put it 0.022 down. The ensemble's law
    (as shipped, this run is blended with the law alone, whose end miss fading over the
    first steps takes 0.005 off the bump: docs/benchmarks.md)."""
    import dataclasses
    run = lossdoctor.load(FIXTURES / "calibration" / "d4w128-shakespeare-s1-400")
    ensemble = dataclasses.replace(calibration.FAMILY, alone_from=None)
    steps, values = Extrapolator(run, calibration=ensemble).extrapolate(1000, scenarios=("resume",)).scenarios[0].path
    assert float(np.interp(440, steps, values)) > float(values[0])


def test_a_target_among_the_iterations_of_a_log_without_evals_is_inside_it(tmp_path):
    """A log whose eval lines are gone still shows iterations 0-2000: step 1000 is the law's
    smoothed value there, not 'before the first observed step'."""
    text = (FIXTURES / "long" / "lr5e-4-2000" / "train.log").read_text()
    (tmp_path / "no_evals.log").write_text("".join(line for line in text.splitlines(keepends=True)
                                                   if not line.startswith("step ")))
    x = lossdoctor.extrapolate(lossdoctor.load(str(tmp_path / "no_evals.log")), 1000)
    assert [s.name for s in x.scenarios] == ["observed"] and x.scenarios[0].train is not None


def test_an_effect_not_computed_for_too_few_evals_says_so(tmp_path):
    """The first 500 steps of a 2000-step run, two evals: LD1501's effect is not computed
    because val cannot be predicted, which it says (not the resume caveat beside it)."""
    lines = (FIXTURES / "long" / "lr5e-4-2000" / "train.log").read_text().splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("iter 499:"))
    (tmp_path / "cut.log").write_text("\n".join(lines[: end + 1]) + "\n")
    [d] = lossdoctor.analyze([str(tmp_path / "cut.log")]).diagnoses
    f = next(f for f in d.findings if f.rule.startswith("LD1501"))
    assert f.expected_effect is not None and f.expected_effect.value is None
    assert f.expected_effect.note == "1 eval after step 100: too few to predict val (3 needed)"


def test_an_extrapolation_says_which_log_of_a_directory_it_read(tmp_path):
    import os
    import shutil
    for name, at in (("a.log", 1_000_000_000), ("b.log", 2_000_000_000)):
        shutil.copyfile(FIXTURES / "long" / "lr5e-4-2000" / "train.log", tmp_path / name)
        os.utime(tmp_path / name, (at, at))
    x = lossdoctor.extrapolate(lossdoctor.load(str(tmp_path)), 3000, scenarios=("rerun",))
    assert any("holds 2 logs: the newest, b.log, is read; not a.log" in n for n in x.notes)


def test_a_constant_lr_run_of_the_readme_config_carries_the_model_error_of_other_configs(tmp_path):
    """nanoGPT's own constant-LR run (decay_lr=False) cut at 2000 steps: the calibration's
    runs decayed, so the interval carries the grid's model error and says so (with none it
    had missed the run's 5000-step val, 1.7325, by 0.0001)."""
    from conftest import shared_path
    from lossdoctor.fit import calibration
    lines = shared_path("groundtruth/const_5000.log").read_text().splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines) if line.startswith("iter 2000:"))
    (tmp_path / "cut.log").write_text("".join(lines[: end + 1]))
    run = lossdoctor.load(str(tmp_path / "cut.log"))
    assert calibration.for_config(run.config) is calibration.CONSTANT_LR
    x = lossdoctor.extrapolate(run, 5000, scenarios=("rerun",))
    v = x.scenarios[0].val
    assert v is not None and v.lo <= 1.7325 <= v.hi
    assert any("at a constant LR (decay_lr=False)" in n for n in x.notes)


def test_the_model_line_names_the_scenarios_whose_cut_of_the_free_law_lets_the_calibrated_one_predict(tmp_path):
    # cut at 750 of its 2000-step cosine: every scenario's LR falls past the run's own, and the
    # calibrated law, with no weight in the ensemble, predicts them nearly alone
    from lossdoctor.report.extrapolation import detail_lines, to_json
    text = (FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log").read_text()
    log = tmp_path / "train.log"
    log.write_text(text[:text.index("\niter 751:") + 1])
    run = lossdoctor.load(str(log))
    x = extrapolate(run, 1000)
    assert x.model.weights.calibrated == 0
    assert all(s.weights is not None and s.weights.calibrated > 0.9 for s in x.scenarios)
    head = " ".join(detail_lines(x)[:1])
    # the calibrated law predicts every scenario: said first, with its weight (not "is not what predicts")
    assert "but every scenario here lets the LR fall past the run's own, which cuts the free law to at most" in head
    assert "so the calibrated val shape weighs 0.9" in head and "is not what predicts" not in head
    doc = json.loads(to_json(run, x))
    assert [s["weights"]["calibrated"] for s in doc["scenarios"]] == [s.weights.calibrated for s in x.scenarios]
    # a run whose scenarios keep the ensemble's weights says nothing of the kind
    whole = extrapolate(lossdoctor.load(str(FIXTURES / "lossdoctor_train" / "readme_cpu_2000")), 3000)
    assert all(s.weights == whole.model.weights for s in whole.scenarios)
    assert "falls past the run's own" not in detail_lines(whole)[0]


def test_no_interval_reaches_below_zero_nats():
    # a Python-source run memorizing its 30k characters: train heads for 0, its interval was [-0.33, 0.51]
    x = extrapolate(lossdoctor.load(str(FIXTURES / "diagnosis" / "py_small_overfit")), 4000)
    rerun = next(s for s in x.scenarios if s.name == "rerun")
    assert rerun.train.mean < 0.2 and rerun.train.lo == 0.0 < rerun.train.mean < rerun.train.hi
    assert all(e.lo >= 0 for s in x.scenarios for e in (s.val, s.train) if e is not None)


def test_a_log_of_a_resume_that_holds_little_of_its_run_is_refused_where_the_law_fits_its_level():
    grid = FIXTURES / "calibration"
    tail = grid / "d2w64-shakespeare-s1-bump-440" / "train.log"  # resumed at 400, stopped at 440
    with pytest.raises(CannotExtrapolate, match=r"holds steps 400-440 of the run alone \(9% of it, from a resume\)"):
        extrapolate(lossdoctor.load(str(tail)), 880)
    both = (grid / "d2w64-shakespeare-s1-400" / "train.log").read_text() + tail.read_text()
    x = extrapolate(parse_text(both), 880)  # with the log before it: its whole curve
    assert len({round(s.train.mean, 3) for s in x.scenarios}) == 3
    # from 2000 steps on the law goes through L0 = 0: a tenth of the run holds (resumed_tails.py)
    long_tail = lossdoctor.load(str(FIXTURES / "long" / "lr2e-3-bump-2250" / "train.log"))
    assert extrapolate(long_tail, 4500, scenarios=("rerun",)).scenarios[0].train is not None


def test_a_custom_schedule_of_the_readme_config_carries_the_grids_model_error():
    run = lossdoctor.load(str(FIXTURES / "lossdoctor_train" / "readme_cpu_2000"))
    x = extrapolate(run, 5000, scenarios=("rerun", "custom"), schedule={"decay_lr": False})
    rerun, custom = x.scenarios
    assert "backtests measure no schedule like this one" in (custom.note or "") and not rerun.note
    assert custom.val.hi - custom.val.lo > 2 * (rerun.val.hi - rerun.val.lo)
    grid = calibration.CONSTANT_LR.model_error(5000 / run.curves()[0].step[-1]) * custom.val.mean
    assert custom.val.sd >= grid  # the grid's model error, beside the fit's own spread


def test_a_constant_lr_predicted_from_nanogpts_cosine_run_holds_its_constant_lr_run():
    from conftest import shared_path
    cosine = lossdoctor.load(str(shared_path("groundtruth/gt_T1000.log")))
    ev, _ = lossdoctor.load(str(shared_path("groundtruth/const_5000.log"))).curves()
    for to in (2000, 3000, 5000):
        [s] = extrapolate(cosine, to, scenarios=("custom",), schedule={"decay_lr": False}).scenarios
        logged = float(ev.val[list(ev.step).index(to)])
        assert s.val.lo <= logged <= s.val.hi


def test_a_nan_last_val_the_run_trained_on_past_is_an_eval_lost_not_a_divergence(tmp_path):
    import re
    lines = (FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log").read_text().splitlines(keepends=True)
    lines = [re.sub(r"val loss [\d.]+", "val loss nan", x) if x.startswith("step 2000:") else x for x in lines]
    (tmp_path / "a.log").write_text("".join(lines))  # its iteration at step 2000, after the eval, is finite
    x = extrapolate(lossdoctor.load(str(tmp_path / "a.log")), 3000, scenarios=("rerun",))
    assert any("1 eval with a NaN/inf loss (the first at step 2,000)" in n for n in x.notes)


def test_a_nan_at_step_0_that_finite_losses_follow_is_left_out(tmp_path):
    import re
    lines = (FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log").read_text().splitlines(keepends=True)
    lines = [re.sub(r"loss [\d.]+", "loss nan", x) if x.startswith("iter 0:") else x for x in lines]
    (tmp_path / "a.log").write_text("".join(lines))
    x = extrapolate(lossdoctor.load(str(tmp_path / "a.log")), 3000, scenarios=("rerun",))
    assert any("1 iteration with a NaN/inf loss (the first at step 0)" in n for n in x.notes)


def test_a_run_given_with_the_run_it_resumed_or_its_own_cut_is_refused_as_counting_twice(tmp_path):
    # the long runs' lr2e-3 2000-step run and its resume to 5000, cat: the first 2000 steps
    # of the one are the other's, whichever is extrapolated; and two runs given to fit
    # jointly where one is a cut of the other
    long = FIXTURES / "long"
    first = (long / "lr2e-3-2000" / "train.log").read_text()
    cat = tmp_path / "lineage.log"
    cat.write_text(first + (long / "lr2e-3-resume-5000" / "train.log").read_text())
    short, whole = lossdoctor.load(str(long / "lr2e-3-2000")), lossdoctor.load(str(cat))
    with pytest.raises(CannotExtrapolate, match="holds the run extrapolated"):
        extrapolate(short, 5000, calibrate=[whole])
    with pytest.raises(CannotExtrapolate, match="is a part of the run extrapolated"):
        extrapolate(whole, 7500, calibrate=[short])
    lines = first.splitlines(keepends=True)
    cut = tmp_path / "cut.log"
    cut.write_text("".join(lines[:next(i for i, x in enumerate(lines) if x.startswith("iter 1500:"))]))
    longer = lossdoctor.load(str(long / "lr2e-3-5000"))  # the config's 5000-step cosine: its own run
    with pytest.raises(CannotExtrapolate, match="shares its losses with .*lr2e-3-2000.*, also given"):
        extrapolate(longer, 6000, calibrate=[short, lossdoctor.load(str(cut))])


def test_the_note_without_the_reference_runs_gives_what_no_reference_gives():
    # a custom schedule whose LR falls past the run's (the free law's share cut) and carries
    # a wider model error: the note's prediction without the reference runs is --no-reference's
    run = lossdoctor.load(str(README_CPU))
    sched = {"warmup_iters": 100, "lr_decay_iters": 8000, "min_lr": 1e-5}
    with_them = extrapolate(run, 8000, scenarios=("custom",), schedule=sched)
    alone = extrapolate(run, 8000, scenarios=("custom",), schedule=sched, reference=False).scenarios[0].val
    note = next(n for n in with_them.notes if n.startswith("custom without the reference runs: val"))
    assert f"val {alone.mean:.4f} [{alone.lo:.4f}, {alone.hi:.4f}]" in note


def test_a_custom_schedule_that_is_a_scenario_s_is_measured_as_that_scenario_is():
    # the README CPU config's own cosine to 5000 given as a custom schedule: rerun's LR at every
    # step, so rerun's interval, not a wider one "no backtest measures"
    run = lossdoctor.load(str(README_CPU))
    x = extrapolate(run, 5000, scenarios=("rerun", "custom"),
                    schedule={"warmup_iters": 100, "lr_decay_iters": 5000, "min_lr": 1e-4})
    rerun, custom = (s for s in x.scenarios)
    assert custom.val == rerun.val and not (custom.note and "measure no schedule like this one" in custom.note)
    other = extrapolate(run, 5000, scenarios=("custom",), schedule={"lr_decay_iters": 4000}).scenarios[0]
    assert other.val.hi - other.val.lo > rerun.val.hi - rerun.val.lo  # another schedule: the wider error
    # so for constant's: the run's own cosine, its peak set, keeps min_lr past its end
    y = extrapolate(run, 5000, scenarios=("constant", "custom"), schedule={"learning_rate": 1e-3})
    constant, same = (s for s in y.scenarios)
    assert same.val == constant.val and not (same.note and "measure no schedule like this one" in same.note)


def test_a_blend_fitted_with_other_runs_says_its_prediction_without_them():
    # a 1,000-step grid run off the README CPU config is blended; given its 2,000-step rerun,
    # the report had said only that it was fitted jointly, not how the prediction moved
    cal = FIXTURES / "calibration"
    run, other = (lossdoctor.load(str(cal / f"d2w64-shakespeare-s1-{n}")) for n in (1000, 2000))
    x = extrapolate(run, 2000, scenarios=("rerun",), calibrate=other)
    alone = extrapolate(run, 2000, scenarios=("rerun",)).scenarios[0].val
    with_them = x.scenarios[0].val
    note = next(n for n in x.notes if n.startswith("rerun without the other runs: val"))
    assert f"val {alone.mean:.4f} [{alone.lo:.4f}, {alone.hi:.4f}]; with them {with_them.mean:.4f}" in note
    assert 0 < x.alone_share < 1


def test_a_cut_of_the_free_law_too_small_to_print_is_not_said():
    from lossdoctor.fit.notes import scenario_note
    assert scenario_note("rerun", (0.51, 0.5099), False, None, 5000) is None  # not "0.51 instead of 0.51"
    assert "weighs 0.30 instead of 0.51" in scenario_note("rerun", (0.51, 0.30), False, None, 5000)


def test_a_model_error_too_small_to_print_is_said_so():
    from lossdoctor.fit.notes import share
    assert share(0.0) == "0.0%" and share(0.0123) == "1.2%"
    assert share(0.00004) == "under 0.1%"  # one step past a run: "0.0%" had read as none at all


def test_a_summary_with_one_steps_losses_is_refused_for_having_no_curve():
    summary = shared_path("corpus/logs/wandb/druidowm-shakespeare-wandb-summary.json")
    with pytest.raises(CannotExtrapolate, match="a W&B run's summary, with the run's losses at one step alone"):
        extrapolate(lossdoctor.load(summary), 5000)  # had been refused as another trainer's run


def test_where_val_is_not_predicted_the_model_errors_note_is_at_trains_horizon():
    # evals at 0, 200 and 400 of a log stopped at 450: too few for val, so the note's share
    # is train's at 2000 / 450, not val's at 2000 / 400, and train's model error, the one its
    # only interval carries
    from lossdoctor.fit import calibration
    text = (FIXTURES / "calibration" / "d4w128-shakespeare-s1-2000" / "train.log").read_text()
    x = extrapolate(parse_text(text[: text.index("\niter 451:") + 1]), 2000, scenarios=("rerun",))
    assert x.scenarios[0].val is None
    share = calibration.FAMILY.model_error(2000 / 450, train=True, short=True)  # blended, at SHORT_SHARE
    assert x.alone_share == calibration.SHORT_SHARE
    assert any(f"({share:.1%} of the loss at this horizon" in n for n in x.notes)


def test_a_scenario_the_law_puts_below_zero_says_so_in_its_val_cell():
    from lossdoctor.report.extrapolation import no_val
    x = extrapolate(lossdoctor.load(FIXTURES / "diagnosis" / "py_small_overfit"), 5000)
    rows = {s.name: s for s in x.scenarios}
    assert rows["rerun"].train is None and rows["rerun"].note.startswith("the law gives a loss below zero")
    assert no_val(x, rows["rerun"]) == "below zero"  # it had said "past its minimum", for another note
    assert x.overfitting is not None and no_val(x, rows["resume"]) == "past its minimum"


def test_a_blend_the_law_alone_cannot_join_carries_the_ensembles_own_model_error(monkeypatch):
    """Where the law alone's side refuses (here its end against the ensemble's), the run is
    the ensemble's, said, with the ensemble's model error, not the blend's (SHORT_ERROR,
    which a blend's spread between its laws stands beside)."""
    import dataclasses

    from lossdoctor.fit import blend
    run = lossdoctor.load(FIXTURES / "calibration" / "d4w128-shakespeare-s1-400")
    alone = Extrapolator(run, calibration=dataclasses.replace(calibration.FAMILY, alone_from=None)).extrapolate(
        1000, scenarios=("rerun",))

    def refuse(*args):
        raise CannotExtrapolate("the law alone refused")
    monkeypatch.setattr(blend, "ends", refuse)
    x = Extrapolator(run).extrapolate(1000, scenarios=("rerun",))
    assert x.alone_share == 0.0 and any("is not blended in: cannot extrapolate: the law alone refused" in n
                                        for n in x.notes)
    assert x.scenarios[0].val.sd == pytest.approx(alone.scenarios[0].val.sd)


def test_another_trainers_run_whose_every_loss_is_nan_is_refused_for_that_first(tmp_path):
    # (a nanoGPT log says where its NaN began: test_cannot_extrapolate_says_why)
    import re

    from lossdoctor.fit.extrapolate import CannotExtrapolate
    text = (FIXTURES / "formats" / "llmc_stdout.log").read_text()  # llm.c's stdout, every loss NaN
    (tmp_path / "a.log").write_text(re.sub(r"(val loss |\| loss )[\d.]+", r"\1nan", text))
    run = lossdoctor.load(str(tmp_path / "a.log"))
    assert run.format.trainer == "llmc"
    with pytest.raises(CannotExtrapolate, match="every loss the run logged is NaN or inf: there is no curve"):
        extrapolate(run, 3000, scenarios=("rerun",))


def test_an_effect_past_the_horizon_of_a_run_with_too_few_evals_names_the_evals(tmp_path):
    # LD1501's resume to max_iters from a run cut at step 390: 2,000 is past 5x, and no val is
    # predicted at any step past it (one eval after step 100): that is the reason, not the horizon
    from lossdoctor.diagnose.effects import Extrapolations
    lines = README_CPU.read_text().splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines) if line.startswith("iter 390:")) + 1
    (tmp_path / "cut.log").write_text("".join(lines[:end]))
    run = lossdoctor.load(str(tmp_path / "cut.log"))
    e = Extrapolations(run).get(2000, "resume", "extrapolation")
    assert e.value is None and "too few to predict val" in e.note and "beyond what this run supports" not in e.note
    near = Extrapolations(run).get(1500, "resume", "extrapolation")  # within 5x: the same reason
    assert "too few to predict val" in near.note
