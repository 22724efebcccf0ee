"""The gap between runs: an attribution that adds up, on real runs of the built-in trainer
and nanoGPT, and the cases where runs cannot be compared."""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path

import pytest

import lossdoctor
from conftest import FIXTURES, ROOT, parse_text, run_cli, shared_path
from lossdoctor.compare import KeyDiff, Reachable, Unreachable

DIAG = FIXTURES / "diagnosis"


def _analysis(*paths):
    import lossdoctor
    return lossdoctor.analyze([str(p) for p in paths], diagnose_runs=False)


def _long_cat(path, *runs):
    """The logs of the long runs `runs` (fixtures/long), in order, in one file at `path`, as
    `cat` or `tee -a` writes a run and its resume."""
    path.write_text("".join((FIXTURES / "long" / r / "train.log").read_text() for r in runs))
    return path


def _total(c):
    return sum(a.delta_val for a in c.attribution) + (c.unexplained.delta_val if c.unexplained else 0.0)


def test_golden_gap_report_of_two_builtin_trainer_configs(monkeypatch):
    from rich.console import Console

    from lossdoctor.report.compare import render
    monkeypatch.chdir(ROOT)
    an = _analysis("fixtures/diagnosis/healthy_tiny", "fixtures/diagnosis/healthy_small")
    console = Console(file=io.StringIO(), width=100, color_system=None, legacy_windows=False)
    console.print(render(an.comparison, list(an.runs), verbose=True))
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


def test_a_log_that_resumes_the_other_is_said_to_be_the_same_run_going_on(tmp_path):
    # nanoGPT's tiny_resume log split where its second process (init_from=resume, the same
    # out_dir) begins: two logs of one run, not two runs
    lines = (FIXTURES / "nanogpt" / "tiny_resume" / "train.log").read_text().splitlines(keepends=True)
    second = next(i for i, line in enumerate(lines) if i and line.startswith("Overriding config with"))
    (tmp_path / "first.log").write_text("".join(lines[:second]))
    (tmp_path / "then.log").write_text("".join(lines[second:]))
    c = _analysis(str(tmp_path / "first.log"), str(tmp_path / "then.log")).comparison
    said = [n for n in c.notes if "continues" in n]
    assert said == ["then.log continues first.log: it begins with a resume (init_from=resume) at step 200, within "
                    "the other's steps (to 200), from the same out_dir ('out-tiny-resume'): the two logs are one "
                    "run's two stretches, and the gap is the steps the run went on for; `cat` the two logs, in "
                    "order, to analyze them as one run"]
    other = (tmp_path / "other.log")  # another out_dir: another run, whatever its steps
    other.write_text("".join(lines[second:]).replace("out_dir = out-tiny-resume", "out_dir = out-elsewhere"))
    assert not [n for n in _analysis(str(tmp_path / "first.log"), str(other)).comparison.notes if "continues" in n]


def test_a_resume_that_re_warmed_the_lr_gets_a_share_of_its_own(tmp_path):
    # the long runs' batch-8 2000-step cosine resumed to a cosine to 5000 (the LR back up at
    # step 2000), against the same config's one cosine to 5000: the re-warm had been left in
    # the unexplained rest
    from lossdoctor.fit import Extrapolator
    from lossdoctor.fit.resumed import REWARM_ERROR
    long = FIXTURES / "long"
    cat = _long_cat(tmp_path / "resumed.log", "batch8-2000", "batch8-resume-5000")
    c = _analysis(str(cat), str(long / "batch8-5000")).comparison
    (warm,) = [x for x in c.attribution if x.cause == "resume re-warm"]
    x = Extrapolator(lossdoctor.load(long / "batch8-2000")).extrapolate(5000, scenarios=("rerun", "resume"))
    val = {s.name: s.val.mean for s in x.scenarios}
    assert warm.delta_val == pytest.approx(val["resume"] - val["rerun"], abs=1e-9) and warm.delta_val > 0
    assert warm.interval == pytest.approx((warm.delta_val - REWARM_ERROR, warm.delta_val + REWARM_ERROR))
    assert "the worse run's process before its resume at step 2,000, extrapolated to step 5,000" in warm.method
    assert not [n for n in c.notes if "LD706" in n]  # the share says it
    # the gap, +0.013, is within the evals' noise, but the re-warm's share is beyond 0: the Do stays
    assert c.within_noise is not None and c.to_reach is not None
    total = sum(x.delta_val for x in c.attribution) + (c.unexplained.delta_val if c.unexplained else 0.0)
    assert total == pytest.approx(c.gap)
    # LD706's expected effect on the same log is the same cost, as a fresh run's change
    (ld706,) = [f for f in lossdoctor.analyze([str(cat)]).diagnoses[0].findings if f.rule.startswith("LD706")]
    effect = ld706.expected_effect
    assert effect.value == pytest.approx(-warm.delta_val) and effect.lo == pytest.approx(
        -warm.delta_val - REWARM_ERROR)
    again = _analysis(str(cat), str(cat)).comparison  # both re-warmed at the same step: nothing to say
    assert not [n for n in again.notes if "LD706" in n]
    assert not [x for x in again.attribution if x.cause == "resume re-warm"]


def test_a_re_warm_the_share_cannot_take_is_named_beside_the_gap(tmp_path):
    long = FIXTURES / "long"
    lines = _long_cat(tmp_path / "both.log", "batch8-2000", "batch8-resume-5000").read_text().splitlines(keepends=True)
    second = next(i for i, line in enumerate(lines) if i and line.startswith("Overriding config with"))

    def analysed(name: str, text: str, better=long / "batch8-5000"):
        (tmp_path / name).write_text(text)
        c = _analysis(tmp_path / name, better).comparison
        assert not [x for x in c.attribution if x.cause == "resume re-warm"]
        return [n for n in c.notes if n.startswith("resume re-warm not estimated: ")], c.notes

    # a resume that changed the floor too is not `resume`'s
    said, notes = analysed("changed.log", "".join(lines[:second]) + "".join(lines[second:]).replace(
        "Overriding: init_from = resume", "Overriding: init_from = resume\nOverriding: min_lr = 0.00005"))
    assert said == ["resume re-warm not estimated: its resume changed more than the length of a cosine to its "
                    "new end"]
    assert [n for n in notes if "what the re-warm cost is no share of its own" in n]
    # a resume on a larger batch (more GPUs) is another run after the first process's
    (tmp_path / "batch.log").write_text("".join(lines[:second]) + "".join(lines[second:]).replace(
        "Overriding: batch_size = 8", "Overriding: batch_size = 16").replace(
        "tokens per iteration will be: 512", "tokens per iteration will be: 1,024"))
    (ld706,) = [f for f in lossdoctor.analyze([str(tmp_path / "batch.log")]).diagnoses[0].findings
                if f.rule.startswith("LD706")]
    assert ld706.expected_effect.value is None
    assert "its resume changed batch_size: what came after it is not the first process's run" in (
        ld706.expected_effect.note or "")
    # a resume that stopped short of its end, against a fresh run cut as short: the share,
    # taken at the resume's end, is not the gap's at theirs
    cut = next(i for i, line in enumerate(lines) if line.startswith("iter 4000:"))
    fresh = (long / "batch8-5000" / "train.log").read_text()
    (tmp_path / "fresh.log").write_text(fresh[:fresh.index("\niter 4001:") + 1])
    said, _ = analysed("short.log", "".join(lines[:cut + 1]), better=tmp_path / "fresh.log")
    assert said == ["resume re-warm not estimated: its resume stopped at step 4,000 of its 5,000"]
    (ld706,) = [f for f in lossdoctor.analyze([str(tmp_path / "short.log")]).diagnoses[0].findings
                if f.rule.startswith("LD706")]  # nor is it LD706's effect, at an end the run did not reach
    assert ld706.expected_effect.value is None and "stopped at step 4,000" in (ld706.expected_effect.note or "")
    # the first process's last save is not the resume's step: the cut would resume elsewhere
    save = max(i for i, line in enumerate(lines[:second]) if line.startswith("saving checkpoint"))
    said, _ = analysed("nosave.log", "".join(lines[:save] + lines[save + 1:]))
    assert said == ["resume re-warm not estimated: the first process's last save the log shows is at step 1,750, "
                    "and the resume began at step 2,000"]
    # a log that begins with the resume: the LR before it is not in it, so no re-warm is seen
    c = _analysis(long / "batch8-resume-5000", long / "batch8-5000").comparison
    assert c.to_reach is not None and not [x for x in c.attribution if x.cause == "resume re-warm"]
    assert not [n for n in c.notes if "re-warm" in n]


def test_a_diverged_worse_run_is_not_said_to_be_falling_nor_its_unshown_keys_to_differ():
    # a headerless CPU log whose loss went NaN at step 425, against nanoGPT's README config run
    from lossdoctor.report.advice import unreachable_do
    a = _analysis(shared_path("corpus/logs/nanogpt/termux-cpu-nan-chenzihua.log"),
                  shared_path("groundtruth/gt_T1000.log"))
    c = a.comparison
    assert not [n for n in c.notes if "worse run's val was still falling" in n]  # it diverged (LD801)
    r = c.to_reach
    assert isinstance(r, Unreachable) and r.unshown and "--n_layer=4" in (r.flags or "")
    assert ("the better run's config (where it differs, and where the worse run's log does not show it) "
            "reached it") in unreachable_do(r, c)


def test_runs_join_a_ranking_only_where_they_compare_with_every_run_in_it():
    # a 124M run that shows no vocabulary compares with a GPT-2 run and with a character-level
    # run, which do not compare with each other: one of the two is left out, and says why
    paths = [shared_path("corpus/logs/nanogpt/druidowm-wandb-output-shakespeare-124M-overfit-8xH100.log"),
             shared_path("corpus/logs/nanogpt/innerfirexy-gpt2-ddp4-init-gpt2-stopped.log"),
             shared_path("groundtruth/gt_T1000.log")]
    c = _analysis(*paths).comparison
    ranked = [row.run for row in c.table if row.gap is not None or row.reference]
    assert not (str(paths[1]) in ranked and str(paths[2]) in ranked)
    out = [n for n in c.notes if n.startswith("left out of the ranking")]
    assert out == [f"left out of the ranking and the gap: {paths[2]}, whose losses do not compare with the others' "
                   "(its vocab_size 65 vs the others' 50257)"]


def test_the_ranked_group_takes_every_run_that_compares_with_all_of_it(monkeypatch):
    # first fit puts run 2 with run 0, but it compares with all of the larger group too
    import lossdoctor.compare as cmp
    pairs = {(0, 2), (1, 2), (1, 3), (1, 4), (3, 4), (2, 3), (2, 4)}
    monkeypatch.setattr(cmp, "comparable", lambda ra, rb, fa, fb, per_byte: (
        (min(ra, rb), max(ra, rb)) in pairs, f"runs {ra} and {rb} differ"))  # the run left out first
    known, apart = cmp._comparable_group(list(range(5)), [None] * 5, {i: 1.0 for i in range(5)}, False)
    assert sorted(known) == [1, 2, 3, 4] and apart == {0: "runs 0 and 1 differ"}


def test_a_better_run_stopped_inside_its_cosine_is_given_a_cosine_that_ends_where_it_stopped(tmp_path):
    # the long runs' batch-8 cosine to 5000 cut at step 3000, against the same config's
    # 2000-step run: its own schedule, copied (--lr_decay_iters=5000), never decays (LD701)
    from lossdoctor.report.advice import instead_do
    long = FIXTURES / "long"
    lines = (long / "batch8-5000" / "train.log").read_text().splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines) if line.startswith("iter 3000:"))
    (tmp_path / "cut.log").write_text("".join(lines[:end + 1]))
    r = _analysis(long / "batch8-2000", tmp_path / "cut.log").comparison.to_reach
    assert isinstance(r, Reachable) and r.instead == "--max_iters=3000 --lr_decay_iters=3000"
    assert r.stopped == (3000, 5000)
    assert "it stopped at step 3,000 of its cosine to 5,000: these flags end the cosine there" in instead_do(r)


def test_two_identical_runs_have_no_gap_and_no_causes():
    a = _analysis(DIAG / "healthy_small", DIAG / "healthy_small")
    c = a.comparison
    assert c.gap == 0.0 and c.attribution == () and c.unexplained is None and c.diff == ()
    from lossdoctor.report.compare import to_dict
    assert set(to_dict(c, list(a.runs))["overlap"]) == {"steps", "tokens", "flops"}  # each axis, always


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
    assert "learning_rate" in [d.key for d in c.diff]


def test_runs_without_val_are_compared_on_train():
    import lossdoctor
    from lossdoctor.compare import compare
    def log(loss):
        return "".join(f"iter {i}: loss {loss - 0.001 * i:.4f}, time 10.00ms, mfu -100.00%\n" for i in range(40))
    a, b = parse_text(log(3.0), "a.log"), parse_text(log(2.5), "b.log")
    c = compare([a, b], [lossdoctor.compute_facts(a), lossdoctor.compute_facts(b)])
    assert c.metric == "train" and any("compared on train loss" in n for n in c.notes)
    assert c.gap == pytest.approx(0.5) and _total(c) == pytest.approx(c.gap)


@pytest.mark.parametrize(("a", "b", "same"), [(50257, 50304, True), (65, 65, True), (65, 128, False),
                                              (50257, 50368, False), (50000, 50257, False)])
def test_a_vocabulary_padded_to_a_multiple_of_64_is_the_same_tokenizer(a, b, same):
    from lossdoctor.compare.data import _same_tokens
    assert _same_tokens(a, b) is same and _same_tokens(b, a) is same


def test_runs_without_val_read_the_training_length_off_the_better_runs_own_curve():
    import lossdoctor
    from lossdoctor.compare import compare
    def log(n, loss):
        return "".join(f"iter {i}: loss {loss(i):.4f}, time 10.00ms, mfu -100.00%\n" for i in range(n))
    a = parse_text(log(100, lambda i: 3.0 - 0.005 * i), "a.log")  # 2.505 at its end, step 99
    b = parse_text(log(400, lambda i: 2.8 - 0.002 * i), "b.log")  # 2.602 at step 99, 2.0 at its end
    c = compare([a, b], [lossdoctor.compute_facts(a), lossdoctor.compute_facts(b)])
    (length,) = c.attribution
    assert c.metric == "train" and length.cause == "training length"
    assert length.delta_val == pytest.approx(2.6 - 2.0, abs=0.03)  # b's own steps past a's last, step 99
    assert _total(c) == pytest.approx(c.gap) and "at equal steps (99)" in c.unexplained.method
    # a better run logged too sparsely to show the worse run's final window: not read
    sparse = parse_text("".join(f"iter {i}: loss {2.8 - 0.002 * i:.4f}, time 10.00ms, mfu -100.00%\n"
                                for i in range(0, 400, 20)), "s.log")
    c = compare([a, sparse], [lossdoctor.compute_facts(a), lossdoctor.compute_facts(sparse)])
    assert c.attribution == () and c.unexplained.delta_val == pytest.approx(c.gap)
    # schedules shown to differ: the better run at that step stood elsewhere in its own
    a_cfg = parse_text("Overriding: max_iters = 100\n" + log(100, lambda i: 3.0 - 0.005 * i), "a.log")
    b_cfg = parse_text("Overriding: max_iters = 400\n" + log(400, lambda i: 2.8 - 0.002 * i), "b.log")
    c = compare([a_cfg, b_cfg], [lossdoctor.compute_facts(a_cfg), lossdoctor.compute_facts(b_cfg)])
    assert not any(x.cause == "training length" for x in c.attribution)


def test_different_vocabularies_are_not_attributed():
    c = _analysis(DIAG / "healthy_small", FIXTURES / "lossdoctor_train" / "tiny").comparison
    assert c.comparable is False and c.attribution == ()
    assert any("not directly comparable" in n and "vocab_size" in n for n in c.notes)
    assert c.unattributed.startswith("not directly comparable: ")  # why no cause and no rest are given


def test_a_run_whose_vocabulary_is_unknown_is_not_compared_where_its_first_val_rules_the_other_s_out():
    # an HF Trainer run (it may fine-tune: its first val is not read as a vocabulary) that starts at
    # 5.74 nats, 1.57 above ln 65: no model over 65 characters starts there
    hf = shared_path("corpus/logs/hf-trainer/trainer-state-viz-multi-eval-sets.json")
    c = _analysis(shared_path("groundtruth/gt_T1000.log"), hf).comparison
    assert c.comparable is False and c.attribution == ()
    assert "its val at step 0, 5.7416 nats, lies 1.57 above ln 65 of the other's" in c.unattributed


def test_another_trainer_s_run_that_shows_neither_data_nor_vocabulary_is_not_compared():
    # a GPT-2 fine-tune in an HF trainer_state.json, beside a character-level nanoGPT run
    hf = shared_path("corpus/logs/hf-trainer/gpt2-pseudocode-train-plus-eval.json")
    c = _analysis(shared_path("groundtruth/const_5000.log"), hf).comparison
    assert c.comparable is False and c.attribution == ()
    assert "the hf-trainer run shows neither its dataset nor its vocabulary" in c.unattributed


def test_a_better_run_of_another_recipe_gives_no_nanogpt_flags():
    # modded-nanogpt's Muon and linear warmdown: its block, batch and length as train.py flags did not reach it
    c = _analysis(shared_path("corpus/logs/nanogpt/druidowm-wandb-output-owt-ddp-interrupted.log"),
                  shared_path("corpus/logs/modded-nanogpt/2024-10-10-muon-with-train-loss.log")).comparison
    assert isinstance(c.to_reach, Unreachable) and c.to_reach.flags is None
    assert "the better run is a modded-nanogpt run, whose optimizer and LR schedule are not train.py's" in \
        c.to_reach.why


def test_a_pasted_excerpt_whose_schedule_is_not_all_shown_is_said_so_and_its_shape_keys_count():
    # the post's third run: config inferred from train_shakespeare_char.py (decay_lr not in it), cut by `...`
    post = shared_path("corpus/logs/nanogpt-md/vglazer-cpu-vs-mps-vs-compile-2025-08-22.md")
    c = _analysis(shared_path("groundtruth/gt_T1000.log"), post).comparison
    assert "LR schedule not estimated: the better run's log does not show its decay_lr" in c.notes
    assert any(n.startswith("the better run's log is an excerpt (line 146 is `...`") and "at step 250," in n
               for n in c.notes)
    # n_layer and n_embd are inferred for it, so model size is a share of the rest, not "not shown by both"
    assert not any("not shown by both" in n for n in c.notes)
    assert any("n_layer 4 vs 6" in a.method for a in c.attribution)


def test_three_runs_give_a_table_against_the_best():
    c = _analysis(DIAG / "healthy_tiny", DIAG / "healthy_small", DIAG / "healthy_wide").comparison
    assert len(c.table) == 3 and sum(r.reference for r in c.table) == 1
    best = next(r for r in c.table if r.reference)
    assert best.gap == 0 and all(r.gap is not None and r.gap >= 0 for r in c.table)


def test_json_comparison_object(monkeypatch):
    from contextlib import redirect_stdout

    from lossdoctor.cli import main
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
    diff = {d.key: (d.other, d.reference) for d in c.diff}
    assert diff["eval_iters"] == (20, 200)
    d = c.derived
    assert d.tokens_per_iter == (768, 16384)
    assert 1.4e6 < d.tokens_seen.other < 1.6e6 and 80e6 < d.tokens_seen.reference < 84e6
    assert 0.75e6 < d.params.other < 0.85e6 and 10.5e6 < d.params.reference < 10.8e6
    causes = {a.cause: a for a in c.attribution}
    ovf = causes["overfitting"]
    assert ovf.delta_val < -0.15  # the GPU run would be better still at its best val
    assert 1.45 < d.best_val.reference < 1.49 and 2000 <= d.best_val_step.reference <= 2500
    assert causes["device/precision numerics"].delta_val == 0.0
    assert causes["training length"].delta_val > 0
    notes = " ".join(c.notes)
    assert "still falling" in notes and "run to its end" in notes and "312 TFLOPS" in notes
    # 8x its length by the curve: past the 5x the extrapolation is measured at (10,000 steps, 7.65 epochs,
    # inside the 7.7 it is measured at for this config), so not promised
    assert isinstance(c.to_reach, Unreachable) and "not reachable with this config" in c.to_reach.why
    assert "within 5x its length" in c.to_reach.why
    assert c.to_reach.flags.startswith("--n_layer=6 --n_head=6 --n_embd=384")  # the better run's model instead
    rest = c.attribution[-1]
    assert rest.cause == "model size, context length, batch size and regularization"
    assert _total(c) == pytest.approx(c.gap)


# -- the extrapolators a comparison is given ----------------------------------------------

class _Counting:
    """An extrapolator that counts the questions asked of it, answered by one real Extrapolator."""

    answering = 0  # > 0 while one of them asks its Extrapolator

    def __init__(self, run):
        from lossdoctor.fit.extrapolate import Extrapolator
        self.inner = Extrapolator(run)
        self.asked = []

    def extrapolate(self, to, scenarios=("rerun", "resume", "constant"), schedule=None):
        self.asked.append((to, scenarios))
        _Counting.answering += 1
        try:
            return self.inner.extrapolate(to, scenarios=scenarios, schedule=schedule)
        finally:
            _Counting.answering -= 1


def test_compare_extrapolates_each_run_through_the_extrapolator_it_is_given(monkeypatch):
    import importlib
    from collections import Counter

    from lossdoctor.compare import compare
    fx = importlib.import_module("lossdoctor.fit.extrapolate")  # the module: lossdoctor.fit.extrapolate is a function
    an = _analysis(DIAG / "healthy_tiny", DIAG / "healthy_small")
    fits = [_Counting(r) for r in an.runs]
    fitted = Counter()
    real_fit, real = fx.Extrapolator._fit, fx.extrapolate

    def counting_fit(self, *args, **kwargs):
        fitted[(self.run.source, *args[1:])] += 1  # the run, and what its fit depends on besides the run
        return real_fit(self, *args, **kwargs)

    def only_through_the_given(*args, **kwargs):
        assert _Counting.answering, "compare extrapolated a run itself"
        return real(*args, **kwargs)
    built = []
    monkeypatch.setattr(fx.Extrapolator, "_fit", counting_fit)
    monkeypatch.setattr(fx, "Extrapolator", lambda run, **kw: built.append(run))  # compare makes none of its own
    monkeypatch.setattr(fx, "extrapolate", only_through_the_given)
    c = compare(list(an.runs), list(an.facts), fits)
    assert built == []
    assert fits[c.reference].asked == []  # only the worse run is extrapolated
    assert len(fits[c.other].asked) >= 3  # its length, its end, and the steps to reach the better run
    assert fitted and set(fitted.values()) == {1}  # each fit made once, however many steps were asked
    assert {k[0] for k in fitted} == {an.runs[c.other].source}
    assert compare(list(an.runs), list(an.facts), fits) == c == an.comparison
    assert set(fitted.values()) == {1}  # asked again: answered from the fits already made


def test_compare_wants_one_extrapolator_per_run():
    from lossdoctor.compare import compare
    an = _analysis(DIAG / "healthy_tiny", DIAG / "healthy_small")
    from lossdoctor.errors import UsageError
    with pytest.raises(UsageError, match="extrapolators"):
        compare(list(an.runs), list(an.facts), [None])
    runs, facts = list(an.runs), list(an.facts)
    for bad, match in (((runs, facts[::-1]), r"facts\[0\] are not the facts of runs\[0\]"),
                       (([r.source for r in runs], facts), "runs are Runs"),
                       ((runs, None), "facts is a list, not NoneType"),
                       ((runs, facts[:1]), "2 runs, 1 facts"),
                       ((runs, facts, list(an.fits)[::-1]), r"extrapolators\[0\] does not fit runs\[0\]")):
        with pytest.raises(UsageError, match=match):
            compare(*bad)


# -- one cause at a time ------------------------------------------------------------------

@pytest.fixture(scope="module")
def sides():
    """name -> the run as the attribution sees it, on val."""
    import lossdoctor
    from lossdoctor.compare.sides import Side
    names = ("healthy_tiny", "healthy_small", "decay_600k")
    an = lossdoctor.analyze([str(DIAG / n) for n in names], diagnose_runs=False, compare_runs=False)
    return {n: Side.of(r, f, "val", f.value("final_val")) for n, r, f in zip(names, an.runs, an.facts, strict=True)}


def _w(a, b):
    from lossdoctor.compare.length import Z80
    return Z80 * math.hypot(a.se, b.se)


def test_eval_noise_is_each_final_minus_its_smoothed_value(sides):
    from dataclasses import replace

    from lossdoctor.compare.attribute import eval_noise
    s = sides["healthy_small"]
    assert eval_noise(s, s, "val").delta_val == 0.0
    noisy, clean = replace(s, final=s.smoothed + 0.05), replace(s, final=s.smoothed)
    c = eval_noise(noisy, clean, "val")
    assert c.delta_val == pytest.approx(0.05) and c.interval[0] > 0  # 0.05 nats is over the noise of eval_iters 50


def test_a_run_whose_eval_noise_is_unknown_keeps_its_final_as_logged(tmp_path):
    # a modded-nanogpt record (its val on 10M tokens, its noise not shown) whose LR cooldown
    # bends its last evals away from a straight line: the bend is no noise to take away
    from lossdoctor.compare.attribute import eval_noise
    from lossdoctor.compare.sides import Side
    text = "".join(f"step:{s}/1390 val_loss:{v:.4f} train_time:{s}ms step_avg:1.00ms\n"
                   for s, v in ((0, 10.8), (250, 4.4888), (500, 4.1451), (750, 3.7368), (1000, 3.4625),
                                (1250, 3.3330), (1390, 3.2775)))
    (tmp_path / "a.txt").write_text(text)
    a = _analysis(str(tmp_path / "a.txt"))
    side = Side.of(a.runs[0], a.facts[0], "val", 3.2775)
    assert not side.noise_known and side.smoothed == side.final == 3.2775
    c = eval_noise(side, side, "val")
    assert c.by_construction and "not estimated" in c.method


def test_overfitting_only_when_a_run_turned_up(sides):
    from dataclasses import replace

    from lossdoctor.compare.attribute import overfitting
    a, b = sides["healthy_tiny"], sides["healthy_small"]
    assert a.overfit == 0 and b.overfit == 0 and overfitting(a, b) is None
    turned = replace(b, best=b.smoothed - 0.2, overfit=0.2)
    c = overfitting(a, turned)
    assert c.delta_val == pytest.approx(-0.2) and c.interval[1] < 0 and "the better run's" in c.method


def test_training_length_is_zero_at_the_run_s_own_length_and_positive_beyond(sides):
    from lossdoctor.compare.length import training_length
    from lossdoctor.fit.extrapolate import Extrapolator
    a = sides["healthy_tiny"]
    fit, steps = Extrapolator(a.run), int(a.facts.value("steps_done"))
    same = training_length(a, fit, int(a.facts.value("final_step")), "its own length")
    assert same.cause.delta_val == 0.0 and same.cause.interval == (0.0, 0.0)
    assert same.at + same.miss == pytest.approx(a.start)  # the law at its end, and how far the run lies off it
    longer = training_length(a, fit, 4 * steps, "4x")
    assert longer.cause.delta_val > 0.1 and longer.cause.interval[0] > 0
    assert longer.at == pytest.approx(a.start - longer.miss - longer.cause.delta_val)  # the law's rerun there


def test_lr_schedule_is_zero_for_the_same_shape_and_non_zero_for_a_decay_never_reached(sides):
    from lossdoctor.compare.length import length_target, lr_schedule, training_length
    from lossdoctor.fit.extrapolate import Extrapolator
    tiny, small = sides["healthy_tiny"], sides["healthy_small"]
    fit = Extrapolator(tiny.run)
    same = lr_schedule(tiny, small, fit, 1000, tiny.start)
    assert same.cause.delta_val == 0.0 and same.at == tiny.start
    b = sides["decay_600k"]  # lr_decay_iters 600000: its LR barely decayed in its 1000 steps
    to, how = length_target(tiny.facts, b.facts)
    length = training_length(tiny, fit, to, how)
    # both runs end at step 1,000: inside the worse run the law is not measured on another schedule
    from lossdoctor.fit.extrapolate import CannotExtrapolate
    with pytest.raises(CannotExtrapolate, match="not measured on a schedule other than the one it ran"):
        lr_schedule(tiny, b, fit, to, length.at, inside=True)
    at = fit.extrapolate(2000, scenarios=("rerun",)).scenarios[0].val.mean  # the rerun's, against the shape's
    longer = lr_schedule(tiny, b, fit, 2000, at)
    assert longer.cause.delta_val < 0 and longer.at == pytest.approx(at - longer.cause.delta_val)  # no decay: worse
    assert "decay to step 1200000" in longer.cause.method  # its shape stretched to 2,000 steps


def test_config_rest_is_put_on_the_learning_keys_that_differ(sides):
    from lossdoctor.compare.rest import config_rest
    from lossdoctor.compare.sides import config_diff
    a, b = sides["healthy_tiny"], sides["healthy_small"]
    c = config_rest(a, b, config_diff(a.run, b.run), 0.3, _w(a, b))
    assert c.cause == "model size" and c.delta_val == 0.3 and "n_embd 64 vs 128" in c.method
    assert "Hoffmann" in c.method
    assert config_rest(b, b, config_diff(b.run, b.run), 0.3, _w(b, b)) is None


def test_a_get_lr_key_of_a_constant_lr_run_is_said_unused():
    from lossdoctor.compare.sides import config_diff
    cosine = parse_text("Overriding: lr_decay_iters = 1000\nOverriding: max_iters = 1000\n"
                        "step 0: train loss 4.0, val loss 4.0\n")
    constant = parse_text("Overriding: lr_decay_iters = 5000\nOverriding: decay_lr = False\n"
                          "Overriding: max_iters = 1000\nstep 0: train loss 4.0, val loss 4.0\n")
    (d,) = [d for d in config_diff(cosine, constant) if d.key == "lr_decay_iters"]
    assert d.origin_other == "override" and d.origin_reference == "override; unused: decay_lr=False"
    other = parse_text("Overriding: lr_decay_iters = 3000\nOverriding: decay_lr = False\n"
                       "Overriding: max_iters = 1000\nstep 0: train loss 4.0, val loss 4.0\n")
    assert not any(d.key == "lr_decay_iters" for d in config_diff(other, constant))  # used by neither


def test_device_and_precision_have_no_share(sides):
    from lossdoctor.compare.attribute import device_precision
    device = KeyDiff("device", "cpu", "cuda", "override", "override", "runtime")
    c = device_precision((device,), 0.02)
    assert c.delta_val == 0.0 and c.interval == (-0.02, 0.02) and "device cpu vs cuda" in c.method
    assert device_precision((KeyDiff("eval_iters", 20, 200, "override", "default", "measurement"),), 0.02) is None
    split = KeyDiff("batch_size", 32, 64, "log", "log", "runtime")  # the same tokens per step, split otherwise
    c = device_precision((split,), 0.02)
    assert "batch_size 32 vs 64: the same tokens per step split into other micro-batches" in c.method
    assert "fp32" not in c.method and c.cause == "micro-batch split"  # not a device's numerics
    both = device_precision((device, split), 0.02)
    assert both.cause == "device/precision numerics" and "fp32" in both.method and "micro-batches" in both.method


def test_nanochats_own_split_keys_at_equal_tokens_per_step_change_no_learning(tmp_path):
    """nanochat at the same total batch, in micro-batches of 16 rows without accumulation
    against 8 with 2: its grad_accum_steps and tokens per forward-backward are the split, as
    nanoGPT's batch_size is, not keys that change learning; the assumed eval noise is said
    in bpb, the runs' unit."""
    text = (FIXTURES / "formats" / "nanochat_base_train.log").read_text()
    wide = (text.replace("rank: 8 x 512 = 4,096", "rank: 16 x 512 = 8,192")
            .replace("micro-batch: 4,096", "micro-batch: 8,192")
            .replace("accumulation steps: 2", "accumulation steps: 1").replace("bpb: 1.876543", "bpb: 1.880000"))
    (tmp_path / "wide.log").write_text(wide)
    c = _analysis(tmp_path / "wide.log", FIXTURES / "formats" / "nanochat_base_train.log").comparison
    kinds = {d.key: d.kind for d in c.diff}
    assert kinds == {k: "runtime" for k in ("batch_size", "gradient_accumulation_steps", "grad_accum_steps",
                                            "world_tokens_per_fwdbwd")}
    causes = {a.cause: a for a in c.attribution}
    assert "other config" not in causes and "grad_accum_steps 1 vs 2" in causes["micro-batch split"].method
    assert any("take 0.01 bpb for one eval's noise" in n for n in c.notes)
    # a different total batch is learning, nanochat's keys with it
    more = wide.replace("Total batch size 8,192", "Total batch size 16,384").replace("accumulation steps: 1",
                                                                                    "accumulation steps: 2")
    (tmp_path / "more.log").write_text(more)
    c = _analysis(tmp_path / "more.log", FIXTURES / "formats" / "nanochat_base_train.log").comparison
    assert {d.key: d.kind for d in c.diff} == {k: "learning" for k in ("batch_size", "total_batch_size",
                                                                      "world_tokens_per_fwdbwd")}


def test_unexplained_is_the_rest_only_when_no_learning_key_differs():
    from lossdoctor.compare.rest import unexplained
    measure = KeyDiff("eval_iters", 20, 200, "override", "default", "measurement")
    learning = KeyDiff("n_embd", 64, 128, "override", "override", "learning")
    assert unexplained((measure,), 0.1, 0.02).delta_val == 0.1
    assert unexplained((measure, learning), 0.1, 0.02).delta_val == 0.0


def test_a_setting_outside_nanogpt_s_keys_is_a_difference_but_bookkeeping_is_not(tmp_path):
    """A runs table's `activation_type` changes what the model learns: the rest is not put
    on n_head alone. Its run name, seed, wall time and final losses are no settings."""
    table = tmp_path / "runs.csv"
    table.write_text("run_name,seed,n_layer,n_head,n_embd,activation_type,training_time_sec,final_val_loss\n"
                     "gelu,1,6,6,384,gelu,1188.5,1.70\n"
                     "swiglu,2,6,1,384,swiglu,1496.8,1.87\n")
    c = _analysis(table).comparison
    keys = {d.key: d.kind for d in c.diff}
    assert keys == {"n_head": "learning", "activation_type": "learning"}
    rest = next(a for a in c.attribution if "n_head" in a.method)
    assert rest.cause == "attention heads and other config" and "activation_type swiglu vs gelu" in rest.method


@pytest.mark.parametrize(("key", "bookkeeping"), [
    ("run_name", True), ("seed", True), ("final_val_loss", True), ("train/loss", True), ("val_acc", True),
    ("training_time_sec", True), ("n_params", True), ("peak_memory", True), ("flops_per_token", True),
    ("loss_type", False), ("time_embedding", False), ("grad_acc", False), ("activation_type", False),
    ("pos_encoding", False)])
def test_bookkeeping_is_a_name_or_a_result_by_its_last_word(key, bookkeeping):
    from lossdoctor.compare.sides import BOOKKEEPING
    assert bool(BOOKKEEPING.search(key)) is bookkeeping


def test_a_log_without_a_header_has_an_unknown_config_and_gets_no_share(tmp_path):
    """The better run's log is cut down to its loss lines: its config is unknown, not
    train.py's defaults, so no share goes to a config key and the rest stays unexplained."""
    from lossdoctor.compare import UNKNOWN_ORIGIN
    lines = (DIAG / "healthy_small" / "train.log").read_text().splitlines(keepends=True)
    bare = tmp_path / "bare.log"
    bare.write_text("".join(x for x in lines if x.startswith(("step ", "iter "))))
    c = _analysis(DIAG / "healthy_tiny", bare).comparison
    assert c.reference == 1 and c.gap > 0
    hidden = [d for d in c.diff if d.origin_reference == UNKNOWN_ORIGIN]
    assert {"n_layer", "n_embd", "learning_rate"} <= {d.key for d in hidden}
    assert all(d.reference is None for d in hidden)
    assert {a.cause for a in c.attribution} <= {"eval noise", "overfitting", "training length", "LR schedule"}
    assert c.unexplained is not None and "does not show" in c.unexplained.method and "learning keys" in \
        c.unexplained.method
    assert math.isclose(_total(c), c.gap, abs_tol=1e-9)


def test_unknown_keys_get_no_share_next_to_known_ones():
    from lossdoctor.compare.rest import unexplained
    hidden = KeyDiff("n_embd", 64, None, "override", "unknown: the log does not show it", "learning")
    assert unexplained((hidden,), 0.1, 0.02).delta_val == 0.1


# -- steps to reach -----------------------------------------------------------------------

class _Line:
    """A stand-in extrapolator whose rerun val falls 0.1 nats per 1,000 steps from 2.0;
    past `limit` steps, beyond the epochs measured."""

    def __init__(self, limit=None):
        self.asked, self.limit = [], limit

    def extrapolate(self, to, scenarios=("rerun", "resume", "constant"), schedule=None):
        from types import SimpleNamespace

        from lossdoctor.fit import Estimate, Scenario
        from lossdoctor.fit.extrapolate import BeyondEpochs
        if self.limit is not None and to > self.limit:
            raise BeyondEpochs(f"step {to:,} is beyond the epochs measured", 4.0, self.limit)
        self.asked.append(to)
        v = 2.0 - 0.1 * to / 1000
        flags = f"--max_iters={to} --lr_decay_iters={to}"
        return SimpleNamespace(scenarios=(Scenario("rerun", flags, Estimate(v, v - 0.05, v + 0.05, 0.8, 0.04), None),))


def test_steps_to_reach_the_better_run_on_the_worse_run_s_own_curve(sides):
    from lossdoctor.compare.reach import to_reach
    a, b = sides["healthy_tiny"], sides["healthy_small"]
    diff = (KeyDiff("n_embd", 64, 128, "override", "override", "learning"),)
    assert a.facts.value("final_step") == 1000
    fit = _Line()
    r = to_reach(fit, a.facts, b.facts, diff, 1.775)  # 2.0 - 0.225: 2,250 steps, so 2,300 in hundreds
    assert fit.asked == [1500, 2000, 2500, 2200, 2300]  # 1.5x, 2x, 2.5x, then narrowed down
    assert isinstance(r, Reachable) and r.steps == 2300 and r.ratio == pytest.approx(2.3)
    assert r.val == pytest.approx(1.77) and (r.lo, r.hi) == pytest.approx((1.72, 1.82))
    assert r.flags == "--max_iters=2300 --lr_decay_iters=2300" and r.target == 1.775
    never = to_reach(_Line(), a.facts, b.facts, diff, -10.0)  # never within 5x, the measured horizon
    assert isinstance(never, Unreachable) and never.steps_tried == 5000 and "within 5x" in never.why
    assert never.flags == "--n_embd=128" and not never.same_config  # it ran 1000 steps already
    from lossdoctor.compare.reach import Worse
    resumed_diff = (*diff, KeyDiff("init_from", "resume", "scratch", "override", "default", "learning"),
                    KeyDiff("dropout", 0.0, 0, "override", "config file", "learning"))  # an int where a float is
    resumed = to_reach(_Line(), a.facts, b.facts, resumed_diff, -10.0, worse=Worse(1000, resumed=True))
    assert resumed.flags == ("--init_from=scratch --n_embd=128 --dropout=0.0 --max_iters=1000 "
                             "--lr_decay_iters=1000")  # init_from once; a float nanoGPT takes; a fresh run's length
    from lossdoctor.compare.attribute import is_evidence
    assert is_evidence(a, b, resumed_diff[1:2]) and not is_evidence(a, b, resumed_diff)  # n_embd differs there
    same = to_reach(_Line(), a.facts, b.facts, resumed_diff[1:2], -10.0,
                    worse=Worse(1000, resumed=True, evidence=True))
    assert isinstance(same, Unreachable) and same.same_config  # only the length (and init_from) differ
    unshown = to_reach(_Line(), a.facts, b.facts, resumed_diff[1:2], -10.0, worse=Worse(1000, resumed=True))
    assert not unshown.same_config  # not evidence (a config unseen, other data, an overfit better run)
    assert same.flags == "--init_from=scratch --max_iters=1000 --lr_decay_iters=1000"
    other = to_reach(_Line(), a.facts, b.facts, diff, -10.0, worse=Worse(1000, nanogpt=False))
    assert isinstance(other, Unreachable) and other.flags is None  # another trainer's flags are not nanoGPT's


def test_steps_to_reach_tries_the_farthest_step_the_epochs_allow(sides):
    from lossdoctor.compare import reach
    a, b = sides["healthy_tiny"], sides["healthy_small"]
    fit = _Line(limit=2480)  # 4 epochs at step 2,480
    r = reach.to_reach(fit, a.facts, b.facts, (), 1.765)  # reached at 2,350 steps: 2,400 in hundreds
    assert fit.asked == [1500, 2000, 2400, 2200, 2300]  # 2,500 is past the epochs: 2,400, then narrowed down
    assert isinstance(r, Reachable) and r.steps == 2400
    far = reach.to_reach(_Line(limit=2480), a.facts, b.facts, (), 1.7)  # 3,000 steps: past the epochs
    assert isinstance(far, Unreachable) and far.steps_tried == 2400 and "within 4 epochs" in far.why
    assert not far.cannot_tell  # predicted to 2,400 and short there
    # a run past the epochs already: no longer run is predicted, so whether one reaches is not known
    past = reach.to_reach(_Line(limit=900), a.facts, b.facts, (), 1.99)
    assert isinstance(past, Unreachable) and past.cannot_tell and past.steps_tried is None


def test_a_better_run_fine_tuned_from_gpt2_is_copied_with_its_init_from_not_the_shape_its_weights_fix():
    """train.py takes n_layer, n_head, n_embd and bias from OpenAI's weights: the config's
    bias=False of the fine-tune is not what ran, and without --init_from=gpt2 the flags
    would train from scratch."""
    scratch = shared_path("corpus/logs/nanogpt/druidowm-wandb-output-owt-ddp-interrupted.log")
    tuned = shared_path("corpus/logs/nanogpt/innerfirexy-gpt2-ddp4-init-gpt2-stopped.log")
    flags = _analysis(scratch, tuned).comparison.to_reach.flags.split()
    assert flags[0] == "--init_from=gpt2" and "--block_size=1024" in flags
    assert not any(f.startswith(("--n_layer", "--n_head", "--n_embd", "--bias")) for f in flags)


def test_the_readme_cpu_run_against_a_header_less_gpu_log_credits_the_inferred_config():
    """The GPU log shows no config, but saves to out-shakespeare-char with that config file's
    cadence: its config is inferred, so the model the README CPU command shrank gets its share."""
    from lossdoctor.compare import UNKNOWN_ORIGIN
    gpu = shared_path("corpus/logs/nanogpt/innerfirexy-shakespeare-char-gpu.log")
    c = _analysis(FIXTURES / "lossdoctor_train" / "readme_cpu_2000", gpu).comparison
    origins = {d.key: d.origin_reference for d in c.diff}
    assert c.reference == 1 and origins["n_layer"] == "inferred"
    assert {o for o in origins.values() if not o.startswith("unknown: train.py's default")} <= {"inferred",
                                                                                                 UNKNOWN_ORIGIN}
    causes = {a.cause for a in c.attribution}
    assert {"overfitting", "training length"} <= causes  # the GPU run's rise is named
    assert any(cause.startswith("model size") for cause in causes)
    # aimed at its best, 1.4720, not its final 1.719; 8x by the curve, beyond the measured 5x
    assert isinstance(c.to_reach, Unreachable)
    assert "still above 1.4720" in c.to_reach.why and "within 5x its length" in c.to_reach.why
    # stopped at its best step on its own schedule (to 5,000), which is what reached 1.4720
    assert c.to_reach.flags.endswith("--max_iters=1750 --lr_decay_iters=5000")


def test_a_run_cut_short_on_the_same_schedule_gets_its_length_share_from_the_longer_run_s_curve(tmp_path):
    """llm.c's schedule is not modelled, so the shorter run cannot be extrapolated; where the
    longer run shares its schedule and covers its last step, the training length is read off
    the longer run's own curve at that step."""
    import lossdoctor
    from lossdoctor.compare import compare

    def log(last: int, shift: float) -> str:
        lines = []
        for s in range(0, last + 1, 50):
            lines.append(f"s:{s} trl:{3.0 - 0.0004 * s + shift:.4f} lr:0.000600 norm:1.00")
            if s % 100 == 0:
                lines.append(f"s:{s} tel:{3.1 - 0.0004 * s + shift:.4f}")
        return "\n".join(lines) + "\n"
    (tmp_path / "long.log").write_text(log(2000, 0.0))
    (tmp_path / "short.log").write_text(log(600, 0.01))
    runs = [lossdoctor.load(str(tmp_path / n)) for n in ("long.log", "short.log")]
    c = compare(runs, [lossdoctor.compute_facts(r) for r in runs])
    length = next(a for a in c.attribution if a.cause == "training length")
    assert length.delta_val == pytest.approx(0.0004 * 1400, abs=1e-6) and "measured on one curve" in length.method
    assert _total(c) == pytest.approx(c.gap) and c.unexplained is not None
    assert c.unexplained.delta_val == pytest.approx(0.01, abs=1e-6)
    assert any("read off the better run's own curve" in n for n in c.notes)


def test_bpb_against_nats_is_not_comparable_and_says_so():
    c = _analysis(FIXTURES / "formats" / "nanochat_base_train.log", FIXTURES / "nanogpt" / "cpu_small").comparison
    assert c.gap is None and c.comparable is False and "bpb vs nats" in c.notes[0]


def test_an_unexplained_rest_says_why_it_is_unexplained():
    c = _analysis(FIXTURES / "lossdoctor_train" / "readme_cpu_2000", FIXTURES / "nanogpt" / "cpu_small").comparison
    assert c.unexplained is not None and "differ in max_iters" in c.unexplained.method  # length not estimated
    assert "no learning config key differs" not in c.unexplained.method


def test_a_better_run_exactly_5x_longer_is_extrapolated_to_its_last_eval_not_one_step_past():
    """nanoGPT's 5000-step run makes 5,001 updates; its last eval is at step 5,000, which is
    5x the 1000-step run's last step and within what that run supports."""
    ref = ROOT / "lossdoctor" / "fit" / "reference"
    c = _analysis(ref / "readme_cpu_seed1338_1000.log", ref / "readme_cpu_seed1338_5000.log").comparison
    causes = {a.cause: a for a in c.attribution}
    assert "training length" in causes and "step 5,000 at" in causes["training length"].method
    assert isinstance(c.to_reach, Reachable)


def test_a_run_that_never_trained_gets_no_attribution_and_bpb_gaps_say_bpb():
    import lossdoctor
    from conftest import shared_path
    oom = shared_path("corpus/logs/nanochat/rtx4070-d24-bs8-oom.log")
    c = lossdoctor.analyze([str(FIXTURES / "formats" / "nanochat_base_train.log"), str(oom)],
                           diagnose_runs=False).comparison
    assert c.unit == "bpb" and c.gap == pytest.approx(3.1807 - 1.8765, abs=1e-4)
    assert c.attribution == () and c.unexplained is None
    assert c.unattributed is not None and "the worse run logged val only at step 0" in c.unattributed
    code, md, _ = run_cli("analyze", str(FIXTURES / "formats" / "nanochat_base_train.log"), str(oom),
                          "--format", "markdown")
    assert "The gap is not attributed: the worse run logged val only at step 0" in md and "| cause |" not in md


def test_one_trainer_read_as_a_log_and_as_an_out_dir_still_shares_its_curve(tmp_path):
    """A nanoGPT log against a nanoGPT out_dir (log + ckpt.pt) is one trainer: the better
    run's own curve gives the length share where the worse run cannot be extrapolated."""
    tiny = FIXTURES / "lossdoctor_train" / "tiny"
    cut = []
    for line in (tiny / "train.log").read_text().splitlines():
        if line.startswith("step 75:"):
            break
        if not line.startswith("iter "):  # evals only: too few points to extrapolate
            cut.append(line)
    (tmp_path / "train.log").write_text("\n".join(cut) + "\n")
    c = _analysis(tmp_path / "train.log", tiny).comparison
    length = next(a for a in c.attribution if a.cause == "training length")
    assert "the better run's own val at the worse run's last eval (step 50)" in length.method


def test_a_gap_on_train_loss_is_in_nats_even_between_bpb_runs(tmp_path):
    head = [x for x in (FIXTURES / "formats" / "nanochat_base_train.log").read_text().splitlines()
            if not x.startswith("step ") and "Validation bpb" not in x]  # nanochat's header: val would be in bpb
    for name, level in (("a", 3.5), ("b", 3.0)):
        steps = [f"step {i:05d}/00040 ({i * 2.5:.2f}%) | loss: {level + 1.0 / (i + 1):.6f} | lrm: 1.00 | "
                 f"dt: 52.10ms | tok/sec: 157,236 | mfu: 12.40 | epoch: 1 | total time: 0.01m" for i in range(40)]
        (tmp_path / f"{name}.log").write_text("\n".join(head + steps) + "\n")
    import lossdoctor
    assert lossdoctor.load(tmp_path / "a.log").measures.val_unit == "bpb"
    c = _analysis(tmp_path / "a.log", tmp_path / "b.log").comparison
    assert c.metric == "train" and c.gap == pytest.approx(0.5, abs=0.05) and c.unit == "nats"


def test_a_run_without_a_finite_val_is_left_out_not_a_reason_to_compare_train():
    nan = shared_path("corpus/logs/llmc/hector-a100-stdout-nan-from-step0.log")
    c = _analysis(FIXTURES / "lossdoctor_train" / "readme_cpu_2000", DIAG / "healthy_small", nan).comparison
    assert c.metric == "val" and any(n.startswith("left out of the gap, with no finite final val") for n in c.notes)


def test_runs_without_evals_are_compared_along_their_iteration_losses(tmp_path):
    for name, level in (("a", 3.0), ("b", 2.5)):
        (tmp_path / f"{name}.csv").write_text("step,loss\n" + "".join(f"{s},{level + 1 / (s + 1):.4f}\n"
                                                                      for s in range(200)))
    c = _analysis(tmp_path / "a.csv", tmp_path / "b.csv").comparison
    points = c.overlap.steps
    assert c.metric == "train" and len(points) == 5 and all(p.diff == pytest.approx(0.5, abs=0.01) for p in points)
    assert not any(n.startswith("the runs share no range") for n in c.notes)  # tokens unknown: steps only
    assert "neither log shows its config: which keys differ is unknown" in c.unexplained.method  # not "none differ"


def test_headerless_logs_that_name_their_data_still_show_no_config(tmp_path):
    for name, level in (("a", 3.0), ("b", 2.5)):  # train.py's meta.pkl line, then its iterations alone
        iters = "".join(f"iter {s}: loss {level + 1 / (s + 1):.4f}, time 35.00ms, mfu 1.00%\n" for s in range(200))
        (tmp_path / f"{name}.log").write_text("found vocab_size = 65 (inside data/shakespeare_char/meta.pkl)\n" + iters)
    c = _analysis(tmp_path / "a.log", tmp_path / "b.log").comparison
    assert "neither log shows its config: which keys differ is unknown" in c.unexplained.method


def test_a_run_whose_one_eval_came_before_its_training_is_compared_on_its_train_loss(tmp_path):
    log = FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log"
    lines = log.read_text().splitlines(keepends=True)
    first_iters = next(i for i, x in enumerate(lines) if x.startswith("iter 40:"))
    (tmp_path / "stopped.log").write_text("".join(lines[:first_iters]))  # its header, the step-0 eval, 40 iters
    c = _analysis(tmp_path / "stopped.log", log).comparison
    assert c.metric == "train"  # its val at step 0 is the initial loss, not where its 40 steps left it
    length = next(a for a in c.attribution if a.cause == "training length")
    assert "the better run's own logged train loss over the worse run's final window (up to step 39" in length.method
    assert c.unexplained is not None and abs(c.unexplained.delta_val) < 0.05 < length.delta_val


def test_two_runs_that_tie_are_compared_with_each_other_not_one_with_itself(tmp_path):
    import shutil
    log = FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log"
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        shutil.copy(log, tmp_path / side / "train.log")
    c = _analysis(tmp_path / "a" / "train.log", tmp_path / "b" / "train.log").comparison
    assert c.gap == 0.0 and {c.reference, c.other} == {0, 1}


def test_a_gap_within_the_noise_asks_for_no_longer_run(tmp_path):
    import shutil
    log = FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log"
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        shutil.copy(log, tmp_path / side / "train.log")
    a = tmp_path / "a" / "train.log"  # its last val 0.004 above b's
    a.write_text(a.read_text().replace("step 2000: train loss 1.7648, val loss 1.8857",
                                       "step 2000: train loss 1.7648, val loss 1.8900"))
    c = _analysis(tmp_path / "a" / "train.log", tmp_path / "b" / "train.log").comparison
    assert c.gap == pytest.approx(0.0043, abs=1e-3) and c.to_reach is None  # it was "train for 2,600 steps"
    assert any(n.startswith("the gap is within the evals' noise") for n in c.notes)


def test_a_better_run_at_a_constant_lr_gets_an_lr_schedule_share(tmp_path):
    small = (DIAG / "healthy_small" / "train.log").read_text()
    (tmp_path / "train.log").write_text("Overriding: decay_lr = False\n" + small)  # the same curve, said constant
    tiny = (DIAG / "healthy_tiny" / "train.log").read_text().splitlines()
    cut = next(i for i, line in enumerate(tiny) if line.startswith("iter 500:"))
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "train.log").write_text("\n".join(tiny[:cut + 1]) + "\n")  # the better run lies past it
    c = _analysis(tmp_path / "tiny", tmp_path / "train.log").comparison
    share = next(a for a in c.attribution if a.cause == "LR schedule")
    assert "a constant LR of" in share.method and share.delta_val != 0.0
    same = _analysis(DIAG / "healthy_tiny", tmp_path / "train.log").comparison  # equal lengths: inside the run
    assert "LR schedule" not in {a.cause for a in same.attribution}
    rest = next(a for a in same.attribution if a.cause == "model size and LR schedule")  # the label says so too
    assert "it also holds the share of decay_lr, which could not be estimated" in rest.method


def test_a_summary_row_has_no_best_val_and_heads_alone_are_not_model_size():
    from lossdoctor.compare.rest import rest_name
    from lossdoctor.facts import compute_facts
    assert rest_name({"n_head"}) == "attention heads" and rest_name({"n_head", "n_embd"}) == "model size"
    from lossdoctor.readers import load_many
    runs = load_many([str(shared_path("corpus/logs/wandb-csv/comp3242-nanogpt-ablations-final-metrics.csv"))])
    facts = compute_facts(runs[0])  # one row of final values: its final val, not its lowest
    assert facts.value("final_val") == pytest.approx(1.7044, abs=1e-4)
    assert not facts["best_val"].known and "final val only" in facts["best_val"].note
    assert not facts["best_val_step"].known
    for name in ("gap_at_best", "train_falling_after_best"):  # nothing built on a best it does not show
        assert not facts[name].known and "final val only" in facts[name].note


def test_two_runs_without_gap_or_differing_config_say_why_nothing_is_attributed(tmp_path):
    import shutil
    a = FIXTURES / "nanogpt" / "cpu_small" / "train.log"
    b = tmp_path / "copy.log"
    shutil.copy(a, b)
    code, out, _ = run_cli("analyze", str(a), str(b), "--format", "json")
    c = json.loads(out)["comparison"]
    assert c["attribution"] == [] and c["unexplained"] is None
    assert c["unattributed"] == "no gap: the runs end at the same val and no config key differs"


# -- continuations, one fit, and the better run's own length -------------------------------

def test_a_better_run_whose_log_begins_with_a_resume_gets_no_share_on_its_lr_keys():
    """batch8's 2,000-step run continued at its min_lr: the continuation's learning_rate
    (0.0001) is not a peak LR of the whole run, so no "peak LR" share is put on it."""
    c = _analysis(FIXTURES / "long" / "batch8-2000", FIXTURES / "long" / "batch8-constant-5000").comparison
    shown = {d.key: d.reference for d in c.diff}
    assert shown["learning_rate"] == pytest.approx(1e-4)  # the table keeps what the log shows
    causes = {a.cause: a for a in c.attribution}
    assert not any(name.startswith("peak LR") for name in causes) and "LR schedule" not in causes
    assert c.unexplained is not None and "the better run's log begins at step 2,000, resumed" in c.unexplained.method
    assert math.isclose(_total(c), c.gap, abs_tol=1e-9)


def test_the_training_length_share_is_one_fit_s_difference_and_a_run_off_its_law_is_said():
    """The law at the run's end and at the target, from the fit that predicts the target
    (with the reference runs where they join it: the README CPU config); where the run's
    own end lies off that law beyond the eval noise, a share of its own says by how much."""
    import numpy as np

    from lossdoctor.fit import Extrapolator
    an = _analysis(FIXTURES / "lossdoctor_train" / "readme_cpu_2000", FIXTURES / "long" / "lr2e-3-5000")
    share = next(a for a in an.comparison.attribution if a.cause == "training length").delta_val
    x = Extrapolator(an.runs[0]).extrapolate(5000, scenarios=("rerun",))
    assert any("reference runs" in n for n in x.notes)
    here = float(np.interp(2000, *x.fit_path))
    assert share == pytest.approx(here - x.scenarios[0].val.mean, abs=1e-9)
    off = _analysis(FIXTURES / "long" / "lr2e-3-2000", FIXTURES / "long" / "lr2e-3-5000").comparison
    causes = {a.cause: a.delta_val for a in off.attribution}
    assert causes["fit at the run's end"] == pytest.approx(-0.055, abs=0.01)  # the law lies above the run's end
    assert off.unexplained is not None and abs(off.unexplained.delta_val) < 0.03
    assert math.isclose(_total(off), off.gap, abs_tol=1e-9)


def _lowered_batch24(tmp_path, by):
    """The held-out batch-24 config's 5000-step run with every val `by` nats lower."""
    import re
    better = tmp_path / "batch24-5000"
    better.mkdir()
    text = (FIXTURES / "heldout" / "batch24-5000" / "train.log").read_text()
    lower = re.sub(r"val loss (\d+\.\d+)", lambda m: f"val loss {float(m.group(1)) - by:.4f}", text)
    (better / "train.log").write_text(lower)
    return better


def test_the_same_config_trained_longer_is_told_to_train_as_long_as_the_better_run(tmp_path):
    """The better run's val put 0.02 lower: the worse run's curve, extrapolated to 5,000
    steps (7.65 epochs, the farthest the limit allows), stops short of it; the better
    run, the same config trained that long, is the evidence."""
    better = _lowered_batch24(tmp_path, 0.02)
    an = _analysis(FIXTURES / "heldout" / "batch24-2000", better)
    r = an.comparison.to_reach
    assert isinstance(r, Unreachable) and r.same_config and r.flags == "--max_iters=5000 --lr_decay_iters=5000"
    assert r.steps_tried == 5000 and r.what == "smoothed final val"
    text = run_cli("analyze", str(FIXTURES / "heldout" / "batch24-2000"), str(better),
                   "--width", "80", "--format", "plain")[1]
    words = " ".join(text.replace("│", " ").split())
    assert "Do: train as long as the better run, on its schedule: its config is otherwise the same" in words
    assert "the better run is the evidence that this length reaches it" in words
    assert "smoothed final val of 1.5555" in words


def test_a_worse_run_longer_than_the_better_run_is_told_its_schedule_not_its_length():
    """A 400-step run resumed with a new cosine to 1,000 steps and stopped at 440 (the grid's
    bump run): it ran longer than the 400-step run it lost to, so "as long as the better
    run" would tell it to do what it did; the better run's schedule is what differs."""
    cal = FIXTURES / "calibration"
    text = run_cli("analyze", str(cal / "d3w128-shakespeare-s1-400"), str(cal / "d3w128-shakespeare-s1-bump-440"),
                   "--width", "80", "--format", "plain")[1]
    words = " ".join(text.replace("│", " ").split())
    assert "Do: train on the better run's schedule: its config is otherwise the same" in words
    assert "the better run is the evidence that this schedule reaches it" in words
    assert "as long as the better run" not in words


def test_a_checkpoint_alone_whose_config_resumed_does_not_differ_in_init_from(tmp_path):
    """tiny_resume's ckpt.pt (written by its resumed process, init_from='resume') against
    the log of its first process: how the checkpoint's model was first made is not in it,
    so init_from is no learning key that differs, and no retraining is offered."""
    lines = (FIXTURES / "nanogpt" / "tiny_resume" / "train.log").read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if i > 0 and line.startswith("Overriding config with"))
    (tmp_path / "first.log").write_text("".join(lines[:at]))
    c = _analysis(FIXTURES / "nanogpt" / "tiny_resume" / "ckpt.pt", tmp_path / "first.log").comparison
    said = {d.key: d for d in c.diff}
    ckpt = said["init_from"]  # the checkpoint is the better run here: its side is unknown, not 'resume'
    assert ckpt.reference is None and "how its model was first made is not in it" in ckpt.origin_reference
    assert not any("init_from" in a.method or "lossdoctor verify" in a.method for a in c.attribution)


def test_the_epoch_limit_follows_the_dataset_size_the_user_gives():
    import lossdoctor
    from lossdoctor.fit.extrapolate import BeyondEpochs, extrapolate
    run = lossdoctor.load(str(FIXTURES / "long" / "drop0.1-5000"))
    with pytest.raises(BeyondEpochs):  # 9.6 epochs of tiny Shakespeare
        extrapolate(run, 12500, scenarios=("rerun",))
    x = extrapolate(run, 12500, scenarios=("rerun",), dataset_tokens=2_000_000)  # 4.8 epochs
    assert x.scenarios[0].val is not None
    code, out, _ = run_cli("analyze", str(FIXTURES / "long" / "drop0.1-5000"), "--dataset-tokens", "2000000",
                           "--format", "json")
    ld101 = next(f for f in json.loads(out)["runs"][0]["findings"] if f["rule"].startswith("LD101"))
    assert ld101["expected_effect"]["value"] is not None


def test_side_by_side_values_a_log_does_not_show_are_marked(tmp_path):
    gpu = shared_path("corpus/logs/nanogpt/innerfirexy-shakespeare-char-gpu.log")
    c = _analysis(FIXTURES / "lossdoctor_train" / "readme_cpu_2000", gpu).comparison
    marks = {k: (a, b) for k, a, b in c.derived_status}
    assert marks["tokens_per_iter"] == ("", "inferred") and "steps_done" not in marks
    from rich.console import Console

    from lossdoctor.report.compare import _derived
    out = io.StringIO()
    Console(file=out, width=80).print(_derived(c))
    assert "16,384 (inferred)" in out.getvalue()
    termux = shared_path("corpus/logs/nanogpt/termux-cpu-nan-chenzihua.log")  # "number of parameters: 10.65M"
    finite = tmp_path / "termux.log"  # the run before its loss went NaN (a run that diverged is not ranked)
    finite.write_text("".join(x for x in Path(termux).read_text(encoding="utf-8").splitlines(True) if " nan" not in x))
    rounded = {k: (a, b) for k, a, b in _analysis(finite, gpu).comparison.derived_status}
    assert "rounded" in rounded["params"]


def test_the_gap_report_calls_overfitting_what_ld501_calls_it():
    """lr2e-3's resumed run: val 2.3 eval standard errors above its best, under LD501's
    2.83: no overfitting share, as LD501 does not fire."""
    import lossdoctor
    an = lossdoctor.analyze([str(FIXTURES / "long" / n) for n in ("lr2e-3-resume-5000", "lr2e-3-5000")])
    fired = {f.rule.split("-")[0] for f in an.diagnoses[0].findings}
    assert "LD501" not in fired
    assert "overfitting" not in {a.cause for a in an.comparison.attribution}


def test_the_overfitting_bound_is_ld501_s():
    from lossdoctor.compare.sides import OVERFIT_Z
    from lossdoctor.diagnose import load_rules
    assert load_rules().get("LD501").params["min_z"] == OVERFIT_Z


def test_steps_to_reach_treats_a_length_it_cannot_predict_between_two_it_did_as_not_reached(sides):
    from lossdoctor.compare.reach import to_reach
    from lossdoctor.fit.extrapolate import CannotExtrapolate

    class _Gap(_Line):  # a rerun of 2,200 steps is not predicted
        def extrapolate(self, to, scenarios=("rerun", "resume", "constant"), schedule=None):
            if to == 2200:
                raise CannotExtrapolate("no val predicted at 2,200 steps")
            return super().extrapolate(to, scenarios, schedule)
    a, b = sides["healthy_tiny"], sides["healthy_small"]
    r = to_reach(_Gap(), a.facts, b.facts, (), 1.775)  # reached at 2,300 by the line
    assert isinstance(r, Reachable) and r.steps == 2300


def test_no_lr_schedule_share_is_estimated_inside_the_worse_run(tmp_path):
    """lr2e-3's 5,000-step run cut at step 2,250 against its 2,000-step run (same config
    and seed, a decay to 2,000 instead of 5,000): the better run's length lies inside the
    worse run (past its last eval, before its last iteration), where the law, fitted to the
    run's own schedule, predicts a shorter decay with the wrong sign; so the decay is left
    to the rest, named, and the shares still sum to the gap."""
    cut = tmp_path / "cut"
    cut.mkdir()
    lines = (FIXTURES / "long" / "lr2e-3-5000" / "train.log").read_text().splitlines()
    (cut / "train.log").write_text("\n".join(lines[:2259]) + "\n")
    c = _analysis(cut, FIXTURES / "long" / "lr2e-3-2000").comparison
    causes = {x.cause: x for x in c.attribution}
    assert "LR schedule" not in causes and "inside the run" in causes["training length"].method
    assert any(n.startswith("LR schedule not estimated") for n in c.notes)
    assert c.unexplained is not None and "lr_decay_iters" in c.unexplained.method
    assert math.isclose(_total(c), c.gap, abs_tol=1e-9)


def test_two_logs_without_config_say_the_differing_keys_are_unknown_not_none(tmp_path):
    from rich.console import Console

    from lossdoctor.report.compare import render
    paths = []
    for name in ("healthy_tiny", "healthy_small"):  # their metric lines alone: no header, no config
        lines = (DIAG / name / "train.log").read_text().splitlines(keepends=True)
        (tmp_path / f"{name}.log").write_text("".join(x for x in lines if x.startswith(("step ", "iter "))))
        paths.append(tmp_path / f"{name}.log")
    an = _analysis(*paths)
    text = {}
    for verbose in (False, True):
        console = Console(file=io.StringIO(), width=80, color_system=None, legacy_windows=False)
        console.print(render(an.comparison, list(an.runs), verbose=verbose))
        text[verbose] = " ".join(console.file.getvalue().replace("│", " ").split())
    assert "neither log shows its config: which keys differ is unknown" in text[False]
    assert "0 config keys differ" not in text[False]
    assert "(unknown) no config shown no config shown" in text[True] and "(none)" not in text[True]
    with_config = _analysis(DIAG / "healthy_small", DIAG / "healthy_small")
    console = Console(file=io.StringIO(), width=80, color_system=None, legacy_windows=False)
    console.print(render(with_config.comparison, list(with_config.runs), verbose=True))
    assert "(none)" in console.file.getvalue()  # both show their config, and it is the same


def test_the_better_runs_settings_come_first_where_they_cost_less_than_training_longer():
    lr = _analysis(DIAG / "lr_high" / "train.log", DIAG / "healthy_tiny" / "train.log").comparison.to_reach
    assert lr.reachable and lr.steps > 2000  # an LR 50x too high: its own config needs several times the steps
    assert lr.instead == "--learning_rate=0.001 --min_lr=0.0001" and lr.instead_steps == 1000
    low = _analysis(DIAG / "lr_low" / "train.log", DIAG / "healthy_tiny" / "train.log").comparison.to_reach
    assert not low.reachable and low.flags == "--learning_rate=0.001 --min_lr=0.0001"  # it ran 1000 steps already
    wide = _analysis(DIAG / "healthy_wide", ROOT / "fixtures" / "lossdoctor_train" / "readme_cpu_2000").comparison
    assert wide.to_reach.reachable and wide.to_reach.instead is None  # its wider model helped (a share below 0)
    decay = _analysis(DIAG / "healthy_tiny" / "train.log", DIAG / "decay_600k" / "train.log").comparison.to_reach
    # the schedule's share is not estimated, but the better run differs in its schedule alone: it is the
    # worse run's config on that schedule, and what it reached is evidence
    assert decay.reachable and decay.instead == "--lr_decay_iters=600000" and decay.instead_steps == 1000


def test_a_longer_rerun_stays_the_advice_where_the_better_runs_settings_cost_more():
    from lossdoctor.compare.reach import _instead
    from lossdoctor.compare.results import Reachable
    from lossdoctor.facts import Facts
    from lossdoctor.facts.base import Fact

    def facts(per_iter, world=1):
        return {"flops_per_iter": Fact("flops_per_iter", per_iter, "FLOP", "computed", "test"),
                "final_step": Fact("final_step", 1000, "steps", "computed", "test"),
                "world_size": Fact("world_size", world, "", "read", "test")}
    r = Reachable(1500, 2.0, 1.9, 2.1, "--max_iters=1500 --lr_decay_iters=1500", 1.5)
    cheap = _instead(r, Facts(facts(1e9)), Facts(facts(1e9)), ["--n_layer=6"], 1000)
    dear = _instead(r, Facts(facts(1e9)), Facts(facts(4e9)), ["--n_layer=6"], 1000)  # 4x the flops per step
    assert cheap.instead == "--n_layer=6" and cheap.instead_steps == 1000 and dear.instead is None
    # per process: the same flops per process on 8 processes against 4 is twice the compute a step
    wide = _instead(r, Facts(facts(1e9, world=4)), Facts(facts(1e9, world=8)), ["--n_layer=6"], 1000)
    assert wide.instead is None
    from lossdoctor.report.advice import instead_do
    assert instead_do(cheap).startswith("train with the better run's settings where they differ")
    # a better run that is the worse run's config run longer is the evidence, not another config's
    longer = _instead(r, Facts(facts(1e9)), Facts(facts(1e9)), ["--max_iters=1200", "--lr_decay_iters=1200"], 1200)
    said = instead_do(longer)
    assert said.startswith("train as long as the better run, on its schedule: no other setting the logs show differs")
    assert "the worse run's own config would need" not in said


def test_a_summary_row_against_a_run_that_overfit_is_compared_at_both_ends(tmp_path):
    summary = tmp_path / "wandb-summary.json"  # one value, a final val: no curve, so no best val
    summary.write_text(json.dumps({"iter": 1500, "_step": 10, "train/loss": 1.2, "val/loss": 2.3}))
    c = _analysis(DIAG / "py_small_overfit", summary).comparison  # its val turned up after step 1200
    assert c.gap == pytest.approx(2.3 - 1.3941, abs=1e-3)
    assert all(a.cause != "overfitting" for a in c.attribution)  # the summary's best is unknown
    assert c.unexplained is not None and abs(_total(c) - c.gap) < 1e-9
    assert abs(c.unexplained.delta_val) < abs(c.gap) + 0.05  # not a rest 1.3 nats past the gap
    assert any(n.startswith("overfitting not compared: the worse run's best val is unknown") for n in c.notes)


def test_runs_that_do_not_show_their_data_are_said_to_maybe_not_compare():
    formats = ROOT / "fixtures" / "formats"
    c = _analysis(formats / "trainer_state.json", formats / "metrics.csv").comparison
    assert c.gap is not None and any("shows its dataset or vocabulary" in n or "does not show its dataset" in n
                                     for n in c.notes)
    shown = _analysis(DIAG / "lr_high", DIAG / "healthy_tiny").comparison  # both name shakespeare_char
    assert not any("dataset or vocabulary" in n for n in shown.notes)


def test_two_modded_nanogpt_logs_share_their_data_two_trainer_states_may_not(tmp_path):
    text = (ROOT / "fixtures" / "formats" / "modded_record.txt").read_text()  # modded-nanogpt: FineWeb
    for i, final in enumerate(("3.9870", "3.9990")):
        (tmp_path / f"r{i}.txt").write_text(text.replace("3.9876", final))
    c = _analysis(tmp_path / "r0.txt", tmp_path / "r1.txt").comparison
    assert c.gap is not None and not any("dataset or vocabulary" in n for n in c.notes)
    state = json.loads((ROOT / "fixtures" / "formats" / "trainer_state.json").read_text())
    for row in state["log_history"]:  # the Trainer trains on any data: two of its runs may not compare
        for k in ("loss", "eval_loss"):
            if k in row:
                row[k] += 0.2
    (tmp_path / "other_state.json").write_text(json.dumps(state))
    hf = _analysis(ROOT / "fixtures" / "formats" / "trainer_state.json", tmp_path / "other_state.json").comparison
    assert any("dataset or vocabulary" in n for n in hf.notes)


def test_a_key_without_a_flag_is_named_where_the_runs_ran_the_same_length(sides):
    from lossdoctor.compare.reach import to_reach
    a, b = sides["healthy_tiny"], sides["healthy_small"]
    fork = (KeyDiff("use_rope", False, True, "override", "override", "learning"),)  # a fork's key: no nanoGPT flag
    r = to_reach(_Line(), a.facts, b.facts, fork, -10.0)
    assert not r.reachable and r.flags is None and "use_rope also differs, with no nanoGPT flag" in r.why


def test_the_better_runs_settings_are_said_to_reach_its_val_in_the_steps_it_ran(tmp_path):
    lines = (DIAG / "healthy_tiny" / "train.log").read_text().splitlines(keepends=True)
    cut = [x for x in lines if not x.startswith(("step ", "iter ")) or int(x.split()[1].rstrip(":")) <= 600]
    (tmp_path / "train.log").write_text("".join(cut))  # stopped at 600 of its max_iters 1000
    r = _analysis(DIAG / "lr_high", tmp_path / "train.log").comparison.to_reach
    assert r.instead == "--learning_rate=0.001 --min_lr=0.0001 --max_iters=600 --lr_decay_iters=600"
    assert r.instead_steps == 600 and r.stopped == (600, 1000)  # its cosine ended where it stopped
    every3 = [x for x in lines if not x.startswith("iter ") or int(x.split()[1].rstrip(":")) % 3 == 0]
    (tmp_path / "train.log").write_text("".join(every3))  # finished, its last iteration line at 999, eval at 1000
    r = _analysis(DIAG / "lr_high", tmp_path / "train.log").comparison.to_reach
    assert r.instead == "--learning_rate=0.001 --min_lr=0.0001" and r.instead_steps == 1000


def test_a_rerun_refused_for_overfitting_is_not_enough_rather_than_unknown():
    import lossdoctor
    from lossdoctor.compare.search import steps_to_reach
    from lossdoctor.fit import Extrapolator
    r = steps_to_reach(Extrapolator(lossdoctor.load(str(DIAG / "py_small_overfit"))), 1500, 1.25)
    assert not r.reachable and not r.cannot_tell and "past its minimum" in r.why


def test_a_cpu_run_too_short_to_extrapolate_to_the_gpu_runs_length_still_gets_what_to_do():
    gpu = shared_path("corpus/logs/nanogpt/propathee-gpu-wandb-stderr-interleaved.log")
    c = _analysis(FIXTURES / "nanogpt" / "cpu_small", gpu).comparison  # 301 steps against 5,000
    assert not any(a.cause == "training length" for a in c.attribution)  # 16x: not extrapolated
    r = c.to_reach  # but what 5x its length gives is, and it does not reach: the better run's config instead
    assert isinstance(r, Unreachable) and "within 5x its length" in r.why
    assert r.flags.startswith("--n_layer=6 --n_head=6 --n_embd=384") and "--max_iters=2000" in r.flags
    assert not any("parameter counts differ" in n for n in c.notes)  # both shapes known: the model-size cause's


def test_the_same_tokens_per_step_split_otherwise_is_no_batch_size_cause_and_the_sizes_are_named():
    worse = shared_path("corpus/logs/build-nanogpt/agndm-smaller-4gpu-slurm.out.log")  # 524,288 tokens, accum 2
    better = shared_path("corpus/logs/llmc/hector-a100-stdout-full-run.log")  # 524,288 tokens, accum 16
    c = _analysis(worse, better).comparison
    accum = next(d for d in c.diff if d.key == "gradient_accumulation_steps")
    assert accum.kind == "runtime"  # its block_size is not shown: that key carries the context's share
    assert not any("batch size" in a.cause for a in c.attribution)
    assert any("parameter counts differ (30.4M in the worse run, 124M in the better)" in n for n in c.notes)


def test_where_the_worse_runs_val_is_not_extrapolated_reaching_is_unknown_not_refused(tmp_path):
    import re
    text = (DIAG / "overfit_small_data" / "train.log").read_text()
    lower = re.sub(r"val loss ([0-9.]+)", lambda m: f"val loss {float(m.group(1)) - 0.15:.4f}", text)
    (tmp_path / "train.log").write_text(lower)  # the same curve, 0.15 lower: the better run
    an = _analysis(DIAG / "overfit_small_data", tmp_path / "train.log")
    r = an.comparison.to_reach
    assert not r.reachable and r.cannot_tell and "stopped following train" in r.why
    from lossdoctor.report.advice import unreachable_do
    said = unreachable_do(r, an.comparison)
    assert said.startswith("no length can be given: whether training longer reaches") and "not enough" not in said
    from dataclasses import replace as _replace
    evidence = unreachable_do(_replace(r, flags="--max_iters=4000", same_config=True), an.comparison)
    # the two runs are equally long: the better run's schedule, not its length, is what to take
    assert evidence.startswith("train on the better run's schedule") and "cannot be extrapolated" in evidence
    from dataclasses import replace
    for flags, what in (("--max_iters=4000 --lr_decay_iters=4000", "length"), ("--init_from=scratch --max_iters=40",
                        "length"), ("--n_embd=128 --max_iters=4000", "config where it differs")):
        assert f"; the better run's {what} reached it" in unreachable_do(replace(r, flags=flags), an.comparison)


def test_two_runs_without_a_final_loss_are_said_to_have_none_not_other_units():
    formats = ROOT / "fixtures" / "formats"
    c = _analysis(formats / "oom_before_step.log", formats / "llmc_assert.log").comparison
    assert c.gap is None and c.unattributed == "fewer than two runs have a final loss to compare"


def test_a_run_with_val_at_step_0_alone_and_few_iterations_is_named_as_why_there_is_no_gap(tmp_path):
    # the built-in trainer's README run, cut after its 5th step: val only at step 0, and too
    # few iteration losses for a train final: the reason names the run and both facts
    lines = (ROOT / "fixtures" / "lossdoctor_train" / "readme_cpu_2000" / "train.log").read_text().splitlines()
    cut = tmp_path / "cut.log"
    cut.write_text("\n".join(lines[:lines.index(next(x for x in lines if x.startswith("iter 5:"))) + 1]) + "\n")
    c = _analysis(cut, ROOT / "fixtures" / "lossdoctor_train" / "readme_cuda_2000").comparison
    assert c.gap is None and c.unattributed == (
        f"fewer than two runs have a final loss to compare: {cut} logged val only at step 0, before its 6 steps "
        "of training, and too few iteration losses to stand for its end")


def test_a_step_split_otherwise_into_micro_batches_changes_no_learning():
    from lossdoctor.compare.sides import config_diff
    log = "step 0: train loss 4.2000, val loss 4.2000\niter 0: loss 4.2000, time 10.00ms, mfu -100.00%\n"

    def run(batch, accum, block=64):
        return parse_text(f"Overriding: batch_size = {batch}\nOverriding: gradient_accumulation_steps = {accum}\n"
                          f"Overriding: block_size = {block}\n" + log)
    kinds = {d.key: d.kind for d in config_diff(run(8, 2), run(16, 1))}
    assert kinds == {"batch_size": "runtime", "gradient_accumulation_steps": "runtime"}
    kinds = {d.key: d.kind for d in config_diff(run(8, 2), run(16, 2))}  # twice the tokens per step
    assert kinds == {"batch_size": "learning"}
    kinds = {d.key: d.kind for d in config_diff(run(8, 2), run(4, 2, block=128))}  # half the rows, twice as long
    assert kinds == {"batch_size": "learning", "block_size": "learning"}


def test_runs_whose_evals_hold_no_train_loss_overlap_along_their_train_points(tmp_path):
    # Lightning CSVs: train logged every 50 steps (one step's loss), val only in the longer
    from lossdoctor.compare.overlap import overlap
    short = "step,train_loss_step,val_loss\n" + "".join(f"{s},{9 - s / 500:.3f},\n" for s in range(49, 1250, 50))
    long = "step,train_loss_step,val_loss\n" + "".join(
        f"{s},{7 - s / 1000:.3f},{(7.1 - s / 1000) if s % 500 == 499 else ''}\n" for s in range(49, 5000, 50))
    (tmp_path / "a.csv").write_text(short)
    (tmp_path / "b.csv").write_text(long)
    a = _analysis(tmp_path / "a.csv", tmp_path / "b.csv")
    ov = overlap(a.runs[0], a.runs[1], a.facts[0], a.facts[1], "train")
    assert ov.steps[0].x == 49 and ov.steps[-1].x == 1249  # both runs logged train from step 49 to 1249


def test_a_better_run_that_differs_in_its_schedule_alone_is_the_evidence(tmp_path):
    cal = FIXTURES / "calibration"
    # warmup 50 -> 100 and 1000 -> 2000 steps: the worse run's own curve reaches the better run's
    # val only later (its rerun predicted at 2,700 steps), but the better run, the same config run
    # that way, did at 2,000: that is what to do instead
    r = _analysis(cal / "d2w256-shakespeare-s1-1000", cal / "d2w256-shakespeare-s1-2000").comparison.to_reach
    its_way = "--warmup_iters=100 --max_iters=2000 --lr_decay_iters=2000"
    assert r.reachable and r.steps > 2000 and r.instead == its_way and r.instead_steps == 2000
    # a continuation against the same config from scratch: its settings, at the steps it ran
    long = FIXTURES / "long"
    r = _analysis(long / "lr2e-3-resume-5000", long / "lr2e-3-5000").comparison.to_reach
    assert r.reachable and r.instead == "--init_from=scratch --max_iters=5000 --lr_decay_iters=5000"
    assert r.instead_steps == 5000
    # another peak LR is another config: no evidence of the worse config's own length
    r = _analysis(long / "lr5e-4-5000", long / "lr2e-3-5000").comparison.to_reach
    assert not getattr(r, "same_config", False)



def test_training_length_at_equal_tokens_where_equal_steps_go_past_the_epochs():
    # 1,000 -> 5,000 steps at 1,024 against 768 tokens per step: equal steps is 5.1 epochs of
    # the data, past the 4 the extrapolation measures; equal tokens, step 3,750, is not
    an = _analysis(FIXTURES / "calibration" / "d6w64-shakespeare-s1-1000", FIXTURES / "long" / "drop0.1-5000")
    length = next(a for a in an.comparison.attribution if a.cause == "training length")
    assert length.delta_val > 0 and "tokens seen" in length.method and "step 3,750" in length.method


def test_the_model_size_factor_is_the_better_runs_term_over_the_worse_runs():
    an = _analysis(ROOT / "fixtures" / "lossdoctor_train" / "readme_cpu_2000", FIXTURES / "long" / "d3w96h4-5000")
    rest = next(a for a in an.comparison.attribution if "model size" in a.cause)
    assert "0.34M instead of 0.80M parameters multiplies the model-size term of the loss by 1.34" in rest.method


def test_a_config_share_that_holds_the_length_says_so_in_its_label(tmp_path):
    from lossdoctor.compare.rest import config_rest
    from lossdoctor.compare.results import KeyDiff
    an = _analysis(DIAG / "healthy_small", DIAG / "healthy_small")
    from lossdoctor.compare.sides import Side
    side = Side.of(an.runs[0], an.facts[0], "val", float(an.facts[0].value("final_val")))
    diff = (KeyDiff("dropout", 0.0, 0.2, "override", "override", "learning"),
            KeyDiff("max_iters", 300, 5000, "override", "override", "learning"))
    cause = config_rest(side, side, diff, 0.5, 0.01, steps=[])
    assert cause is not None and cause.cause == "regularization and training length"
    assert "also holds the share of max_iters" in cause.method



def test_evidence_is_not_taken_from_a_better_run_that_is_no_fresh_run_of_the_config():
    from lossdoctor.compare.reach import schedule_only
    from lossdoctor.compare.results import KeyDiff
    length = KeyDiff("max_iters", 1000, 2000, "override", "override", "learning")
    assert schedule_only((length, KeyDiff("init_from", "resume", "scratch", "override", "override", "learning")))
    assert not schedule_only((length, KeyDiff("init_from", "scratch", "gpt2", "override", "override", "learning")))
    assert not schedule_only((length, KeyDiff("learning_rate", 1e-3, 2e-3, "override", "override", "learning")))


def test_the_same_config_run_as_long_as_the_rerun_found_is_named_as_its_evidence():
    from lossdoctor.report.advice import instead_do
    gt = ROOT / ".." / "shared" / "groundtruth"
    if not (gt / "gt_T3000.log").exists():
        pytest.skip("needs ../shared")
    r = _analysis(gt / "gt_T1000.log", gt / "gt_T3000.log").comparison.to_reach
    assert r.reachable and r.steps == r.instead_steps == 3000 and r.instead == r.flags  # the rerun is that run
    assert instead_do(r).startswith("train as long as the better run, on its schedule: no other setting the logs "
                                    "show differs, and in 3,000 steps it reached")


def _other_start(text):
    """A log whose step-0 losses are another text's: 0.01 nats off both."""
    import re
    return re.sub(r"step 0: train loss ([\d.]+), val loss ([\d.]+)",
                  lambda m: f"step 0: train loss {float(m[1]) + 0.01:.4f}, val loss {float(m[2]) + 0.01:.4f}", text)


def test_runs_on_other_data_are_no_evidence(tmp_path):
    from lossdoctor.compare.data import same_data
    lines = (FIXTURES / "long" / "lr2e-3-2000" / "train.log").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("step 0:"))  # in the process's header

    def with_vocab(where):
        return "\n".join(lines[:at] + [f"found vocab_size = 65 (inside {where}/meta.pkl)"] + lines[at:]) + "\n"
    (tmp_path / "a.log").write_text(with_vocab("data/shakespeare_char"))
    (tmp_path / "b.log").write_text(_other_start(with_vocab("data/other_char")))
    an = _analysis(tmp_path / "a.log", tmp_path / "b.log")
    assert not same_data(an.runs[0], an.runs[1]) and same_data(an.runs[0], an.runs[0])
    (tmp_path / "b.log").write_text(with_vocab("data/other_char"))  # the same losses at step 0: one text
    an = _analysis(tmp_path / "a.log", tmp_path / "b.log")
    assert same_data(an.runs[0], an.runs[1])
    (tmp_path / "c.log").write_text(with_vocab("../../nanoGPT/data/shakespeare_char"))  # run from elsewhere
    an = _analysis(tmp_path / "a.log", tmp_path / "c.log")
    assert same_data(an.runs[0], an.runs[1])


def test_a_longer_run_on_other_data_says_it_is_not_taken_as_evidence(tmp_path):
    def with_vocab(run, where):
        lines = (FIXTURES / "long" / run / "train.log").read_text().splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith("step 0:"))
        return "\n".join(lines[:at] + [f"found vocab_size = 65 (inside {where})"] + lines[at:]) + "\n"
    (tmp_path / "a.log").write_text(with_vocab("lr2e-3-2000", "../shared/data/shakespeare_char/input.txt"))
    (tmp_path / "b.log").write_text(_other_start(with_vocab("lr2e-3-5000", "_data/shakespeare.txt")))
    notes = _analysis(tmp_path / "a.log", tmp_path / "b.log").comparison.notes
    assert any("other data (the vocabulary read from" in n and "_data/shakespeare.txt" in n for n in notes)
    (tmp_path / "b.log").write_text(with_vocab("lr2e-3-5000", "../../shared/data/shakespeare_char/input.txt"))
    notes = _analysis(tmp_path / "a.log", tmp_path / "b.log").comparison.notes
    assert not any("other data" in n for n in notes)
    # nanoGPT's train.py reads the meta.pkl that prepare.py wrote from that folder's input.txt
    (tmp_path / "b.log").write_text(with_vocab("lr2e-3-5000", "data/shakespeare_char/meta.pkl"))
    notes = _analysis(tmp_path / "a.log", tmp_path / "b.log").comparison.notes
    assert not any("other data" in n for n in notes)
    (tmp_path / "b.log").write_text(_other_start(with_vocab("lr2e-3-5000", "data/other_char/meta.pkl")))
    notes = _analysis(tmp_path / "a.log", tmp_path / "b.log").comparison.notes
    assert any("other data" in n for n in notes)


def test_the_better_runs_settings_say_what_they_cost_where_the_worse_run_trained():
    from lossdoctor.compare.reach import _cost
    from lossdoctor.facts import Facts
    from lossdoctor.facts.base import Fact

    def facts(per_iter, ms=None, status="computed", world=1):
        return Facts({"flops_per_iter": Fact("flops_per_iter", per_iter, "FLOPs", status, "t"),
                      "time_per_iter_ms": Fact("time_per_iter_ms", ms, "ms", "computed" if ms else "unknown", "t"),
                      "world_size": Fact("world_size", world, "", "read" if world else "unknown", "t")})
    cost = _cost(facts(4e9, 40.0), facts(1.1e12), 1750)
    assert cost is not None and cost.ratio == pytest.approx(275) and not cost.approximate
    read_off_mfu = _cost(facts(4e9, 40.0), facts(1.1e12, status="inferred"), 1750)
    assert read_off_mfu is not None and read_off_mfu.approximate  # the text says "about"
    assert cost.hours == pytest.approx(275 * 1750 * 0.04 / 3600)
    assert _cost(facts(4e9), facts(1.1e12), 1750).hours is None  # the worse run's speed unknown
    assert _cost(facts(4e9, 40.0), facts(4.1e9), 1750) is None  # about the same cost: nothing to say
    # flops_per_iter is per process: the same step on 8 processes against 4 costs the same
    assert _cost(facts(1.05e14, 3419.0, world=4), facts(5.25e13, world=8), 1000) is None
    double = _cost(facts(1e14, 1000.0, world=4), facts(1e14, world=8), 3600)
    assert double is not None and double.ratio == pytest.approx(2) and double.hours == pytest.approx(2)
    assert _cost(facts(1e14, 1000.0, world=4), facts(5e13, world=None), 3600) is None  # a world size unknown
    from lossdoctor.report.advice import _duration
    assert (_duration(2.5), _duration(0.5), _duration(0.003)) == ("2.5 h", "30 min", "11 s")


def test_the_overfitting_interval_is_the_noise_of_the_run_that_overfit(sides):
    from dataclasses import replace

    from lossdoctor.compare.attribute import overfitting
    s = sides["healthy_small"]
    turned, flat = replace(s, overfit=0.2, se=0.001), replace(s, overfit=0.0, se=0.05)
    c = overfitting(flat, turned)
    assert c is not None and c.interval[1] - c.interval[0] == pytest.approx(2 * 1.2816 * math.sqrt(2) * 0.001)


def test_a_rerun_whose_interval_holds_the_target_is_not_called_unreachable(tmp_path):
    # batch24's 2000-step run predicted at 5,000 steps (the epoch limit): 1.5753 (80% 1.5465
    # to 1.6042) against its 5000-step rerun's smoothed val put 0.005 lower, 1.5705: not
    # shown to reach it, and not shown not to
    c = _analysis(FIXTURES / "heldout" / "batch24-2000", _lowered_batch24(tmp_path, 0.005)).comparison
    r = c.to_reach
    assert r is not None and not r.reachable and r.may_reach and r.same_config
    assert r.why.startswith("not shown to reach it") and "so it may" in r.why
    assert not r.why.startswith("not reachable")


@pytest.mark.parametrize(("keys", "name"), [
    ({"learning_rate"}, "peak LR"), ({"learning_rate", "beta2"}, "peak LR and optimizer"),
    ({"batch_size", "learning_rate"}, "batch size and peak LR"), ({"n_head"}, "attention heads"),
    ({"n_layer", "dropout", "foo"}, "model size, regularization and other config"),
])
def test_a_config_share_is_named_by_the_groups_of_keys_that_differ(keys, name):
    from lossdoctor.compare.rest import rest_name
    assert rest_name(keys) == name


def test_two_hf_runs_with_a_few_window_means_each_are_compared_on_their_last(tmp_path):
    import json

    import lossdoctor

    def state(name, losses):
        doc = {"global_step": 10 * len(losses), "max_steps": 10 * len(losses),
               "log_history": [{"step": 10 * (i + 1), "loss": x} for i, x in enumerate(losses)]}
        (tmp_path / name).mkdir()
        (tmp_path / name / "trainer_state.json").write_text(json.dumps(doc))
        return str(tmp_path / name / "trainer_state.json")
    c = lossdoctor.analyze([state("a", [3.0, 2.5, 2.2, 2.0]), state("b", [2.9, 2.2, 1.9, 1.7, 1.6])],
                           diagnose_runs=False).comparison
    assert c is not None and c.metric == "train" and c.gap == pytest.approx(0.4)  # 2.0 against 1.6


def test_runs_with_final_values_alone_are_not_said_to_share_no_range(tmp_path):
    """Runs that show one eval each (a runs table's rows, a W&B summary) have no curve to
    overlap: they are said to show their finals alone, not to share no range of steps (two
    runs of 5,000 steps each had been)."""
    import lossdoctor
    for name, val in (("a.log", 1.80), ("b.log", 1.70)):
        (tmp_path / name).write_text(f"step 5000: train loss {val - 0.2:.4f}, val loss {val:.4f}\n")
    c = lossdoctor.analyze([str(tmp_path / "a.log"), str(tmp_path / "b.log")]).comparison
    assert c is not None
    assert "each run shows its final val alone, no curve: the runs are compared at their ends, by their configs" \
        in c.notes
    assert not any("share no range" in n for n in c.notes)


def test_the_comparison_json_names_every_overlap_axis_where_there_is_no_gap():
    """Where there is no gap to explain (a W&B panel whose runs end without a comparable
    final) the overlap is None: its JSON still has the three axes, each empty (it had been
    {})."""
    import json as json_mod
    code, out, _ = run_cli("analyze", str(FIXTURES / "formats" / "wandb_panel.csv"), "--format", "json")
    comparison = json_mod.loads(out)["comparison"]
    assert comparison["gap"] is None
    assert comparison["overlap"] == {"steps": [], "tokens": [], "flops": []}


def test_a_vocabulary_its_first_loss_implies_tells_two_tokenizers_apart():
    import lossdoctor
    from lossdoctor.compare import compare

    def log(first: float, end: float) -> str:  # a headerless nanoGPT log: its vocabulary only from its step-0 loss
        return "".join(f"step {s}: train loss {first + (end - first) * s / 1000:.4f}, val loss "
                       f"{first + (end - first) * s / 1000 + 0.05:.4f}\n" for s in range(0, 1001, 100))
    char = lossdoctor.load(str(FIXTURES / "nanogpt" / "cpu_small" / "train.log"))  # found vocab_size = 65
    bpe = parse_text(log(10.95, 3.3), "bpe.log")  # val e^11.0 at step 0: about 60,000 tokens
    facts = [lossdoctor.compute_facts(r) for r in (char, bpe)]
    assert facts[1]["vocab_size"].status == "inferred"
    c = compare([char, bpe], facts)
    assert not c.comparable and not c.attribution
    assert any("vocab_size 59,874 (inferred from its loss at step 0) vs 65" in n for n in c.notes)
    near = parse_text(log(4.25, 2.2), "char.log")  # e^4.25 = 70: 65 characters read a little high
    c = compare([char, near], [facts[0], lossdoctor.compute_facts(near)])
    assert c.comparable
    # a loss at step 0 below ln V says nothing: a fine-tune, or a log that begins mid-run
    low = parse_text(log(2.9, 2.0), "tail.log")  # e^2.95 = 19
    c = compare([char, low], [facts[0], lossdoctor.compute_facts(low)])
    assert c.comparable
    # two inferred vocabularies tell nothing either: one may be a fine-tune of the other's tokenizer
    c = compare([bpe, low], [facts[1], lossdoctor.compute_facts(low)])
    assert c.comparable


def test_a_vocabulary_known_from_the_dataset_against_one_read_off_the_log():
    import lossdoctor
    from lossdoctor.compare import compare
    char = lossdoctor.load(str(shared_path("corpus/logs/nanogpt/innerfirexy-shakespeare-char-gpu.log")))
    gpt2 = lossdoctor.load(str(shared_path("corpus/logs/llmc/hector-a100-stdout-full-run.log")))
    facts = [lossdoctor.compute_facts(r) for r in (char, gpt2)]
    assert facts[0]["vocab_size"].status == "assumed" and facts[1]["vocab_size"].status == "read"
    c = compare([char, gpt2], facts)
    assert not c.comparable and any("vocab_size 50257 vs 65" in n for n in c.notes)


def test_a_log_with_a_config_but_no_vocabulary_line_is_told_apart_by_its_first_loss():
    # a build-nanogpt GPT-2 run prints its config, not its vocabulary: its val at step 0 (10.89) does
    import lossdoctor
    from lossdoctor.compare import compare
    gpt2 = lossdoctor.load(str(shared_path("corpus/logs/build-nanogpt/agndm-smaller-4gpu-slurm.out.log")))
    char = lossdoctor.load(str(shared_path("corpus/logs/nanogpt/propathee-gpu-wandb-stderr-interleaved.log")))
    facts = [lossdoctor.compute_facts(r) for r in (gpt2, char)]
    assert gpt2.config.seen and facts[0]["vocab_size"].status == "inferred"
    c = compare([gpt2, char], facts)
    assert not c.comparable and any("(inferred from its loss at step 0) vs 65" in n for n in c.notes)


def test_a_gap_within_both_runs_measured_eval_noise_is_said_so_in_the_verdict(tmp_path):
    import re
    log = FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log"
    text = re.sub(r"val loss ([0-9.]+)", lambda m: f"val loss {float(m.group(1)) + 0.004:.4f}", log.read_text())
    (tmp_path / "shifted.log").write_text(text)  # the same run, every val 0.004 higher: within the noise
    c = _analysis(log, tmp_path / "shifted.log").comparison
    assert c.within_noise is not None and 0.004 < c.within_noise < 0.05
    from lossdoctor import load
    from lossdoctor.report.verdict import _gap
    runs = [load(str(log)), load(str(tmp_path / "shifted.log"))]
    assert "within the evals' noise (80%: ±" in str(_gap(c, runs)[0])
    far = re.sub(r"val loss ([0-9.]+)", lambda m: f"val loss {float(m.group(1)) + 0.1:.4f}", log.read_text())
    (tmp_path / "far.log").write_text(far)
    assert _analysis(log, tmp_path / "far.log").comparison.within_noise is None


def test_the_mfu_note_says_whether_the_two_printed_mfus_share_a_divisor():
    from lossdoctor.compare.notes import mfu_notes
    from lossdoctor.facts import Facts
    from lossdoctor.facts.base import Fact

    def facts(mfu, divisor):
        return Facts({"mfu_printed": Fact("mfu_printed", mfu, "%", "computed", "t"),
                      "mfu_divisor": Fact("mfu_divisor", divisor, "TFLOPS", "computed" if divisor else "unknown", "t")})
    [stock] = mfu_notes(facts(9.7, 315.2), facts(22.4, None))  # nanoGPT's, and one without its config
    assert "over an A100's 312 TFLOPS on any device: it compares speed" in stock
    [fork] = mfu_notes(facts(31.0, 169.8), facts(30.2, 165.2))  # one fork's peak twice
    assert "over one peak, about 170 TFLOPS" in fork and "compares speed" in fork
    [mixed] = mfu_notes(facts(9.7, 315.2), facts(31.0, 169.8))
    assert "the worse run's an A100's 312 TFLOPS, the better run's about 170 TFLOPS" in mixed
    assert "only where the peaks are the same" in mixed


def test_three_runs_across_tokenizers_rank_the_ones_that_compare(tmp_path):
    """Two character-level runs and a GPT-2 BPE run with a lower loss: the pair that
    compares is ranked and explained, the BPE run left out, saying why."""
    import re
    for name, run in (("a.log", "lr2e-3-2000"), ("b.log", "lr2e-3-5000")):
        (tmp_path / name).write_text((FIXTURES / "long" / run / "train.log").read_text())
    lines = (FIXTURES / "long" / "lr2e-3-5000" / "train.log").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("step 0:"))
    lower = [re.sub(r"(train|val) loss (\d+\.\d+)", lambda m: f"{m.group(1)} loss {float(m.group(2)) - 0.8:.4f}", ln)
             for ln in lines]
    bpe = lines[:at] + ["defaulting to vocab_size of GPT-2 to 50304 (50257 rounded up for efficiency)"] + lower[at:]
    (tmp_path / "c.log").write_text("\n".join(bpe) + "\n")
    c = _analysis(tmp_path / "a.log", tmp_path / "b.log", tmp_path / "c.log").comparison
    assert c.comparable and c.gap is not None and c.gap > 0
    assert [r.gap is None for r in c.table] == [False, False, True]
    assert [r.reference for r in c.table] == [False, True, False]
    assert any("left out of the ranking" in n and "c.log" in n and "vocab_size" in n for n in c.notes)
    from rich.console import Console

    from lossdoctor.report.compare import render
    console = Console(file=io.StringIO(), width=80, color_system=None)
    an = _analysis(tmp_path / "a.log", tmp_path / "b.log", tmp_path / "c.log")
    console.print(render(an.comparison, list(an.runs)))
    assert "against the best final val of the runs that compare" in console.file.getvalue()


def test_min_lr_moved_with_the_peak_is_no_schedule_left_unestimated():
    """The same schedule shape at twice the LR: the rest is the peak LR's alone, not 'peak
    LR and LR schedule'; min_lr moved on its own is a schedule the path did not estimate."""
    from lossdoctor.compare.rest import missed_keys
    from lossdoctor.compare.results import KeyDiff
    peak = KeyDiff("learning_rate", 1e-3, 2e-3, "override", "override", "learning")
    assert missed_keys((peak, KeyDiff("min_lr", 1e-4, 2e-4, "override", "override", "learning")), []) == []
    assert missed_keys((peak, KeyDiff("min_lr", 1e-4, 1e-5, "override", "override", "learning")), []) == ["min_lr"]
    assert missed_keys((KeyDiff("min_lr", 1e-4, 2e-4, "override", "override", "learning"),), []) == ["min_lr"]


def test_a_better_run_resumed_within_its_log_is_no_init_from_difference():
    """tiny_resume trained from scratch, then resumed: what it learned is a run from
    scratch, so the gap is not put on init_from (had been 'other config and training
    length', on init_from scratch vs resume)."""
    c = _analysis(FIXTURES / "nanogpt" / "tiny_nodecay", FIXTURES / "nanogpt" / "tiny_resume").comparison
    init = next((d for d in c.diff if d.key == "init_from"), None)
    assert init is None
    assert not any("other config" in a.cause or "init_from" in a.method for a in c.attribution)


def test_a_better_run_whose_log_begins_with_a_resume_gets_no_flags_that_copy_it():
    """A continuation at a constant LR against one with a new cosine, both from the same
    2000-step checkpoint: the better log shows its continuation's LR keys only, so flags of
    its length alone would train from scratch at the worse run's constant 5e-5."""
    c = _analysis(FIXTURES / "long" / "lr5e-4-constant-5000", FIXTURES / "long" / "lr5e-4-resume-5000").comparison
    r = c.to_reach
    assert r is not None and not r.reachable and not r.flags
    assert "the better run's log begins with a resume" in r.why and "learning_rate" in r.why


def test_a_run_cut_short_against_its_own_config_run_to_the_end_is_told_to_resume(tmp_path):
    """The first 751 steps of a 2000-step run (written to another out_dir) against the same
    config run to its end: no key differs, and resuming the worse run from its last save runs
    the better run's schedule (LD1501 says so too: the Do had told it to train a fresh run of
    2,000 steps)."""
    lines = [line.replace("lr5e-4-2000", "lr5e-4-crashed") if line.startswith("Overriding: out_dir") else line
             for line in (FIXTURES / "long" / "lr5e-4-2000" / "train.log").read_text().splitlines()]

    def cut(step: int, name: str) -> Path:
        end = next(i for i, line in enumerate(lines) if line.startswith(f"iter {step}:"))
        (tmp_path / name).write_text("\n".join(lines[: end + 1]) + "\n")
        return tmp_path / name

    whole = FIXTURES / "long" / "lr5e-4-2000"
    r = _analysis(cut(750, "cut.log"), whole).comparison.to_reach
    # the rerun predicted at 2,800 steps; resuming from the save at 750 reaches it in 1,250
    assert r is not None and r.reachable and r.steps > 2000 and r.instead == "--init_from=resume"
    assert r.resume_from == 750 and r.instead_steps == 2000
    from lossdoctor.report.advice import instead_do, unreachable_do
    assert instead_do(r).startswith("resume the worse run from its last checkpoint, step 750, to step 2,000: it goes")
    # cut before val can be predicted: the resume is the evidence's
    c = _analysis(cut(500, "cut500.log"), whole).comparison
    u = c.to_reach
    assert not u.reachable and u.cannot_tell
    assert (u.resume_from, u.resume_to, u.flags) == (500, 2000, "--init_from=resume")
    assert unreachable_do(u, c).startswith("resume the worse run from its last checkpoint, step 500, to step 2,000")
    # against a run of another schedule (its cosine to 5,000), a fresh run: resuming would keep the worse one's
    v = _analysis(tmp_path / "cut500.log", FIXTURES / "long" / "lr5e-4-5000").comparison.to_reach
    assert v.resume_from is None and v.flags == "--max_iters=5000 --lr_decay_iters=5000"
    # from the same out_dir, whose ckpt.pt may be the better run's by now: a fresh run
    (tmp_path / "same.log").write_text((whole / "train.log").read_text().split("iter 751:")[0])
    assert _analysis(tmp_path / "same.log", whole).comparison.to_reach.resume_from is None


def test_no_resume_is_advised_where_the_worse_run_resumed_or_has_passed_the_better_ones_length(tmp_path):
    """A 2,000-step cosine resumed onto a cosine to 5,000 and cut at 3,100: two schedules, so a
    fresh run; a run cut at 1,260 against another seed's cut at 1,230: resuming to 1,230 would
    retrain steps it has run."""
    text = "".join((FIXTURES / "long" / run / "train.log").read_text() for run in ("lr2e-3-2000", "lr2e-3-resume-5000"))
    (tmp_path / "both.log").write_text(text.split("iter 3101:")[0])
    r = _analysis(tmp_path / "both.log", FIXTURES / "long" / "lr2e-3-5000").comparison.to_reach
    assert r.resume_from is None and "--init_from=scratch" in (r.flags or r.instead or "")
    grid = FIXTURES / "calibration"
    for seed, step in ((1, 1261), (2, 1231)):
        text = (grid / f"d4w128-shakespeare-s{seed}-2000" / "train.log").read_text()
        (tmp_path / f"s{seed}.log").write_text(text.split(f"iter {step}:")[0])
    r = _analysis(tmp_path / "s1.log", tmp_path / "s2.log").comparison.to_reach
    assert r is None or r.resume_from is None


def test_a_run_that_resumed_with_another_schedule_within_its_log_puts_nothing_on_one_schedule(tmp_path):
    """A 2000-step cosine resumed to 5000 with a new one, in one log, against one 5000-step
    cosine: the last process's lr_decay_iters matches the better run's, but the run had two
    schedules, so no 'same schedule shape' share, and the rest says why."""
    text = "".join((FIXTURES / "long" / run / "train.log").read_text() for run in ("lr5e-4-2000", "lr5e-4-resume-5000"))
    (tmp_path / "both.log").write_text(text)
    c = _analysis(tmp_path / "both.log", FIXTURES / "long" / "lr5e-4-5000").comparison
    [d] = [d for d in c.diff if d.key == "lr_decay_iters"]
    assert d.other is None and "resumed at step 2,000 with another lr_decay_iters (2000 before, 5000 after)" in (
        d.origin_other)
    assert not any(a.cause == "LR schedule" for a in c.attribution)
    assert c.unexplained is not None and "two schedules" in c.unexplained.method
    assert math.isclose(_total(c), c.gap, abs_tol=1e-9)


def test_the_same_config_run_longer_is_the_evidence_even_where_the_rerun_found_is_shorter():
    """block32's 2000-step run against its 5000-step rerun: the extrapolation finds 4,200
    steps (a prediction, 0.07 too optimistic on this config in the family benchmark); the
    better run, its own config at 5,000 steps, is what reached the target."""
    c = _analysis(FIXTURES / "long" / "block32-2000", FIXTURES / "long" / "block32-5000").comparison
    r = c.to_reach
    assert isinstance(r, Reachable) and r.steps < 5000
    assert r.instead == "--max_iters=5000 --lr_decay_iters=5000" and r.instead_steps == 5000


def test_runs_that_do_not_compare_show_a_difference_not_a_gap(tmp_path):
    """A character-level run beside a GPT-2 BPE run: the panel names the higher and the
    lower run and their difference, not a worse run and a gap."""
    from rich.console import Console

    from lossdoctor.report.compare import render
    lines = (FIXTURES / "long" / "lr2e-3-2000" / "train.log").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("step 0:"))
    bpe = lines[:at] + ["defaulting to vocab_size of GPT-2 to 50304 (50257 rounded up for efficiency)"] + lines[at:]
    (tmp_path / "bpe.log").write_text("\n".join(bpe) + "\n")
    an = _analysis(tmp_path / "bpe.log", FIXTURES / "long" / "lr2e-3-5000")
    assert not an.comparison.comparable
    console = Console(file=io.StringIO(), width=80, color_system=None)
    console.print(render(an.comparison, list(an.runs)))
    words = " ".join(console.file.getvalue().replace("│", " ").split())
    assert "not a gap: the losses do not compare" in words and "better (reference)" not in words


def test_a_run_with_too_few_evals_to_predict_gets_its_length_share_from_the_better_curve(tmp_path):
    """The first 500 steps of a 2000-step run (evals at 0 and 250) against the whole run:
    val cannot be predicted, so the training length share is read off the better run's own
    curve at step 250, where both curves show the same eval."""
    lines = (FIXTURES / "long" / "lr5e-4-2000" / "train.log").read_text().splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("iter 499:"))
    (tmp_path / "cut.log").write_text("\n".join(lines[: end + 1]) + "\n")
    c = _analysis(tmp_path / "cut.log", FIXTURES / "long" / "lr5e-4-2000").comparison
    share = next(a for a in c.attribution if a.cause == "training length")
    assert share.delta_val == pytest.approx(c.gap, abs=0.02)
    assert [p.x for p in c.overlap.steps] == [250]
    assert math.isclose(_total(c), c.gap, abs_tol=1e-9)


def test_a_run_that_diverged_is_left_out_of_the_ranking_not_ranked_on_its_losses_before_the_nan(tmp_path):
    import re

    import lossdoctor
    log = FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log"
    lines = log.read_text().splitlines(keepends=True)
    cut = next(i for i, x in enumerate(lines) if x.startswith("step 1500:"))
    nan = [re.sub(r"loss [\d.]+", "loss nan", x) if x.startswith(("iter ", "step ")) else x for x in lines[cut:]]
    early = [re.sub(r"loss [\d.]+", "loss nan", x) if x.startswith("iter 100:") else x for x in lines[:cut]]
    (tmp_path / "nan.log").write_text("".join(early + nan))  # a NaN batch it went on past, then NaN for good
    short = str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")
    two = lossdoctor.analyze([str(tmp_path / "nan.log"), short]).comparison
    assert two is not None and two.gap is None and "nan.log diverged" in two.unattributed
    assert two.reference == 1  # the run left, not the diverged one
    last = lines[:-1] + [re.sub(r"loss [\d.]+", "loss nan", lines[-1])]  # only its last update NaN, after its eval
    (tmp_path / "last.log").write_text("".join(last))
    late = lossdoctor.analyze([str(tmp_path / "last.log"), short]).comparison
    assert late is not None and late.metric == "val" and late.gap is not None  # its final val was measured first
    three = lossdoctor.analyze([str(tmp_path / "nan.log"), short, str(log)]).comparison
    assert three is not None and three.gap is not None and three.reference == 2  # the whole run, not the NaN one
    assert any("nan.log diverged (its loss is NaN/inf from step 1,500 on)" in n for n in three.notes)


def test_intervals_that_rest_on_an_assumed_eval_noise_say_so(tmp_path):
    rows = "".join(f"run{i},1,5000,{1.5 + 0.1 * i:.4f},{64 * (i + 1)}\n" for i in range(2))
    (tmp_path / "runs.csv").write_text("Name,seed,iter,val/loss,n_embd\n" + rows)  # final vals alone: no eval noise
    c = lossdoctor.analyze([str(tmp_path / "runs.csv")], diagnose_runs=False).comparison
    assert c is not None and any(n.startswith("the intervals take 0.01 nats for one eval's noise, assumed, where it "
                                              "is not measured: the worse run's eval_se unknown (needs iter_loss_sd, "
                                              "eval_iters: the log has no train loss per step") and "the better run's"
                                 in n for n in c.notes)
    measured = _analysis(FIXTURES / "lossdoctor_train" / "readme_cpu_2000", FIXTURES / "nanogpt" / "cpu_small")
    assert not any(n.startswith("the intervals take") for n in measured.comparison.notes)



def test_a_resumed_worse_run_of_the_better_runs_config_gets_the_better_run_as_evidence(tmp_path):
    # the worse run: 2,000 steps, resumed to 5,000 with a new cosine (its lr_decay_iters
    # changed at the resume); the better: the same config from scratch, 5,000 steps. The Do
    # had been a 5,100-step rerun, found past the worse run's own re-warmed 5,000 steps
    long = FIXTURES / "long"
    cat = _long_cat(tmp_path / "cat.log", "lr2e-3-2000", "lr2e-3-resume-5000")
    r = _analysis(cat, long / "lr2e-3-5000").comparison.to_reach
    assert isinstance(r, Reachable) and r.instead_steps == 5000
    assert r.instead == "--init_from=scratch --max_iters=5000 --lr_decay_iters=5000"
    # a log that begins with the resume: its warmup is its first process's, not shown; the
    # better run's warmup, in 1,000 steps, is what reached it (the Do had dropped it)
    grid = FIXTURES / "calibration"
    r = _analysis(grid / "d2w64-shakespeare-s1-resume-1000", grid / "d2w64-shakespeare-s1-1000").comparison.to_reach
    assert isinstance(r, Reachable) and r.instead_steps == 1000 and "--warmup_iters=50" in (r.instead or "")


def test_a_lightning_run_that_shows_no_vocabulary_is_another_trainers_not_an_export():
    lightning = shared_path("corpus/logs/lightning-csv/gpttt-v0-metrics.csv")  # best val 1.90, vocab unknown
    c = _analysis(FIXTURES / "nanogpt" / "cpu_small", lightning).comparison
    assert not c.comparable
    assert any("the lightning-csv run shows neither its dataset nor its vocabulary, and the nanogpt run is "
               "another trainer's" in n for n in c.notes)


def test_the_rest_is_not_put_on_a_batch_key_where_model_sizes_differ_unseen():
    # a 124M GPT-2 run against a 30M build-nanogpt run, neither showing both shapes: the rest
    # had gone to "batch size" on gradient_accumulation_steps 8 vs 40
    logs = (shared_path("corpus/logs/nanogpt/innerfirexy-gpt2-ddp8-resume.log"),
            shared_path("corpus/logs/build-nanogpt/agndm-smaller-4gpu-slurm.out.log"))
    c = _analysis(*logs).comparison
    assert not any(a.cause == "batch size" for a in c.attribution)
    assert c.unexplained is not None and abs(c.unexplained.delta_val) > 0.5
    assert "parameter counts differ (30.4M in the worse run, 124M in the better)" in c.unexplained.method
    assert "gradient_accumulation_steps 8 vs 40" in c.unexplained.method


def test_two_runs_that_never_trained_are_not_a_level_finish():
    from lossdoctor.report.verdict import level
    # both ran out of memory at their first steps: their one val is the step-0 eval, the same
    logs = [shared_path(f"corpus/logs/nanochat/rtx4070-d24-{n}.log") for n in ("bs4-one-step-then-oom", "bs8-oom")]
    c = _analysis(*logs).comparison
    assert abs(c.gap) < 1e-5 and "both runs logged val only at step 0" in (c.unattributed or "")
    assert not level(c)  # "end at the same final val" had been said of two initial losses
    _, out, _ = run_cli("analyze", *map(str, logs), "--width", "100")
    assert "A level finish" not in out and "end at the same final val" not in out
    assert "0.0000 bpb apart" in out and "+0.0000" not in out  # not "ends +0.0000 above"
    from lossdoctor.report.verdict import gap_text
    assert gap_text(-6.6e-6) == "0.0000" and gap_text(0.01234) == "+0.0123" and gap_text(-0.01) == "-0.0100"


def test_another_trainers_run_cut_short_gets_the_better_run_of_its_config_as_evidence():
    # llm.c, one config: a run stopped by its time limit at step 750, and the full run. Its
    # curve is not extrapolated (another trainer's), and the Do had said no length is known
    cut, full = (shared_path(f"corpus/logs/llmc/hector-a100-stdout-{n}.log")
                 for n in ("hellaswag-cr-timelimit", "full-run"))
    c = _analysis(cut, full).comparison
    r = c.to_reach
    assert isinstance(r, Unreachable) and r.cannot_tell and r.same_config and r.flags is None
    _, out, _ = run_cli("analyze", str(cut), str(full), "--width", "100")
    assert "train as long as the better run (15,250 steps), on its schedule" in " ".join(out.split())


def test_a_worse_run_with_too_few_evals_is_told_so_not_a_scenarios_other_note(tmp_path):
    # the 2,000-step grid run stopped at step 450: two evals past its first tenth, too few
    # for val; the reason had been the rerun's note on its LR falling below the run's
    full = FIXTURES / "calibration" / "d4w128-shakespeare-s1-2000" / "train.log"
    text = full.read_text()
    cut = tmp_path / "cut.log"
    cut.write_text(text[: text.index("\niter 451:") + 1])
    r = _analysis(cut, full).comparison.to_reach
    assert isinstance(r, Unreachable) and r.cannot_tell
    assert r.why.startswith("2 evals after step") and "too few to predict val" in r.why


def test_the_length_share_not_estimated_says_why_as_the_do_does():
    # a log that begins with a resume at 2,000 and runs to 2,250: two evals, too few for val;
    # the footnote had said "no val predicted at step 5,000" beside the Do's real reason
    long = FIXTURES / "long"
    c = _analysis(long / "d3w96h4-bump-2250", long / "d3w96h4-5000").comparison
    said = [n for n in c.notes if n.startswith("training length not estimated")]
    assert said and "too few to predict val" in said[0]
    assert isinstance(c.to_reach, Unreachable) and "too few to predict val" in c.to_reach.why


def test_markdown_gives_the_gaps_notes_beside_its_split_not_folded_away():
    # the terminal's Gap panel shows them by default; Markdown had folded them into the last <details>
    grid = FIXTURES / "calibration"
    a = _analysis(grid / "d6w64-shakespeare-s1-1000", grid / "d2w64-shakespeare-s1-2000")
    assert a.comparison.notes
    code, md, _ = run_cli("analyze", str(grid / "d6w64-shakespeare-s1-1000"), str(grid / "d2w64-shakespeare-s1-2000"),
                          "--format", "markdown")
    gap = md[md.index("**Gap:**"):]
    first_fold = gap.index("<details>")
    assert all(f"- {n}" in gap[:first_fold] for n in a.comparison.notes)


def test_a_better_run_whose_log_hides_its_config_gets_no_length_flags_for_the_worse_config(tmp_path):
    """The better run's log shows its steps and losses but not its config: its length alone,
    on the worse run's config, is not what reached its val, so no flags are given for it
    (a fork's log of a model 281x the FLOPs per step had been told --max_iters=2000)."""
    text = (FIXTURES / "long" / "lr2e-3-5000" / "train.log").read_text()
    bare = "".join(line for line in text.splitlines(keepends=True) if line.startswith(("step ", "iter ")))
    (tmp_path / "bare.log").write_text(bare)
    c = _analysis(FIXTURES / "calibration" / "d2w256-shakespeare-s1-400", tmp_path / "bare.log").comparison
    r = c.to_reach
    assert r is not None and not r.flags and "the better run's log does not show its" in r.why
    assert "no flags copy its config" in r.why


def test_a_checkpoint_of_another_run_is_compared_and_said_not_merged():
    """A ckpt.pt given after a log of another folder is a run of its own, said; a run of a
    checkpoint alone has no curve to extrapolate, which the Do says (not "its length is
    unknown": its iter_num is 300)."""
    an = _analysis(FIXTURES / "calibration" / "d2w64-shakespeare-s1-400" / "train.log",
                   ROOT / "fixtures" / "nanogpt" / "tiny_resume" / "ckpt.pt")
    assert len(an.runs) == 2 and any("not merged into train.log, the log read before it" in n for n in an.runs[1].notes)
    r = an.comparison.to_reach
    assert not r.reachable and "shows no curve past step 0" in r.why



def test_a_gap_to_an_overfit_run_says_first_the_rerun_that_matches_its_final_val():
    # the README CPU run against a GPU run of the default config, best at 2,000 and overfit by 5,000
    gpu = shared_path("corpus/logs/nanogpt/propathee-gpu-wandb-stderr-interleaved.log")
    cpu = FIXTURES / "lossdoctor_train" / "readme_cpu_2000"
    c = lossdoctor.analyze([str(cpu), str(gpu)]).comparison
    r = c.to_reach
    assert not r.reachable and r.what == "best val" and r.final is not None
    assert r.final.target == 1.6897 and r.final.val <= r.final.target and 2000 < r.final.steps <= 5000
    assert r.final.flags == f"--max_iters={r.final.steps} --lr_decay_iters={r.final.steps}"


def test_a_worse_run_that_overfit_below_the_better_run_s_final_is_told_to_keep_its_best_model():
    worse = shared_path("corpus/logs/nanogpt/druidowm-wandb-output-shakespeare-124M-overfit-8xH100.log")
    better = shared_path("corpus/logs/nanogpt/propathee-gpu-wandb-stderr-interleaved.log")
    c = lossdoctor.analyze([str(worse), str(better)]).comparison
    assert c.to_reach is None and c.stop_at_best == (800, 1.6097)
    code, out, _ = run_cli("analyze", str(worse), str(better), "--format", "plain", "--width", "200")
    assert "Do: keep the worse run's model of step 800, its best val (1.6097), below the better run's final val " \
           "of 1.6897: past it, its val rose (LD501)" in out
    # a worse run that did not overfit gets no such advice
    cpu = FIXTURES / "lossdoctor_train" / "readme_cpu_2000"
    assert lossdoctor.analyze([str(cpu), str(better)]).comparison.stop_at_best is None


def test_a_resumed_run_as_long_as_the_better_one_is_not_told_to_train_as_long(tmp_path):
    from lossdoctor.report.advice import instead_do
    long = FIXTURES / "long"
    # the 2000-step run and its resume to 5000 with a new cosine, one log
    resumed = _long_cat(tmp_path / "resumed.log", "lr2e-3-2000", "lr2e-3-resume-5000")
    r = _analysis(resumed, long / "lr2e-3-5000" / "train.log").comparison.to_reach
    assert r.reachable and r.instead_steps == 5000 and r.ran == 5000
    said = instead_do(r)
    assert said.startswith("train from scratch on the better run's schedule: the worse run ran as long (to step "
                           "5,000) but resumed")
    assert "train as long as" not in said and r.instead.startswith("--init_from=scratch")


def test_advice_the_worse_run_already_ran_is_marked_beside_the_better_runs_finding():
    import json

    from rich.console import Console

    import lossdoctor
    from lossdoctor.report.json_report import to_json
    from lossdoctor.report.markdown import analysis_markdown
    from lossdoctor.report.verdict import CONTESTED, render_verdict
    # a constant LR (lr_decay_iters 600000) ended below the cosine to 1,000 it is told to run
    an = lossdoctor.analyze([str(DIAG / "decay_600k"), str(DIAG / "healthy_tiny")])
    c = an.comparison
    assert an.runs[c.reference].source.endswith("decay_600k/train.log")
    assert c.not_borne_out == ("LD701-lr-decay-beyond-run",)
    assert any("LD701 advises --lr_decay_iters=1000 for the better run" in n for n in c.notes)
    console = Console(file=io.StringIO(), width=80, color_system=None, legacy_windows=False)
    console.print(render_verdict(an))
    words = " ".join(console.file.getvalue().replace("│", " ").split())
    assert ("LD701 lr_decay_iters is beyond max_iters, so the LR had not finished decaying (explains LD101) "
            f"({CONTESTED})") in words
    assert words.count(CONTESTED) == 1  # the worse run's findings are not the experiment
    assert f"({CONTESTED}): `--lr_decay_iters=1000`" in analysis_markdown(an)
    assert json.loads(to_json(an))["comparison"]["not_borne_out"] == ["LD701-lr-decay-beyond-run"]
    alone = lossdoctor.analyze([str(DIAG / "decay_600k")])  # no other run: nothing to bear it out
    console = Console(file=io.StringIO(), width=80, color_system=None, legacy_windows=False)
    console.print(render_verdict(alone))
    assert CONTESTED not in console.file.getvalue()


def test_text_files_of_other_names_are_one_dataset_where_both_runs_start_at_the_same_losses(tmp_path):
    import lossdoctor
    from lossdoctor.compare.data import data_differs
    short, long = lossdoctor.load(DIAG / "healthy_tiny"), lossdoctor.load(DIAG / "healthy_tiny_long")
    assert short.header.vocab_source != long.header.vocab_source  # input.txt and a copy of another name
    assert data_differs(short, long) is None  # both logged 4.1798 and 4.1776 at step 0: one text
    text = (DIAG / "healthy_tiny_long" / "train.log").read_text()
    assert "step 0: train loss 4.1798, val loss 4.1776" in text
    other = tmp_path / "train.log"  # the same log starting elsewhere: nothing says it is one text
    other.write_text(text.replace("step 0: train loss 4.1798, val loss 4.1776", "step 0: train loss 4.1802, val loss "
                                  "4.1781"))
    assert data_differs(short, lossdoctor.load(other)).startswith("the vocabulary read from")


def test_a_run_cut_before_its_second_eval_is_compared_on_iteration_means_on_both_sides(tmp_path):
    from lossdoctor.compare.sides import iter_final
    log = FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log"
    lines = log.read_text().splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines) if line.startswith("iter 135:")) + 1
    (tmp_path / "cut.log").write_text("".join(lines[:end]))  # its one eval at step 0, then 135 iterations
    an = _analysis(tmp_path / "cut.log", log)
    c = an.comparison
    assert c.metric == "train" and c.derived.final_val.other is None  # step 0's val is no final val
    finals = [iter_final(r) for r in an.runs]  # the same run's iterations: the gap is what it trained after
    assert c.gap == pytest.approx(finals[0] - finals[1]) and c.derived.final_train == (finals[0], finals[1])
    assert [a.cause for a in c.attribution] == ["training length"] and abs(c.unexplained.delta_val) < 1e-9
    assert c.overlap.steps and all(abs(p.diff) < 1e-9 for p in c.overlap.steps)  # one curve up to step 135
    assert not any("share no range" in n for n in c.notes)


def test_the_assumed_eval_noise_says_why_the_run_does_not_measure_it():
    nano = FIXTURES / "nanogpt"
    notes = _analysis(nano / "tiny_nodecay", nano / "tiny_resume").comparison.notes
    said = next(n for n in notes if "for one eval's noise" in n)
    assert "the worse run's eval_se unknown (needs iter_loss_sd: finite iteration losses in the last 80%: 9, 20 " \
           "needed)" in said  # its log shows eval_iters, batch and context: too few iterations is why
    assert "better run" not in said


def test_the_gap_panel_counts_keys_in_words_and_names_parameters_below_100k_whole():
    from rich.console import Console

    from lossdoctor.report.compare import render
    one = _analysis(DIAG / "decay_600k", DIAG / "healthy_tiny")  # lr_decay_iters alone differs
    console = Console(file=io.StringIO(), width=80, color_system=None, legacy_windows=False)
    console.print(render(one.comparison, list(one.runs), verbose=False))
    words = " ".join(console.file.getvalue().replace("│", " ").split())
    assert "1 config key differs (1 that changes learning); -v shows them" in words
    small = _analysis(DIAG / "model_too_small", DIAG / "healthy_tiny").comparison  # 1,312 parameters
    rest = next(a for a in small.attribution if "Hoffmann" in a.method)
    assert "0.10M instead of 1,312 parameters" in " ".join(rest.method.split())


def test_a_dtype_the_log_proves_is_no_config_difference():
    nano = FIXTURES / "nanogpt"
    # tiny_nodecay's config leaves dtype to the machine; its GradScaler warning proves float16,
    # the dtype tiny_resume's checkpoint holds
    c = _analysis(nano / "tiny_nodecay", nano / "tiny_resume").comparison
    assert "dtype" not in {d.key for d in c.diff}
    from lossdoctor.compare.sides import _shown, config_diff
    from lossdoctor.facts import compute_facts
    run = lossdoctor.load(nano / "tiny_nodecay")
    value, origin = _shown(run, "dtype", compute_facts(run))
    assert value == "float16" and origin.startswith("inferred: the log's warning that GradScaler is enabled")
    assert _shown(run, "dtype")[0] is None  # without the facts: unknown
    # two CPU runs: train.py computes both in float32, whatever dtype says (LD1301)
    runs = [run, lossdoctor.load(DIAG / "healthy_tiny")]
    assert "dtype" not in {x.key for x in config_diff(*runs, *(compute_facts(r) for r in runs))}


def test_a_run_that_stopped_short_of_the_better_runs_length_is_told_to_finish(tmp_path):
    import json

    import lossdoctor
    from lossdoctor.report.advice import instead_do
    from lossdoctor.report.json_report import to_json
    log = FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log"
    lines = log.read_text().splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines) if line.startswith("iter 1620:")) + 1
    (tmp_path / "cut.log").write_text("".join(lines[:end]))  # the same run, stopped at step 1,620
    an = lossdoctor.analyze([str(tmp_path / "cut.log"), str(log)])
    r = an.comparison.to_reach
    assert r.reachable and r.finish == "out_dir" and r.instead == "--max_iters=2000 --lr_decay_iters=2000"
    said = instead_do(r)
    assert said.startswith("finish the run: it stopped at step 1,620 of its own 2,000, and the better run, its "
                           "config run to the end, reached its smoothed final val of")
    assert "(the better run wrote to the same out_dir)" in said and "these flags are its own" in said
    assert json.loads(to_json(an))["comparison"]["to_reach"]["instead"]["finish"] == "out_dir"
    # a run that ran its whole length on another schedule has nothing to finish
    other = _analysis(DIAG / "decay_600k", DIAG / "healthy_tiny").comparison.to_reach
    assert other.finish is None and not instead_do(other).startswith("finish")


def test_two_stretches_of_one_run_are_told_there_is_nothing_to_change(tmp_path):
    import json
    import re

    from rich.console import Console

    import lossdoctor
    from lossdoctor.report.json_report import to_json
    from lossdoctor.report.markdown import analysis_markdown
    from lossdoctor.report.verdict import render_verdict
    lines = (FIXTURES / "nanogpt" / "tiny_resume" / "train.log").read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if i > 0 and line.startswith("Overriding config with"))
    (tmp_path / "first.log").write_text("".join(lines[:at]))  # steps 0-200
    (tmp_path / "then.log").write_text("".join(lines[at:]))  # resumed at 200, on to 300, one out_dir
    an = lossdoctor.analyze([str(tmp_path / "first.log"), str(tmp_path / "then.log")])
    c = an.comparison
    assert c.continues and an.runs[c.reference].source.endswith("then.log")
    console = Console(file=io.StringIO(), width=80, color_system=None, legacy_windows=False)
    console.print(render_verdict(an))
    words = " ".join(console.file.getvalue().replace("│", " ").split())
    assert re.search(r"Do: nothing to change: \S*then\.log continues \S*first\.log, one run's two stretches", words)
    assert "--max_iters=300" not in words.split("first.log: val")[0]  # no flags for the stretch before
    assert re.search(r"\*\*Do:\*\* nothing to change: `\S*then\.log` continues `\S*first\.log`",
                     analysis_markdown(an))
    assert json.loads(to_json(an))["comparison"]["continues"] is True
    assert not _analysis(DIAG / "decay_600k", DIAG / "healthy_tiny").comparison.continues
    # the first stretch's advice to go on, or to end its decay at its max_iters, is what
    # the second carried out: not among its top findings, and said so
    first = an.diagnoses[c.other].findings
    assert {"LD701-lr-decay-beyond-run", "LD101-still-improving"} <= {f.rule for f in first}
    assert set(c.gone_on) == {"LD701-lr-decay-beyond-run", "LD101-still-improving"}
    top = words.split("first.log: val")[1].split("then.log: val")[0]
    assert "--lr_decay_iters=200" not in top and "LD701, LD101: the other run is this one gone on (see the gap)" in top
    assert any(n.startswith("LD701 and LD101 on first.log advise it a longer run or an LR decay that ends at its "
                            "max_iters: then.log is that run gone on, to step 300 (lr_decay_iters 300)")
               for n in c.notes)
    assert "LD701, LD101: the other run is this one gone on" in analysis_markdown(an)
    assert json.loads(to_json(an))["comparison"]["gone_on"] == list(c.gone_on)
    assert _analysis(DIAG / "decay_600k", DIAG / "healthy_tiny").comparison.gone_on == ()


def test_a_log_that_holds_the_worse_run_and_goes_on_is_one_run_with_nothing_to_cat(tmp_path):
    """The first process of tiny_resume against the whole log, which holds it and its
    resume: one run, the whole of it in one file (no `cat` to do)."""
    from lossdoctor.report.advice import continued_text
    lines = (FIXTURES / "nanogpt" / "tiny_resume" / "train.log").read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if i > 0 and line.startswith("Overriding config with"))
    (tmp_path / "first.log").write_text("".join(lines[:at]))
    c = _analysis(tmp_path / "first.log", FIXTURES / "nanogpt" / "tiny_resume").comparison
    assert c.continues and c.held
    assert [n for n in c.notes if "holds first.log already, and goes on from its end by a resume at step 200" in n]
    assert continued_text("w", "b", c.held).endswith("b alone is the whole run")
    # two runs of one config apart: neither holds the other
    assert not _analysis(FIXTURES / "long" / "batch8-2000", FIXTURES / "long" / "batch8-5000").comparison.held
    # the run's folder (its log and ckpt.pt) is named by its log in the notes
    folder = _analysis(tmp_path / "first.log", FIXTURES / "nanogpt" / "tiny_resume").comparison
    assert [n for n in folder.notes if n.startswith("train.log holds first.log already")]
    assert not [n for n in folder.notes if "ckpt.pt" in n]
    # a resume that changed a learning setting is not the same run gone on: neither held nor said
    (tmp_path / "lr.log").write_text("".join(lines[:at]) + "".join(lines[at:]).replace(
        "Overriding: max_iters = 300", "Overriding: max_iters = 300\nOverriding: learning_rate = 0.002", 1))
    c = _analysis(tmp_path / "first.log", tmp_path / "lr.log").comparison
    assert not c.held and not c.continues and not [n for n in c.notes if "holds first.log already" in n]


def test_a_resume_that_changed_learning_settings_is_not_one_runs_two_stretches(tmp_path):
    from rich.console import Console

    from lossdoctor.report.compare import render
    lines = (FIXTURES / "nanogpt" / "tiny_resume" / "train.log").read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if i > 0 and line.startswith("Overriding config with"))
    resumed = next(i for i, line in enumerate(lines) if line.startswith("Overriding: init_from = resume"))
    (tmp_path / "first.log").write_text("".join(lines[:at]))
    (tmp_path / "then.log").write_text("".join(lines[at:]))
    an = _analysis(tmp_path / "first.log", tmp_path / "then.log")
    console = Console(file=io.StringIO(), width=80, color_system=None, legacy_windows=False)
    console.print(render(an.comparison, list(an.runs), verbose=True))  # -v: no advice beside "nothing to change"
    words = " ".join(console.file.getvalue().replace("│", " ").split())
    assert an.comparison.continues and "Nothing to change: the better run's log is the worse run resumed" in words
    assert "Train as long" not in words
    changed = lines[at:resumed + 1] + ["Overriding: learning_rate = 0.003\n"] + lines[resumed + 1:]
    (tmp_path / "then.log").write_text("".join(changed))
    assert not _analysis(tmp_path / "first.log", tmp_path / "then.log").comparison.continues


def test_a_run_cut_in_another_out_dir_with_no_save_is_not_told_to_resume(tmp_path):
    from lossdoctor.report.advice import instead_do
    log = FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log"
    lines = log.read_text().splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines) if line.startswith("iter 1620:")) + 1
    cut = [x.replace("out_dir", "out_dir_x") if "out_dir" in x and "=" in x else x for x in lines[:end]
           if not x.startswith("saving checkpoint")]
    (tmp_path / "cut.log").write_text("".join(cut))
    r = _analysis(tmp_path / "cut.log", log).comparison.to_reach
    assert r.finish == "own" and "its log shows no save to resume from" in instead_do(r)


def test_a_worse_run_past_the_horizon_with_too_few_evals_is_told_the_evals_not_a_farthest_step(tmp_path):
    # 262 steps with one eval past its first tenth, against the 2,000-step run: 2,001 is past
    # its 5x, but no step past the run predicts val; the footnote had named a farthest step
    full = FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log"
    cut = tmp_path / "cut.log"
    cut.write_text("".join(full.read_text().splitlines(keepends=True)[:300]))
    said = [n for n in _analysis(cut, full).comparison.notes if n.startswith("training length")]
    assert said and "too few to predict val" in said[0] and "farthest" not in said[0]


def test_the_config_rest_offers_verify_only_where_verify_can_train_both_runs():
    from lossdoctor.compare.rest import retrainable
    assert retrainable(lossdoctor.load(FIXTURES / "lossdoctor_train" / "readme_cpu_2000"))
    assert not retrainable(lossdoctor.load(FIXTURES / "formats" / "trainer_state.json"))  # another trainer's
    assert not retrainable(lossdoctor.load(FIXTURES / "long" / "batch8-resume-5000"))  # begins with a resume
    said = [c.method for c in _analysis(FIXTURES / "diagnosis" / "healthy_tiny",
                                        FIXTURES / "diagnosis" / "healthy_small").comparison.attribution
            if "split it between them" in c.method]
    assert said and "`lossdoctor verify` with both runs trains them" in said[0]


def test_a_checkpoint_alone_is_compared_at_its_models_step_not_at_step_0():
    # both ran about 300 steps; the training length share had been the better run's val at
    # step 0 minus its end, +1.78 of a 0.41 gap, and the 30x larger model's share negative
    c = _analysis(FIXTURES / "nanogpt" / "tiny_resume" / "ckpt.pt", FIXTURES / "nanogpt" / "cpu_small").comparison
    length = [x for x in c.attribution if x.cause == "training length"]
    assert not length or abs(length[0].delta_val) < 0.1
    # the rest goes on the model's shape and batch, not on an init_from the checkpoint's
    # config says only that its last process resumed
    config = [x for x in c.attribution if x.cause.startswith("model size")]
    assert config and config[0].delta_val > 0 and "scratch vs resume" not in config[0].method


def test_the_json_of_an_unreachable_target_keeps_same_config_without_flags(tmp_path):
    # two modded-nanogpt logs of one config, one cut at step 10: "train as long as the better
    # run", no flags given; the JSON had dropped same_config with the flags
    from lossdoctor.report.json_report import to_json
    full = FIXTURES / "formats" / "modded_record.txt"
    cut = tmp_path / "cut.txt"
    cut.write_text("".join(full.read_text().splitlines(keepends=True)[:17]))
    a = _analysis(cut, full)
    r = a.comparison.to_reach
    assert isinstance(r, Unreachable) and r.same_config and r.flags is None
    doc = json.loads(to_json(a))["comparison"]["to_reach"]
    assert doc["same_config"] is True and doc["flags"] is None


def test_a_runs_table_whose_gap_is_a_setting_names_it_as_nanogpt_flags_in_a_note():
    # a W&B runs table: the rows differ in dropout alone, and the Do had named no setting
    from lossdoctor.report.advice import unreachable_do
    c = _analysis(FIXTURES / "formats" / "wandb_runs.csv").comparison
    r = c.to_reach
    assert isinstance(r, Unreachable) and r.flags is None  # whose flags, the table does not say
    assert r.why.endswith("the better run's config where it differs reached it: a runs table, which does not "
                          "say which trainer ran its runs; in nanoGPT: --dropout=0.2")
    assert "--dropout=0.2" in unreachable_do(r, c)


def test_train_losses_of_two_kinds_are_not_subtracted(tmp_path):
    # one run with no eval past step 0 (its iterations alone), another with evals and no
    # iteration lines: the gap had been the first's iteration mean minus the second's eval
    # train loss, a train-mode batch against eval-mode eval_iters batches
    text = (FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log").read_text()
    (tmp_path / "iters.log").write_text(text[:text.index("step 250:")])
    (tmp_path / "evals.log").write_text("".join(line for line in text.splitlines(keepends=True)
                                                if not line.startswith("iter ")))
    c = _analysis(tmp_path / "iters.log", tmp_path / "evals.log").comparison
    assert c.gap is None and "not one kind of loss" in (c.unattributed or "")


def test_a_log_that_leaves_evals_out_is_not_taken_to_have_not_overfit(tmp_path):
    from lossdoctor.compare.attribute import elided
    lines = (FIXTURES / "diagnosis" / "small_overfit" / "train.log").read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith("step 100:"))
    last = next(i for i, line in enumerate(lines) if line.startswith("step 2000:"))
    (tmp_path / "excerpt.log").write_text("".join(lines[:first] + ["...\n"] + lines[last:]))
    assert elided(lossdoctor.load(str(tmp_path / "excerpt.log")))
    assert not elided(lossdoctor.load(FIXTURES / "diagnosis" / "small_overfit"))
    (tmp_path / "tail.log").write_text("".join(lines + ["...\n"]))  # after its last eval: no eval left out
    assert not elided(lossdoctor.load(str(tmp_path / "tail.log")))
    inside = next(i for i, line in enumerate(lines) if line.startswith("iter 1010:"))  # iterations alone
    (tmp_path / "iters.log").write_text("".join(lines[:inside] + ["...\n"] + lines[inside + 1:]))
    assert not elided(lossdoctor.load(str(tmp_path / "iters.log")))
    # no header: the evals it shows, evenly spaced, are no measure of the ones it left out
    shown = [line for line in lines if line.startswith("step ") and int(line.split()[1].rstrip(":")) % 500 == 0]
    (tmp_path / "bare.log").write_text("...\n".join(shown))
    assert elided(lossdoctor.load(str(tmp_path / "bare.log")))


def test_an_excerpt_beside_a_run_that_overfit_is_compared_at_both_ends(tmp_path):
    # nanoGPT's shakespeare_char config on MPS, its middle evals left out of a post, against
    # the same config on a GPU, whose val rose 0.22 past its best: the 0.013 gap had been
    # split into -0.22 overfitting and +0.23 unexplained
    post = shared_path("corpus/logs/nanogpt-md/vglazer-cpu-vs-mps-vs-compile-2025-08-22.md")
    (tmp_path / "mps.log").write_text("".join(post.read_text().splitlines(keepends=True)[:91]))
    c = _analysis(tmp_path / "mps.log", shared_path("corpus/logs/nanogpt/propathee-gpu-wandb-stderr-interleaved.log"))
    assert not [x for x in c.comparison.attribution if x.cause == "overfitting"]
    assert [n for n in c.comparison.notes if n.startswith("overfitting not compared: the worse run's log leaves evals")]


def test_a_worse_run_that_is_the_better_run_gone_on_is_told_to_keep_the_better_model(tmp_path):
    # the batch-8 2000-step run's log, then its resume to a cosine to 5000 stopped at 2250, in
    # one file, against the 2000-step log alone: the Do had been to train from scratch as
    # the worse run's own first process did
    from lossdoctor.report.advice import went_on_text
    from lossdoctor.report.json_report import to_json
    long = FIXTURES / "long"
    cat = _long_cat(tmp_path / "bump.log", "batch8-2000", "batch8-bump-2250")
    a = _analysis(cat, long / "batch8-2000")
    w = a.comparison.went_on  # the resume wrote to its own out_dir; LD706 finds its re-warm in the cat'd log
    assert w is not None and (w.step, w.rewarmed, w.overwritten, w.ld706) == (2000, True, False, True)
    assert w.lr == pytest.approx(1e-4)  # batch8-2000's cosine, ended at its min_lr
    _, out, _ = run_cli("analyze", str(cat), str(long / "batch8-2000"), "--format", "markdown")
    words = " ".join(out.split())
    assert "**Do:** keep the better run's model: `" in words and "gone on from step 2,000, one run's two" in words
    assert "its resume put the LR back up its schedule (LD706)" in words
    assert "at the LR it had reached (" in words and "--init_from=resume --decay_lr=False --learning_rate=" in words
    assert "--learning_rate=0.0001 --max_iters=2250)" in words  # as far as the worse run went
    assert json.loads(to_json(a))["comparison"]["went_on"] == {"step": 2000, "rewarmed": True, "overwritten": False,
                                                               "lr": w.lr, "end": 2250}
    # the two apart, each its own run of one config: not one run gone on
    assert _analysis(long / "batch8-2000", long / "batch8-5000").comparison.went_on is None
    # the resume's log alone, from the better run's out_dir, which it saved into: that model is
    # gone, and the LR the two schedules set at step 2,000 says the re-warm
    same = tmp_path / "same.log"
    same.write_text((long / "batch8-bump-2250" / "train.log").read_text().replace(
        "fixtures/long/batch8-bump-2250", "fixtures/long/batch8-2000"))
    c = _analysis(same, long / "batch8-2000").comparison
    assert c.went_on is not None and c.went_on[:3] == (2000, True, True)
    said = went_on_text("w", "b", c.went_on)
    assert said.startswith("run the better run's command again: its model is gone")
    # the log begins with the resume: LD706 cannot see the LR before it, so it is not cited,
    # and the LR to go on at is given here
    assert not c.went_on.ld706 and "(LD706)" not in said and "--decay_lr=False --learning_rate=" in said
    # a better run of two processes (the cat'd log) that the bump log goes on from, in its
    # out_dir: its command is a resume, not a run to keep or run again
    from lossdoctor.compare.notes import went_on
    bump = lossdoctor.load(long / "batch8-bump-2250")
    assert went_on(bump, lossdoctor.load(str(cat)), lossdoctor.compute_facts(bump)) is None
    one = lossdoctor.load(str(same))
    assert went_on(one, lossdoctor.load(long / "batch8-2000"), lossdoctor.compute_facts(one)) is not None


def test_a_log_that_holds_the_other_already_is_not_told_to_cat_them(tmp_path):
    long = FIXTURES / "long"
    cat = _long_cat(tmp_path / "whole.log", "lr2e-3-2000", "lr2e-3-resume-5000")
    notes = _analysis(cat, long / "lr2e-3-resume-5000").comparison.notes
    assert not [n for n in notes if "`cat` the two logs" in n]
    assert [n for n in notes if n.startswith("whole.log holds train.log already, after the run it resumed at step "
                                             "2,000")]


def test_a_resumed_worse_run_told_to_rerun_just_past_its_length_is_told_about_as_long_as_it_ran(tmp_path):
    # the long runs' lr2e-3 cosine to 2000, then continued at its min_lr to 5000, in one log,
    # against the fresh cosine to 5000: the search's first length past the run, 5,100 steps,
    # had read as what the run lacked
    from lossdoctor.report.advice import rerun_do
    long = FIXTURES / "long"
    cat = _long_cat(tmp_path / "constant.log", "lr2e-3-2000", "lr2e-3-constant-5000")
    r = _analysis(cat, long / "lr2e-3-5000").comparison.to_reach
    assert isinstance(r, Reachable) and r.steps == 5100
    # the better run is that config on one cosine of 5,000 steps: the evidence, not 5,100 steps
    # (the continuation's learning_rate, its min_lr, had counted as a setting that differs)
    assert r.instead is not None and r.instead_steps == 5000 and "--max_iters=5000" in r.instead
    assert "--learning_rate=0.002" in r.instead and rerun_do(r).startswith("train the worse run again from scratch")


def test_a_continuation_above_the_runs_peak_lr_is_no_schedule_change_the_better_run_shows(tmp_path):
    # the same cosine to 2000, then continued at 0.004, twice the better run's peak: its LR
    # went up, which the better run's one cosine does not show, so it is no evidence for it
    long = FIXTURES / "long"
    text = (long / "lr2e-3-2000" / "train.log").read_text()
    more = (long / "lr2e-3-constant-5000" / "train.log").read_text()
    more = re.sub(r"(learning_rate[ :=]+)0\.0002", r"\g<1>0.004", more)
    assert "0.004" in more
    (tmp_path / "raised.log").write_text(text + more)
    r = _analysis(tmp_path / "raised.log", long / "lr2e-3-5000").comparison.to_reach
    assert r is not None and not getattr(r, "same_config", False)
    assert not (isinstance(r, Reachable) and r.instead is not None)


def test_a_schedule_key_a_runs_first_process_used_is_not_called_unused(tmp_path):
    # a cosine to 2000, then continued at its min_lr (decay_lr=False): lr_decay_iters 2000
    # decayed its first 2,000 steps; it had been marked "unused: decay_lr=False"
    from lossdoctor.compare.sides import config_diff
    long = FIXTURES / "long"
    cat = _long_cat(tmp_path / "constant.log", "lr2e-3-2000", "lr2e-3-constant-5000")
    (d,) = [d for d in config_diff(lossdoctor.load(str(cat)), lossdoctor.load(long / "lr2e-3-5000"))
            if d.key == "lr_decay_iters"]
    assert (d.other, d.reference) == (2000, 5000) and "unused" not in (d.origin_other or "")


def test_the_mfu_note_gives_each_runs_mfu_against_its_gpu_where_the_logs_name_them():
    t = ROOT / "fixtures" / "lossdoctor_train"
    c = _analysis(t / "readme_cuda_2000", t / "gpu_5000").comparison
    note = next(n for n in c.notes if n.startswith("the printed MFU"))
    assert note.endswith("the loss; against the device peaks the facts take (mfu_device) it is 0.05% vs 10.58%")
    c = _analysis(t / "readme_cpu_2000", t / "gpu_5000").comparison  # a CPU run: its device's peak unknown
    assert "mfu_device" not in next(n for n in c.notes if n.startswith("the printed MFU"))


def test_the_training_length_share_and_ld101s_effect_differ_by_the_last_vals_distance_off_the_law():
    import re

    import lossdoctor
    t = ROOT / "fixtures" / "lossdoctor_train"
    an = lossdoctor.analyze([str(t / "readme_cpu_2000"), str(t / "gpu_5000")])
    share = next(a for a in an.comparison.attribution if a.cause == "training length")
    here = float(re.search(r"from the fitted law at the run's end, (\d+\.\d+)", share.method).group(1))
    ld101 = next(f for f in an.diagnoses[0].findings if f.rule.startswith("LD101")).expected_effect
    last = an.facts[0].value("final_val")
    # the share runs from the law at the end, LD101's effect from the last val: both to about 5,000 steps
    assert share.delta_val + ld101.value == pytest.approx(here - last, abs=2e-3)
