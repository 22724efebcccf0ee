"""The reader registry: formats are found by sniffing; a new format is one Reader entry."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES
from lossdoctor.config import ConfigBuilder
from lossdoctor.errors import InputError
from lossdoctor.nanogpt import MODEL_KEYS
from lossdoctor.readers import READERS, Reader, Sample, load, read_file, register, registry
from lossdoctor.run import Dialect, EvalCurve, Header, ModelArgs, Run, empty_iters

LOG_REASON = ("no lines of a training log found (looked for llm.c main.log lines, build-nanogpt log.txt lines, "
              "modded-nanogpt lines, nanochat lines, llm.c stdout lines, build-nanogpt stdout lines, "
              "nanoGPT log lines, and a traceback; docs/formats.md)")


# a toy format: a `#toy` first line, then `STEP TRAIN VAL` eval lines

def sniff_toy(sample: Sample) -> bool:
    return sample.head.startswith(b"#toy\n")


def read_toy(sample: Sample) -> Run:
    rows = [line.split() for line in sample.data.tobytes().decode().splitlines()[1:] if line.strip()]
    step = np.array([int(r[0]) for r in rows], np.int64)
    train, val = (np.array([float(r[i]) for r in rows]) for i in (1, 2))
    evals = EvalCurve(step, train, val, np.zeros(len(rows), np.int32), np.arange(2, len(rows) + 2))
    return Run(sample.path, Dialect.NANOGPT, ConfigBuilder().build(), ModelArgs(), evals, empty_iters(),
               (), (), Header(), ())


TOY = Reader("toy", sniff_toy, read_toy, finds="toy eval lines", looks_for="a `#toy` first line")


@pytest.fixture
def toy_file(tmp_path: Path) -> Path:
    p = tmp_path / "run.toy"
    p.write_text("#toy\n0 4.20 4.25\n100 3.10 3.30\n")
    return p


def test_the_built_in_formats_in_sniffing_order() -> None:
    assert [r.name for r in READERS] == [
        "nanochat-model", "nanogpt-ckpt", "tensorboard", "hf-trainer", "wandb-summary", "nanochat-ckpt", "json",
        "jsonl", "wandb-panel", "lightning-csv", "wandb-runs", "csv", "llmc-main", "build-nanogpt-log",
        "modded-nanogpt", "nanochat", "llmc", "build-nanogpt", "nanogpt-md", "nanogpt", "crash-log"]
    dialects = {d.value for d in Dialect}
    assert {r.name for r in READERS} - dialects == {"json", "nanochat-model"}  # refuses; reads the meta JSON


def test_load_reads_a_format_passed_in_the_readers_list(toy_file: Path) -> None:
    run = load(toy_file, readers=[*READERS, TOY])
    assert run.source == str(toy_file)
    assert run.evals.step.tolist() == [0, 100] and run.evals.val.tolist() == [4.25, 3.3]


def test_register_adds_a_format_to_the_default_list(toy_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "READERS", list(registry.READERS))
    with pytest.raises(InputError):
        load(toy_file)
    assert register(TOY) is TOY and registry.READERS[-1] is TOY
    assert load(toy_file).evals.train.tolist() == [4.2, 3.1]
    assert READERS[-1].name == "crash-log"  # the module's own list was not touched


def test_an_unknown_text_file_names_the_file_and_what_was_looked_for(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("Dear diary,\ntoday I trained nothing.\n")
    with pytest.raises(InputError) as e:
        load(p)
    assert e.value.path == str(p) and e.value.reason == LOG_REASON
    with pytest.raises(InputError) as e:
        load(p, readers=[*READERS, TOY])
    assert e.value.path == str(p)
    assert e.value.reason.endswith("; no toy eval lines found (looked for a `#toy` first line)")
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_a_text_that_names_a_trainer_is_no_run_of_it(tmp_path: Path) -> None:
    """A README or a note that mentions nanochat (or nanoGPT, llm.c, ...) holds no run."""
    p = tmp_path / "README.md"
    p.write_text("# notes\n\nI moved from nanoGPT to nanochat, and tried llm.c and modded-nanogpt too.\n")
    with pytest.raises(InputError) as e:
        load(p)
    assert e.value.reason == LOG_REASON


def test_an_unknown_binary_file_and_an_empty_one(tmp_path: Path) -> None:
    p = tmp_path / "blob.bin"
    p.write_bytes(b"\x00\x01binary" * 10)
    with pytest.raises(InputError, match="binary file, not a training log or a torch checkpoint"):
        read_file(str(p))
    p.write_bytes(b" \n" * 10_000)  # whitespace past the sniffed head
    with pytest.raises(InputError, match="empty file"):
        read_file(str(p))


def test_a_log_is_scanned_once_for_sniff_and_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from lossdoctor.readers import nanogpt
    calls: list[bool] = []
    real = nanogpt.scan_chunks

    def counting(pieces: object, *, markdown: bool = False) -> object:
        calls.append(markdown)
        return real(pieces, markdown=markdown)  # type: ignore[arg-type]

    monkeypatch.setattr(nanogpt, "scan_chunks", counting)
    run = read_file(str(FIXTURES / "nanogpt" / "cpu_small" / "train.log"))
    assert run.format is Dialect.NANOGPT and calls == [False]


def test_dialect_prints_and_serialises_as_its_value() -> None:
    d = Dialect.NANOGPT_WITH_CKPT
    assert str(d) == f"{d}" == "nanogpt+ckpt" == d and json.dumps({"format": d}) == '{"format": "nanogpt+ckpt"}'
    assert {"nanogpt+ckpt": 1}[d] == 1
    assert d.has_log and d.has_checkpoint and not Dialect.NANOGPT_CKPT.has_log
    assert not Dialect.NANOGPT_MD.has_checkpoint


def test_run_takes_a_dialect_string_and_refuses_an_unknown_one() -> None:
    parts = (ConfigBuilder().build(), ModelArgs(), EvalCurve(*(np.zeros(0),) * 5), empty_iters(), (), (),
             Header(), ())
    assert Run("x.log", "nanogpt-md", *parts).format is Dialect.NANOGPT_MD
    with pytest.raises(ValueError):
        Run("x.log", "no-such-trainer", *parts)


def test_model_args_are_nanogpt_model_keys_and_typed() -> None:
    assert tuple(f.name for f in fields(ModelArgs)) == MODEL_KEYS
    args = ModelArgs.from_mapping({"n_layer": 2, "n_head": "2", "bias": 1, "dropout": 0, "vocab_size": None,
                                   "block_size": True, "n_embd": 32, "seq_len": 8})
    assert args.as_dict() == {"n_layer": 2, "n_embd": 32, "dropout": 0}
    assert args.updated(ModelArgs(n_layer=4, bias=False)).as_dict() == {"n_layer": 4, "n_embd": 32, "bias": False,
                                                                          "dropout": 0}
    assert ModelArgs().as_dict() == {}


@pytest.mark.parametrize("name", ["log", "output", "stdout"])
def test_a_run_directory_finds_a_log_named_without_a_suffix(tmp_path, name):
    import lossdoctor
    (tmp_path / name).write_text("step 0: train loss 4.1700, val loss 4.1800\n"
                                 "iter 0: loss 4.1900, time 10.00ms, mfu -100.00%\n")
    assert lossdoctor.load(str(tmp_path)).source.endswith(name)


def test_an_empty_run_directory_says_what_it_looked_for(tmp_path):
    import lossdoctor
    from lossdoctor.errors import InputError
    with pytest.raises(InputError, match=r"looked for files named \*\.log.*output.*ckpt\.pt"):
        lossdoctor.load(str(tmp_path))


def test_a_text_that_quotes_a_scheduler_s_stop_is_no_crash_log(tmp_path: Path) -> None:
    """A table of log sources that quotes Slurm's and torchrun's stop lines, and a README
    that sets nanochat's environment, hold no run."""
    p = tmp_path / "SOURCES.md"
    p.write_text("| file | what |\n|---|---|\n| a.err | stopped: `CANCELLED AT ... DUE TO TIME LIMIT`; "
                 "`Received 15 death signal` |\n")
    with pytest.raises(InputError):
        load(p)
    readme = tmp_path / "README.md"
    readme.write_text("Run nanochat with\n\n    export NANOCHAT_BASE_DIR=$HOME/nc\n")
    with pytest.raises(InputError):
        load(readme)


def test_a_crash_in_build_nanogpts_script_is_its_and_one_of_nanogpts_gpt2_config_is_nanogpts(tmp_path: Path) -> None:
    frame = 'Traceback (most recent call last):\n  File "/home/u/build-nanogpt/train_gpt2.py", line 388, in <module>\n'
    (tmp_path / "build.log").write_text("using device: cuda\n" + frame + "torch.OutOfMemoryError: CUDA out of memory\n")
    (tmp_path / "nanogpt.log").write_text("Overriding config with config/train_gpt2.py:\nbatch_size = 12\n"
                                          'Traceback (most recent call last):\n  File "train.py", line 113, in '
                                          "<module>\nRuntimeError: NCCL error\n")
    iters = "".join(f"iter {i}: loss {4 - i / 100:.4f}, time 35.00ms, mfu 10.00%\n" for i in range(50))
    fork = frame.replace("build-nanogpt", "nanoGPT")  # a fork's own train_gpt2.py, no header printed
    (tmp_path / "fork.log").write_text(iters + fork + "torch.OutOfMemoryError: CUDA out of memory\n")
    assert load(tmp_path / "build.log").format == "build-nanogpt"
    assert load(tmp_path / "nanogpt.log").format == "nanogpt"
    assert load(tmp_path / "fork.log").format == "nanogpt" and len(load(tmp_path / "fork.log").iters) == 50


@pytest.mark.parametrize("head, told", [
    (b"\0\0\0iter 0: loss 4.2, time 10.00ms, mfu -100.00%\n", True),  # a log emptied under its writer
    (b"\0\x01\x02binary", False),  # bytes that decode as UTF-8 but are no text: no advice to strip NULs
])
def test_nul_prefix_advice_only_for_text_after_the_nuls(tmp_path, head, told):
    from lossdoctor import load
    path = tmp_path / "train.log"
    path.write_bytes(head)
    with pytest.raises(InputError) as e:
        load(str(path))
    assert ("NUL bytes" in str(e.value)) is told and "binary file" in str(e.value)
