"""The library's entry points: what they take, and the errors they raise for what they do not."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import lossdoctor
from conftest import FIXTURES


def test_the_library_takes_one_path_and_refuses_what_is_no_step_or_number():
    import lossdoctor
    from conftest import FIXTURES
    from lossdoctor import verify_groups
    from lossdoctor.errors import InputError, UsageError
    from lossdoctor.readers import discover, load_many
    log = str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")
    assert len(lossdoctor.analyze(log).runs) == 1 and len(load_many(log)) == 1  # a path, not its characters
    tiny = FIXTURES / "nanogpt" / "tiny_resume" / "train.log"
    both = lossdoctor.analyze([FIXTURES / "nanogpt" / "cpu_small" / "train.log", tiny], diagnose_runs=False)
    assert len(both.runs) == 2 and both.comparison is not None and len(load_many((log, tiny))) == 2  # os.PathLike
    with pytest.raises(UsageError, match="a path is a str or os.PathLike, not int"):
        lossdoctor.analyze([log, 3])  # type: ignore[list-item]
    run = lossdoctor.load(log)
    for to in (float("nan"), 600.5, True, "600", 0, -5):  # 0: a usage error, as the CLI's --to, not "before the run"
        with pytest.raises(UsageError, match="the target step must be a positive whole number of steps"):
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
    ({"warmup_iters": 100, "lr_decay_iters": 100}, "nanoGPT's get_lr divides by zero at step 100"),
])
def test_a_custom_schedule_from_python_is_checked_as_the_cli_checks_it(schedule, why):
    import lossdoctor
    from lossdoctor.errors import UsageError
    run = lossdoctor.load(str(FIXTURES / "nanogpt" / "cpu_small" / "train.log"))
    with pytest.raises(UsageError, match=re.escape(why)):
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
    from lossdoctor.errors import UsageError
    run = lossdoctor.load(str(FIXTURES / "nanogpt" / "cpu_small" / "train.log"))
    with pytest.raises(UsageError, match=r"not 1" + "0" * 29 + r"\.\.\. \(401 characters\)"):
        lossdoctor.extrapolate(run, 10**400)
    with pytest.raises(UsageError, match="lr_decay_iters=1" + "0" * 29 + r"\.\.\. "
                                                r"\(401 characters\) must be a finite number"):
        lossdoctor.extrapolate(run, 900, scenarios=("custom",), schedule={"lr_decay_iters": 10**400})
    with pytest.raises(UsageError, match=r"level: a number between 0 and 1 .0.8 for 80%., not 1" + "0" * 29):
        lossdoctor.extrapolate(run, 900, level=10**400)


def test_an_argument_the_library_cannot_take_is_a_usage_error_naming_it():
    import lossdoctor
    from lossdoctor.errors import UsageError
    run = lossdoctor.load(str(FIXTURES / "lossdoctor_train" / "readme_cpu_2000"))
    for kwargs, why in (({"scenarios": ("observed",)}, "'observed' is not one of .* .a target inside the run gives"),
                        ({"scenarios": None}, "scenarios: one or more of rerun, resume, constant, custom, not None"),
                        ({"scenarios": ("foo",)}, "'foo' is not one of"),
                        ({"scenarios": ()}, "no scenario to predict"),
                        ({"level": 80}, r"level: a number between 0 and 1 \(0.8 for 80%\), not 80"),
                        ({"reference": "no"}, "reference: True or False, not 'no'")):
        with pytest.raises(UsageError, match=why):
            lossdoctor.extrapolate(run, 3000, **kwargs)  # type: ignore[arg-type]
    inside = lossdoctor.extrapolate(run, 1000, scenarios=("constant",))  # answered by the run as it ran, and said
    assert [s.name for s in inside.scenarios] == ["observed"]
    assert inside.notes[0] == ("step 1,000 is inside the run (its last step: 2,000): the run as it ran ('observed') "
                               "is given in place of constant")


def test_a_constant_lr_run_given_a_decay_takes_the_min_lr_its_config_shows():
    import lossdoctor
    from conftest import shared_path
    run = lossdoctor.load(str(shared_path("groundtruth/const_5000.log")))  # decay_lr=False, min_lr = 1e-4
    x = lossdoctor.extrapolate(run, 5000, scenarios=("custom",), schedule={"warmup_iters": 100,
                                                                          "lr_decay_iters": 5000})
    custom = next(s for s in x.scenarios if s.name == "custom")
    assert "--min_lr=0.0001" in custom.flags and "--decay_lr=True" in custom.flags  # not the constant 1e-3
    assert custom.val is None and custom.note.startswith("inside the run the law is fitted to the schedule")


def test_the_api_takes_what_its_docs_say_and_refuses_the_rest_with_a_usage_error():
    from lossdoctor.errors import UsageError
    from lossdoctor.verify.groups import verify_groups
    cal = FIXTURES / "calibration"
    run = lossdoctor.load(str(cal / "d2w64-shakespeare-s1-1000"))
    others = [lossdoctor.load(str(cal / f"d2w64-shakespeare-s1-{n}")) for n in (400, 600)]
    listed = lossdoctor.Extrapolator(run, calibrate=others).extrapolate(2500, scenarios=("rerun",))
    generated = lossdoctor.Extrapolator(run, calibrate=(r for r in others)).extrapolate(2500,
                                                                                      scenarios=("rerun",))
    assert generated.scenarios[0].val == listed.scenarios[0].val  # a generator's runs join, as a list's do
    assert lossdoctor.Extrapolator(run, calibrate=others[0]).calibrate == (others[0],)
    assert lossdoctor.Extrapolator(run, calibrate=None).calibrate == ()
    x = lossdoctor.extrapolate(run, 2500, scenarios=("rerun", "rerun", "custom"),
                               schedule={"warmup_iters": 50.0, "lr_decay_iters": 2500.0})
    assert [s.name for s in x.scenarios] == ["rerun", "custom"]  # each once, as the CLI asks them
    assert "--warmup_iters=50 " in x.scenarios[1].flags + " "  # an int key's flag, as train.py takes it
    log = str(FIXTURES / "nanogpt" / "tiny_resume")
    for call in (lambda: lossdoctor.compute_facts(None), lambda: lossdoctor.load(None),
                 lambda: lossdoctor.analyze(3), lambda: verify_groups(None, [run, run]),
                 lambda: lossdoctor.analyze(log, rules="x"), lambda: lossdoctor.analyze(log, rules_dirs=3),
                 lambda: lossdoctor.load(log, readers=3), lambda: lossdoctor.load_many([3]),
                 lambda: lossdoctor.read_checkpoint(None),
                 lambda: lossdoctor.analyze(log, peak_flops=4090)):  # no device's peak: 'RTX 4090' cut short
        with pytest.raises(UsageError):
            call()


def test_a_series_of_a_run_cannot_be_written():
    run = lossdoctor.load(str(FIXTURES / "formats" / "llmc_stdout.log"))
    with pytest.raises(ValueError, match="read-only"):
        run.series["lr"].value[:] = 1.0


def test_results_pickle_deep_copy_and_hash_as_frozen_dataclasses_do():
    import copy
    import pickle
    run = lossdoctor.load(str(FIXTURES / "nanogpt" / "tiny_resume"))
    back = pickle.loads(pickle.dumps(run))  # to a worker process and back
    assert back.config == run.config and dict(back.line_counts) == dict(run.line_counts)
    assert list(back.evals.val) == list(run.evals.val) and copy.deepcopy(run).source == run.source
    a = lossdoctor.analyze([str(FIXTURES / "nanogpt" / "tiny_resume")])
    again = pickle.loads(pickle.dumps(a))
    findings = a.diagnoses[0].findings
    assert findings and again.diagnoses[0].findings == findings
    assert len({*findings, *again.diagnoses[0].findings}) == len(findings)  # hashed as equal
    assert hash(run.config) == hash(back.config) and hash(a.facts[0]) == hash(again.facts[0])
    with pytest.raises(TypeError):
        run.config.values["n_layer"] = 1  # type: ignore[index]
    for copied in (back, copy.deepcopy(run), pickle.loads(pickle.dumps(a)).runs[0]):  # read-only as made
        for curve in (copied.evals, copied.iters, *copied.series.values()):
            with pytest.raises(ValueError, match="read-only"):
                curve.step[0] = 99


def test_a_frozen_dict_cannot_be_changed_by_any_door():
    from lossdoctor.frozen import FrozenDict
    d = FrozenDict({"n_layer": 4})
    for change in (lambda: d.__setitem__("n_layer", 6), lambda: setattr(d, "_items", {}),  # type: ignore[index]
                   lambda: d.__init__({"n_layer": 6}), lambda: d._items.__setitem__("n_layer", 6)):  # type: ignore[misc]
        with pytest.raises((TypeError, AttributeError)):
            change()
    assert d == {"n_layer": 4} and hash(d) == hash(FrozenDict({"n_layer": 4}))


@pytest.mark.parametrize("call, said", [
    (lambda: lossdoctor.analyze([]), "paths is an empty list"),  # had analysed the current directory
    (lambda: lossdoctor.analyze([str(FIXTURES / "nanogpt" / "cpu_small")], diagnose_runs="no"),
     "diagnose_runs is True or False"),
    (lambda: lossdoctor.analyze([str(FIXTURES / "nanogpt" / "cpu_small")], distinct="no"), "distinct is True or False"),
    (lambda: lossdoctor.load(str(FIXTURES / "nanogpt" / "cpu_small"), readers=[]), "names no format"),
    (lambda: lossdoctor.discover(None), "discover: a path is a str"),
    (lambda: lossdoctor.sample(None), "sample: a path is a str"),
    (lambda: lossdoctor.default_experiments("x"), "base is a TrainConfig or None"),
    (lambda: lossdoctor.plan_from_runs(None, "cpu"), "plan_from_runs: analysis is what lossdoctor.analyze returns"),
    # verify's entry points, before anything trains (had been an AttributeError or a TypeError)
    (lambda: lossdoctor.run_experiments("x", out_dir="v"), "experiments is a list of Experiment, not str"),
    (lambda: lossdoctor.run_experiments([None], out_dir="v"), "holds None, which is no Experiment"),
    (lambda: lossdoctor.run_experiments(lossdoctor.default_experiments(), seeds="3", out_dir="v"),
     "seeds is a whole number of at least 2, not '3'"),
    (lambda: lossdoctor.run_experiments(lossdoctor.default_experiments(), seeds=1, out_dir="v"), "at least 2, not 1"),
    (lambda: lossdoctor.run_experiments(lossdoctor.default_experiments(), seeds=3, max_seeds=2, out_dir="v"),
     "max_seeds is a whole number of at least 3, not 2"),
    (lambda: lossdoctor.run_experiments(lossdoctor.default_experiments(), budget_s=float("nan"), out_dir="v"),
     "budget_s is a number of seconds above 0"),
    (lambda: lossdoctor.run_experiments(lossdoctor.default_experiments(), base="x", device="cuda", out_dir="v"),
     "base is a TrainConfig or None, not 'x'"),  # had said "not verifiable here" without a GPU
    (lambda: lossdoctor.run_experiments(lossdoctor.default_experiments(), device="tpu", out_dir="v"),
     "device 'tpu' is not a device"),
    (lambda: lossdoctor.run_experiments(lossdoctor.default_experiments(), out_dir=""), "out_dir is a folder's path"),
    (lambda: lossdoctor.run_extrapolation("x", data=None, out_dir="v", budget_s=1),  # type: ignore[arg-type]
     "base is a TrainConfig"),
    (lambda: lossdoctor.hardware_experiment("cpu", "cpu", base="x"), "base is a TrainConfig or None, not 'x'"),
    (lambda: lossdoctor.make_executor("local", "tpu", None, None), "device 'tpu' is not a device"),
    (lambda: lossdoctor.sample(str(FIXTURES / "lossdoctor_train" / "tiny"), seed="x"), "seed 'x': expected a whole"),
])
def test_bad_arguments_are_usage_errors_not_tracebacks(call, said):
    from lossdoctor.errors import UsageError
    with pytest.raises(UsageError, match=said):
        call()


@pytest.mark.parametrize("name", ["all_losses_1e308.log", "loss_1e308.log", "time_1e308.log"])
def test_absurd_losses_give_facts_without_numpy_warnings(name):
    # a sum of 1e308 losses overflows: the facts say what is not finite, and the API prints nothing
    import warnings
    path = next(FIXTURES.glob(f"fuzz/**/{name}"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        lossdoctor.compute_facts(lossdoctor.load(str(path)))


def test_dir_lists_the_public_names_before_their_first_use():
    out = subprocess.run([sys.executable, "-c", "import lossdoctor; print(' '.join(dir(lossdoctor)))"],
                         capture_output=True, text=True, check=True).stdout.split()
    public = {n for n in out if not n.startswith("_")}
    assert public == set(lossdoctor.__all__) - {"__version__"}  # none missing, no stray Any or annotations
