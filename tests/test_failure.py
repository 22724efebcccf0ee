"""How a run ended: the last process's traceback as facts, and the crash rules on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import parse_text, shared_path
from lossdoctor.facts import compute_facts

HEAD = "".join(f"step {i}: train loss {3 - i / 1000:.4f}, val loss {3.1 - i / 1000:.4f}\n" for i in range(0, 300, 100))


def _traceback(exception: str) -> str:
    return ("Traceback (most recent call last):\n"
            '  File "train.py", line 300, in <module>\n'
            "    logits, loss = model(X, Y)\n"
            f"{exception}\n")


@pytest.mark.parametrize("exception, kind", [
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", "out of memory"),
    ("torch._dynamo.exc.BackendCompilerFailed: backend='inductor' raised:", "compile"),
    ("KeyboardInterrupt", "interrupted"),
    ("KeyError: 'vocab_size'", "exception"),
])
def test_the_last_traceback_names_the_failure(exception: str, kind: str) -> None:
    facts = compute_facts(parse_text(HEAD + _traceback(exception)))
    assert facts.value("failure_kind") == kind
    assert facts.value("failure_text") == exception
    assert facts.value("failure_line") == 3 + 4  # the exception line, 1-based


def test_a_run_without_a_traceback_has_no_failure() -> None:
    facts = compute_facts(parse_text(HEAD))
    assert facts["failure_kind"].known and facts.value("failure_kind") is None


def test_the_compile_crash_log_gets_its_fix_first() -> None:
    from lossdoctor.analysis import analyze
    log = shared_path("corpus/logs/nanogpt/druidowm-wandb-output-compile-fail-mac.log")
    finding = analyze([str(log)]).diagnoses[0].findings[0]
    assert finding.rule == "LD1701-compile-crash" and finding.flags == "--compile=False"
    assert "BackendCompilerFailed" in finding.message
    assert "may have it already" not in finding.advice  # a compile failure shows compile was on


def test_a_compile_failure_shows_compile_was_on(tmp_path) -> None:
    import lossdoctor
    p = tmp_path / "train.log"
    p.write_text("Traceback (most recent call last):\n  File \"train.py\", line 1, in <module>\n"
                 "torch._dynamo.exc.BackendCompilerFailed: backend='inductor' raised:\n")
    fact = lossdoctor.compute_facts(lossdoctor.load(str(p)))["compile"]
    assert fact.value is True and fact.status == "inferred"


@pytest.mark.parametrize("line, kind", [
    ("slurmstepd: error: *** JOB 42 ON n1 CANCELLED AT 2024-01-01T00:00:00 DUE TO TIME LIMIT ***", "time limit"),
    ("Terminated", "terminated"),
    ("W0101 00:00:00.000 torch/distributed/elastic/multiprocessing/api.py:704] Received 15 death signal, "
     "shutting down workers", "terminated"),
])
def test_a_stop_from_outside_is_named_and_resumed(line: str, kind: str) -> None:
    from lossdoctor.diagnose import diagnose
    saved = HEAD + "saving checkpoint to out\n"  # nanoGPT prints each save
    run = parse_text(saved + line + "\n")
    facts = compute_facts(run)
    assert (facts.value("failure_kind"), facts.value("failure_line")) == (kind, 5)
    finding = next(f for f in diagnose(run, facts).findings if f.category == "crash")
    assert finding.rule == "LD1704-stopped-by-scheduler" and finding.flags == "--init_from=resume"
    assert line[:40] in finding.message
    # the same stop before any save: nothing to resume, and the resume advice is withheld
    found = {f.rule.split("-")[0]: f for f in diagnose(parse_text(HEAD + line + "\n")).findings}
    assert found["LD1706"].flags == "" and "nothing to resume from" in found["LD1706"].message
    assert found["LD1704"].flags == "" and found["LD1704"].advice.startswith("(withheld: LD1706")


def test_a_crash_ranks_before_the_run_incomplete_finding_it_explains() -> None:
    from lossdoctor.diagnose import diagnose
    run = parse_text("Overriding: max_iters = 5000\n" + HEAD + _traceback("KeyError: 'x'"))
    rules = [f.rule for f in diagnose(run).findings]
    assert rules.index("LD1703-crashed") < rules.index("LD1501-run-incomplete")


def test_a_nan_assertion_is_a_crash_that_the_nan_loss_explains() -> None:
    from lossdoctor.diagnose import diagnose
    text = HEAD + "iter 300: loss nan, time 10.00ms, mfu 1.00%\n" + _traceback("AssertionError: loss is nan")
    run = parse_text(text)
    facts = compute_facts(run)
    assert facts.value("failure_kind") == "nan"
    findings = diagnose(run, facts).findings
    assert [f.rule for f in findings[:2]] == ["LD801-nan-loss", "LD1703-crashed"]
    assert findings[1].explained_by == ("LD801-nan-loss",)


def test_a_fork_that_capitalises_its_save_line_shows_its_checkpoint() -> None:
    saved = compute_facts(parse_text(HEAD + "Saving checkpoint to out\nTerminated\n"))
    assert saved.value("has_checkpoint") is True


def test_a_checkpoint_beside_the_log_is_one_to_resume_from_whatever_the_log_prints(tmp_path) -> None:
    import shutil

    import lossdoctor
    from conftest import FIXTURES
    shutil.copy(FIXTURES / "nanogpt" / "tiny_resume" / "ckpt.pt", tmp_path / "ckpt.pt")  # its iter_num: 300
    to_300 = HEAD + "step 300: train loss 2.7000, val loss 2.8000\nTerminated\n"  # no save printed
    (tmp_path / "train.log").write_text(to_300)
    alone = compute_facts(parse_text(to_300))
    assert alone.value("has_checkpoint") is False and alone["has_checkpoint"].status == "inferred"
    assert compute_facts(lossdoctor.load(str(tmp_path))).value("has_checkpoint") is True
    assert compute_facts(lossdoctor.load(str(tmp_path / "ckpt.pt"))).value("has_checkpoint") is True  # alone
    # a checkpoint from past the log's last step is an earlier run's in the same out_dir: not merged
    (tmp_path / "train.log").write_text(HEAD + "Terminated\n")
    stale = lossdoctor.load(str(tmp_path))
    assert stale.checkpoint is None and any("past the log's last step 200" in n for n in stale.notes)
    assert compute_facts(stale).value("has_checkpoint") is False


def test_an_unfinished_log_with_no_save_is_not_told_to_resume(tmp_path) -> None:
    import lossdoctor
    from conftest import FIXTURES
    from lossdoctor.diagnose import diagnose
    lines = (FIXTURES / "nanogpt" / "tiny_resume" / "train.log").read_text().split("\n")
    cut = next(i for i, x in enumerate(lines) if x.startswith("saving checkpoint"))  # before the first save
    (tmp_path / "train.log").write_text("\n".join(lines[:cut]) + "\n")
    found = {f.rule.split("-")[0]: f for f in diagnose(lossdoctor.load(str(tmp_path / "train.log"))).findings}
    assert "LD1707" in found and "LD1706" not in found  # no stop printed: perhaps still running
    assert found["LD1501"].flags == "" and "LD1707-no-checkpoint-shown" in found["LD1501"].advice


@pytest.mark.parametrize("line", [
    "slurmstepd: error: *** JOB 1809955 ON nid001 CANCELLED AT 2025-04-07T08:18:54 DUE TO TIME LIMIT ***",
    "srun: error: *** STEP 1809955.0 CANCELLED AT 2024-07-01T10:00:00 DUE TO TIME LIMIT ***",
    "slurmstepd: error: *** JOB 123 CANCELLED AT 2020-01-01T00:00:00 DUE TO TIME LIMIT ***",
])
def test_each_form_of_slurm_s_time_limit_line_is_a_time_limit(line):
    import lossdoctor
    from conftest import FIXTURES, parse_text
    text = "\n".join((FIXTURES / "long" / "batch8-2000" / "train.log").read_text().splitlines()[:300] + [line])
    assert lossdoctor.compute_facts(parse_text(text)).value("failure_kind") == "time limit"


def test_a_quoted_or_placeholder_slurm_line_is_no_stop():
    import re

    from lossdoctor.facts.failure import TERMINATED, TIME_LIMIT
    for text in ("*** JOB ... CANCELLED AT ... DUE TO TIME LIMIT ***", "*** JOB WAS CANCELLED AT midnight"):
        assert not TIME_LIMIT.search(text) and not TERMINATED.search(text)
    spaced = "slurmstepd: error: *** JOB 42 ON n1 CANCELLED AT Tue Apr 7 08:18 DUE TO TIME LIMIT ***"
    assert TIME_LIMIT.search(spaced) and re.search("CANCELLED", spaced)  # a SLURM_TIME_FORMAT with spaces


def _excerpt(tmp_path: Path, name: str, tail: str) -> dict[str, Any]:
    """The first 90 lines of a real CPU run (max_iters 2000), pasted as `name` with `tail` after them."""
    import lossdoctor
    from conftest import FIXTURES
    head = "".join((FIXTURES / "nanogpt" / "cpu_small" / "train.log").read_text().splitlines(keepends=True)[:90])
    body = f"# my run\n\n```\n{head}{tail}```\n\nIt kept going.\n" if name.endswith(".md") else head + tail
    (tmp_path / name).write_text(body)
    facts = compute_facts(lossdoctor.load(tmp_path / name))
    return {k: facts[k] for k in ("log_elided", "run_completed")}


def test_an_excerpt_is_not_a_run_that_stopped(tmp_path: Path) -> None:
    """A pasted log that ends in `...` after its last loss line, or a Markdown post's output
    with no failure in it, leaves out how the run went on (log_elided): LD1501 does not say
    it stopped. A plain log that just ends is not an excerpt."""
    import lossdoctor

    def rules(name: str) -> set[str]:
        return {f.rule for f in lossdoctor.analyze(str(tmp_path / name)).diagnoses[0].findings}
    elided = _excerpt(tmp_path, "cut.log", "...\n")
    assert elided["log_elided"].value is True and elided["log_elided"].status == "read"
    assert elided["run_completed"].value < 0.98
    post = _excerpt(tmp_path, "post.md", "")
    assert post["log_elided"].value is True and post["log_elided"].status == "inferred"
    assert _excerpt(tmp_path, "plain.log", "")["log_elided"].value is False
    crashed = _excerpt(tmp_path, "crash.md", "Traceback (most recent call last):\n  File \"train.py\", line 1\n"
                                             "KeyboardInterrupt\n")
    assert crashed["log_elided"].value is False  # the post shows how it ended
    stopped = {"LD1501-run-incomplete", "LD1707-no-checkpoint-shown"}
    assert not stopped & (rules("post.md") | rules("cut.log"))
    assert stopped & rules("plain.log")


OOM = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 256.00 MiB"
IN_OPTIMIZER = ('  File "/home/u/nanoGPT/train.py", line 318, in <module>\n    scaler.step(optimizer)\n'
                '  File "/venv/lib/python3.12/site-packages/torch/optim/optimizer.py", line 517, in wrapper\n'
                '    out = func(*args, **kwargs)\n'
                '  File "/venv/lib/python3.12/site-packages/torch/optim/adamw.py", line 220, in step\n')
IN_FORWARD = ('  File "/home/u/nanoGPT/train.py", line 300, in <module>\n    logits, loss = model(X, Y)\n'
              '  File "/venv/lib/python3.12/site-packages/torch/nn/modules/module.py", line 1786, in _call_impl\n'
              '  File "/home/u/nanoGPT/model.py", line 180, in forward\n')


@pytest.mark.parametrize("frames, where, rule", [
    (IN_OPTIMIZER, "optimizer step", "LD1709-oom-in-optimizer-step"),
    (IN_FORWARD, "forward", "LD1702-out-of-memory"),
])
def test_where_the_memory_ran_out_picks_the_fix(tmp_path: Path, frames: str, where: str, rule: str) -> None:
    """An out-of-memory error in the optimizer step is the weights' and optimizer's state,
    not activations: halving the micro-batch (LD1702) is not its fix (a nanochat run told
    to halve it had run out in Muon's step, and so had the same model at half the batch).
    The frames are read from nanoGPT's log and from another trainer's (a crash file)."""
    import lossdoctor
    text = HEAD + "Traceback (most recent call last):\n" + frames + OOM + "\n"
    facts = compute_facts(parse_text(text))
    assert facts.value("failure_in") == where and facts.value("failure_kind") == "out of memory"
    (tmp_path / "job.err").write_text("starting job\n" + "Traceback (most recent call last):\n" + frames + OOM + "\n")
    other = lossdoctor.load(tmp_path / "job.err")
    assert other.events[-1].frames[-1] in ("torch/optim/adamw.py:step", "u/nanoGPT/model.py:forward")
    assert compute_facts(other).value("failure_in") == where
    rules = {f.rule for f in lossdoctor.analyze(str(tmp_path / "job.err")).diagnoses[0].findings}
    assert rule in rules and len(rules & {"LD1709-oom-in-optimizer-step", "LD1702-out-of-memory"}) == 1


def test_a_traceback_without_frames_leaves_where_unknown() -> None:
    facts = compute_facts(parse_text(HEAD + f"Traceback (most recent call last):\n{OOM}\n"))
    assert not facts["failure_in"].known and facts.value("failure_kind") == "out of memory"


def test_where_is_read_through_rank_prefixes_and_autograd_functions() -> None:
    """A DDP rank's `[rank0]: ` before each frame is taken off (the run that most often runs
    out of memory in its optimizer step); an op in an autograd Function's forward (flash
    attention) is the forward pass, not the backward; a deep traceback keeps its outermost
    frames (the optimizer step is near the top) and its innermost."""
    ranked = "".join(f"[rank0]: {line}\n" for line in
                     ("Traceback (most recent call last):", *IN_OPTIMIZER.splitlines(), OOM))
    assert compute_facts(parse_text(HEAD + ranked)).value("failure_in") == "optimizer step"
    in_function = ('  File "/home/u/nanoGPT/train.py", line 300, in <module>\n'
                   '  File "/venv/lib/python3.12/site-packages/torch/nn/modules/module.py", line 1786, in _call_impl\n'
                   '  File "/venv/lib/python3.12/site-packages/torch/autograd/function.py", line 575, in apply\n'
                   '  File "/venv/lib/flash_attn/flash_attn_interface.py", line 90, in forward\n')
    text = HEAD + "Traceback (most recent call last):\n" + in_function + OOM + "\n"
    assert compute_facts(parse_text(text)).value("failure_in") == "forward"
    deep = IN_OPTIMIZER + "".join(f'  File "/venv/torch/_inductor/x{i}.py", line 1, in f{i}\n' for i in range(200))
    facts = compute_facts(parse_text(HEAD + "Traceback (most recent call last):\n" + deep + OOM + "\n"))
    assert facts.value("failure_in") == "optimizer step"
    events = [e for e in parse_text(HEAD + "Traceback (most recent call last):\n" + deep + OOM + "\n").events
              if e.kind == "traceback"]
    assert len(events[-1].frames) == 64 and events[-1].frames[-1] == "torch/_inductor/x199.py:f199"


def test_llmc_s_own_cuda_error_is_the_failure_it_names(tmp_path: Path) -> None:
    """llm.c's cudaCheck prints `[CUDA ERROR] at file F:L:`, the error on the next line, and
    exits: out of memory there is LD1702's (its -b flag where the log shows the micro-batch;
    this fixture's table does not)."""
    import lossdoctor
    from conftest import FIXTURES
    head = (FIXTURES / "formats" / "llmc_stdout.log").read_text()
    (tmp_path / "oom.log").write_text(head + "allocating 39612 MiB for activations\n"
                                      "[CUDA ERROR] at file train_gpt2.cu:362:\nout of memory\n")
    an = lossdoctor.analyze(str(tmp_path / "oom.log"))
    facts = an.facts[0]
    assert facts.value("failure_kind") == "out of memory"
    assert facts.value("failure_text") == "CUDA error at train_gpt2.cu:362: out of memory"
    oom = [f for f in an.diagnoses[0].findings if f.rule.startswith("LD1702")]
    assert oom and oom[0].flags in ("", f"-b {facts.value('batch_size') // 2}" if facts.value("batch_size") else "")
    (tmp_path / "cut.log").write_text(head + "[CUDA ERROR] at file train_gpt2.cu:362:\n")  # the file ends there
    cut = lossdoctor.compute_facts(lossdoctor.load(tmp_path / "cut.log"))
    assert (cut.value("failure_kind"), cut.value("failure_text")) == ("exception", "CUDA error at train_gpt2.cu:362")
    (tmp_path / "cublas.log").write_text(head + "[cuBLAS ERROR]: 13 train_gpt2.cu 1031\n")
    blas = lossdoctor.compute_facts(lossdoctor.load(tmp_path / "cublas.log"))
    assert blas.value("failure_text") == "cuBLAS error: 13 train_gpt2.cu 1031"


def test_a_run_stopped_by_its_user_in_backward_says_where() -> None:
    # a KeyboardInterrupt's own stop event sits on the traceback's line: its frames are that
    # traceback's ("the log prints no frames" had been said of a log that printed four)
    frames = ('  File "/home/u/nanoGPT/train.py", line 302, in <module>\n'
              '  File "/venv/lib/python3.11/site-packages/torch/_tensor.py", line 521, in backward\n'
              '  File "/venv/lib/torch/autograd/graph.py", line 769, in _engine_run_backward\n')
    facts = compute_facts(parse_text(HEAD + "Traceback (most recent call last):\n" + frames + "KeyboardInterrupt\n"))
    assert facts.value("failure_kind") == "interrupted" and facts.value("failure_in") == "backward"
