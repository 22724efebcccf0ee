"""What the report says of a run is what its file shows: counts a table states, a summary's
one value, tied best evals, and effects quoted for the model and the run at hand."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

import lossdoctor
from conftest import FIXTURES, parse_text
from lossdoctor.diagnose import check, load_rules
from lossdoctor.readers import read_runs

BUILTIN = load_rules()


def test_a_run_that_ends_on_a_tie_at_its_best_val_ended_at_its_best():
    # llm.c's main.log prints val to 4 decimals: its last three evals 3.2722, its best; the
    # run had been said to peak "98% of the way" through. The best's step stays the first of
    # the tie: nanoGPT saves only below its best, so that is the step its ckpt.pt holds
    text = "".join(f"step {s}: train loss {v - 0.1:.4f}, val loss {v:.4f}\n"
                   for s, v in [(0, 4.2), (100, 3.0), (200, 2.5), (300, 2.4), (400, 2.4)])
    facts = lossdoctor.compute_facts(parse_text(text))
    assert (facts.value("best_val"), facts.value("best_val_step"), facts.value("best_val_frac")) == (2.4, 300, 1.0)
    assert "step 300 the first" in (facts["best_val_frac"].note or "")


def test_a_summary_shows_no_first_val_nor_how_many_evals_and_says_its_steps_may_be_short(tmp_path: Path):
    facts = lossdoctor.compute_facts(lossdoctor.load(str(FIXTURES / "formats" / "wandb-summary.json")))
    assert not facts["first_val"].known and not facts["n_evals"].known
    assert facts.value("steps_done") == 2000 and "may have gone on past it" in (facts["steps_done"].note or "")
    (tmp_path / "wandb-summary.json").write_text('{"_step": 10, "_runtime": 5.0, "val/loss": 1.5}')
    counted = lossdoctor.compute_facts(lossdoctor.load(str(tmp_path / "wandb-summary.json")))
    assert counted["steps_done"].status == "assumed"  # `_step` counts wandb.log calls


def test_a_parameter_count_a_table_states_is_the_models_total(tmp_path: Path):
    # a runs table's n_params of a model without position embeddings had been overridden by
    # nanoGPT's formula plus a block_size x n_embd table the model does not have
    head = "run_name,batch_size,block_size,n_layer,n_head,n_embd,vocab_size,bias,pos_encoding,n_params,final_val_loss\n"
    (tmp_path / "runs.csv").write_text(head + "learned,64,256,6,6,384,65,False,learned,10745088,1.70\n"
                                              "none,64,256,6,6,384,65,False,none,10646784,1.58\n")
    totals = [lossdoctor.compute_facts(r)["params_total"] for r in read_runs(str(tmp_path / "runs.csv"))]
    assert [(f.value, f.status, f.source) for f in totals] == [(10745088, "read", "log: n_params"),
                                                                (10646784, "read", "log: n_params")]


@pytest.mark.parametrize(("params", "effect"), [(124_000_000, 1.85), (800_000, None)])
def test_compiles_speed_up_is_quoted_for_models_of_gpt2s_scale_only(params, effect):
    rule = BUILTIN.get("LD1201")
    found = check(rule, {"device_type": "cuda", "compile": False, "max_iters": 3000, "device": "cuda",
                         "time_per_iter_ms": 19.6, "params_total": params})
    assert found is not None and found.expected_effect.value == effect


def test_no_better_than_unigram_quotes_the_final_vals_distance_on_the_final_val():
    rule = BUILTIN.get("LD602")
    base = {"train_vs_unigram": 0.006, "learning_rate": 1e-3, "steps_done": 5000, "final_train": 3.3154,
            "unigram_entropy": 3.3091, "best_val": 3.3593, "train_low": 3.31}
    found = check(rule, {**base, "final_val": 3.3593})
    assert found is not None and found.expected_effect.value == pytest.approx(-0.0502)
    no_val = check(rule, {k: v for k, v in base.items() if k != "best_val"})
    assert no_val is not None and no_val.expected_effect.value == pytest.approx(-0.006)
    val_below = check(rule, {**{k: v for k, v in base.items() if k != "best_val"}, "final_val": 3.25})
    assert val_below is not None and val_below.expected_effect.value == pytest.approx(-0.006)  # never a gain


@pytest.mark.parametrize(("saves", "said"), [
    (True, "which may be some steps before the run stopped."),
    (False, "in nanoGPT with always_save_checkpoint=False, the best val's, not the last one."),
    (None, "in nanoGPT with always_save_checkpoint=False, the best val's, not the last one."),
])
def test_where_a_resume_starts_is_said_as_the_config_shows_it(saves, said):
    values = {"run_completed": 0.5, "steps_done": 1000, "max_iters": 2000, "lr_schedule_completed": 0.5}
    if saves is not None:
        values["always_save_checkpoint"] = saves
    found = check(BUILTIN.get("LD1501"), values)
    assert found is not None and said in found.advice and ("nanoGPT" in said) == ("nanoGPT" in found.advice)


def test_a_short_curve_of_step_losses_is_compared_along_the_way_not_called_no_curve(tmp_path: Path):
    # a Lightning run aborted after 25 train_loss_step rows had been said to show "its final
    # train loss alone, no curve", beside its mean of the last losses
    for name, last, drop in (("short", 1250, 0.004), ("long", 5000, 0.003)):
        rows = "".join(f"0,{s},{9.8 - drop * s:.4f}\n" for s in range(49, last, 50))
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.csv").write_text("epoch,step,train_loss_step\n" + rows)
    result = lossdoctor.analyze([str(tmp_path / "short"), str(tmp_path / "long")])
    gap = result.comparison
    assert gap is not None and gap.overlap is not None and gap.overlap.steps
    assert not any("no curve" in n for n in gap.notes)
    # one running mean for both: the same curve, 40 and 1000 steps long, shows no gap along the way
    for name, last in (("short40", 40), ("long1000", 1000)):
        rows = "".join(f"0,{s},{3 + 5 * math.exp(-s / 100):.4f}\n" for s in range(last))
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.csv").write_text("epoch,step,train_loss_step\n" + rows)
    same = lossdoctor.analyze([str(tmp_path / "short40"), str(tmp_path / "long1000")]).comparison
    assert same is not None and same.overlap is not None
    assert same.overlap.steps and all(abs(p.diff) < 1e-9 for p in same.overlap.steps)


def test_a_count_computed_from_what_the_log_prints_is_said_computed_not_read(tmp_path: Path):
    # build-nanogpt prints one process's accumulation steps (2) and its samples per rank: the
    # 8 of all ranks had been shown as read from the line that prints 2
    text = (FIXTURES / "formats" / "build_nanogpt_stdout.log").read_text()
    samples = "".join(f"rank {r} sample 0: Hello, I'm a language model,\n" for r in range(4))
    (tmp_path / "ddp.log").write_text(text + samples)
    run = lossdoctor.load(str(tmp_path / "ddp.log"))
    accum, procs = run.config.values["gradient_accumulation_steps"], run.config.values["num_processes"]
    assert (accum.value, accum.origin, accum.raw) == (8, "derived", "2 per process x 4 processes")
    assert (procs.value, procs.origin) == (4, "derived")
    facts = lossdoctor.compute_facts(run)
    assert facts["world_size"].status == "computed" and facts["gradient_accumulation_steps"].status == "computed"


def test_a_panels_w_and_b_steps_are_assumed_steps_and_said_so(tmp_path: Path):
    # W&B's `Step` counts wandb.log calls: nanoGPT logs once per eval, so 128 Steps had been
    # said to be 128 training steps
    text = (FIXTURES / "formats" / "wandb_panel.csv").read_text()
    assert text.startswith('"Step"')
    run = lossdoctor.load(str(FIXTURES / "formats" / "wandb_panel.csv") + "#run_a")
    steps = lossdoctor.compute_facts(run)["steps_done"]
    assert steps.status == "assumed" and "log calls" in (steps.note or "")
    rows = "".join(f'"{s}","{3 - s / 100:.3f}","{3 - s / 100:.3f}","{3 - s / 100:.3f}"\n' for s in range(40))
    (tmp_path / "val.csv").write_text('"Step","r - val/loss","r - val/loss__MIN","r - val/loss__MAX"\n' + rows)
    val = lossdoctor.compute_facts(lossdoctor.load(str(tmp_path / "val.csv")))
    assert [val[k].status for k in ("steps_done", "final_step", "best_val_step")] == ["assumed"] * 3
    assert any("W&B's `Step`, the count of the script's wandb.log calls" in n for n in run.notes)
    (tmp_path / "by_iter.csv").write_text('"iter"' + text[len('"Step"'):])  # exported against the script's step
    own = lossdoctor.load(str(tmp_path / "by_iter.csv") + "#run_a")
    assert lossdoctor.compute_facts(own)["steps_done"].status == "computed" and own.measures.step_axis is None


def test_two_runs_that_differ_only_in_their_seeds_say_so(tmp_path: Path):
    head = "run_name,seed,batch_size,block_size,n_layer,n_head,n_embd,learning_rate,max_iters,final_val_loss\n"
    (tmp_path / "runs.csv").write_text(head + "a,42,64,256,6,6,384,0.001,5000,1.7044\n"
                                              "b,6242,64,256,6,6,384,0.001,5000,1.6895\n")
    c = lossdoctor.analyze([str(tmp_path / "runs.csv")]).comparison
    assert c is not None and c.unexplained is not None and not c.diff
    assert "no learning config key differs; their seeds do (42 against 6242)" in c.unexplained.method


def test_another_trainers_save_and_logging_cadence_change_nothing_it_learns(tmp_path: Path):
    import json
    doc = json.loads((FIXTURES / "formats" / "trainer_state.json").read_text())
    for name, save, lr in (("a", 500, 1e-3), ("b", 100, 2e-3)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "trainer_state.json").write_text(json.dumps({**doc, "save_steps": save,
                                                                         "learning_rate": lr}))
    c = lossdoctor.analyze([str(tmp_path / "a"), str(tmp_path / "b")]).comparison
    assert c is not None
    kinds = {d.key: d.kind for d in c.diff}
    assert kinds.get("save_steps") == "measurement"
    # a setting that only looks like one of them is learning: which data, which sync cadence
    head = "run_name,batch_size,block_size,n_layer,n_head,n_embd,data_dir,sync_every,final_val_loss\n"
    (tmp_path / "runs.csv").write_text(head + "a,64,256,6,6,384,data/shakespeare_char,500,1.70\n"
                                              "b,64,256,6,6,384,data/openwebtext_char,50,1.60\n")
    table = lossdoctor.analyze([str(tmp_path / "runs.csv")]).comparison
    assert table is not None and {d.key: d.kind for d in table.diff} == {"data_dir": "learning",
                                                                         "sync_every": "learning"}


def test_a_config_table_keeps_a_negative_value_as_printed_and_a_metricless_file_no_note_on_its_metrics(
        tmp_path: Path):
    text = (FIXTURES / "formats" / "llmc_stdout.log").read_text()
    row = "| max_steps             | -1                                                 |\n"
    (tmp_path / "llmc.log").write_text(text.replace("| train_num_batches ", row + "| train_num_batches ", 1))
    max_steps = lossdoctor.load(str(tmp_path / "llmc.log")).config.values["max_steps"].value
    assert max_steps == -1 and type(max_steps) is int
    head = (FIXTURES / "formats" / "nanochat_base_train.log").read_text().split("Step 00000")[0]
    (tmp_path / "crashed.log").write_text(head + "Traceback (most recent call last):\nRuntimeError: boom\n")
    assert not any("debiased" in n for n in lossdoctor.load(str(tmp_path / "crashed.log")).notes)


def test_a_stated_count_equal_to_nanogpts_count_without_position_embeddings_is_not_the_total(tmp_path: Path):
    # nanoGPT's get_num_params() leaves the position embeddings out: a table logging it for a
    # model that learns them states params, not params_total
    head = "run_name,batch_size,block_size,n_layer,n_head,n_embd,vocab_size,bias,n_params,final_val_loss\n"
    (tmp_path / "runs.csv").write_text(head + "a,64,256,6,6,384,65,False,10646784,1.70\n")
    total = lossdoctor.compute_facts(read_runs(str(tmp_path / "runs.csv"))[0])["params_total"]
    assert (total.value, total.status) == (10745088, "computed")


def test_a_length_ratio_rounds_its_halves_up_as_written():
    from lossdoctor.report.advice import times
    assert [times(r) for r in (1.45, 2.45, 1.02, 1.0, 0.95)] == ["1.5x", "2.5x", "1.02x", "1x", "0.95x"]


def test_one_corrupt_huge_loss_is_no_loss_spike():
    # 1e30 in one iter line had swallowed every later window's running sum (1e30 + 2 - 1e30 =
    # 0), each later loss an "outlier": LD203 at a step after it, advising a lower LR
    lines = [f"iter {i}: loss {1e30 if i == 300 else 3.0 - i / 1000:.4f}, time 10.00ms, mfu 1.00%"
             for i in range(600)]
    facts = lossdoctor.compute_facts(parse_text("\n".join(lines) + "\n"))
    assert facts.value("spike_count") == 0


def test_a_closed_stdout_is_said_in_one_line(tmp_path: Path):
    import subprocess
    import sys
    log = FIXTURES / "nanogpt" / "cpu_small" / "train.log"
    import os
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}  # as a program reads it: one line
    done = subprocess.run(["sh", "-c", f'"{sys.executable}" -m lossdoctor analyze "{log}" >&-'],
                          capture_output=True, text=True, check=False, env=env)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "stdout is closed" in done.stderr


def test_two_iteration_lines_swapped_are_one_run_read_in_step_order(tmp_path: Path):
    # `iter 1235` before `iter 1234` had started a second run with no config: 30 rules not
    # applicable, and extrapolate refused it
    lines = (FIXTURES / "long" / "batch8-2000" / "train.log").read_text().splitlines()
    i, j = (next(k for k, x in enumerate(lines) if x.startswith(f"iter {s}:")) for s in (1234, 1235))
    lines[i], lines[j] = lines[j], lines[i]
    (tmp_path / "swapped.log").write_text("\n".join(lines) + "\n")
    run = lossdoctor.load(str(tmp_path / "swapped.log"))
    steps = run.curves()[1].step
    assert len(run.segments) == 1 and run.config.seen and (steps[1:] >= steps[:-1]).all()
    assert any("2 iteration lines are out of step order" in n for n in run.notes)
    # a restart that logs its steps again is still a process of its own
    again = lines[:j + 2] + [x for x in lines if x.startswith("iter ")][:50]
    (tmp_path / "restart.log").write_text("\n".join(again) + "\n")
    assert len(lossdoctor.load(str(tmp_path / "restart.log")).segments) == 2


def test_a_plot_path_is_tried_without_touching_what_is_there(tmp_path: Path):
    from lossdoctor.errors import UsageError
    from lossdoctor.report.plot import check_path
    link = tmp_path / "link.png"
    link.symlink_to(tmp_path / "target.png")  # a link whose target the plot is to create
    check_path(str(link))
    assert link.is_symlink() and not (tmp_path / "target.png").exists()
    check_path(str(tmp_path / "new.png"))
    assert not (tmp_path / "new.png").exists()  # the probe leaves nothing behind
    with pytest.raises(UsageError, match="no such folder"):
        check_path(str(tmp_path / "missing" / "x.png"))


def test_losses_below_zero_are_said_to_be_no_cross_entropy(tmp_path: Path):
    lines = [f"iter {i}: loss {3.0 - i / 100 if i < 50 else -1.5:.4f}, time 10.00ms, mfu 1.00%" for i in range(80)]
    (tmp_path / "neg.log").write_text("\n".join(lines) + "\n")
    (tmp_path / "clean.log").write_text("\n".join(lines[:50]) + "\n")
    run = lossdoctor.load(str(tmp_path / "neg.log"))
    assert any(n.startswith("30 logged losses are below 0 (the first at step 50): no cross-entropy is negative")
               for n in run.notes)
    assert not any("below 0" in n for n in lossdoctor.load(str(tmp_path / "clean.log")).notes)


def test_a_path_that_is_no_utf8_is_named_as_the_file_system_holds_it(tmp_path: Path):
    import subprocess
    import sys
    name = os.fsencode(str(tmp_path)) + b"/nope\xff.log"
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}  # one line, as a program reads it
    done = subprocess.run([sys.executable, "-m", "lossdoctor", "analyze", name], capture_output=True, check=False,
                          env=env)
    assert done.returncode == 2 and b"nope\xff.log: no such file" in done.stderr and b"\\udcff" not in done.stderr


def test_a_rule_of_thumb_on_a_run_that_logs_no_val_is_said_of_its_train_loss():
    # LD204's rise, on a W&B export of train loss alone: the effect is the train loss's, not a val's
    rule = BUILTIN.get("LD204")
    facts = {"train_rise": 3.696, "train_rise_z": 32.9, "train_rise_frac": 1.2, "train_low": 7.9913,
             "train_low_step": 70, "nan_step": None, "learning_rate": 6e-4}
    found = check(rule, facts)
    assert found is not None and found.expected_effect.on == "final train loss"
    from lossdoctor.report.findings import effect_text
    assert effect_text(found.expected_effect).startswith("-3.696 nats on the final train loss")
    with_val = check(rule, {**facts, "final_val": 8.1})
    assert with_val is not None and with_val.expected_effect.on == "final val"
