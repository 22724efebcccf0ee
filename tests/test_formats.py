"""Each format's reader on a small file of its own (fixtures/formats), as listed in
format_cases.yaml; the verdict's one line for runs that stopped before any metric; the
flags of findings in each trainer's syntax; --input-format."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lossdoctor
from lossdoctor.errors import InputError
from lossdoctor.readers import read_runs
from lossdoctor.yamlio import safe_load

HERE = os.path.dirname(__file__)
FORMATS = os.path.join(HERE, "..", "fixtures", "formats")
with open(os.path.join(HERE, "format_cases.yaml"), encoding="utf-8") as _f:
    CASES: list[dict[str, Any]] = safe_load(_f)


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_format_case(case: dict[str, Any]) -> None:
    path = os.path.join(FORMATS, case["file"])
    if "error" in case:
        with pytest.raises(InputError) as e:
            read_runs(path)
        for words in case["error"]:
            assert words in str(e.value)
        return
    runs = read_runs(path)
    run = runs[0]
    assert str(run.format) == case["format"]
    assert len(runs) == case.get("runs", 1)
    assert len(run.evals) == case.get("evals", len(run.evals))
    assert len(run.iters) == case.get("iters", len(run.iters))
    if "val_steps" in case:
        assert run.evals.step.tolist() == case["val_steps"]
    for key in ("first_val", "last_val"):
        if key in case:
            assert run.evals.val[0 if key == "first_val" else -1] == pytest.approx(case[key])
    assert run.measures.val_unit == case.get("val_unit", "nats")
    if "train" in case:
        assert run.measures.train == case["train"]
    for key, value in case.get("config", {}).items():
        assert run.config.get(key) == pytest.approx(value), key
    for kind in case.get("events", []):
        assert kind in {e.kind for e in run.events}
    for name in case.get("series", []):
        assert name in run.series
    for key, value in case.get("summary", {}).items():
        assert run.summary[key] == pytest.approx(value)
    if "steps_done" in case:
        assert lossdoctor.compute_facts(run).value("steps_done") == case["steps_done"]
    if "params" in case:
        assert lossdoctor.compute_facts(run).value("params") == case["params"]


def test_every_case_file_is_listed() -> None:
    assert sorted(os.listdir(FORMATS)) == sorted(c["file"] for c in CASES)


def _analyze(*names: str) -> Any:
    return lossdoctor.analyze([os.path.join(FORMATS, n) for n in names])


def test_no_metric_gets_one_line_naming_why() -> None:
    from lossdoctor.report.verdict import _losses
    why = {name: _losses(_analyze(name).facts[0]) for name in ("oom_before_step.log", "timelimit.err",
                                                                "llmc_assert.log")}
    assert why["oom_before_step.log"] == ("no metric in this file (out of memory, log line 7): the run stopped "
                                          "before its first metric, or printed its metrics to another file")
    assert "(time limit, log line 2)" in why["timelimit.err"]
    assert "(failed assertion, log line 1)" in why["llmc_assert.log"]


def test_crash_findings_in_each_trainers_flags() -> None:
    a = _analyze("oom_before_step.log", "llmc_assert.log", "timelimit.err")
    rules = [{f.rule.split("-")[0]: f for f in d.findings} for d in a.diagnoses]
    oom = rules[0]["LD1702"]  # the log does not show its batch size: nanochat's default is not assumed
    assert oom.flags == "" and "(no flags: needs " in (oom.advice or "")
    assert "LD1703" in rules[1]
    stopped = rules[2]["LD1704"]
    assert stopped.flags == "" and "does not say which trainer" in (stopped.advice or "")


def test_flags_in_each_trainers_syntax() -> None:
    from lossdoctor.diagnose.dialects import translate
    flags = "--batch_size=6 --gradient_accumulation_steps=8"
    assert translate(flags, "nanogpt") == (flags, None)
    assert translate(flags, "nanochat") == ("--device-batch-size=6", None)
    assert translate(flags, "llmc") == ("-b 6", None)
    assert translate("--max_iters=900 --lr_decay_iters=900", "llmc") == ("-x 900", None)
    assert translate("--init_from=resume", "llmc") == ("-y 1", None)
    assert translate(flags, "hf") == ("--per_device_train_batch_size 6 --gradient_accumulation_steps 8", None)
    assert translate("--dropout=0.1", "llmc") == ("", "(no flags: llmc has no flag for nanoGPT's dropout)")
    # the keys it has a flag for are given, the others named
    assert translate("--learning_rate=6e-05 --grad_clip=1.0", "llmc") == (
        "-l 6e-05", "(llmc has no flag for nanoGPT's grad_clip)")
    assert translate("--max_iters=900 --lr_decay_iters=900", "build-nanogpt") == (
        "", "(edit train_gpt2.py: max_steps = 900)")
    assert translate("--min_lr=6e-06", "build-nanogpt") == (  # its `min_lr = max_lr * 0.1`
        "", "(edit train_gpt2.py: min_lr = 6e-06)")
    assert translate("--max_iters=900", "") == (
        "", "(the log does not say which trainer ran it; in nanoGPT: --max_iters=900)")


def test_bpb_and_nats_are_not_compared() -> None:
    a = _analyze("nanochat_base_train.log", "llmc_main.log")
    assert a.comparison is not None and a.comparison.gap is None
    assert "val in bpb vs nats" in a.comparison.notes[0]


def test_two_tokenizers_compare_in_bits_per_byte_their_vocabulary_a_key_that_differs() -> None:
    """nanochat's val is in bits per byte, which no tokenizer changes: runs of a 32,768- and
    a 65,536-token vocabulary compare (they had been refused as over other tokens), and the
    vocabulary is a learning key that differs."""
    c = _analyze("nanochat_base_train.log", "nanochat_base_train_2025.log").comparison
    assert c is not None and c.comparable and c.unit == "bpb"
    (vocab,) = [d for d in c.diff if d.key == "vocab_size"]
    assert {vocab.other, vocab.reference} == {32768, 65536} and vocab.kind == "learning"


def test_a_run_whose_best_val_is_above_uniform_over_the_others_tokens_is_not_compared() -> None:
    """A Lightning run (vocabulary not shown, best val 7.21 nats) beside a 65-character
    nanoGPT run: no model over 65 tokens that trains ends 3 nats above ln 65."""
    nanogpt = os.path.join(HERE, "..", "fixtures", "nanogpt", "cpu_small", "train.log")
    a = lossdoctor.analyze([nanogpt, os.path.join(FORMATS, "metrics.csv")])
    assert a.comparison is not None and not a.comparison.comparable
    assert any("its best val, 7.2100 nats, lies 3.04 above ln 65 of the other's" in n for n in a.comparison.notes)


def test_other_trainers_are_not_extrapolated_with_nanogpts_schedule() -> None:
    from lossdoctor.fit import CannotExtrapolate, extrapolate
    with pytest.raises(CannotExtrapolate, match="bpb"):
        extrapolate(lossdoctor.load(os.path.join(FORMATS, "nanochat_base_train.log")), 80)
    with pytest.raises(CannotExtrapolate, match="this llmc-main run's curve is not extrapolated, whatever its sch"):
        extrapolate(lossdoctor.load(os.path.join(FORMATS, "llmc_main.log")), 4)


def test_a_file_of_several_runs_is_named_when_one_is_asked_for() -> None:
    with pytest.raises(InputError, match=r"holds 2 runs \(run_a, run_b\)") as e:
        lossdoctor.load(os.path.join(FORMATS, "wandb_panel.csv"))
    assert "no curve" not in str(e.value)  # a panel's runs have curves
    assert len(_analyze("wandb_panel.csv").runs) == 2
    with pytest.raises(InputError, match="FILE#NAME one of them; each holds one step's losses, no curve to extrap"):
        lossdoctor.load(os.path.join(FORMATS, "wandb_runs.csv"))  # a runs table: a row per run


def test_input_format_forces_a_reader(capsys: pytest.CaptureFixture[str]) -> None:
    from lossdoctor.cli import main
    path = os.path.join(FORMATS, "llmc_main.log")
    assert main(["analyze", "--input-format", "llmc-main", "--format", "json", path]) in (0, 1)
    assert '"format": "llmc-main"' in capsys.readouterr().out
    assert main(["analyze", "--input-format", "hf-trainer", path]) == 2
    assert "not in the hf-trainer format" in capsys.readouterr().err
    assert main(["analyze", "--input-format", "nope", path]) == 2
    assert "no such format" in capsys.readouterr().err


def test_modded_records_t_test(tmp_path: Any) -> None:
    from lossdoctor.compare.records import record_stats
    run = lossdoctor.load(os.path.join(FORMATS, "modded_record.txt"))
    assert record_stats([run]) is None
    assert record_stats([run, run]) is None  # a log given twice is one run
    with open(os.path.join(FORMATS, "modded_record.txt"), encoding="utf-8") as f:
        text = f.read()
    paths = []
    for i, (mid, final) in enumerate((("5.1234", "3.9870"), ("5.1234", "3.9880"), ("5.2000", "3.9870"))):
        paths.append(str(tmp_path / f"r{i}.txt"))
        (tmp_path / f"r{i}.txt").write_text(text.replace("5.1234", mid).replace("3.9876", final))
    r0, r1, r2 = (lossdoctor.load(p) for p in paths)
    stats = record_stats([r0, r1, r0])
    assert stats is not None and (stats.n, stats.repeats) == (2, 1) and stats.mean == pytest.approx(3.9875)
    assert stats.p is not None and stats.p > 0.99  # far above 3.28
    tie = record_stats([r0, r2])  # two curves that end on the same printed val: no spread, no t-test
    assert tie is not None and tie.t is None and tie.p is None and "no spread" in (tie.why_no_test or "")
    (tmp_path / "other.txt").write_text(text.replace("batch_size = 8*64*1024", "batch_size = 4*64*1024"))
    other = record_stats([r0, lossdoctor.load(str(tmp_path / "other.txt"))])  # another script: not pooled
    assert other is not None and not other.pooled and other.t is None
    assert "the settings their logs print differ in total_batch_size" in (other.why_no_test or "")
    from lossdoctor.report.markdown import analysis_markdown
    md = analysis_markdown(lossdoctor.analyze(paths[:2] + paths[:1]))
    assert "**Record:** 2 runs (1 more repeat another's curve exactly and count once), mean val 3.9875" in md


def test_tensorboard_events(tmp_path: Any) -> None:
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter
    w = SummaryWriter(str(tmp_path))
    for step, loss in ((0, 4.0), (10, 3.0), (20, 2.5)):
        w.add_scalar("train/loss", loss, step)
    w.add_scalar("val/loss", 2.9, 20)
    w.close()
    (path,) = [os.path.join(tmp_path, n) for n in os.listdir(tmp_path)]
    run = lossdoctor.load(path)
    assert str(run.format) == "tensorboard"
    assert run.iters.loss.tolist() == [4.0, 3.0, 2.5] and run.evals.val.tolist() == pytest.approx([2.9])
    assert lossdoctor.load(str(tmp_path)).source == path  # the logdir, as TensorBoard users name a run
    os.utime(path, (1, 1))  # a later writer of the same logdir (a restart): the newest is read, and said
    w = SummaryWriter(str(tmp_path))
    w.add_scalar("train/loss", 2.0, 30)
    w.close()
    run = lossdoctor.load(str(tmp_path))
    assert run.iters.loss.tolist() == [2.0] and run.source != path
    assert any(f"holds 2 TensorBoard event files: the newest, {os.path.basename(run.source)}, is read; not "
               f"{os.path.basename(path)}" in n for n in run.notes)


def test_a_records_folder_is_its_runs_with_the_t_test(tmp_path: Any) -> None:
    with open(os.path.join(FORMATS, "modded_record.txt"), encoding="utf-8") as f:
        text = f.read()
    for i, final in enumerate(("3.2771", "3.2779", "3.2768")):
        (tmp_path / f"run{i}.txt").write_text(text.replace("3.9876", final))
    a = lossdoctor.analyze([str(tmp_path)])
    assert len(a.runs) == 3 and a.records is not None
    assert a.records.mean == pytest.approx((3.2771 + 3.2779 + 3.2768) / 3) and a.records.p < 0.05


def test_a_nanochat_model_file_is_read_with_its_meta_weights_only(tmp_path: Any) -> None:
    import shutil

    import torch
    shutil.copy(os.path.join(FORMATS, "meta_000040.json"), tmp_path / "meta_000040.json")
    torch.save({"wte.weight": torch.zeros(10, 4), "lm_head.weight": torch.zeros(10, 4)}, tmp_path / "model_000040.pt")
    run = lossdoctor.load(tmp_path / "model_000040.pt")
    assert str(run.format) == "nanochat-ckpt" and run.header.params_m == pytest.approx(80 / 1e6)
    assert run.evals.val.tolist() == [1.876543] and run.measures.val_unit == "bpb"
    (tmp_path / "meta_000040.json").unlink()
    with pytest.raises(InputError, match="without its meta_000040.json"):
        lossdoctor.load(tmp_path / "model_000040.pt")


@pytest.mark.parametrize("name, fmt", [("generic.csv", "csv"), ("generic.jsonl", "jsonl"),
                                       ("trainer_state.json", "hf-trainer"), ("wandb-summary.json", "wandb-summary"),
                                       ("llmc_main.log", "llmc-main"), ("nanochat_base_train.log", "nanochat"),
                                       ("meta_000040.json", "nanochat-ckpt")])
def test_formats_are_found_by_content_not_by_name(name: str, fmt: str, tmp_path: Any) -> None:
    import shutil
    renamed = tmp_path / "output.txt"
    shutil.copy(os.path.join(FORMATS, name), renamed)
    assert str(lossdoctor.load(renamed).format) == fmt


def test_a_finished_hf_run_is_complete_and_an_unfinished_one_gets_trainer_neutral_advice(tmp_path: Any) -> None:
    import json
    finished = _analyze("trainer_state_summary.json").diagnoses[0]  # global_step 45 = max_steps
    assert not any(f.rule.startswith("LD1501") for f in finished.findings)
    with open(os.path.join(FORMATS, "trainer_state_summary.json"), encoding="utf-8") as f:
        doc = json.load(f)
    doc["max_steps"] = 90  # the same file, had the run been planned twice as long
    (tmp_path / "trainer_state.json").write_text(json.dumps(doc))
    a = lossdoctor.analyze([str(tmp_path / "trainer_state.json")])
    stopped = next(f for f in a.diagnoses[0].findings if f.rule.startswith("LD1501"))
    assert "after 45 steps of max_iters 90 (50%)" in stopped.message
    assert "ckpt.pt" not in (stopped.advice or "") and "nanoGPT that is" not in (stopped.advice or "")


def test_the_2025_chat_sft_script_gets_its_configurator_flags():
    """chat_sft.py of October 2025 read `--key=value` of its globals (nanochat's
    configurator), not base_train's argparse names, and could not resume."""
    from lossdoctor.diagnose.dialects import translate
    flags, note = translate("--eval_interval=65", "nanochat-sft")
    assert flags == "--eval_every=65" and note is not None and "from then" in note and "--eval-every" in note
    assert translate("--eval_interval=65", "nanochat") == ("--eval-every=65", None)
    flags, note = translate("--init_from=resume", "nanochat-sft")
    assert flags == "" and note is not None and "cannot resume" in note


def test_nanochat_before_its_dashed_flags_gets_its_own_names() -> None:
    """base_train.py took `--key=value` of its globals until January 2026 (the configurator,
    then argparse with the same names): a log in that grammar gets underscores, and its
    warmup, a fraction of the run there, no `--warmup-steps`."""
    from lossdoctor.diagnose.dialects import translate
    a = lossdoctor.analyze([os.path.join(FORMATS, "nanochat_base_train_2025.log")])
    flags = " ".join(f.flags or "" for f in a.diagnoses[0].findings)
    assert "--eval_every=" in flags and "--eval-every" not in flags
    assert translate("--batch_size=4", "nanochat-2025") == ("--device_batch_size=4", None)
    flags, note = translate("--warmup_iters=100", "nanochat-2025")
    assert flags == "" and note is not None and "--warmup_ratio" in note
    flags, note = translate("--warmup_iters=100", "nanochat")
    assert flags == "--warmup-steps=100" and note is not None and "--warmup-ratio" in note


def test_a_key_with_a_note_instead_of_a_flag_leaves_the_other_keys_theirs() -> None:
    """A finding that resumes and extends, or sets the warmup and the length, keeps the
    flags the trainer has, and says how to do the rest."""
    from lossdoctor.diagnose.dialects import translate
    flags, note = translate("--warmup_iters=100 --max_iters=2000", "nanochat-2025")
    assert flags == "--num_iterations=2000" and note is not None and "--warmup_ratio=0.05)" in note
    flags, note = translate("--init_from=resume --max_iters=5000", "nanochat")
    assert flags == "--num-iterations=5000" and note is not None and "--resume-from-step=N" in note
    assert not note.startswith("(no flags")
    flags, note = translate("--init_from=resume --dropout=0.1", "nanochat-sft")
    assert flags == "" and note is not None and note.startswith("(no flags: this chat_sft.py cannot resume")
    assert note.endswith("nanochat-sft has no flag for nanoGPT's dropout)") and "2026-01-13" not in note
    assert translate("--grad_clip=0.5", "nanochat-2025")[0] == "--grad_clip=0.5"
    # the 2025 configurator checks a value's type against its global's: 0.0, not 0
    assert translate("--weight_decay=0 --grad_clip=1", "nanochat-2025")[0] == "--weight_decay=0.0 --grad_clip=1.0"
    assert translate("--weight_decay=0", "nanochat")[0] == "--weight-decay=0"  # argparse's float() takes it
    assert "--warmup_ratio=0.0)" in (translate("--warmup_iters=0 --max_iters=2000", "nanochat-2025")[1] or "")
    assert "--max_iterations" in (translate("--max_iters=900", "nanochat-sft")[1] or "")
    assert "mid_train and chat_sft cannot resume" in (translate("--init_from=resume", "nanochat")[1] or "")


OOM = ("Traceback (most recent call last):\n"
       '  File "/home/user/nanochat/scripts/{script}.py", line 215, in <module>\n'
       "    loss = model(x, y)\n"
       "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 4.00 GiB. GPU 0 has a total capacity "
       "of 23.55 GiB of which 1.12 GiB is free.\n")


def test_a_2025_base_train_that_ran_out_of_memory_before_a_step_gets_its_own_flags(tmp_path: Any) -> None:
    """Default settings print no Overriding: lines, and a run that failed at its first step
    shows no step line: base_train's `Number of parameters: N` (without the `(scaling: M)`
    of 2026) still says which names its configurator takes; the GPU line of 2026 says not."""
    lines = Path(FORMATS, "nanochat_base_train_2025.log").read_text().splitlines()
    head = [ln for ln in lines[:lines.index("Step 00000 | Validation bpb: 3.2012") + 1]
            if not ln.startswith("Overriding:")]
    (tmp_path / "oom.log").write_text("\n".join(head) + "\n" + OOM.format(script="base_train"))
    a = lossdoctor.analyze([str(tmp_path / "oom.log")])
    assert str(a.runs[0].format) == "nanochat-2025"
    flags = [f.flags for f in a.diagnoses[0].findings if f.flags]
    assert flags and all("--device_batch_size=" in f for f in flags), flags
    gpu = [ln if not ln.startswith("Number of parameters") else ln + " (scaling: 30,000,000)" for ln in head]
    (tmp_path / "today.log").write_text("\n".join(gpu) + "\n" + OOM.format(script="base_train"))
    assert str(lossdoctor.load(str(tmp_path / "today.log")).format) == "nanochat"


def test_a_2025_chat_sft_is_known_by_its_val_in_nats_and_reads_its_batch(tmp_path: Any) -> None:
    """chat_sft's `Validation loss` (nats) before any step line, its `Device batch size`
    and `=> Setting grad accum steps`: a smaller micro-batch is its own flag, with no
    accumulation flag (chat_sft works that out itself)."""
    text = ("Autodetected device type: cuda\nTarget examples per step: 32\nDevice batch size: 4\n"
            "Examples per step is device_batch_size * ddp_world_size: 4\n=> Setting grad accum steps: 8\n"
            "Step 00000 | Validation loss: 1.214503\n" + OOM.format(script="chat_sft"))
    (tmp_path / "sft.log").write_text(text)
    a = lossdoctor.analyze([str(tmp_path / "sft.log")])
    run = a.runs[0]
    assert str(run.format) == "nanochat-sft" and run.measures.val == "loss"
    assert run.config.get("batch_size") == 4 and run.config.get("gradient_accumulation_steps") == 8
    flags = [f.flags for f in a.diagnoses[0].findings if f.flags]
    assert flags == ["--device_batch_size=2"], flags


def test_a_slope_of_val_in_bits_per_byte_is_said_in_bpb() -> None:
    a = lossdoctor.analyze([os.path.join(FORMATS, "nanochat_base_train_2025.log")])
    assert a.facts[0]["val_slope"].unit == "bpb/1k steps"
    assert a.facts[0]["val_slope_se"].unit == "bpb/1k steps"


def test_a_negative_override_of_the_2025_configurator_is_no_setting(tmp_path: Any) -> None:
    """`eval_every = -1` turns the evals off: no eval interval of -1 (nor of 1.0)."""
    text = Path(FORMATS, "nanochat_base_train_2025.log").read_text()
    (tmp_path / "base.log").write_text(text.replace("Overriding: eval_every = 20", "Overriding: eval_every = -1"))
    run = lossdoctor.load(str(tmp_path / "base.log"))
    assert run.config.get("eval_interval") is None
    assert lossdoctor.load(os.path.join(FORMATS, "nanochat_base_train_2025.log")).config.get("eval_interval") == 20


def test_a_nanochat_log_with_epochs_on_its_step_lines_keeps_the_dashed_flags(tmp_path: Any) -> None:
    text = Path(FORMATS, "nanochat_base_train_2025.log").read_text()
    today = "\n".join(line.replace(" | total time", " | epoch: 1 | total time") for line in text.splitlines()
                      if not line.startswith("Overriding:"))
    (tmp_path / "base.log").write_text(today + "\n")
    run = lossdoctor.load(str(tmp_path / "base.log"))
    assert str(run.format) == "nanochat"


def test_a_runs_table_names_each_run_once_and_its_own_columns_are_no_setting(tmp_path: Any) -> None:
    table = tmp_path / "runs.csv"
    table.write_text('"Name","State","Created","seed","dropout","max_iters","val/loss"\n'
                     '"base","finished","2026-05-24T17:49:36Z","1","0.2","5000","1.70"\n'
                     '"base","finished","2026-05-25T13:26:05Z","2","0.2","5000","1.72"\n'
                     '"nodrop","finished","2026-05-25T14:00:00Z","1","0.0","5000","2.10"\n')
    runs = lossdoctor.load_many([str(table)])
    assert [r.source.split("#")[1] for r in runs] == ["base (seed 1)", "base (seed 2)", "nodrop"]
    an = lossdoctor.analyze([str(table)], diagnose_runs=False)
    assert [d.key for d in an.comparison.diff] == ["dropout"]


def test_a_runs_table_without_a_step_column_leaves_the_steps_unknown() -> None:
    a = _analyze("wandb_runs_no_step.csv")
    assert [r.measures.steps_known for r in a.runs] == [False, False]
    facts = a.facts[0]
    assert facts.value("final_val") == pytest.approx(1.85)
    for name in ("lr_final", "lr_schedule_completed"):  # no step at which to read the schedule
        assert facts[name].status == "unknown"
    for name in ("steps_done", "final_step", "best_val_step"):
        assert facts[name].status == "unknown" and "no step column" in (facts[name].note or "")
    with_step = _analyze("wandb_runs.csv")
    assert with_step.runs[0].measures.steps_known and with_step.facts[0].value("steps_done") == 5000


def test_modded_hyperparameters_read_products_of_integers_only() -> None:
    from lossdoctor.readers.modded import _literal
    assert _literal("8*64*1024") == 524288 and _literal("1_393") == 1393 and _literal("0.4") == 0.4
    assert _literal("0.5*2") is None and _literal("8*") is None and _literal("2**64") is None


def test_an_hf_run_whose_val_turns_up_is_overfitting_by_its_train_logs(tmp_path: Path) -> None:
    # HF evals have no train split: the train losses logged up to the best and the last
    # eval stand for it, so LD501 judges the run instead of calling train NaN
    hist = []
    for step in range(10, 410, 10):
        hist.append({"loss": round(2.0 - step / 250, 4), "step": step})
        if step % 100 == 0:
            hist.append({"eval_loss": [1.9, 1.7, 2.0, 2.4][step // 100 - 1], "step": step})
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps({"global_step": 400, "log_history": hist}))
    a = lossdoctor.analyze([str(path)])
    assert a.facts[0].value("train_falling_after_best") is True
    assert any(f.rule.startswith("LD501") for f in a.diagnoses[0].findings)


def test_an_hf_run_with_flat_noisy_train_is_not_said_to_keep_falling(tmp_path: Path) -> None:
    # train flat at 1.0 with sd 0.05 per log, val rising: the logged means differ by noise only
    import numpy as np
    fired = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        hist = []
        for step in range(10, 1010, 10):
            hist.append({"loss": round(1.0 + float(rng.normal(0, 0.05)), 4), "step": step})
            if step % 100 == 0:
                hist.append({"eval_loss": 1.2 + step / 2000, "step": step})
        path = tmp_path / f"s{seed}" / "trainer_state.json"
        path.parent.mkdir()
        path.write_text(json.dumps({"global_step": 1000, "log_history": hist}))
        fired += bool(lossdoctor.analyze([str(path)]).facts[0].value("train_falling_after_best"))
    assert fired <= 1


def test_a_run_appended_without_a_header_is_not_said_to_be_in_a_log_without_config(tmp_path: Path) -> None:
    from conftest import FIXTURES
    from lossdoctor.fit import CannotExtrapolate
    lines = (FIXTURES / "nanogpt" / "cpu_small" / "train.log").read_text().split("\n")
    at = next(i for i, x in enumerate(lines) if x.startswith("iter 150:"))
    back = tmp_path / "back.log"  # the log, then its own lines again from iter 150 on: steps go back
    back.write_text("\n".join(lines + lines[at:]))
    run = lossdoctor.load(str(back))
    assert not run.config.seen and list(run.lineage()) == [1]
    [note] = [n for n in run.notes if "shows no config" in n]
    assert note.startswith(f"the run in the file from line {len(lines) + 1:,} (at step 150) shows no config lines")
    assert "is an earlier run's" in note and not any(n.startswith("the log shows no config") for n in run.notes)
    with pytest.raises(CannotExtrapolate, match=r"^cannot extrapolate: the run in the file from line [\d,]+ \(its own"):
        lossdoctor.extrapolate(run, 600)


def test_a_log_written_twice_counts_each_line_once_and_says_so(tmp_path: Path) -> None:
    from conftest import FIXTURES
    from lossdoctor.facts import compute_facts
    text = (FIXTURES / "nanogpt" / "cpu_small" / "train.log").read_text()
    twice = "\n".join(y for x in text.split("\n") for y in (x, x))  # every line, the header too
    (tmp_path / "twice.log").write_text(twice)
    once, doubled = lossdoctor.load(str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")), \
        lossdoctor.load(str(tmp_path / "twice.log"))
    assert len(doubled.iters) == len(once.iters) and len(doubled.evals) == len(once.evals)
    a, b = compute_facts(once), compute_facts(doubled)
    assert b.value("eval_se") == a.value("eval_se") and b.value("n_evals") == a.value("n_evals")
    assert max(s.world_size for s in doubled.segments) == 1 and not any("ranks" in n for n in doubled.notes)
    assert b.value("flops_per_iter") == a.value("flops_per_iter")
    assert any("repeat the line of their kind before them exactly" in n for n in doubled.notes)
    assert not any("repeat the line" in n for n in once.notes)


STEP_1 = ("step    1/100 | loss 11.0113 (+nanz)| norm 15.4250 (+nanz)| lr 8.57e-07 | 4218.96 ms | 1.0% bf16 MFU "
          "| 1 tok/s\n")


@pytest.mark.parametrize("second", [
    "step    2/100 | loss 10.5000 (+nanz)| norm 9.1 (+nanz)| lr 1.71e-06 | 3616.slurmstepd: error: CANCELLED",
    "step    2/100 | loss 10.5000 (+nanz)| norm 9.1 (+nanz)| lr 1.71e-06",  # cut after its lr
    "step    2/100 | loss 10.5000 (+na",  # cut after its loss
])
def test_an_llmc_step_line_cut_after_its_loss_keeps_its_step_and_loss(tmp_path: Path, second: str) -> None:
    head = "| Parameter             | Value    |\n| max_steps             | 100      |\n"
    (tmp_path / "out.log").write_text(head + STEP_1 + second + "\n")
    run = lossdoctor.load(str(tmp_path / "out.log"))
    assert run.format == "llmc" and list(run.iters.step) == [1, 2] and run.iters.loss[-1] == 10.5


def test_the_lr_an_llmc_log_prints_is_its_final_lr() -> None:
    run = lossdoctor.load(os.path.join(FORMATS, "llmc_stdout.log"))
    lr = lossdoctor.compute_facts(run)["lr_final"]
    assert (lr.value, lr.status) == (run.series["lr"].value[-1], "read") and "logged at step 4" in lr.source


def test_an_llmc_log_cut_in_the_middle_of_its_last_line_says_so(tmp_path: Path) -> None:
    with open(os.path.join(FORMATS, "llmc_stdout.log"), encoding="utf-8") as f:
        text = f.read()
    (tmp_path / "whole.log").write_text(text)
    (tmp_path / "cut.log").write_text(text + "evaluating HellaSwag: 10")  # a copy taken mid-line
    assert not any("without a newline" in n for n in lossdoctor.load(str(tmp_path / "whole.log")).notes)
    assert any("ends without a newline" in n for n in lossdoctor.load(str(tmp_path / "cut.log")).notes)
    lines = text.rstrip("\n").split("\n")
    last_step = next(x for x in reversed(lines) if "| lr " in x)
    cut = "\n".join(lines[:lines.index(last_step)]) + "\n" + last_step[:last_step.index("| lr ") + 9]  # "lr 1.00e-"
    (tmp_path / "cut_lr.log").write_text(cut)
    run = lossdoctor.load(str(tmp_path / "cut_lr.log"))
    whole = lossdoctor.load(str(tmp_path / "whole.log"))
    assert len(run.series["lr"].step) == len(whole.series["lr"].step) - 1  # the cut number is not read
    assert lossdoctor.compute_facts(run)["lr_final"].value == run.series["lr"].value[-1]


@pytest.mark.parametrize(("name", "world"), [("nanochat_base_train.log", 1), ("modded_record.txt", None),
                                             ("llmc_main.log", None)])
def test_world_size_is_read_where_the_log_prints_it_and_unknown_where_only_rank_0_prints(name: str, world: Any) -> None:
    facts = lossdoctor.compute_facts(lossdoctor.load(os.path.join(FORMATS, name)))
    assert facts["world_size"].value == world
    assert facts["world_size"].status == ("read" if world else "unknown")


def test_a_modded_record_is_told_the_constants_its_own_hyperparameters_have() -> None:
    from lossdoctor.diagnose.dialects import translate
    run = lossdoctor.load(os.path.join(FORMATS, "modded_record.txt"))
    own = dict(run.measures.constants or ())
    assert own["max_iters"] == "num_iterations" and own["eval_interval"] == "val_loss_every"
    assert translate("--max_iters=40 --lr_decay_iters=40", "modded-nanogpt", constants=own) == (
        "", "(edit its Hyperparameters: num_iterations = 40)")
    # a later record sets its length by num_scheduled_iterations: no num_iterations to edit
    assert translate("--max_iters=40", "modded-nanogpt", constants={"eval_interval": "val_loss_every"}) == (
        "", "(no flags: its Hyperparameters, as this log prints them, have no num_iterations: other constants "
            "there set it)")
    assert translate("--max_iters=40", "modded-nanogpt", constants={"max_iters": "train_steps"})[1] == (
        "(edit its Hyperparameters: train_steps = 40)")


@pytest.mark.parametrize(("fmt", "said"), [("lightning-csv", "a Lightning CSV"), ("llmc-style", "llm.c's log format"),
                                           ("csv", "the log does not say which trainer ran it")])
def test_a_run_with_no_trainer_named_is_told_what_its_format_says(fmt: str, said: str) -> None:
    from lossdoctor.diagnose.dialects import translate
    flags, note = translate("--max_iters=900", "", fmt=fmt)
    assert flags == "" and note is not None and note.startswith(f"({said}") and "in nanoGPT: --max_iters=900" in note



def test_epochs_a_trainer_counts_itself_are_read_or_inferred(tmp_path: Any) -> None:
    hf = lossdoctor.compute_facts(lossdoctor.load(os.path.join(FORMATS, "trainer_state.json")))
    assert hf["epochs"].value == 2.0 and hf["epochs"].status == "read"
    lightning = lossdoctor.compute_facts(lossdoctor.load(os.path.join(FORMATS, "metrics.csv")))
    assert lightning["epochs"].value == 2 and lightning["epochs"].status == "read"  # epoch 1's end row: 2 done
    text = Path(FORMATS, "metrics.csv").read_text().splitlines()
    second = tmp_path / "second.csv"  # epoch 0's end row, then into epoch 1, which has not ended: 1
    second.write_text("\n".join(text[:-1]) + "\n")
    done = lossdoctor.compute_facts(lossdoctor.load(str(second)))["epochs"]
    assert done.value == 1 and done.status == "read"
    mid = tmp_path / "mid.csv"  # a val metric per epoch logged mid-epoch (val_check_interval < 1): no end
    mid.write_text("epoch,step,train_loss_step,val_loss_epoch\n0,49,7.6,\n0,99,7.5,7.4\n0,149,7.3,\n")
    assert lossdoctor.compute_facts(lossdoctor.load(str(mid)))["epochs"].value is None
    no_ends = tmp_path / "no_ends.csv"  # no metric logged per epoch: in epoch 1, at least 1 done
    no_ends.write_text("epoch,step,train_loss_step,val_loss\n0,49,7.6,\n1,149,7.3,7.2\n")
    inferred = lossdoctor.compute_facts(lossdoctor.load(str(no_ends)))["epochs"]
    assert inferred.value == 1 and inferred.status == "inferred" and "at least" in (inferred.note or "")
    first = tmp_path / "metrics.csv"  # still in its first epoch: anywhere from 0 to 1, unknown
    first.write_text("epoch,step,train_loss_step,val_loss\n0,49,7.6,\n0,99,7.5,7.4\n")
    assert lossdoctor.compute_facts(lossdoctor.load(str(first)))["epochs"].value is None


def test_a_modded_record_gives_its_step_time_by_its_own_step_avg() -> None:
    run = lossdoctor.load(os.path.join(FORMATS, "modded_record.txt"))
    fact = lossdoctor.compute_facts(run)["time_per_iter_ms"]
    with open(os.path.join(FORMATS, "modded_record.txt"), encoding="utf-8") as f:
        last = [line for line in f if line.startswith("step:")][-1]  # `... step_avg:95.05ms`, the val line's
    assert fact.status == "read" and fact.value == 95.05 and "step_avg:95.05ms" in last


def test_a_nanogpt_wandb_export_s_mfu_is_not_taken_for_the_devices_own(tmp_path: Any) -> None:
    # a W&B panel of a nanoGPT run carries nanoGPT's A100-relative `mfu`: only llm.c and
    # nanochat print theirs against their own device
    from dataclasses import replace

    from lossdoctor.run import Dialect
    run = lossdoctor.load(os.path.join(FORMATS, "nanochat_base_train.log"))
    other = replace(run, format=Dialect.WANDB_PANEL)  # the same mfu series, under another format
    assert len(other.series["mfu"].value) and lossdoctor.compute_facts(other)["mfu_device"].status != "read"
    fact = lossdoctor.compute_facts(run)["mfu_device"]
    assert fact.status == "read" and fact.value == pytest.approx(12.41, abs=0.05)  # its bf16_mfu column
    with open(os.path.join(FORMATS, "nanochat_base_train.log"), encoding="utf-8") as f:
        older = "".join(line for line in f if "Peak FLOPS" not in line)  # before nanochat printed its peak
    (tmp_path / "older.log").write_text(older)
    assert lossdoctor.compute_facts(lossdoctor.load(str(tmp_path / "older.log")))["mfu_device"].status != "read"


def test_an_hf_run_that_evaluates_by_epoch_is_not_given_its_unused_eval_steps(tmp_path: Any) -> None:
    import json
    history = [{"step": s, "epoch": s / 401, "eval_loss": 3.0 - s / 1000} for s in (401, 802, 1203)]
    history += [{"step": s, "epoch": s / 401, "loss": 3.1 - s / 1000} for s in (401, 802, 1203)]
    doc = {"global_step": 1203, "max_steps": 1203, "eval_steps": 500, "logging_steps": 500, "log_history": history}
    (tmp_path / "trainer_state.json").write_text(json.dumps(doc))
    run = lossdoctor.load(str(tmp_path / "trainer_state.json"))
    assert run.config.trusted("eval_interval") is None and run.config.trusted("max_iters") == 1203
    assert any("eval_steps 500 is not this run's cadence: it evaluates at step 401" in n for n in run.notes)


def test_an_hf_runs_epochs_are_its_state_at_global_step_past_its_last_entry(tmp_path: Any) -> None:
    import json
    history = [{"step": 600, "epoch": 1.918, "loss": 1.0}]
    doc = {"global_step": 626, "epoch": 2.0, "max_steps": 626, "log_history": history}
    (tmp_path / "trainer_state.json").write_text(json.dumps(doc))
    facts = lossdoctor.compute_facts(lossdoctor.load(str(tmp_path / "trainer_state.json")))
    assert facts["epochs"].value == 2.0 and facts["epochs"].status == "read"


def test_a_nanogpt_wandb_summary_s_mfu_is_nanogpt_s_a100_figure(tmp_path: Path) -> None:
    """nanoGPT logs running_mfu*100 to W&B at each eval: a summary of its keys carries that
    A100 figure (LD1401 reads it; 107.5% says the device outran an A100); a summary of other
    keys is another trainer's, whose mfu is not read as nanoGPT's."""
    import json

    import lossdoctor
    from lossdoctor.facts import compute_facts
    doc = {"iter": 2000, "lr": 0.0006, "train/loss": 0.0304, "val/loss": 4.2661, "mfu": 107.528, "_step": 10}
    (tmp_path / "wandb-summary.json").write_text(json.dumps(doc))
    facts = compute_facts(lossdoctor.load(tmp_path / "wandb-summary.json"))
    assert facts.value("mfu_printed") == pytest.approx(107.528) and facts["mfu_printed"].status == "read"
    other = {"global_step": 2000, "eval/loss": 4.2661, "train/loss": 0.0304, "mfu": 40.0, "_step": 10}
    (tmp_path / "other" / "files").mkdir(parents=True)
    (tmp_path / "other" / "files" / "wandb-summary.json").write_text(json.dumps(other))
    assert not compute_facts(lossdoctor.load(tmp_path / "other" / "files" / "wandb-summary.json"))["mfu_printed"].known
    (tmp_path / "early").mkdir()  # nanoGPT's -100 until its fifth iteration: no MFU yet
    (tmp_path / "early" / "wandb-summary.json").write_text(json.dumps({**doc, "iter": 0, "mfu": -100.0}))
    assert not compute_facts(lossdoctor.load(tmp_path / "early" / "wandb-summary.json"))["mfu_printed"].known


def test_a_record_set_by_scheduled_and_extension_iterations_is_told_its_schedule_s_length(tmp_path: Path) -> None:
    """A 2026 record has no num_iterations: it runs num_scheduled_iterations steps of its
    schedule, then num_extension_iterations more. Its max_iters is their sum, and a longer
    run edits its schedule's length (it had been told only that other constants set it)."""
    from lossdoctor.diagnose.dialects import translate
    text = Path(FORMATS, "modded_record.txt").read_text()
    text = text.replace("    num_iterations : int = 20 # number of iterations to run\n",
                        "    num_scheduled_iterations: int = 18  # steps of the lr schedule\n"
                        "    num_extension_iterations: int = 2  # steps at the final lr\n")
    (tmp_path / "record.txt").write_text(text)
    run = lossdoctor.load(tmp_path / "record.txt")
    assert lossdoctor.compute_facts(run).value("max_iters") == 20
    own = dict(run.measures.constants or ())
    assert own["max_iters"] == "num_scheduled_iterations + 2"
    # the schedule ends at the new length less the extension, which still follows it
    assert translate("--max_iters=50 --lr_decay_iters=50", "modded-nanogpt", constants=own)[1] == (
        "(edit its Hyperparameters: num_scheduled_iterations = 48 (the 2 steps after its schedule follow it, as now))")


def test_val_in_bits_per_byte_is_read_as_bpb_in_every_export(tmp_path: Path) -> None:
    """nanochat logs val/bpb to W&B: its summary, a panel export and a JSONL of it hold bits
    per byte, which must not be compared with nats."""
    from lossdoctor.errors import InputError
    summary = tmp_path / "files" / "wandb-summary.json"
    summary.parent.mkdir()
    summary.write_text('{"step": 4999, "val/bpb": 0.8123, "train/loss": 2.712, "_step": 62}')
    (tmp_path / "panel.csv").write_text('"Step","d20 - val/bpb","d20 - val/bpb__MIN","d20 - val/bpb__MAX"\n'
                                        '"250","1.2","1.2","1.2"\n"500","1.0","1.0","1.0"\n')
    (tmp_path / "log.jsonl").write_text('{"step": 0, "train_loss": 10.4}\n{"step": 250, "val_bpb": 1.2}\n'
                                        '{"step": 500, "val_bpb": 1.0}\n')
    for path in (summary, tmp_path / "panel.csv", tmp_path / "log.jsonl"):
        run = lossdoctor.load_many(path)[0]
        assert run.measures.val == "bpb", path
    (tmp_path / "mixed.jsonl").write_text('{"step": 250, "val_bpb": 1.2}\n{"step": 500, "val_loss": 3.0}\n')
    with pytest.raises(InputError, match="bits per byte.*nats"):
        lossdoctor.load(tmp_path / "mixed.jsonl")


def test_the_built_in_trainer_s_metrics_jsonl_is_read_as_its_train_log_is() -> None:
    """metrics.jsonl's eval records hold the eval's train and val (eval mode), its iter
    records each iteration's loss: the same run as train.log, with no gap between them."""
    from conftest import FIXTURES
    tiny = FIXTURES / "lossdoctor_train" / "tiny"
    metrics, log = lossdoctor.load(tiny / "metrics.jsonl"), lossdoctor.load(tiny / "train.log")
    assert metrics.measures.train == "step" and metrics.measures.eval_train
    assert list(metrics.evals.val) == pytest.approx(list(log.evals.val), abs=1e-4)
    assert list(metrics.evals.train) == pytest.approx(list(log.evals.train), abs=1e-4)
    assert len(metrics.iters) == len(log.iters) and len(metrics.series["lr"].step) > 0
    gap = lossdoctor.analyze([tiny, tiny / "metrics.jsonl"], diagnose_runs=False).comparison
    assert gap is not None and abs(gap.gap) < 1e-4 and all(c.cause == "eval noise" for c in gap.attribution)


# (fixture, its last val line as printed): the file cut inside that line's number
CUT_INSIDE = [("modded_record.txt", "step:20/20 val_loss:3.9876"),
              ("nanochat_base_train.log", "Step 00040 | Validation bpb: 1.876543"),
              ("build_nanogpt_stdout.log", "validation loss: 10.7000"),
              ("build_nanogpt_log.txt", "3 val 10.7000"),
              ("llmc_main.log", "s:2 tel:10.5000")]


@pytest.mark.parametrize(("name", "line"), CUT_INSIDE)
def test_a_file_cut_inside_its_last_val_does_not_read_the_cut_number(tmp_path: Path, name: str, line: str) -> None:
    from conftest import FIXTURES
    text = (FIXTURES / "formats" / name).read_text()
    at = text.rindex(line) + len(line) - 3  # 3.9876 -> 3.98: the run wrote the rest after the copy
    (tmp_path / name).write_text(text[:at])
    whole, cut = lossdoctor.load(str(FIXTURES / "formats" / name)), lossdoctor.load(str(tmp_path / name))
    assert len(cut.evals) == len(whole.evals) - 1 and cut.evals.val[-1] == whole.evals.val[-2]
    assert any("ends without a newline and was not read" in n for n in cut.notes)


# base_train's header as it prints it since 2026-02 (scripts/base_train.py: print0 of
# COMPUTE_DTYPE, a torch.dtype; `Model config:` and json.dumps(indent=2)), on 8 GPUs with no
# world-size line: its per-process accumulation and shape
BASE_TRAIN_2026 = """Autodetected device type: cuda
GPU: NVIDIA H100 80GB HBM3 | Peak FLOPS (BF16): 9.89e+14
COMPUTE_DTYPE: torch.float32 (forced)
Vocab size: 32,768
Model config:
{
  "sequence_len": 2048,
  "vocab_size": 32768,
  "n_layer": 12,
  "n_head": 6,
  "n_kv_head": 6,
  "n_embd": 768,
  "window_pattern": "SSSL"
}
Tokens / micro-batch / rank: 16 x 2048 = 32,768
Tokens / micro-batch: 262,144
Total batch size 524,288 => gradient accumulation steps: 2
Step 00000 | Validation bpb: 3.201689
step 00000/02000 (0.00%) | loss: 11.002610 | lrm: 0.03 | dt: 12300.00ms | tok/sec: 42,625 | bf16_mfu: 0.23 | epoch: 1
step 00001/02000 (0.05%) | loss: 10.951990 | lrm: 0.05 | dt: 105.52ms | tok/sec: 4,968,714 | bf16_mfu: 27.00 | epoch: 1
"""


def test_nanochats_2026_header_gives_its_dtype_shape_and_all_processes_accumulation(tmp_path: Any) -> None:
    (tmp_path / "base_train.log").write_text(BASE_TRAIN_2026)
    cfg = lossdoctor.load(str(tmp_path / "base_train.log")).config
    assert cfg.get("dtype") == "float32"  # not 'torch'
    assert (cfg.get("n_layer"), cfg.get("n_head"), cfg.get("n_embd"), cfg.get("block_size")) == (12, 6, 768, 2048)
    # 262,144 tokens a micro-batch over 32,768 a process: 8 processes of 2 micro-steps each
    assert cfg.get("num_processes") == 8 and cfg.get("gradient_accumulation_steps") == 16
    assert 16 * cfg.get("batch_size") * cfg.get("block_size") == cfg.get("total_batch_size")


def test_nanochats_2025_configurator_gives_its_grad_clip(tmp_path: Any) -> None:
    path = os.path.join(FORMATS, "nanochat_base_train_2025.log")
    with open(path, encoding="utf-8") as f:
        text = "Overriding: grad_clip = 0.0\n" + f.read()
    (tmp_path / "run.log").write_text(text)
    assert lossdoctor.load(str(tmp_path / "run.log")).config.get("grad_clip") == 0.0


def test_a_measured_effect_on_a_val_in_bits_per_byte_is_in_bpb(tmp_path: Any) -> None:
    lines = BASE_TRAIN_2026.splitlines()[:-3]  # the header
    for step in range(1601):  # val best at 600, then 0.1 bpb higher; the train EMA keeps falling
        if step % 200 == 0:
            val = 0.6 - 0.08 * min(step, 600) / 600 + 1e-4 * max(0, step - 600)
            lines.append(f"Step {step:05d} | Validation bpb: {val:.4f}")
        if step < 1600:
            lines.append(f"step {step:05d}/01600 ({step / 16:.2f}%) | loss: {3.0 - step / 1000:.6f} | lrm: 1.00 | "
                         "dt: 250.00ms | tok/sec: 2,097,152 | bf16_mfu: 20.00 | epoch: 1")
    (tmp_path / "base_train.log").write_text("\n".join(lines) + "\n")
    a = lossdoctor.analyze([str(tmp_path / "base_train.log")])
    measured = [f.expected_effect for f in a.diagnoses[0].findings if f.expected_effect.kind == "measured"]
    assert measured and all(e.unit == "bpb" for e in measured)
    assert "nats" not in {f.expected_effect.unit for f in a.diagnoses[0].findings}
    from lossdoctor.diagnose.ranking import own_key
    from lossdoctor.report.findings import effect_text
    [past] = [f for f in a.diagnoses[0].findings if f.expected_effect.kind == "measured"]
    assert effect_text(past.expected_effect).startswith("-0.100 bpb on the final val")
    assert -own_key(past)[2] == pytest.approx(0.1)  # ranked by its size, as an effect in nats is


@pytest.mark.parametrize(("max_steps", "known"), [("-1", True), ("4", False), (None, False)])
def test_an_llmc_run_of_max_steps_minus_1_trains_one_epoch_of_its_data(tmp_path: Any, max_steps: str | None,
                                                                       known: bool) -> None:
    from lossdoctor.facts import compute_facts
    text = Path(FORMATS, "llmc_stdout.log").read_text(encoding="utf-8")
    if max_steps is not None:  # train_gpt2.cu prints it in its table, above train_num_batches
        row = f"| max_steps             | {max_steps:<50} |\n"
        text = text.replace("| train_num_batches ", row + "| train_num_batches ")
    (tmp_path / "llmc.log").write_text(text)
    data = compute_facts(lossdoctor.load(str(tmp_path / "llmc.log")))["dataset_tokens"]
    assert data.known == known
    if known:  # train_num_batches = ntok / total_batch_size: 4 batches of 16,384 tokens
        assert (data.value, data.status) == (4 * 16384, "inferred")


@pytest.mark.parametrize("name", ["build_nanogpt_stdout.log", "build_nanogpt_log.txt", "modded_record.txt"])
def test_a_whole_last_line_with_no_newline_after_it_is_read(tmp_path: Any, name: str) -> None:
    from conftest import FIXTURES
    text = (FIXTURES / "formats" / name).read_text()
    lines = text.rstrip("\n").split("\n")
    (tmp_path / name).write_text("\n".join(lines[:-1] if name == "modded_record.txt" else lines))  # no last \n
    whole, bare = lossdoctor.load(str(FIXTURES / "formats" / name)), lossdoctor.load(str(tmp_path / name))
    assert len(bare.iters) == len(whole.iters) and len(bare.evals) == len(whole.evals)
    assert not any("ends without a newline" in n for n in bare.notes)


# (fixture, a last line as train_gpt2.cu prints it, unlike every line before it)
PRINTF_LAST = [("llmc_stdout.log", "total average iteration time: 4308.445000 ms"),
               ("llmc_stdout.log", "val loss 10.250000"),  # the fixture's val lines are `nan` before it
               ("llmc_main.log", "s:4 tel:10.2500")]


@pytest.mark.parametrize(("name", "last"), PRINTF_LAST)
def test_an_llmc_last_line_that_ends_as_its_printf_does_is_read_without_its_newline(
        tmp_path: Path, name: str, last: str) -> None:
    from conftest import FIXTURES
    text = (FIXTURES / "formats" / name).read_text()
    if name == "llmc_stdout.log":
        text = text.replace("val loss 11.008742\n", "").replace("val loss 10.501000\n", "")
    else:
        text = text.replace("s:0 tel:11.0092\n", "").replace("s:2 tel:10.5000\n", "")
    (tmp_path / "whole.log").write_text(text + last + "\n")
    (tmp_path / "bare.log").write_text(text + last)  # the same, its last newline not written
    (tmp_path / "cut.log").write_text(text + last[:-2])  # a copy taken inside the last number
    whole, bare = lossdoctor.load(str(tmp_path / "whole.log")), lossdoctor.load(str(tmp_path / "bare.log"))
    cut = lossdoctor.load(str(tmp_path / "cut.log"))
    np.testing.assert_array_equal(bare.evals.val, whole.evals.val)  # nan where the fixture's is
    assert len(bare.iters) == len(whole.iters) and not any("ends without a newline" in n for n in bare.notes)
    assert any("ends without a newline" in n for n in cut.notes)
    if "val" in last or "tel" in last:
        assert bare.evals.val[-1] == 10.25 and len(cut.evals) == len(whole.evals) - 1


def test_a_lightning_csv_ending_in_its_val_row_did_that_step_index_plus_one_steps(tmp_path: Path) -> None:
    rows = "".join(f"0,{s},{3.0 - s / 1000:.4f},\n" for s in range(49, 500, 50)) + "0,539,,2.40\n"
    (tmp_path / "metrics.csv").write_text("epoch,step,train_loss,val_loss\n" + rows)  # val logged after step 539
    facts = lossdoctor.compute_facts(lossdoctor.load(str(tmp_path / "metrics.csv")))
    assert facts.value("steps_done") == 540  # 0-based, as its train rows: 500 after the row of step 499


def test_build_nanogpts_samples_name_its_ranks_and_so_its_processes(tmp_path: Path) -> None:
    from conftest import FIXTURES
    text = (FIXTURES / "formats" / "build_nanogpt_stdout.log").read_text()
    samples = "".join(f"rank {r} sample {i}: Hello, I'm a language model, and\n" for r in range(4) for i in range(2))
    (tmp_path / "ddp.log").write_text(text + samples)
    one, four = lossdoctor.load(str(FIXTURES / "formats" / "build_nanogpt_stdout.log")), lossdoctor.load(
        str(tmp_path / "ddp.log"))
    facts = lossdoctor.compute_facts(four)
    assert facts.value("world_size") == 4 and lossdoctor.compute_facts(one)["world_size"].value != 4
    accum = one.config.get("grad_accum_steps")  # one process's, as it prints it
    assert accum is not None and four.config.get("gradient_accumulation_steps") == 4 * accum  # nanoGPT's: all ranks'


TEXT_CASES = [c for c in CASES if "error" not in c and not c["file"].endswith((".json", ".csv", ".jsonl"))]


@pytest.mark.parametrize("case", TEXT_CASES, ids=[c["file"] for c in TEXT_CASES])
def test_a_text_log_with_crlf_line_ends_reads_as_with_lf(case: dict[str, Any], tmp_path: Path) -> None:
    """A log written on Windows: the same format and points (build-nanogpt's log.txt had
    been refused for its `\\r`)."""
    data = Path(FORMATS, case["file"]).read_bytes()
    crlf = tmp_path / case["file"]
    crlf.write_bytes(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    (a, *_), (b, *_) = read_runs(os.path.join(FORMATS, case["file"])), read_runs(str(crlf))
    assert str(b.format) == str(a.format) == case["format"]
    assert b.evals.step.tolist() == a.evals.step.tolist() and np.allclose(b.evals.val, a.evals.val, equal_nan=True)
    assert len(b.iters) == len(a.iters)


def test_a_lightning_csv_logged_on_step_holds_one_steps_loss_and_one_on_epoch_a_mean(tmp_path: Path) -> None:
    # self.log in training_step logs the step's own value every log_every_n_steps steps
    # (NAME_step beside NAME_epoch where on_epoch is set too): its noise and spikes are
    # read as nanoGPT's `iter` lines'; a column with one value per epoch is on_epoch's mean
    run = lossdoctor.load(os.path.join(FORMATS, "metrics.csv"))
    assert run.measures.train == "step"
    plain = tmp_path / "plain" / "metrics.csv"  # on_step's default name: no suffix
    plain.parent.mkdir()
    plain.write_text("epoch,step,train_loss,val_loss\n" + "".join(f"0,{s},{7 - s / 1000:.3f},\n"
                                                                   for s in range(49, 500, 50)))
    assert lossdoctor.load(str(plain)).measures.train == "step"
    means = tmp_path / "means" / "metrics.csv"  # on_epoch alone: one row per epoch
    means.parent.mkdir()
    means.write_text("epoch,step,train_loss,val_loss\n0,99,7.0,7.1\n1,199,6.5,6.6\n2,299,6.1,6.2\n")
    assert lossdoctor.load(str(means)).measures.train == "window"
    # another trainer's note on a key it does not show gives no nanoGPT ckpt.pt hint
    facts = lossdoctor.compute_facts(run)
    assert facts["max_iters"].note == "log has no config header"


def test_a_modded_record_that_prints_no_loss_per_step_counts_its_steps_by_its_step_lines(tmp_path: Any) -> None:
    # since 2025 a record's step:N/M lines carry no loss, only its time: cut after step 19 of
    # 20, it had been said to have done 10 steps (its last eval's), and its tokens likewise
    with open(os.path.join(FORMATS, "modded_record.txt"), encoding="utf-8") as f:
        lines = f.readlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("step:19/20 "))
    (tmp_path / "cut.log").write_text("".join(lines[:end + 1]))
    facts = lossdoctor.compute_facts(lossdoctor.load(str(tmp_path / "cut.log")))
    assert facts.value("steps_done") == 19
    whole = lossdoctor.compute_facts(lossdoctor.load(os.path.join(FORMATS, "modded_record.txt")))
    assert whole.value("steps_done") == 20


def test_a_csv_that_ends_inside_its_last_row_does_not_read_that_row(tmp_path: Any) -> None:
    # Lightning's CSVLogger ends every row with a newline: a last row without one was cut
    # (a val of 3.570486 cut to `3` had read as a 0.57-nat gain); a W&B export writes no last
    # newline, so there a row is cut only where it is short of cells or leaves a quote open
    text = Path(FORMATS, "metrics.csv").read_text()
    (tmp_path / "cut.csv").write_text(text[:text.index("7.2100") + 3])  # its last val row cut to `7.2`
    run = lossdoctor.load(str(tmp_path / "cut.csv"))
    whole = lossdoctor.load(os.path.join(FORMATS, "metrics.csv"))
    assert len(run.evals) == len(whole.evals) - 1 and any("ends without a newline" in n for n in run.notes)
    assert not any("ends without a newline" in n for n in whole.notes)
    panel = Path(FORMATS, "wandb_panel.csv").read_text().rstrip("\n")
    (tmp_path / "panel.csv").write_text(panel)  # as W&B writes it: whole, with no last newline
    assert not any("ends without a newline" in n for r in read_runs(str(tmp_path / "panel.csv")) for n in r.notes)
    (tmp_path / "open.csv").write_text(panel[:panel.rindex('"5.10"') + 3])  # `"5.` with its quote open
    runs = read_runs(str(tmp_path / "open.csv"))
    assert all(any("ends without a newline" in n for n in r.notes) for r in runs)
    assert all(2 not in r.iters.step.tolist() and 2 not in r.evals.step.tolist() for r in runs)


@pytest.mark.parametrize(("make", "said"), [
    (lambda t: t[:len(t) // 2], "it ends before the document does: cut short"),
    (lambda t: t + t, "two documents one after the other (files joined with cat?)"),
])
def test_a_json_file_that_does_not_parse_says_so_not_which_log_lines_were_looked_for(tmp_path: Any, make: Any,
                                                                                   said: str) -> None:
    text = Path(FORMATS, "trainer_state.json").read_text()
    bad = tmp_path / "checkpoint-10" / "trainer_state.json"
    bad.parent.mkdir()
    bad.write_text(make(text))
    with pytest.raises(InputError, match="not valid JSON: .*" + re.escape(said)):
        read_runs(str(bad))
    with pytest.raises(InputError, match="not valid JSON: .*" + re.escape(said)):
        read_runs(str(bad), "hf-trainer")  # --input-format: not "not in the hf-trainer format"


def test_a_log_of_another_trainer_whose_steps_go_back_holds_two_processes(tmp_path: Any) -> None:
    # llm.c's stdout twice in one file: its steps had been read as one run's, each twice,
    # and the restart at step 1 as a loss spike (LD203, with llm.c flags to halve the LR)
    text = Path(FORMATS, "llmc_stdout.log").read_text()
    (tmp_path / "twice.log").write_text(text + text)
    once, twice = (lossdoctor.load(p) for p in (os.path.join(FORMATS, "llmc_stdout.log"), str(tmp_path / "twice.log")))
    assert len(twice.segments) == 2 and twice.lineage() == (1,)
    a, b = once.curves(), twice.curves()
    assert a[1].step.tolist() == b[1].step.tolist() and a[0].step.tolist() == b[0].step.tolist()
    assert any("the file holds 2 processes: its steps go back at line" in n for n in twice.notes)
    findings = lossdoctor.analyze([str(tmp_path / "twice.log")]).diagnoses[0].findings
    assert not [f for f in findings if f.rule.startswith("LD203")]
    # a resume from an earlier step (a checkpoint) continues the run it went back into
    lines = text.splitlines(keepends=True)
    steps = [i for i, line in enumerate(lines) if line.startswith("step ")]
    cut = steps[len(steps) // 2]
    (tmp_path / "resumed.log").write_text(text + "".join(lines[cut:]))
    resumed = lossdoctor.load(str(tmp_path / "resumed.log"))
    assert resumed.lineage() == (0, 1) and resumed.segments[1].init_from == "resume"
    # a restart that printed its first val and ran out of memory: a process of its own, with
    # its failure, not a val at step 0 in the run that finished
    head = "".join(lines[:next(i for i, line in enumerate(lines) if line.startswith("val loss")) + 1])
    (tmp_path / "crashed.log").write_text(text + head + "[CUDA ERROR] at file train_gpt2.cu:300:\nout of memory\n")
    crashed = lossdoctor.load(str(tmp_path / "crashed.log"))
    assert len(crashed.segments) == 2 and crashed.curves()[0].step.tolist() == [0]
    assert [e.segment for e in crashed.events if e.kind == "traceback"] == [1]
    assert lossdoctor.compute_facts(crashed).value("failure_kind") == "out of memory"


def test_an_llmc_resume_keeps_the_update_its_checkpoint_holds_and_dates_its_first_evals(tmp_path: Any) -> None:
    # llm.c prints `step S` for the S-th update; a resume from the checkpoint of step S prints
    # its table, val and HellaSwag of that model, then `step S+1`: the earlier process's
    # `step S` had been dropped as redone, and the HellaSwag put at step 0
    lines = Path(FORMATS, "llmc_stdout.log").read_text().splitlines(keepends=True)
    table = [line for line in lines if line.startswith(("+", "|"))]

    def step(n: int) -> str:
        return f"step {n:4d}/8 | loss {11 - n / 10:.6f} (+nanz)| norm 1.0 (+nanz)| lr 3.00e-04 | 4000.0 ms\n"
    first = [*table, "val loss 11.0\n", *(step(n) for n in range(1, 7)), "Writing checkpoint at step 4\n"]
    second = [*table, "val loss 10.6\n", "HellaSwag: 2600/10042 = 0.258912\n", *(step(n) for n in range(5, 9))]
    (tmp_path / "resumed.log").write_text("".join(first + second))
    run = lossdoctor.load(str(tmp_path / "resumed.log"))
    evals, iters = run.curves()
    assert run.lineage() == (0, 1) and iters.step.tolist() == list(range(1, 9))
    assert iters.segment.tolist() == [0, 0, 0, 0, 1, 1, 1, 1] and evals.step.tolist() == [0, 4]
    assert run.series["hellaswag"].step.tolist() == [4]


def test_a_table_sorted_by_descending_step_is_one_run_read_in_step_order(tmp_path: Any) -> None:
    # W&B and spreadsheets sort a table newest first: it had read as one process per row,
    # its curves the last row's alone
    header, *rows = Path(FORMATS, "generic.csv").read_text().splitlines()
    (tmp_path / "newest_first.csv").write_text("\n".join([header, *reversed(rows)]) + "\n")
    run = lossdoctor.load(str(tmp_path / "newest_first.csv"))
    ordered = lossdoctor.load(os.path.join(FORMATS, "generic.csv"))
    assert len(run.segments) == 1
    mine, theirs = (*run.curves(), run.evals, run.iters), (*ordered.curves(), ordered.evals, ordered.iters)
    for a, b in zip(mine, theirs, strict=True):
        assert a.step.tolist() == b.step.tolist() and len(a.step) > 1


def test_an_eval_printed_late_before_a_restart_stays_with_its_own_process(tmp_path: Any) -> None:
    rows: list[dict[str, float]] = []
    for step in range(0, 200, 10):  # each eval written after the next step's train record
        rows.append({"step": step, "train_loss": round(5 - step / 100, 3)})
        if step and step % 50 == 0:
            rows.append({"step": step - 10, "val_loss": round(4.5 - step / 200, 3)})
    rows.append({"step": 180, "val_loss": 3.5})  # the last eval, late, then a fresh run
    rows += [{"step": step, "train_loss": 5.0 - step / 1000} for step in range(0, 40, 10)]
    (tmp_path / "restart.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = lossdoctor.load(str(tmp_path / "restart.jsonl"))
    assert len(run.segments) == 2 and run.segments[1].last_step == 30
    assert 180 in run.evals.step[run.evals.segment == 0].tolist()
    # an eval of an earlier checkpoint after the last train record is no restart
    best = [r for r in rows if r["step"] <= 190 or "val_loss" in r][:-4] + [{"step": 100, "val_loss": 3.4}]
    (tmp_path / "best.jsonl").write_text("".join(json.dumps(r) + "\n" for r in best))
    assert len(lossdoctor.load(str(tmp_path / "best.jsonl")).segments) == 1


def test_a_runs_table_leaves_out_a_row_without_a_loss_and_a_last_row_cut_short(tmp_path: Any) -> None:
    # a crashed run's row with no final loss had made the whole table refused (exit 2); so had
    # a table cut inside its last row
    text = Path(FORMATS, "wandb_runs.csv").read_text()
    crashed = '"crashed_run","crashed","12","64","256","0.2","0.001","5000","384","6","6","","",""\n'
    (tmp_path / "runs.csv").write_text(text + crashed)
    runs = read_runs(str(tmp_path / "runs.csv"))
    assert [r.source.rsplit("#", 1)[1] for r in runs] == ["baseline", "no_dropout"]
    assert all("1 row of the table left out, with no final loss: crashed_run" in r.notes for r in runs)
    (tmp_path / "cut.csv").write_text(text.rstrip("\n")[:-12])  # the last row ends `"0.3301","2`
    runs = read_runs(str(tmp_path / "cut.csv"))
    assert [r.source.rsplit("#", 1)[1] for r in runs] == ["baseline"]
    assert any("the table's last row (no_dropout) is left out: the file ends inside it" in n for n in runs[0].notes)


def test_what_only_looks_like_a_restart_or_a_cut_stays_as_it_was(tmp_path: Any) -> None:
    # an eval record written after the next train record goes back by design: one process
    rows: list[dict[str, float]] = []
    for step in range(0, 400, 10):
        rows.append({"step": step, "train_loss": round(5 - step / 100, 3)})
        if step and step % 50 == 0:  # the eval of the step before, after this step's train record
            rows.append({"step": step - 10, "val_loss": round(4.5 - step / 200, 3)})
    (tmp_path / "late.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    late = lossdoctor.load(str(tmp_path / "late.jsonl"))
    assert len(late.segments) == 1 and len(late.curves()[1]) == 40
    # a log whose lines open with a bracket is no broken JSON document
    (tmp_path / "bracket.log").write_text("[2024-05-01 10:00:00] INFO starting\n")
    with pytest.raises(InputError, match="no lines of a training log found"):
        read_runs(str(tmp_path / "bracket.log"))
    (tmp_path / "summary.txt").write_text('{"_step": 5000, "val/loss": 3.2, "train/loss": 3.')  # cut JSON
    with pytest.raises(InputError, match="not valid JSON: .* cut short"):
        read_runs(str(tmp_path / "summary.txt"))
    # a W&B table (no last newline) whose last row has a quoted cell over two lines is whole
    table = ('"Name","Notes","iter","train/loss","val/loss"\n"baseline","","5000","0.6337","1.7044"\n'
             '"no_dropout","tried\nno dropout","5000","0.3301","2.1044"')
    (tmp_path / "notes.csv").write_text(table)
    assert len(read_runs(str(tmp_path / "notes.csv"))) == 2
    # a table cut inside its only row is refused, not read as a val of 1.7
    (tmp_path / "one.csv").write_text(table.split("\n")[0] + '\n"baseline","","5000","0.6337","1.7')
    with pytest.raises(InputError, match=r"the file ends inside its last row \(baseline\), whose values may be "
                                         "cut short: no row is read"):
        read_runs(str(tmp_path / "one.csv"))


def test_a_modded_record_restarted_into_its_file_counts_the_last_processs_steps(tmp_path: Any) -> None:
    text = Path(FORMATS, "modded_record.txt").read_text()
    again = text[:text.index("step:10/20 val_loss")]  # the restart stopped after its eval at step 2's line
    (tmp_path / "twice.log").write_text(text + again)
    run = lossdoctor.load(str(tmp_path / "twice.log"))
    assert lossdoctor.compute_facts(run).value("steps_done") == 2 and run.lineage() == (1,)


@pytest.mark.parametrize("name, near", [
    ("llmc_stdout.log", ["step    7/100 | loss (reworded)", "val loss n/a"]),
    ("modded_record.txt", ["step:7/100"]),
    ("nanochat_base_train.log", ["step 00007/00040 (17.50%) reworded", "Step 7 | Validation bpb: n/a"]),
    ("build_nanogpt_stdout.log", ["step    7 | loss: 4.0 (reworded)", "validation loss: n/a"]),
])
def test_a_step_line_a_trainers_stdout_does_not_parse_is_counted(tmp_path, name, near):
    # in another trainer's stdout most lines are its other output: a line that begins as its
    # step (or val) line and that no pattern takes is a reworded or corrupt one, and counted
    from lossdoctor import load
    src = Path(FORMATS) / name
    lines = src.read_text().splitlines()
    before = load(str(src))
    k = len(lines) // 2
    path = tmp_path / name
    path.write_text("\n".join(lines[:k] + ["an ordinary line of other output", *near] + lines[k:]) + "\n")
    run = load(str(path))
    assert run.format == before.format
    assert run.n_unparsed == before.n_unparsed + len(near)
    assert [u.text for u in run.unparsed][-len(near):] == near


@pytest.mark.parametrize("name, cut", [
    ("llmc_stdout.log", "step    7/10"), ("modded_record.txt", "step:7/1"),
    ("nanochat_base_train.log", "step 00007/00040 (1"), ("build_nanogpt_stdout.log", "step    7 | lo"),
])
def test_a_step_line_cut_by_the_files_end_is_said_cut_not_unparsed(tmp_path, name, cut):
    # a log copied while its run still wrote ends inside a line: one note says so, and the
    # line is not also counted as one no pattern understood
    from lossdoctor import load
    src = Path(FORMATS) / name
    path = tmp_path / name
    path.write_text(src.read_text().rstrip("\n") + "\n" + cut)  # no newline after it
    run = load(str(path))
    assert run.n_unparsed == load(str(src)).n_unparsed
    assert any(e.kind == "truncated" for e in run.events)


def test_chat_rl_lines_of_nanochat_are_not_counted_unparsed(tmp_path):
    from lossdoctor import load
    src = Path(FORMATS) / "nanochat_base_train.log"
    lines = src.read_text().splitlines()
    rl = ["Step 7 | Pass@1: 0.2500, Pass@8: 0.5000", "Step 7/100 | Average reward: 0.31 | Average sequence length: 120"]
    path = tmp_path / "rl.log"
    path.write_text("\n".join(lines[:5] + rl + lines[5:]) + "\n")
    assert load(str(path)).n_unparsed == load(str(src)).n_unparsed
