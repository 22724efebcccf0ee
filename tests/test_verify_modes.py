"""verify's other modes, with tiny budgets: the prediction check (--extrapolation), two
devices (hardware or configuration), and RUN... from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import FIXTURES, TINY_TRAIN, run_cli
from lossdoctor.errors import LossdoctorError
from lossdoctor.trainer import resolve
from lossdoctor.verify.design import BASE_CONFIG, hardware_experiment
from lossdoctor.verify.prediction import run_extrapolation
from lossdoctor.verify.runner import run_experiments


@pytest.fixture(scope="module")
def tiny() -> Any:
    """The shared tiny config with few eval batches: the prediction check evaluates as it trains."""
    return resolve(BASE_CONFIG, [*TINY_TRAIN, "--eval_iters=10"])



def test_extrapolation_check_predicts_from_the_cut_log_and_reuses_finished_seeds(
        tmp_path: Path, data: Any, tiny: Any) -> None:
    report = run_extrapolation(resolve(base=tiny, overrides={"out_dir": str(tmp_path)}), data=data,
                               out_dir=str(tmp_path), budget_s=60, seeds=2)
    (r,) = report.experiments
    assert r.id == "extrapolation" and r.expects == "no effect"
    v = r.verification
    assert v.baseline is not None and v.treatment is not None and v.baseline.n == 2
    assert "cut after the eval at step 100" in r.how and "fell inside" in r.how
    assert any(n.startswith("2 trainings of 200 steps took ") and " s of the 60 s budget" in n for n in report.notes)
    seed = tmp_path / "extrapolation" / "seed1337"
    cut = (seed / "cut_at_100.log").read_text()
    assert "step 100:" in cut and "step 150:" not in cut  # nothing after N reaches the prediction
    full = (seed / "train.log").read_text()
    assert "step 200:" in full
    again = run_extrapolation(resolve(base=tiny, overrides={"out_dir": str(tmp_path)}), data=data,
                              out_dir=str(tmp_path), budget_s=60, seeds=2)
    assert again.experiments[0].verification == v  # the logs were reused, not retrained
    from lossdoctor.trainer.data import fingerprint
    assert fingerprint(data) in (seed / "done.json").read_text()  # reused only on the same tokens


def test_extrapolation_refuses_a_budget_too_small(tmp_path: Path, data: Any, tiny: Any) -> None:
    with pytest.raises(LossdoctorError, match="too small for --extrapolation"):
        run_extrapolation(resolve(base=tiny, overrides={"out_dir": str(tmp_path)}), data=data,
                          out_dir=str(tmp_path), budget_s=0.01, seeds=2)
    short = resolve(base=tiny, overrides={"out_dir": str(tmp_path), "max_iters": 60, "lr_decay_iters": 60})
    with pytest.raises(LossdoctorError, match=r"at most its own max_iters \(60\).*at least 100 steps"):
        run_extrapolation(short, data=data, out_dir=str(tmp_path), budget_s=600, seeds=2)  # no budget helps


def test_the_same_config_on_two_devices_is_no_effect_or_not_verifiable(tmp_path: Path, data: Any, tiny: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    hw = hardware_experiment("cpu", "cuda", tiny)
    absent = run_experiments([hw], budget_s=5, seeds=2, max_seeds=2, out_dir=str(tmp_path / "a"), data=data,
                             base=tiny)
    assert absent.experiments[0].verification.verdict == "not verifiable here"
    assert absent.experiments[0].verification.reason == "no cuda device"
    # two cpu "devices": the same computation, so exactly no effect (the arms agree bit for bit)
    same = hardware_experiment("cpu", "cpu", tiny)
    report = run_experiments([same], budget_s=60, seeds=3, max_seeds=3, out_dir=str(tmp_path / "b"), data=data,
                             base=tiny)
    v = report.experiments[0].verification
    assert v.verdict == "no effect" and v.effect is not None and v.effect.estimate == 0.0
    assert report.experiments[0].supports is True


def test_cli_verify_a_run_names_what_it_cannot_train(tmp_path: Path) -> None:
    import torch
    if torch.cuda.is_available():
        pytest.skip("a cuda device is present: this test needs one that is absent")
    log = str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")
    code, out, err = run_cli("verify", log, "--device", "cuda", "--out", str(tmp_path / "o"), "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    ids = {e["id"]: e for e in doc["experiments"]}
    assert "LD101-still-improving" in ids and "LD1401-mfu-vs-a100" in ids
    assert ids["LD101-still-improving"]["reason"] == "no cuda device"
    # nothing trains: no note of what training on this machine's CPU would change
    assert not any(n.startswith(("trained on ", "dtype ")) for n in doc["notes"])
    assert "nothing to" in ids["LD1401-mfu-vs-a100"]["reason"] or "no training" in ids["LD1401-mfu-vs-a100"]["reason"]


def test_cli_verify_refuses_a_log_without_its_config(tmp_path: Path) -> None:
    log = tmp_path / "bare.log"
    log.write_text("".join(f"step {i}: train loss {3 - i / 1000:.4f}, val loss {3.1 - i / 1000:.4f}\n"
                           for i in range(0, 1000, 100)))
    code, out, err = run_cli("verify", str(log), "--out", str(tmp_path / "o"))
    assert code == 2 and "does not show its config" in err and out == ""


@pytest.mark.parametrize("argv, words", [
    (["--device", "tpu"], "not a device"),
    (["--device", "cpu", "--device", "cpu"], "two different"),
    (["--only", "nope", "--device", "cuda"], "no such experiment"),
])
def test_cli_verify_usage_errors(tmp_path: Path, argv: list[str], words: str) -> None:
    code, out, err = run_cli("verify", *argv, "--out", str(tmp_path / "o"))
    assert code == 2 and words in err, err


def test_cli_extrapolation_on_an_absent_device_is_not_verifiable(tmp_path: Path) -> None:
    import torch
    if torch.cuda.is_available():
        pytest.skip("a cuda device is present: this test needs one that is absent")
    code, out, err = run_cli("verify", "--extrapolation", "--device", "cuda", "--out", str(tmp_path / "o"),
                          "--format", "json")
    assert (code, err) == (0, "")
    (e,) = json.loads(out)["experiments"]
    assert (e["id"], e["verdict"], e["reason"]) == ("extrapolation", "not verifiable here", "no cuda device")


def test_cli_extrapolation_refuses_what_it_would_not_use_and_reads_its_inputs_first(tmp_path: Path) -> None:
    log = str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")
    out = ["--out", str(tmp_path / "o")]
    other = str(FIXTURES / "long" / "batch8-2000" / "train.log")
    for extra, said in ((["--only", "LD101"], "--only is not used by it"), ([other], "a second RUN is not used by it"),
                        (["--device", "cpu"], "a second --device is not used by it")):
        runs, flags = (extra, []) if extra == [other] else ([], extra)  # the RUNs come together
        code, _, err = run_cli("verify", "--extrapolation", log, *runs, "--device", "cuda", *out, *flags)
        assert code == 2 and said in err, err
    # an input error is said whatever the device (an absent one had answered 'not verifiable here', exit 0)
    code, _, err = run_cli("verify", "--extrapolation", str(tmp_path / "nope.log"), "--device", "cuda", *out)
    assert code == 2 and "no such file" in err
    code, _, err = run_cli("verify", "--data", str(tmp_path / "none.txt"), "--device", "cuda", *out)
    assert code == 2 and "verify --data" in err and "no such file or directory" in err
    code, _, err = run_cli("verify", log, log, "--device", "cuda", *out)  # as analyze refuses it
    assert code == 2 and "is given twice: each run is verified once" in err


@pytest.mark.parametrize("budget", [90.0, 200.0, 333.0, 1000.0])
def test_extrapolation_plan_evaluates_at_n_and_at_m(budget: float) -> None:
    from lossdoctor.verify.design import default_base_config
    from lossdoctor.verify.prediction import MIN_EVALS_AT_N, _plan
    cfg = _plan(default_base_config(), budget, 3, 0.07, 0.02)
    m, interval = int(cfg["max_iters"]), int(cfg["eval_interval"])
    assert m % (2 * interval) == 0 and (m // 2) // interval + 1 >= MIN_EVALS_AT_N
    assert cfg["lr_decay_iters"] == m  # the README config decays to its end, and still does


def test_an_arm_too_big_for_the_gpu_is_not_verifiable_with_the_fix(tmp_path: Path, data: Any, tiny: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from lossdoctor.verify import cluster
    from lossdoctor.verify.design import Experiment
    from lossdoctor.verify.stats import Claim, Metric
    monkeypatch.setattr(cluster, "device_memory", lambda device: 2**30)  # a 1 GiB "GPU"
    big = Experiment("wide", "a much wider model", (), ("--n_embd=4096", "--n_head=32", "--batch_size=64"),
                     "loss at equal steps", Claim.improves(Metric.loss()))
    report = run_experiments([big], budget_s=5, seeds=2, max_seeds=2, out_dir=str(tmp_path), data=data, base=tiny)
    v = report.experiments[0].verification
    assert v.verdict == "not verifiable here" and "GiB" in v.reason and "gradient_accumulation_steps" in v.reason
