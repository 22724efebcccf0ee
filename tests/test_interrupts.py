"""Interrupted work loses nothing: Ctrl-C or SIGTERM in a training leaves a checkpoint
that resumes and keeps the best one, a new run keeps an earlier run's log, and a write
that fails part-way (a full disk) leaves the previous file as it was."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lossdoctor import fsio  # noqa: E402
from lossdoctor.cli import main  # noqa: E402
from lossdoctor.errors import LossdoctorError  # noqa: E402
from lossdoctor.trainer import resolve, train  # noqa: E402
from lossdoctor.trainer.checkpoint import INTERRUPTED_NAME, save_checkpoint  # noqa: E402
from lossdoctor.trainer.data import prepare_text  # noqa: E402
from lossdoctor.trainer.loop import load_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--device=cpu", "--compile=False", "--dtype=float32", "--n_layer=1", "--n_head=2", "--n_embd=16",
        "--block_size=16", "--batch_size=8", "--eval_interval=5", "--eval_iters=2", "--log_interval=1",
        "--learning_rate=1e-2", "--warmup_iters=2", "--lr_decay_iters=40", "--min_lr=1e-3", "--max_iters=40"]


@pytest.fixture(scope="module")
def data() -> Any:
    rng = np.random.default_rng(0)
    return prepare_text("".join(rng.choice(["the ", "cat ", "sat ", "on ", "a ", "mat. "], 4000)), "words")


def _cfg(tmp_path: Path, *extra: str) -> Any:
    return resolve(None, TINY + [f"--out_dir={tmp_path / 'out'}", *extra])


def _stop_at(step: int) -> Any:
    def stop(event: Any) -> None:
        if event.kind == "iter" and event.step == step:
            raise KeyboardInterrupt
    return stop


def test_ctrl_c_keeps_the_best_checkpoint_when_not_always_saving(tmp_path: Path, data: Any) -> None:
    result = train(_cfg(tmp_path, "--always_save_checkpoint=False"), data, callbacks=[_stop_at(13)], echo=False)
    out = tmp_path / "out"
    best = load_checkpoint(str(out / "ckpt.pt"))
    assert result.stopped == "interrupted at iter 14"  # after iteration 13's update: 14 updates done
    assert best["iter_num"] in (5, 10) and best["best_val_loss"] == result.best_val_loss  # the best eval's
    interrupted = load_checkpoint(str(out / INTERRUPTED_NAME))
    assert interrupted["iter_num"] == 14 and interrupted["best_val_loss"] == best["best_val_loss"]
    log = (out / "train.log").read_text()
    assert "the best model stays in" in log
    assert "interrupted at iter 14 (Ctrl-C): to resume, run the same command with --init_from=resume" in log
    import lossdoctor
    found = {f.rule.split("-")[0] for f in lossdoctor.analyze([str(out / "train.log")]).diagnoses[0].findings}
    assert "LD1705" in found and "LD1703" not in found  # stopped by its user, not a crash
    again = train(_cfg(tmp_path, "--always_save_checkpoint=False", "--init_from=resume", "--max_iters=16"),
                  data, echo=False)
    assert again.evals[0][0] == 15 and again.iter_num == 17  # resumed at 14, not at the best's step
    assert "resuming from the state at an interruption" in (out / "train.log").read_text()
    assert not (out / INTERRUPTED_NAME).exists()  # finished: the interrupted state is behind it


def test_ctrl_c_with_always_save_writes_ckpt_pt(tmp_path: Path, data: Any) -> None:
    train(_cfg(tmp_path, "--always_save_checkpoint=True"), data, callbacks=[_stop_at(7)], echo=False)
    assert load_checkpoint(str(tmp_path / "out" / "ckpt.pt"))["iter_num"] == 8  # 8 updates: 0..7
    assert not (tmp_path / "out" / INTERRUPTED_NAME).exists()


def test_sigterm_saves_a_checkpoint_that_resumes(tmp_path: Path, data: Any) -> None:
    text = tmp_path / "input.txt"
    text.write_text("".join(np.random.default_rng(1).choice(["the ", "cat ", "sat ", "mat. "], 4000)))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lossdoctor", "train", *TINY[:-1], "--max_iters=100000", "--lr_decay_iters=100000",
           f"--out_dir={out}", f"--data={text}", "--always_save_checkpoint=True"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    deadline = time.time() + 120
    while time.time() < deadline and (not (out / "train.log").exists()
                                      or (out / "train.log").read_text().count("\niter ") < 8):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err  # 128 + SIGTERM, as a shell reports it
    ck = load_checkpoint(str(out / "ckpt.pt"))
    assert ck["iter_num"] >= 7 and "(SIGTERM): to resume" in (out / "train.log").read_text()
    import lossdoctor
    found = {f.rule.split("-")[0] for f in lossdoctor.analyze([str(out / "train.log")]).diagnoses[0].findings}
    assert "LD1704" in found and "LD1703" not in found  # stopped by a signal, not a crash
    resumed = [*TINY[:-1], f"--max_iters={ck['iter_num'] + 2}", f"--out_dir={out}", f"--data={text}",
               "--init_from=resume"]
    assert main(["train", *resumed]) == 0


def test_a_new_run_keeps_the_earlier_runs_log(tmp_path: Path, data: Any) -> None:
    train(_cfg(tmp_path, "--max_iters=5"), data, echo=False)
    out = tmp_path / "out"
    first = (out / "train.log").read_text()
    train(_cfg(tmp_path, "--max_iters=5"), data, echo=False)
    assert (out / "train.log.1").read_text() == first
    assert (out / "metrics.jsonl.1").exists() and (out / "train.log").read_text().count("Overriding: device") == 1


def _fails_part_way(f: IO[bytes]) -> None:
    f.write(b"half a checkpoint")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_write_that_fails_part_way_leaves_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    save_checkpoint({"iter_num": 1}, str(path))
    before = path.read_bytes()
    with pytest.raises(OSError):
        fsio.atomic_write(str(path), _fails_part_way)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.pt"]  # no temporary file left


def test_a_full_disk_during_training_is_one_error_and_keeps_the_checkpoint(tmp_path: Path, data: Any,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    train(_cfg(tmp_path, "--max_iters=5", "--always_save_checkpoint=True"), data, echo=False)
    path = tmp_path / "out" / "ckpt.pt"
    before = path.read_bytes()
    real = fsio.atomic_write
    monkeypatch.setattr("lossdoctor.trainer.checkpoint.atomic_write", lambda p, w: real(p, _fails_part_way))
    with pytest.raises(LossdoctorError, match="cannot write the checkpoint .No space left on device.; the previous"):
        train(_cfg(tmp_path, "--max_iters=10", "--init_from=resume", "--always_save_checkpoint=True"), data,
              echo=False)
    assert path.read_bytes() == before


def test_sigterm_is_an_interrupt_in_the_cli_and_the_handler_is_restored() -> None:
    from lossdoctor.cli_exits import sigterm_as_interrupt as _sigterm_as_interrupt
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), _sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) == before


def test_an_interruption_before_the_update_redoes_the_iteration_one_during_an_eval_does_not(
        tmp_path: Path, data: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from lossdoctor.trainer import stages
    calls = {"clip": 0, "eval": 0}
    clip = torch.nn.utils.clip_grad_norm_

    def clip_then_stop(*a: Any, **k: Any) -> Any:
        calls["clip"] += 1
        if calls["clip"] == 8:  # iteration 7, before its update
            raise KeyboardInterrupt
        return clip(*a, **k)
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip_then_stop)
    r = train(_cfg(tmp_path / "a", "--always_save_checkpoint=True", "--grad_clip=1.0"), data, echo=False)
    assert r.stopped == "interrupted at iter 7" and load_checkpoint(r.checkpoint_path)["iter_num"] == 7
    monkeypatch.undo()
    evaluate = stages.Trainer.evaluate

    def eval_then_stop(self: Any, *a: Any, **k: Any) -> Any:
        calls["eval"] += 1
        if calls["eval"] == 3:  # the eval at step 10
            raise KeyboardInterrupt
        return evaluate(self, *a, **k)
    monkeypatch.setattr(stages.Trainer, "evaluate", eval_then_stop)
    r = train(_cfg(tmp_path / "b", "--always_save_checkpoint=True"), data, echo=False)
    assert r.stopped == "interrupted at iter 10" and load_checkpoint(r.checkpoint_path)["iter_num"] == 10


def test_a_fresh_run_interrupted_leaves_an_earlier_run_s_checkpoint_as_it_was(tmp_path: Path, data: Any) -> None:
    train(_cfg(tmp_path, "--always_save_checkpoint=True", "--max_iters=12"), data, echo=False)
    out = tmp_path / "out"
    before = load_checkpoint(str(out / "ckpt.pt"))["iter_num"]
    r = train(_cfg(tmp_path, "--always_save_checkpoint=True"), data, callbacks=[_stop_at(3)], echo=False)
    assert load_checkpoint(str(out / "ckpt.pt"))["iter_num"] == before  # not this run's untrained state
    assert load_checkpoint(str(out / INTERRUPTED_NAME))["iter_num"] == 4 and r.stopped == "interrupted at iter 4"
    assert "is an earlier run's, left as it was" in (out / "train.log").read_text()


def test_two_interruptions_without_a_better_eval_read_as_one_run(tmp_path: Path, data: Any) -> None:
    import lossdoctor
    train(_cfg(tmp_path, "--always_save_checkpoint=False"), data, callbacks=[_stop_at(13)], echo=False)
    train(_cfg(tmp_path, "--always_save_checkpoint=False", "--init_from=resume"), data, callbacks=[_stop_at(14)],
          echo=False)
    run = lossdoctor.load(str(tmp_path / "out"))
    assert not any("may not belong together" in n for n in run.notes)


def test_a_run_resumed_from_beside_an_earlier_run_s_checkpoint_saves_its_own(tmp_path: Path, data: Any) -> None:
    """Interrupted before its first save, beside an earlier run's ckpt.pt, then resumed and
    finished without an eval that improves: its final model is saved, not the earlier
    run's kept as if it were its best."""
    train(_cfg(tmp_path, "--always_save_checkpoint=False", "--max_iters=12"), data, echo=False)
    out = tmp_path / "out"
    train(_cfg(tmp_path, "--always_save_checkpoint=False"), data, callbacks=[_stop_at(3)], echo=False)
    assert load_checkpoint(str(out / INTERRUPTED_NAME)).get("ckpt_pt_is_earlier_run") is True
    again = train(_cfg(tmp_path, "--always_save_checkpoint=False", "--init_from=resume", "--max_iters=4"), data,
                  echo=False)
    assert again.iter_num == 5 and load_checkpoint(str(out / "ckpt.pt"))["iter_num"] == 5



def test_the_eval_at_the_step_a_resume_starts_from_stays_where_it_is_not_redone():
    from conftest import parse_text

    def segment(init, evals, iters):
        lines = [f"Overriding: init_from = {init}", "tokens per iteration will be: 128"]
        for s in sorted(set(evals) | set(iters)):
            if s in evals:
                lines.append(f"step {s}: train loss {4 - s / 100:.4f}, val loss {4.1 - s / 100:.4f}")
            if s in iters:
                lines.append(f"iter {s}: loss {4 - s / 100:.4f}, time 10.00ms, mfu -100.00%")
        return "\n".join(lines) + "\n"
    text = segment("scratch", [0, 20, 40, 60], range(0, 61, 10)) + segment("resume", [80], range(60, 101, 10))
    run = parse_text(text)
    assert run.curves()[0].step.tolist() == [0, 20, 40, 60, 80]  # 60: the weights the resume started from
    redone = segment("scratch", [0, 20, 40, 60], range(0, 61, 10)) + segment("resume", [60, 80], range(60, 101, 10))
    assert parse_text(redone).curves()[0].step.tolist() == [0, 20, 40, 60, 80]  # evaluated again: the later one
    assert parse_text(redone).curves()[0].segment.tolist()[-2] == 1


@pytest.mark.parametrize("said, code", [("interrupted", 130), ("terminated", 143)])
def test_verify_stopped_says_how_and_exits_as_a_shell_reports_it(said, code, monkeypatch, capsys, tmp_path):
    from lossdoctor import cli_verify
    from lossdoctor.cli import main
    from lossdoctor.errors import Terminated

    def stop(args):
        raise Terminated() if said == "terminated" else KeyboardInterrupt()
    monkeypatch.setattr(cli_verify, "_train", stop)
    assert main(["verify", "--out", str(tmp_path / "v")]) == code
    assert f"lossdoctor verify: {said}; every finished training is kept in" in capsys.readouterr().err
