"""Paths that are not plain log files get one line from the CLI, never a hang: devices,
named pipes with and without a writer, process substitution, a plot into a missing folder."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from lossdoctor.cli import main

LOG = next((Path(__file__).resolve().parent.parent / "fixtures" / "diagnosis").rglob("train.log"))


def _one_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("lossdoctor: error: "), err
    return err


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_a_device_is_refused_not_read_for_ever(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "/dev/zero"]) == 2
    assert "is a device or a socket, not a log file" in _one_error(capsys)


def test_a_named_pipe_nobody_writes_to_does_not_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "train.log"
    os.mkfifo(fifo)
    assert main(["analyze", str(fifo)]) == 2
    assert "a pipe that gave nothing" in _one_error(capsys)


def test_a_named_pipe_with_a_writer_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "train.log"
    os.mkfifo(fifo)
    r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader, so that the writer's open returns at once
    w = os.open(fifo, os.O_WRONLY)  # the writer is there before lossdoctor opens the pipe

    def write() -> None:
        with os.fdopen(w, "wb") as f:
            f.write(LOG.read_bytes())

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert main(["analyze", "--format", "json", str(fifo)]) in (0, 1)
    finally:
        writer.join()
        os.close(r)
    assert '"val"' in capsys.readouterr().out


def test_a_plot_into_a_missing_folder_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(LOG), "--plot", str(tmp_path / "no" / "such" / "x.png")]) == 2
    assert "no such folder" in _one_error(capsys)


def test_a_run_folder_with_two_logs_names_the_one_it_does_not_read(tmp_path):
    import os

    import lossdoctor
    from conftest import FIXTURES
    text = (FIXTURES / "nanogpt" / "cpu_small" / "train.log").read_text()
    (tmp_path / "train.log").write_text(text)
    (tmp_path / "other.log").write_text(text)
    os.utime(tmp_path / "train.log", (1_000_000, 1_000_000))  # the older
    run = lossdoctor.load(str(tmp_path))
    assert run.source.endswith("other.log")
    assert any(n.startswith(f"{tmp_path} holds 2 logs: the newest, other.log, is read; not train.log")
               for n in run.notes)
    assert not any("named like a log" in n for n in run.notes)
    # a file named like a log whose head shows no training output (a crash before the first
    # step) is not one of the logs counted, and the note names it
    (tmp_path / "vocab.txt").write_text("hello\n")  # a tokenizer's file beside the logs: not a log
    (tmp_path / "crash.log").write_text("Traceback (most recent call last):\n  File \"train.py\", line 1\n"
                                        "ImportError: no module named torch\n")
    run = lossdoctor.load(str(tmp_path))
    note = next(n for n in run.notes if "holds 2 logs" in n)
    assert note.endswith("; 1 more file named like a log shows no training output at its head and is not counted: "
                         "crash.log")
    os.remove(tmp_path / "other.log")
    alone = lossdoctor.load(str(tmp_path)).notes
    assert f"{tmp_path}: its log train.log is read; 1 more file named like a log shows no training output at its " \
           "head and is not counted: crash.log" in alone


def test_two_logs_of_one_time_are_said_to_be_read_by_name_not_as_the_newest(tmp_path):
    import os

    import lossdoctor
    from conftest import FIXTURES
    text = (FIXTURES / "nanogpt" / "cpu_small" / "train.log").read_text()
    for name in ("a.log", "b.log"):
        (tmp_path / name).write_text(text)
        os.utime(tmp_path / name, (1_000_000, 1_000_000))
    run = lossdoctor.load(str(tmp_path))
    assert any("the last by name (they were modified at the same time), b.log, is read" in n for n in run.notes)


@pytest.mark.parametrize(("name", "as_name", "fmt"), [
    ("trainer_state.json", "trainer_state.json", "hf-trainer"),  # HF's checkpoint-N folder
    ("metrics.csv", "metrics.csv", "lightning-csv"),  # Lightning's version_N folder
    ("llmc_main.log", "main.log", "llmc-main"),  # no nanoGPT word in its head
])
def test_a_folder_another_trainer_writes_is_read(tmp_path, name, as_name, fmt):
    import shutil

    import lossdoctor
    from conftest import FIXTURES
    shutil.copy(FIXTURES / "formats" / name, tmp_path / as_name)
    assert str(lossdoctor.load(str(tmp_path)).format) == fmt


def test_a_json_or_text_beside_a_log_is_not_taken_for_it(tmp_path):
    import os

    import lossdoctor
    from conftest import FIXTURES
    (tmp_path / "train.log").write_text((FIXTURES / "nanogpt" / "cpu_small" / "train.log").read_text())
    os.utime(tmp_path / "train.log", (1_000_000, 1_000_000))  # older than the others
    (tmp_path / "results.txt").write_text('{"best_val_loss": 1.47}\n')
    (tmp_path / "notes.txt").write_text("lr sweep, 3 runs\n" * 1000)
    assert lossdoctor.load(str(tmp_path)).source.endswith("train.log")



def test_one_run_of_a_file_that_holds_several_is_read_by_file_hash_name(tmp_path):
    import lossdoctor
    csv = tmp_path / "panel.csv"
    rows = ["Step,a - train/loss,b - train/loss"] + [f"{s},{3 - s / 100:.3f},{2.5 - s / 100:.3f}" for s in range(30)]
    csv.write_text("\n".join(rows) + "\n")
    runs = lossdoctor.load_many(str(csv))
    assert len(runs) == 2
    one = lossdoctor.load(runs[1].source)  # FILE#b, as the reports name it
    assert one.source == runs[1].source and float(one.iters.loss[0]) == 2.5
    with pytest.raises(lossdoctor.InputError, match="holds no run named 'c'"):
        lossdoctor.load(f"{csv}#c")
    with pytest.raises(lossdoctor.InputError, match="and FILE#NAME one of them"):
        lossdoctor.load(str(csv))
    hashed = tmp_path / "my#panel.csv"  # a `#` in the file's name, and in a run's
    hashed.write_text(csv.read_text().replace("b - train/loss", "exp#3 - train/loss"))
    assert lossdoctor.load(f"{hashed}#exp#3").source == f"{hashed}#exp#3"
    with pytest.raises(lossdoctor.InputError, match=r"no run named '3' \(its runs: a, exp#3\)"):
        lossdoctor.load(f"{hashed}#3")


def test_one_run_given_twice_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """A run compared with itself has no gap: the same file twice, or a folder and the log
    it reads, is refused (exit 2), not reported as two runs that end level."""
    folder = LOG.parent
    for argv, said in (([str(LOG), str(LOG)], f"{LOG} is given twice (as {LOG} before it)"),
                       ([str(folder), f"{folder}/"], f"{folder}/ is given twice"),
                       ([str(LOG), str(folder)], f"{LOG} is read twice (a folder given reads its log)")):
        assert main(["analyze", *argv]) == 2
        assert said in _one_error(capsys)
    from conftest import FIXTURES
    with_ckpt = FIXTURES / "nanogpt" / "tiny_resume"  # its log, merged with its ckpt.pt
    assert main(["analyze", str(with_ckpt), str(with_ckpt / "train.log")]) == 2
    assert "is read twice (a folder given reads its log)" in _one_error(capsys)


def test_a_runs_table_name_several_rows_share_is_refused_with_the_names_to_use(tmp_path):
    import lossdoctor
    csv = tmp_path / "runs.csv"
    csv.write_text("Name,seed,iter,val/loss\nbase,1,500,1.61\nbase,2,500,1.63\nwide,1,500,1.52\n")
    names = [r.source.split("#", 1)[1] for r in lossdoctor.load_many(str(csv))]
    assert names == ["base (seed 1)", "base (seed 2)", "wide"]
    with pytest.raises(lossdoctor.InputError, match=r"2 runs of the file are named 'base': .*'#base \(seed 1\)'"):
        lossdoctor.load(f"{csv}#base")
    assert float(lossdoctor.load(f"{csv}#base (seed 2)").evals.val[-1]) == 1.63
    with pytest.raises(lossdoctor.InputError, match="holds no run named 'narrow'"):
        lossdoctor.load(f"{csv}#narrow")


def test_a_folder_of_many_logs_counts_those_it_does_not_name(tmp_path):
    import os

    import lossdoctor
    from conftest import FIXTURES
    text = (FIXTURES / "nanogpt" / "cpu_small" / "train.log").read_text()
    for i in range(6):  # a0.log oldest ... a5.log newest
        (tmp_path / f"a{i}.log").write_text(text)
        os.utime(tmp_path / f"a{i}.log", (1_000_000 + i, 1_000_000 + i))
    run = lossdoctor.load(str(tmp_path))
    note = next(n for n in run.notes if " holds 6 logs" in n)
    assert "is read; not a2.log, a3.log, a4.log and 2 more (give a log's path" in note
