"""Every real nanoGPT log and checkpoint in ../shared/corpus loads, with known counts.

The expected counts were checked with grep on each file (`step N: train loss` and
`iter N: loss` lines); segments are the processes whose output the file holds.
Skips when ../shared is absent.
"""

from __future__ import annotations

import pytest

import lossdoctor
from conftest import shared_path

# file: (eval points, iteration points, segments, unparsed lines, init_from of the last run)
EXPECTED = {
    "nanogpt/druidowm-wandb-output-compile-fail-mac.log": (0, 0, 1, 0, None),
    "nanogpt/druidowm-wandb-output-owt-ddp-interrupted.log": (13, 2547, 1, 0, None),
    "nanogpt/druidowm-wandb-output-shakespeare-124M-overfit-8xH100.log": (11, 2156, 1, 0, None),
    "nanogpt/gpu-tiny-0.8M-wilcoooo.log": (7, 151, 1, 0, "scratch"),
    "nanogpt/innerfirexy-cepred-fork-cut-midline.log": (21, 500, 1, 0, None),
    "nanogpt/innerfirexy-gpt2-ddp4-init-gpt2-stopped.log": (45, 4411, 1, 4, "gpt2"),
    "nanogpt/innerfirexy-gpt2-ddp8-resume.log": (396, 39595, 1, 0, "resume"),
    "nanogpt/innerfirexy-shakespeare-char-gpu.log": (21, 501, 1, 0, None),
    "nanogpt/propathee-gpu-wandb-stderr-interleaved.log": (21, 501, 1, 0, "scratch"),
    "nanogpt/termux-cpu-nan-chenzihua.log": (5, 91, 1, 0, "scratch"),
    # three training runs pasted in one post, then sample.py's output (no run: others.py)
    "nanogpt-md/vglazer-cpu-vs-mps-vs-compile-2025-08-22.md": (5, 65, 3, 0, "scratch"),
    "nanogpt-md/vglazer-mps-nightly-2025-09-16.md": (5, 22, 3, 6, None),  # its 3 train.py commands understood
}


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_corpus_log_loads_with_expected_counts(rel):
    run = lossdoctor.load(shared_path("corpus/logs/" + rel))
    evals, iters, segments, unparsed, init = EXPECTED[rel]
    assert (len(run.evals), len(run.iters), len(run.segments), run.n_unparsed) == (evals, iters, segments, unparsed)
    assert run.segments[run.lineage()[-1]].init_from == init
    facts = lossdoctor.compute_facts(run)
    assert facts["best_val"].value is None or facts["best_val"].value > 0


def test_every_corpus_nanogpt_file_is_listed():
    root = shared_path("corpus/logs")
    files = {str(p.relative_to(root)) for d in ("nanogpt", "nanogpt-md") for p in (root / d).iterdir()}
    assert files == set(EXPECTED)


def test_a_blog_posts_train_py_command_gives_the_run_its_config():
    run = lossdoctor.load(shared_path("corpus/logs/nanogpt-md/vglazer-mps-nightly-2025-09-16.md"))
    cfg = run.config  # the last run: `uv run train.py config/train_shakespeare_char.py --device=cpu --compile=False`
    assert cfg.trusted("device") == "cpu" and cfg.trusted("compile") is False and cfg["device"].line == 105
    assert cfg.trusted("n_layer") == 6 and cfg["n_layer"].origin == "inferred"
    assert [s.config.trusted("device") for s in run.segments if s.config] == ["mps", "mps", "cpu"]


def test_ddp8_resume_details():
    run = lossdoctor.load(shared_path("corpus/logs/nanogpt/innerfirexy-gpt2-ddp8-resume.log"))
    seg = run.segments[0]
    assert seg.world_size == 8 and seg.first_step == 44000
    assert run.header.tokens_per_iter == 491520
    assert run.config.get("gradient_accumulation_steps") == 40  # `5 * 8` in the echoed config file
    assert run.line_counts["truncated"] == 1  # the copy ends mid-line at `iter 4399`


def test_propathee_interleaved_stderr_and_config_dump():
    run = lossdoctor.load(shared_path("corpus/logs/nanogpt/propathee-gpu-wandb-stderr-interleaved.log"))
    facts = lossdoctor.compute_facts(run)
    assert facts["best_val"].value == 1.4681 and facts["best_val_step"].value == 2000
    assert facts["final_val"].value == 1.6897 and facts["final_train"].value == 0.6305
    assert facts["tokens_per_iter"].value == 16384
    assert run.config.get("eval_iters") == 200 and run.config.get("always_save_checkpoint") is False


def test_termux_nan_onset():
    run = lossdoctor.load(shared_path("corpus/logs/nanogpt/termux-cpu-nan-chenzihua.log"))
    nan = [e for e in run.events if e.kind == "first_nan"]
    assert len(nan) == 1 and nan[0].step == 425


def test_corpus_checkpoint_with_renamed_model_args():
    run = lossdoctor.load(shared_path("corpus/logs/ckpt/sqtian-gpt-by-hand-tiny-ckpt.pt"))
    assert run.format == "nanogpt-ckpt" and run.checkpoint.iter_num == 2000
    assert run.model_args.block_size == 8 and run.model_args.n_embd == 16
    assert any("fork's key names" in n for n in run.notes)
    facts = lossdoctor.compute_facts(run)
    assert abs(facts["best_val"].value - 1.5052) < 1e-4


def test_a_train_loss_that_climbs_back_is_found_in_the_corpus_and_nowhere_else():
    """LD204 reads the curve alone: the three W&B runs whose train/loss climbs back (to 12.3
    from 8.0, to 6-7 from 3.8) fire, and no other run of the corpus does (resumes, plateaus,
    a GPT-2 fine-tune drifting up 0.04 nats)."""
    logs = sorted(p for p in shared_path("corpus/logs").rglob("*") if p.is_file())
    fired = []
    for path in logs:
        try:
            result = lossdoctor.analyze([str(path)], compare_runs=False)
        except lossdoctor.InputError:
            continue
        for run, diagnosis in zip(result.runs, result.diagnoses, strict=True):
            if any(f.rule == "LD204-train-loss-rose-and-stayed" for f in diagnosis.findings):
                fired.append(f"{path.name}#{run.source.rsplit('#', 1)[-1]}")
    assert sorted(fired) == sorted(f"druidowm-nanogpt-variants-train-loss.csv#{name}" for name in (
        "gpt2_last_char_token_to_char1729587337.8266432", "gpt2_char_to_token1729534595.422701",
        "gpt2_char_to_token1729491541.2756786"))


def test_an_llmc_run_gives_its_cosine_schedule_and_device_mfu_from_what_it_prints():
    run = lossdoctor.load(shared_path("corpus/logs/llmc/hector-a100-stdout-full-run.log"))
    facts = lossdoctor.compute_facts(run)
    # | LR scheduler | cosine |, | train_num_batches | 19560 |, | final LR fraction | 0 |
    assert facts["decay_lr"].value is True and facts["lr_decay_iters"].value == 19560
    assert facts["min_lr"].value == 0.0
    assert facts["lr_schedule_completed"].value == pytest.approx(15250 / 19560)
    # llm.c prints its MFU against its device's peak: the device's MFU is read, not recomputed
    assert facts["mfu_device"].status == "read" and facts["mfu_device"].value == pytest.approx(32.1, abs=0.5)
    # its FLOPs per token are llm.c's 6N + 6LCT: with them, step 100's 125,833 tok/s on an A100's
    # 312 TFLOP/s is the 32.4% it prints (nanoGPT's 6N + 12LCT would make it 34.7%)
    assert facts["flops_per_token"].value == 6 * 124475904 + 6 * 12 * 768 * 1024
    assert round(100 * facts["flops_per_token"].value * 125833 / 312e12, 1) == 32.4


def test_an_llmc_run_counts_its_gradient_accumulation_over_all_processes_and_its_evals_as_noiseless(tmp_path):
    text = shared_path("corpus/logs/llmc/hector-a100-stdout-full-run.log").read_text()
    facts = lossdoctor.compute_facts(lossdoctor.load(shared_path("corpus/logs/llmc/hector-a100-stdout-full-run.log")))
    assert facts["gradient_accumulation_steps"].value == 16  # `=> setting grad_accum_steps=16` on 1 process
    # llm.c's grad_accum_steps is one process's; nanoGPT's key counts every process's micro-steps
    two = tmp_path / "two.log"
    two.write_text(text.replace("| num_processes         | 1 ", "| num_processes         | 2 "))
    run = lossdoctor.load(str(two))
    assert run.config.trusted("grad_accum_steps") == 16
    assert lossdoctor.compute_facts(run)["gradient_accumulation_steps"].value == 32
    # the same val batches at every eval (dataloader_reset): no sampling noise between evals to derive
    assert facts["eval_se"].status == "unknown" and "the same val batches at every eval" in facts["eval_se"].note


def test_a_summary_row_with_val_far_above_train_is_called_memorization():
    result = lossdoctor.analyze([str(shared_path("corpus/logs/wandb/druidowm-shakespeare-wandb-summary.json"))])
    (diagnosis,) = result.diagnoses
    # memorization first; its mfu (107.5%, nanoGPT's A100 figure) is read too
    assert [f.rule for f in diagnosis.findings] == ["LD504-val-far-above-train-at-the-end", "LD1401-mfu-vs-a100"]
    facts = lossdoctor.compute_facts(result.runs[0])
    assert facts["lr_final"].value == 0.0006 and facts["lr_final"].status == "read"  # its "lr" key
    assert facts["mfu_printed"].value == pytest.approx(107.528, abs=1e-3)


def test_a_runs_table_row_at_the_unigram_entropy_of_a_65_character_vocabulary_is_found():
    # the table shows vocab_size 65 but no dataset: its unigram entropy is shakespeare_char's, assumed
    result = lossdoctor.analyze([str(shared_path("corpus/logs/wandb-csv/comp3242-nanogpt-ablations-runs-table.csv"))])
    fired = {run.source.split("#")[1] for run, d in zip(result.runs, result.diagnoses, strict=True)
             if any(f.rule == "LD602-no-better-than-unigram" for f in d.findings)}
    assert fired == {f"E2_no_residuals (seed {s})" for s in (6242, 2026, 3740, 3242)}  # train 3.313-3.316
    facts = lossdoctor.compute_facts(result.runs[0])
    assert facts["unigram_entropy"].status == "assumed" and "not shown" in facts["unigram_entropy"].note


def test_a_run_out_of_memory_in_its_optimizer_step_is_not_told_to_halve_its_micro_batch():
    """nanochat's d24 at batch 8 ran out of memory in Muon's fused step (its traceback's
    frames); the same model at batch 4 ran out too. Halving is not its fix (LD1709, not
    LD1702), alone or beside the other run, which ran out in the forward pass."""
    logs = [str(shared_path(f"corpus/logs/nanochat/{n}.log"))
            for n in ("rtx4070-d24-bs8-oom", "rtx4070-d24-bs4-one-step-then-oom")]
    alone = {f.rule for f in lossdoctor.analyze(logs[:1]).diagnoses[0].findings}
    assert "LD1709-oom-in-optimizer-step" in alone and "LD1702-out-of-memory" not in alone
    both = lossdoctor.analyze(logs)
    assert {f.rule for f in both.diagnoses[1].findings} >= {"LD1702-out-of-memory"}
    assert both.comparison is not None
    assert not any(n.startswith("LD1702 advises rtx4070-d24-bs8-oom.log") for n in both.comparison.notes)


def test_an_llmc_run_that_asserted_on_its_batch_is_told_the_batch_that_fits():
    # `./train_gpt2cu ... -b 48 -t 1024 -d 524288` in the shell's Aborted line, one GPU
    result = lossdoctor.analyze([str(shared_path("corpus/logs/llmc/hector-assert-fail.log"))])
    first = result.diagnoses[0].findings[0]
    assert first.rule == "LD1708-batch-not-a-multiple" and "32,768 tokens over" in first.message
    assert "491,520 tokens" in (first.advice or "")
    cfg = result.runs[0].config  # its `-c 0.1 -l 0.0006 -q 0.0` too, not the integer flags alone
    assert (cfg.get("learning_rate"), cfg.get("weight_decay"), cfg.get("final_lr_frac")) == (0.0006, 0.1, 0.0)


def test_a_fork_that_divides_its_mfu_by_another_peak_is_not_told_its_mfu_is_an_a100s():
    """propathee's model.py divides by an RTX 4090's 165.2 TFLOPS: its printed 31% is 52.7
    TFLOPS by nanoGPT's FLOP count; innerfirexy's DDP run divides by the A100's 312."""
    fork = lossdoctor.analyze([shared_path("corpus/logs/nanogpt/propathee-gpu-wandb-stderr-interleaved.log")])
    stock = lossdoctor.analyze([shared_path("corpus/logs/nanogpt/innerfirexy-gpt2-ddp4-init-gpt2-stopped.log")])
    assert fork.facts[0].value("mfu_divisor") == pytest.approx(170, abs=5)
    assert stock.facts[0].value("mfu_divisor") == pytest.approx(312, rel=0.05)
    fired = [{f.rule for f in a.diagnoses[0].findings} for a in (fork, stock)]
    assert "LD1401-mfu-vs-a100" not in fired[0] and "LD1401-mfu-vs-a100" in fired[1]
