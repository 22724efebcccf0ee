"""The library's entry points: what they take, and the errors they raise for what they do not."""

from __future__ import annotations

import re

import pytest

from conftest import FIXTURES


def test_the_library_takes_one_path_and_refuses_what_is_no_step_or_number():
    import lossdoctor
    from conftest import FIXTURES
    from lossdoctor import verify_groups
    from lossdoctor.errors import InputError, UsageError
    from lossdoctor.fit import CannotExtrapolate
    from lossdoctor.readers import discover, load_many
    log = str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")
    assert len(lossdoctor.analyze(log).runs) == 1 and len(load_many(log)) == 1  # a path, not its characters
    run = lossdoctor.load(log)
    for to in (float("nan"), 600.5, True, "600"):
        with pytest.raises(CannotExtrapolate, match="the target step must be a whole number of steps"):
            lossdoctor.extrapolate(run, to)  # type: ignore[arg-type]
    x = lossdoctor.extrapolate(run, 600.0, scenarios="rerun")  # type: ignore[arg-type]
    assert x.target_step == 600 and [s.name for s in x.scenarios] == ["rerun"]
    import numpy as np
    assert lossdoctor.compute_facts(run, peak_flops=np.float32(312e12), dataset_tokens=np.int64(10**6))
    for bad in ({"peak_flops": float("nan")}, {"peak_flops": -1.0}, {"peak_flops": True}, {"dataset_tokens": -5},
                {"dataset_tokens": 0}, {"dataset_tokens": 2.5}):
        with pytest.raises(UsageError):
            lossdoctor.compute_facts(run, **bad)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no such directory"):
        discover(str(FIXTURES / "nope"))
    with pytest.raises(InputError, match="not a directory"):
        discover(log)
    with pytest.raises(UsageError, match="expect: 'bogus'"):
        verify_groups([run, run], [run, run], expect="bogus")  # type: ignore[arg-type]


def test_extrapolate_checks_what_compute_facts_checks_and_the_errors_are_importable():
    import lossdoctor
    from conftest import FIXTURES
    run = lossdoctor.load(str(FIXTURES / "nanogpt" / "cpu_small" / "train.log"))
    for bad in (0, -5, 1.5, "x", True):
        with pytest.raises(lossdoctor.UsageError, match="dataset_tokens"):
            lossdoctor.extrapolate(run, 600, dataset_tokens=bad)  # type: ignore[arg-type]
    with pytest.raises(lossdoctor.UsageError, match="not paths"):
        lossdoctor.extrapolate(run, 600, calibrate=str(FIXTURES / "nanogpt" / "tiny_resume"))  # type: ignore[arg-type]
    assert issubclass(lossdoctor.CheckpointError, lossdoctor.InputError)
    assert issubclass(lossdoctor.UsageError, lossdoctor.LossdoctorError)


def test_readers_are_taken_by_their_format_names_and_rules_dirs_as_one_folder():
    import lossdoctor
    from conftest import FIXTURES
    log = str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")
    assert str(lossdoctor.load(log, readers=["nanogpt"]).format) == "nanogpt"
    assert len(lossdoctor.analyze(log, readers="nanogpt").runs) == 1
    with pytest.raises(lossdoctor.UsageError, match="'nanogtp': no such input format"):
        lossdoctor.load(log, readers=["nanogtp"])
    with pytest.raises(lossdoctor.UsageError, match="neither a Reader nor a format's name"):
        lossdoctor.load(log, readers=[3])  # type: ignore[list-item]
    assert lossdoctor.analyze(log, rules_dirs=str(FIXTURES.parent / "rules")).runs


@pytest.mark.parametrize(("a", "b"), [("cpu", "tpu"), ("gpu", "cuda"), ("cpu", 3)])
def test_a_hardware_experiment_takes_devices_the_trainer_takes(a, b):
    import lossdoctor
    with pytest.raises(lossdoctor.UsageError, match="hardware_experiment"):
        lossdoctor.hardware_experiment(a, b)
    assert lossdoctor.hardware_experiment("cpu", "cuda:1").id == "hardware-cpu-cuda:1"


def test_a_runs_config_and_a_findings_evidence_cannot_be_changed_through_them():
    import lossdoctor
    from conftest import FIXTURES
    an = lossdoctor.analyze(str(FIXTURES / "nanogpt" / "cpu_small" / "train.log"))
    with pytest.raises(TypeError):
        an.runs[0].config.values["n_layer"] = None  # type: ignore[index]
    with pytest.raises(TypeError):
        an.diagnoses[0].findings[0].evidence["x"] = 1  # type: ignore[index]


@pytest.mark.parametrize("schedule, why", [
    ({"warmup_iters": -100}, "warmup_iters=-100 must be a finite number at least 0"),
    ({"warmup_iters": float("nan")}, "warmup_iters=nan must be a finite number at least 0"),
    ({"warmup_iters": "abc"}, "warmup_iters='abc' is not a number"),
    ({"lr_decay_iters": 600.5}, "lr_decay_iters=600.5 is not a whole number of steps"),
    ({"learning_rate": 0.0}, "learning_rate=0.0 must be a finite number above 0"),
    ({"decay_lr": "yes"}, "decay_lr='yes' is not True or False"),
    ([0.001, float("inf")], "one finite, non-negative LR per step"),
])
def test_a_custom_schedule_from_python_is_checked_as_the_cli_checks_it(schedule, why):
    import lossdoctor
    from lossdoctor.fit import CannotExtrapolate
    run = lossdoctor.load(str(FIXTURES / "nanogpt" / "cpu_small" / "train.log"))
    with pytest.raises(CannotExtrapolate, match=re.escape(why)):
        lossdoctor.extrapolate(run, 900, scenarios=("custom",), schedule=schedule)


def test_wrong_argument_types_are_usage_errors_not_python_errors():
    import lossdoctor
    from lossdoctor.errors import UsageError
    from lossdoctor.verify.groups import verify_groups
    run = lossdoctor.load(str(FIXTURES / "nanogpt" / "cpu_small" / "train.log"))
    with pytest.raises(UsageError, match="level: a number between 0 and 1"):
        lossdoctor.extrapolate(run, 900, level="0.8")
    with pytest.raises(UsageError, match="Run objects"):
        verify_groups(["a.log", "b.log"], ["c.log", "d.log"])
    with pytest.raises(UsageError, match="step: a whole number of steps, not '1000'"):
        verify_groups([run, run], [run, run], step="1000")


def test_numbers_too_large_for_a_float_are_refused_not_overflowed():
    import lossdoctor
    from lossdoctor.fit import CannotExtrapolate
    run = lossdoctor.load(str(FIXTURES / "nanogpt" / "cpu_small" / "train.log"))
    with pytest.raises(CannotExtrapolate, match=r"not 1" + "0" * 29 + r"\.\.\. \(401 characters\)"):
        lossdoctor.extrapolate(run, 10**400)
    with pytest.raises(CannotExtrapolate, match="lr_decay_iters=1" + "0" * 29 + r"\.\.\. "
                                                r"\(401 characters\) must be a finite number"):
        lossdoctor.extrapolate(run, 900, scenarios=("custom",), schedule={"lr_decay_iters": 10**400})
    with pytest.raises(CannotExtrapolate, match="level inf is not between 0 and 1"):
        lossdoctor.extrapolate(run, 900, level=10**400)
