"""`lossdoctor verify --baseline LOG... --treatment LOG...`: groups of existing runs.

The logs are written by the built-in trainer: tiny runs, seeds 1-3 of two configs
(learning rate 1e-2 against 1e-4, which cannot reach the same loss in 40 steps).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import lossdoctor
from conftest import FIXTURES, run_cli
from lossdoctor.errors import InputError, UsageError
from lossdoctor.trainer import resolve, train
from lossdoctor.trainer.data import prepare_text
from lossdoctor.verify.groups import verify_groups

TINY = ["--device=cpu", "--compile=False", "--dtype=float32", "--n_layer=1", "--n_head=2", "--n_embd=16",
        "--block_size=16", "--batch_size=8", "--eval_interval=10", "--eval_iters=8", "--log_interval=5",
        "--warmup_iters=5", "--lr_decay_iters=40", "--max_iters=40", "--always_save_checkpoint=False"]


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    rng = np.random.default_rng(0)
    data = prepare_text("".join(rng.choice(["the ", "cat ", "sat ", "on ", "a ", "mat. "], 4000)), "words")
    root = tmp_path_factory.mktemp("groups")
    out: dict[str, list[str]] = {"fast": [], "slow": [], "fast4": []}
    for name, lr in (("fast", ["--learning_rate=1e-2", "--min_lr=1e-3"]),
                     ("slow", ["--learning_rate=1e-4", "--min_lr=1e-5"])):
        for seed in (1, 2, 3, 4) if name == "fast" else (1, 2, 3):  # a fourth: two groups of one config
            d = root / f"{name}{seed}"
            train(resolve(None, TINY + lr + [f"--out_dir={d}", f"--seed={seed}"]), data, echo=False)
            out["fast4" if seed == 4 else name].append(str(d / "train.log"))
    return out


def _runs(paths: list[str]) -> list[lossdoctor.Run]:
    return [lossdoctor.load(p) for p in paths]


def test_a_real_difference_is_confirmed_with_its_sign(logs: dict[str, list[str]]) -> None:
    report = verify_groups(_runs(logs["slow"]), _runs(logs["fast"]))
    (e,) = report.experiments
    v = e.verification
    assert v.verdict == "confirmed" and v.effect is not None and v.effect.estimate < 0
    assert not v.paired and v.test is not None and v.test.kind == "Welch t"
    assert v.baseline is not None and v.baseline.n == 3
    assert "--learning_rate=0.01" in e.flags and "val loss at step 40" in v.metric.name
    assert report.noise is not None and report.noise.baseline_sd is not None
    assert report.noise.treatment_sd == pytest.approx(v.treatment.sd) and report.noise.difference_sd is None
    assert e.supports is True


def test_the_wrong_direction_is_refuted(logs: dict[str, list[str]]) -> None:
    e = verify_groups(_runs(logs["fast"]), _runs(logs["slow"])).experiments[0]
    assert e.verification.verdict == "refuted" and e.supports is False


def test_one_config_against_itself_is_never_confirmed(logs: dict[str, list[str]]) -> None:
    runs = _runs(logs["fast"] + logs["fast4"])
    report = verify_groups(runs[:2], runs[2:], paired=False)
    assert report.experiments[0].verification.verdict != "confirmed"
    assert report.notes and "same config" in report.notes[0]


def test_a_group_of_two_configs_is_refused_naming_the_key(logs: dict[str, list[str]]) -> None:
    mixed = _runs([logs["fast"][0], logs["slow"][1]])
    with pytest.raises(InputError, match="learning_rate is 0.0001 here but 0.01"):
        verify_groups(mixed, _runs(logs["fast"]))


def test_val_at_a_chosen_step_and_a_missing_step(logs: dict[str, list[str]]) -> None:
    v = verify_groups(_runs(logs["slow"]), _runs(logs["fast"]), step=20).experiments[0].verification
    assert "step 20" in v.metric.name and v.baseline is not None
    with pytest.raises(InputError, match="no eval at step 25"):
        verify_groups(_runs(logs["slow"]), _runs(logs["fast"]), step=25)


def test_paired_needs_groups_of_one_size(logs: dict[str, list[str]]) -> None:
    with pytest.raises(UsageError, match="differ in size"):
        verify_groups(_runs(logs["slow"]), _runs(logs["fast"][:2]), paired=True)
    v = verify_groups(_runs(logs["slow"]), _runs(logs["fast"]), paired=True).experiments[0].verification
    assert v.paired and v.test is not None and v.test.kind == "paired t"


def test_paired_logs_pair_by_the_seeds_they_show(logs: dict[str, list[str]]) -> None:
    """The treatment given in reverse seed order is paired by seed, not by position; groups
    whose seeds do not match one to one cannot be paired."""
    slow, fast = _runs(logs["slow"]), _runs(logs["fast"])
    ordered = verify_groups(slow, fast, paired=True).experiments[0]
    reversed_ = verify_groups(slow, fast[::-1], paired=True).experiments[0]
    assert reversed_.verification.test == ordered.verification.test
    assert "paired by the seed each shows" in reversed_.how
    assert reversed_.seeds == ordered.seeds == (1, 2, 3)  # the pairs' seeds, in the baseline's order
    assert verify_groups(slow, fast).experiments[0].seeds == ()  # unpaired: no pairs
    with pytest.raises(UsageError, match="do not pair up"):
        verify_groups(slow, [*fast[:2], lossdoctor.load(logs["fast4"][0])], paired=True)


def test_one_log_is_not_a_group(logs: dict[str, list[str]]) -> None:
    with pytest.raises(UsageError, match="at least 2 logs"):
        verify_groups(_runs(logs["slow"][:1]), _runs(logs["fast"]))



def test_cli_json_is_one_document_with_the_documented_keys(logs: dict[str, list[str]]) -> None:
    code, out, err = run_cli("verify", "--baseline", *logs["slow"], "--treatment", *logs["fast"], "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    (e,) = doc["experiments"]
    assert {"id", "recommendation", "flags", "metric", "baseline", "treatment", "effect", "p_value", "verdict",
            "how", "scaled"} <= set(e)
    assert set(e["baseline"]) >= {"mean", "sd", "n"} and set(e["effect"]) >= {"mean", "lo", "hi", "unit"}
    assert e["verdict"] == "confirmed" and doc["budget"] is None
    # the one-sided p the verdict compares with alpha, beside the two-sided p_value
    assert e["p_one_sided"] == e["p_value"] / 2 and e["alpha"] == 0.01 and e["p_one_sided"] < e["alpha"]


def test_cli_plain_and_markdown_at_80_columns(logs: dict[str, list[str]]) -> None:
    code, out, _ = run_cli("verify", "--baseline", *logs["slow"], "--treatment", *logs["fast"], "--format", "plain",
                        "--width", "80")
    assert code == 0 and "confirmed" in out and max(len(line) for line in out.splitlines()) <= 80
    code, out, _ = run_cli("verify", "--baseline", *logs["slow"], "--treatment", *logs["fast"], "--format", "markdown")
    assert code == 0 and out.startswith("# lossdoctor verify") and "| groups |" in out
    assert "<details><summary>" in out and out.rstrip().endswith("</details>")


def test_cli_errors_are_one_line_with_exit_2(logs: dict[str, list[str]], tmp_path: Path) -> None:
    code, _, err = run_cli("verify", "--baseline", *logs["slow"])
    assert code == 2 and "both --baseline and --treatment" in err
    missing = str(tmp_path / "nope.log")
    code, _, err = run_cli("verify", "--baseline", *logs["slow"], "--treatment", logs["fast"][0], missing)
    assert code == 2 and "nope.log" in err and len(err.strip().splitlines()) == 1


def test_cli_training_mode_saves_its_json_beside_the_runs(tmp_path: Path) -> None:
    import torch
    if torch.cuda.is_available():
        pytest.skip("a cuda device is present: this test needs one that is absent")
    out = tmp_path / "out"
    code, stdout, err = run_cli("verify", "--device", "cuda", "--only", "compile", "--out", str(out),
                                "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(stdout)
    assert doc["experiments"][0]["verdict"] == "not verifiable here"
    assert "no cuda device" in doc["experiments"][0]["reason"]
    assert json.loads((out / "verify.json").read_text()) == doc


@pytest.mark.parametrize("experiment_id", ["LD101-still-improving", "LD1403-dtype-ignored-on-cpu", "compile",
                                           "LD1501-mfu-against-the-wrong-peak"])
def test_the_experiment_column_breaks_a_rule_name_only_after_a_hyphen(experiment_id: str) -> None:
    from lossdoctor.report.verify import ID_WIDTH, _id_lines
    lines = _id_lines(experiment_id).split("\n")
    code, _, name = experiment_id.partition("-")
    if lines == [experiment_id]:
        assert not code.startswith("LD")
        return
    assert lines[0] == code and "".join(lines[1:]) == name
    assert all(len(line) <= ID_WIDTH for line in lines[1:])
    assert all(line.endswith("-") for line in lines[1:-1])  # every break is after a hyphen


def test_the_verdicts_stack_on_a_narrow_console_and_fold_no_number() -> None:
    import io

    from rich.console import Console

    from lossdoctor.readers import load
    from lossdoctor.report.verify import render
    from lossdoctor.verify.groups import verify_groups
    cal = FIXTURES / "calibration"
    base = [load(str(cal / f"d4w128-shakespeare-s{s}-2000" / "train.log")) for s in (1, 2)]
    treat = [load(str(cal / f"d3w128-shakespeare-s{s}-2000" / "train.log")) for s in (1, 2)]
    report = verify_groups(base, treat)
    for width in (40, 50, 80):
        out = io.StringIO()
        Console(file=out, width=width).print(render(report))
        text = out.getvalue()
        assert max(len(line) for line in text.splitlines()) <= width
        assert "inconclusive" in text and "1.882" in text and "0.0037" in text  # the verdict, a mean, an sd whole
        assert ("┃" in text) == (width == 80)  # the table where it fits, else the lines


def test_a_log_given_twice_in_a_group_is_one_seed_not_two(logs: dict[str, list[str]], tmp_path: Path) -> None:
    fast, slow = logs["fast"], logs["slow"]
    with pytest.raises(InputError, match="--baseline holds this run twice"):
        verify_groups(_runs([slow[0], slow[0], slow[1]]), _runs(fast))
    copy = tmp_path / "copy.log"  # the same curves under another name
    copy.write_text(Path(slow[0]).read_text())
    with pytest.raises(InputError, match="--treatment holds this run twice"):
        verify_groups(_runs(fast), _runs([slow[0], str(copy)]))


def test_a_key_outside_nanogpt_splits_groups_and_is_named_in_the_verdict(tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"  # a runs table with a fork's own key, as W&B exports it
    table.write_text("Name,seed,iter,val/loss,n_head,activation_type\n"
                     "a,1,500,1.71,8,gelu\na,2,500,1.70,8,gelu\na,3,500,1.72,8,gelu\n"
                     "b,1,500,1.61,6,relu\nb,2,500,1.60,6,relu\nb,3,500,1.62,6,relu\n"
                     "c,1,500,1.61,8,relu\n")
    runs = {r.source.split("#", 1)[1]: r for r in lossdoctor.load_many(str(table))}
    base = [runs[f"a (seed {s})"] for s in (1, 2, 3)]
    with pytest.raises(InputError, match="--baseline mixes configs: activation_type is 'relu' here but 'gelu'"):
        verify_groups(base[:2] + [runs["c"]], [runs[f"b (seed {s})"] for s in (1, 2, 3)])
    report = verify_groups(base, [runs[f"b (seed {s})"] for s in (1, 2, 3)])
    e = report.experiments[0]
    assert e.flags == "--n_head=6" and "activation_type 'relu'" in e.recommendation
    assert any("differ in activation_type too, which no nanoGPT flag sets" in n for n in report.notes)


def test_the_library_takes_what_the_cli_takes_and_refuses_what_it_refuses(logs: dict[str, list[str]]) -> None:
    fast, slow = _runs(logs["fast"]), _runs(logs["slow"])
    with pytest.raises(InputError, match="is in both --baseline and --treatment"):
        verify_groups(fast[:2], fast[1:], paired=True)
    with pytest.raises(UsageError, match="a list of Runs each"):
        verify_groups(fast[0], slow)  # type: ignore[arg-type]
    by_generator = verify_groups((r for r in slow), (r for r in fast), step=np.int64(40))
    assert by_generator.experiments[0].verification.verdict == "confirmed"


def test_groups_that_differ_only_in_a_key_outside_nanogpt_are_said_to(tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    table.write_text("Name,seed,iter,val/loss,activation_type\n"
                     "a,1,500,1.71,gelu\na,2,500,1.70,gelu\nb,1,500,1.61,relu\nb,2,500,1.60,relu\n")
    runs = {r.source.split("#", 1)[1]: r for r in lossdoctor.load_many(str(table))}
    report = verify_groups([runs["a (seed 1)"], runs["a (seed 2)"]], [runs["b (seed 1)"], runs["b (seed 2)"]])
    assert report.experiments[0].flags == ""
    assert any("differ in activation_type alone" in n and "(no flags)" in n for n in report.notes)


def test_a_scaled_experiments_flags_are_said_to_be_those_it_trained_with() -> None:
    import dataclasses
    import io

    from rich.console import Console

    from lossdoctor.report.verify import render, to_markdown
    cal = FIXTURES / "calibration"
    report = verify_groups(_runs([str(cal / f"d4w128-shakespeare-s{s}-2000" / "train.log") for s in (1, 2)]),
                           _runs([str(cal / f"d3w128-shakespeare-s{s}-2000" / "train.log") for s in (1, 2)]))
    [e] = report.experiments
    e = dataclasses.replace(e, flags="--max_iters=250 --lr_decay_iters=250", scaled="max_iters 5000 -> 250")
    for scaled in (dataclasses.replace(report, experiments=(e,)), report):
        out = io.StringIO()
        Console(file=out, width=80).print(render(scaled))
        said = "as trained (scaled" in out.getvalue()
        assert said == (scaled is not report) and said == ("as trained (scaled)" in to_markdown(scaled))


def test_step_0_and_mixed_units_are_refused_and_bits_per_byte_said_as_such(
        logs: dict[str, list[str]], tmp_path: Path) -> None:
    # step 0 is each model's initial loss: no training to compare
    with pytest.raises(InputError, match=r"at step 0, before any training.*pass --step N for a later step all the "
                                         r"logs evaluated at \(.*[1-9]"):
        verify_groups(_runs(logs["slow"]), _runs(logs["fast"]), step=0)
    cut = []
    for i, path in enumerate(logs["fast"][:2]):  # two logs with their step-0 eval alone
        lines = Path(path).read_text().splitlines(keepends=True)
        (tmp_path / f"cut{i}.log").write_text("".join(x for x in lines if not x.startswith(("step ", "iter "))
                                                      or int(x.split()[1].rstrip(":")) < 5))
        cut.append(str(tmp_path / f"cut{i}.log"))
    with pytest.raises(InputError, match="at step 0, before any training") as e:  # no later step to point to
        verify_groups(_runs(logs["slow"]), _runs(cut))
    assert "share no later eval step; their evals: every" in str(e.value) and "--step" not in str(e.value)
    # nanochat's val in bits per byte: against nats refused, between bpb logs said in bpb
    nc = (FIXTURES / "formats" / "nanochat_base_train.log").read_text()
    bpb = []
    for i, value in enumerate(("1.8700", "1.8800", "1.8000", "1.8100")):
        text = nc.rsplit("Validation bpb: ", 1)
        (tmp_path / f"nc{i}.log").write_text(text[0] + "Validation bpb: " + value + text[1][len(value):])
        bpb.append(str(tmp_path / f"nc{i}.log"))
    with pytest.raises(InputError, match="val in nats, where .* has it in bpb"):
        verify_groups(_runs(bpb[:2]), _runs(logs["fast"][:2]))
    report = verify_groups(_runs(bpb[:2]), _runs(bpb[2:]))
    v = report.experiments[0].verification
    assert v.metric.unit == "bpb" and v.metric.name.startswith("val bpb at step") and report.noise.unit == "bpb"
    assert "val bpb lower" in report.experiments[0].recommendation and "bpb floor" in v.margin.basis


def test_paired_is_true_or_false():
    from lossdoctor.errors import UsageError
    with pytest.raises(UsageError, match="paired: True or False, not 'x'"):
        verify_groups([], [], paired="x")  # checked before the groups: 'x' had been taken as True


def test_fail_on_sets_the_exit_status_by_the_verdicts(logs: dict[str, list[str]]) -> None:
    """Without --fail-on verify exits 0 whatever the verdicts; `refuted` fails a verdict
    against the recommendation, `unsupported` also one that does not support it."""
    against = ("verify", "--baseline", *logs["fast"], "--treatment", *logs["slow"], "--format", "json")
    code, out, _ = run_cli(*against)
    assert code == 0 and json.loads(out)["experiments"][0]["verdict"] == "refuted"
    assert run_cli(*against, "--fail-on", "refuted")[0] == 1 == run_cli(*against, "--fail-on", "unsupported")[0]
    for_it = ("verify", "--baseline", *logs["slow"], "--treatment", *logs["fast"], "--format", "json")
    assert run_cli(*for_it, "--fail-on", "refuted")[0] == 0 == run_cli(*for_it, "--fail-on", "unsupported")[0]
    code, _, err = run_cli(*for_it, "--fail-on", "warning")
    assert code == 2 and "invalid choice" in err


def test_fail_on_unsupported_counts_an_experiment_that_could_not_run() -> None:
    from lossdoctor.cli_exits import verify_exit as exit_for
    from lossdoctor.verify.prediction import not_verifiable_report
    from lossdoctor.verify.results import VerifyReport
    report = not_verifiable_report("cuda", 600.0, "no CUDA device here")
    assert exit_for(report, None) == 0 == exit_for(report, "refuted") and exit_for(report, "unsupported") == 1
    assert exit_for(VerifyReport((), None, "cpu", None), "unsupported") == 1  # nothing run supports nothing


def test_fail_on_refuted_counts_no_effect_where_an_effect_is_recommended(logs: dict[str, list[str]]) -> None:
    """`no effect` shown by TOST where an effect is recommended goes against it; where no
    change is recommended (expects 'no effect') it supports it, and an effect goes against."""
    import dataclasses

    from lossdoctor.cli_exits import verify_exit as exit_for
    report = verify_groups(_runs(logs["slow"]), _runs(logs["fast"]))
    (e,) = report.experiments
    none = dataclasses.replace(e, verification=dataclasses.replace(e.verification, verdict="no effect"))
    assert exit_for(dataclasses.replace(report, experiments=(none,)), "refuted") == 1
    assert exit_for(report, "refuted") == 0  # confirmed, as recommended
    unchanged = dataclasses.replace(none, expects="no effect")  # bf16 on a CPU: no change claimed
    assert exit_for(dataclasses.replace(report, experiments=(unchanged,)), "unsupported") == 0
    moved = dataclasses.replace(e, expects="no effect")  # an effect where none is claimed
    assert exit_for(dataclasses.replace(report, experiments=(moved,)), "refuted") == 1
