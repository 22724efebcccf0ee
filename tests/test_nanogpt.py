"""lossdoctor.nanogpt: nanoGPT's defaults, keys, schedule and checkpoint loader, in one place."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from lossdoctor import nanogpt
from lossdoctor.errors import CheckpointError


def test_one_home_for_the_defaults_and_the_schedule() -> None:
    from lossdoctor import config
    from lossdoctor.facts import schedule
    from lossdoctor.trainer import config as trainer_config
    assert config.NANOGPT_DEFAULTS is nanogpt.NANOGPT_DEFAULTS  # imported, not restated
    assert not hasattr(config, "MACHINE_DEPENDENT_DEFAULTS")
    assert schedule.lr_at is nanogpt.lr_at and schedule.SCHEDULE_KEYS is nanogpt.SCHEDULE_KEYS
    assert trainer_config.NANOGPT_DEFAULTS is nanogpt.NANOGPT_DEFAULTS
    assert not hasattr(trainer_config, "IGNORED")


def test_defaults_are_read_only_and_typed() -> None:
    with pytest.raises(TypeError):
        nanogpt.NANOGPT_DEFAULTS["eval_iters"] = 1  # type: ignore[index]
    assert nanogpt.NANOGPT_DEFAULTS["eval_iters"] == nanogpt.EVAL_ITERS_DEFAULT == 200
    assert nanogpt.NANOGPT_DEFAULTS["eval_interval"] == nanogpt.EVAL_INTERVAL_DEFAULT == 2000
    assert nanogpt.NANOGPT_DEFAULTS["gradient_accumulation_steps"] == 40
    assert set(nanogpt.MODEL_KEYS) - {"vocab_size"} <= nanogpt.NANOGPT_KEYS
    assert nanogpt.SHAPE_KEYS == nanogpt.MODEL_KEYS[:6] and "dropout" not in nanogpt.SHAPE_KEYS
    assert set(nanogpt.COUNT_KEYS) | set(nanogpt.SCHEDULE_KEYS) | set(nanogpt.BATCH_KEYS) <= nanogpt.NANOGPT_KEYS


def test_configurator_reading_and_type_check() -> None:
    assert nanogpt.configurator_value("3e-4") == 3e-4
    assert nanogpt.configurator_value("False") is False
    assert nanogpt.configurator_value("cpu") == "cpu"
    assert nanogpt.accepts("learning_rate", 1e-3) and not nanogpt.accepts("learning_rate", 1)
    assert nanogpt.accepts("max_iters", 10) and not nanogpt.accepts("max_iters", True)
    assert not nanogpt.accepts("resume", True)


def test_gpt2_shapes() -> None:
    assert nanogpt.gpt2_model_args("gpt2-medium", 256) == {
        "n_layer": 24, "n_head": 16, "n_embd": 1024, "block_size": 256, "bias": True, "vocab_size": 50257}
    assert nanogpt.gpt2_model_args("gpt2", None)["block_size"] == 1024  # type: ignore[index]
    assert nanogpt.gpt2_model_args("gpt2-xxl") is None
    assert nanogpt.gpt2_block_size(4096) == 1024 and nanogpt.gpt2_block_size(True) == 1024


def test_get_lr_is_lr_at_of_a_config() -> None:
    cfg = dict(nanogpt.NANOGPT_DEFAULTS)
    steps = [0, 1999, 2000, 300_000, 600_001]
    assert [nanogpt.get_lr(s, cfg) for s in steps] == nanogpt.lr_at(
        np.array(steps), **{k: cfg[k] for k in nanogpt.SCHEDULE_KEYS}).tolist()
    assert nanogpt.get_lr(5, {**cfg, "decay_lr": False}) == cfg["learning_rate"]


@pytest.mark.parametrize("key,stripped", [
    ("_orig_mod.transformer.wte.weight", "transformer.wte.weight"),
    ("module._orig_mod.lm_head.weight", "lm_head.weight"),
    ("_orig_mod.module.lm_head.weight", "lm_head.weight"),
    ("transformer.h.0.attn.bias", "transformer.h.0.attn.bias"),
])
def test_wrapper_prefixes(key: str, stripped: str) -> None:
    assert nanogpt.strip_prefixes(key) == stripped


def test_import_loads_neither_numpy_nor_torch() -> None:
    code = ("import sys, lossdoctor.nanogpt, lossdoctor.config; "
            "sys.exit(1 if {'numpy', 'torch'} & set(sys.modules) else 0)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env).returncode == 0


# --------------------------------------------------------------------------- the checkpoint loader


def _ckpt(torch: object, **drop: bool) -> dict[str, object]:
    full = {"model": {"_orig_mod.transformer.wte.weight": torch.zeros(4, 2)},  # type: ignore[attr-defined]
            "optimizer": {"state": {}, "param_groups": []}, "model_args": {"n_layer": 1}, "iter_num": 3,
            "best_val_loss": 2.5, "config": {"learning_rate": 1e-3}}
    return {k: v for k, v in full.items() if not drop.get(k)}


def test_load_checkpoint_loads_and_strips(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "ckpt.pt"
    torch.save(_ckpt(torch), path)
    ckpt = nanogpt.load_checkpoint(str(path), require=nanogpt.RESUME_KEYS)
    assert set(ckpt) == set(nanogpt.CHECKPOINT_KEYS) and ckpt["iter_num"] == 3
    assert list(nanogpt.state_dict(ckpt["model"])) == ["transformer.wte.weight"]


def test_load_checkpoint_errors_name_the_file_in_one_line(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "ckpt.pt"
    torch.save(_ckpt(torch, optimizer=True, best_val_loss=True), path)
    nanogpt.load_checkpoint(str(path))  # enough to read
    with pytest.raises(CheckpointError) as e:
        nanogpt.load_checkpoint(str(path), require=nanogpt.RESUME_KEYS)
    assert e.value.path == str(path)
    assert e.value.reason == "not a nanoGPT training checkpoint (no optimizer, best_val_loss)"
    for content, reason in ((None, "file not found"), (b"", "empty file"), (b"hello\n", "text file"),
                            (b"version https://git-lfs.github.com/spec/v1\nsize 9\n", "Git LFS pointer")):
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(CheckpointError, match=reason) as e:
            nanogpt.load_checkpoint(str(tmp_path / "gone.pt") if content is None else str(path))
        assert "\n" not in e.value.reason


@pytest.mark.parametrize("value, text", [(0.0, "0.0"), (2.0, "2.0"), (1e-5, "1e-05"), (0.002, "0.002"),
                                         (6e-4, "0.0006"), (1e10, "1e+10"), (5, "5"), (True, "True")])
def test_a_flag_value_reads_back_as_the_same_type(value, text):
    assert nanogpt.flag_value(value) == text
    assert type(nanogpt.configurator_value(text)) is type(value)
