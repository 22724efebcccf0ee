"""Tests for lossdoctor.readers.checkpoint: real torch checkpoints built in tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from lossdoctor.errors import CheckpointError  # noqa: E402
from lossdoctor.readers.checkpoint import normalize_model_args, read_checkpoint  # noqa: E402

CORPUS_CKPT = "/work/shared/corpus/logs/ckpt/sqtian-gpt-by-hand-tiny-ckpt.pt"

V, T, C = 65, 8, 16  # vocab, block_size, n_embd of the tiny model
# wte 65*16 + wpe 8*16 + ln_1 16 + c_attn 48*16 + attn.c_proj 16*16 + ln_2 16
# + c_fc 64*16 + mlp.c_proj 16*64 + ln_f 16; lm_head tied to wte (not counted again)
TINY_PARAMS = 1040 + 128 + 16 + 768 + 256 + 16 + 1024 + 1024 + 16
TINY_PARAMS_NO_WPE = TINY_PARAMS - T * C
MODEL_ARGS = dict(n_layer=1, n_head=2, n_embd=C, block_size=T, bias=False, vocab_size=V,
                  dropout=0.0)
CONFIG = dict(learning_rate=6e-4, max_iters=100, batch_size=4, always_save_checkpoint=False,
              out_dir="out-tiny", dtype="float32")


# --------------------------------------------------------------------------- builders


class _Block(nn.Module):
    """nanoGPT Block's parameter names (bias=False)."""

    def __init__(self) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(C, bias=False)
        self.attn = nn.Module()
        self.attn.c_attn = nn.Linear(C, 3 * C, bias=False)
        self.attn.c_proj = nn.Linear(C, C, bias=False)
        self.ln_2 = nn.LayerNorm(C, bias=False)
        self.mlp = nn.Module()
        self.mlp.c_fc = nn.Linear(C, 4 * C, bias=False)
        self.mlp.c_proj = nn.Linear(4 * C, C, bias=False)


class _TinyGPT(nn.Module):
    """nanoGPT GPT's parameter names, one block, lm_head tied to wte."""

    def __init__(self) -> None:
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(V, C), wpe=nn.Embedding(T, C),
            h=nn.ModuleList([_Block()]), ln_f=nn.LayerNorm(C, bias=False)))
        self.lm_head = nn.Linear(C, V, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # weight tying, as model.py does


def _trained_tiny() -> tuple[_TinyGPT, Any]:
    """The model and an AdamW with nanoGPT's two param groups, after one step."""
    torch.manual_seed(0)
    model = _TinyGPT()
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    nodecay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=6e-4, betas=(0.9, 0.95))
    loss = sum((p.float() ** 2).sum() for p in params)
    loss.backward()
    opt.step()
    return model, opt


def _checkpoint(prefix: str = "", best_val_loss: Any = None) -> dict[str, Any]:
    model, opt = _trained_tiny()
    state = {prefix + k: v for k, v in model.state_dict().items()}
    return {
        "model": state,
        "optimizer": opt.state_dict(),
        "model_args": dict(MODEL_ARGS),
        "iter_num": 1,
        "best_val_loss": torch.tensor(2.5) if best_val_loss is None else best_val_loss,
        "config": dict(CONFIG),
    }


def _save(tmp_path: Path, obj: Any, name: str = "ckpt.pt") -> str:
    path = tmp_path / name
    torch.save(obj, path)
    return str(path)


def _reason(path: str) -> str:
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert info.value.path == path
    assert "\n" not in info.value.reason
    return info.value.reason


# --------------------------------------------------------------------------- good files


def test_stock_nanogpt_checkpoint_every_field(tmp_path: Path) -> None:
    path = _save(tmp_path, _checkpoint())
    info = read_checkpoint(path)
    assert info.path == path
    assert info.iter_num == 1 and type(info.iter_num) is int
    assert info.best_val_loss == 2.5 and type(info.best_val_loss) is float
    assert info.model_args == MODEL_ARGS
    assert info.config == CONFIG
    assert info.n_params == TINY_PARAMS == 4288
    assert info.n_params_no_wpe == TINY_PARAMS_NO_WPE == 4160
    assert info.optimizer_steps == 1
    assert info.param_group_lrs == (6e-4, 6e-4)
    assert info.param_group_weight_decay == (0.1, 0.0)
    assert info.notes == ()
    with pytest.raises(TypeError):  # the stored mappings are read-only
        info.config["max_iters"] = 5  # type: ignore[index]


@pytest.mark.parametrize("zipped", [True, False])
def test_a_checkpoint_is_read_mapped_from_its_file_and_a_legacy_one_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zipped: bool) -> None:
    path = tmp_path / "ckpt.pt"
    torch.save(_checkpoint(), path, _use_new_zipfile_serialization=zipped)
    asked: list[bool] = []
    load = torch.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        asked.append(bool(kwargs.get("mmap")))
        return load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    info = read_checkpoint(str(path))
    assert asked == [zipped]  # torch's legacy format cannot be mapped: read whole, as before
    assert (info.n_params, info.iter_num, info.optimizer_steps) == (TINY_PARAMS, 1, 1)


def test_param_count_matches_module_parameters(tmp_path: Path) -> None:
    model, _ = _trained_tiny()
    # nn.Module.parameters() deduplicates tied weights, like nanoGPT's get_num_params
    expected = sum(p.numel() for p in model.parameters())
    info = read_checkpoint(_save(tmp_path, _checkpoint()))
    assert info.n_params == expected
    assert info.n_params_no_wpe == expected - model.transformer.wpe.weight.numel()


@pytest.mark.parametrize("prefix", ["_orig_mod.", "module.", "module._orig_mod."])
def test_wrapper_prefixes_are_stripped(tmp_path: Path, prefix: str) -> None:
    info = read_checkpoint(_save(tmp_path, _checkpoint(prefix=prefix)))
    assert info.n_params == TINY_PARAMS
    assert info.n_params_no_wpe == TINY_PARAMS_NO_WPE
    assert info.notes == ()


def test_float_best_val_loss(tmp_path: Path) -> None:
    info = read_checkpoint(_save(tmp_path, _checkpoint(best_val_loss=1.25)))
    assert info.best_val_loss == 1.25 and type(info.best_val_loss) is float


def test_untied_copy_with_equal_values_counted_once(tmp_path: Path) -> None:
    ckpt = _checkpoint()
    ckpt["model"]["lm_head.weight"] = ckpt["model"]["lm_head.weight"].clone()  # own storage
    assert read_checkpoint(_save(tmp_path, ckpt)).n_params == TINY_PARAMS


def test_untied_different_lm_head_counted_twice(tmp_path: Path) -> None:
    ckpt = _checkpoint()
    ckpt["model"]["lm_head.weight"] = torch.randn(V, C)
    assert read_checkpoint(_save(tmp_path, ckpt)).n_params == TINY_PARAMS + V * C


def test_causal_mask_buffer_is_not_a_parameter(tmp_path: Path) -> None:
    ckpt = _checkpoint()  # nanoGPT without flash attention saves attn.bias (1, 1, T, T)
    ckpt["model"]["transformer.h.0.attn.bias"] = torch.tril(torch.ones(T, T)).view(1, 1, T, T)
    assert read_checkpoint(_save(tmp_path, ckpt)).n_params == TINY_PARAMS


def test_always_save_checkpoint_note(tmp_path: Path) -> None:
    ckpt = _checkpoint()
    ckpt["config"]["always_save_checkpoint"] = True
    notes = read_checkpoint(_save(tmp_path, ckpt)).notes
    assert len(notes) == 1 and "always_save_checkpoint" in notes[0]


def test_missing_pieces_give_notes_not_errors(tmp_path: Path) -> None:
    ckpt = _checkpoint()
    for key in ("optimizer", "iter_num", "best_val_loss", "config"):
        del ckpt[key]
    info = read_checkpoint(_save(tmp_path, ckpt))
    assert (info.iter_num, info.best_val_loss, info.optimizer_steps) == (None, None, None)
    assert info.param_group_lrs == () and info.param_group_weight_decay == ()
    assert info.config == {}
    text = " ".join(info.notes)
    for word in ("optimizer", "iter_num", "best_val_loss", "config"):
        assert word in text


def test_model_args_only_with_shapes_inferred(tmp_path: Path) -> None:
    ckpt = _checkpoint()
    ckpt["model_args"] = {"n_head": 2}
    info = read_checkpoint(_save(tmp_path, ckpt))
    assert info.model_args == {"n_head": 2}  # kept as stored
    text = " ".join(info.notes)
    assert "vocab_size not in model_args; inferred from transformer.wte.weight shape" in text
    assert "could not know bias, dropout" in text


def test_a_checkpoint_whose_config_has_no_model_keys_gives_them_from_its_model_args(tmp_path: Path) -> None:
    import lossdoctor
    ckpt = _checkpoint()
    model = ("n_layer", "n_head", "n_embd", "block_size", "bias", "dropout")
    ckpt["config"] = {k: v for k, v in CONFIG.items() if k not in model}  # a fork's config dict
    cfg = lossdoctor.load(_save(tmp_path, ckpt)).config
    for key in model:
        assert (cfg.get(key), cfg.values[key].origin) == (MODEL_ARGS[key], "checkpoint"), key  # not train.py's


def test_optimizer_steps_behind_iter_num_noted(tmp_path: Path) -> None:
    ckpt = _checkpoint()
    ckpt["iter_num"] = 5
    info = read_checkpoint(_save(tmp_path, ckpt))
    assert info.optimizer_steps == 1 and info.iter_num == 5
    assert any("took 1 steps but iter_num is 5" in n for n in info.notes)


# --------------------------------------------------------------------------- refused files


_RAN: list[str] = []


def _side_effect(tag: str) -> str:
    _RAN.append(tag)
    return tag


class Payload:
    """Unpickling this would call _side_effect: code that must never run."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_side_effect, ("ran",))


class Marker:
    def __init__(self) -> None:
        self.x = 1


def test_custom_class_refused_without_running_code(tmp_path: Path) -> None:
    ckpt = _checkpoint()
    ckpt["evil"] = Payload()
    reason = _reason(_save(tmp_path, ckpt))
    assert "weights_only" in reason and "_side_effect" in reason
    assert _RAN == []


def test_custom_class_instance_refused_with_its_name(tmp_path: Path) -> None:
    ckpt = _checkpoint()
    ckpt["config"] = Marker()
    reason = _reason(_save(tmp_path, ckpt))
    assert "weights_only=True" in reason
    assert "refused for safety" in reason
    assert "Marker" in reason


def test_lfs_pointer(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    path.write_text("version https://git-lfs.github.com/spec/v1\n"
                    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
                    "size 134217728\n")
    reason = _reason(str(path))
    assert "LFS pointer" in reason and "size 134217728" in reason and "git lfs pull" in reason


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    path.write_bytes(b"")
    assert "empty" in _reason(str(path))


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    path.write_text("step 0: train loss 4.2, val loss 4.3\niter 0: loss 4.2\n")
    reason = _reason(str(path))
    assert "text file" in reason and "step 0" in reason


def test_zip_that_is_not_torch(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    assert "zip archive but not a torch checkpoint" in _reason(str(path))


def test_truncated_file(tmp_path: Path) -> None:
    full = Path(_save(tmp_path, _checkpoint(), "full.pt")).read_bytes()
    path = tmp_path / "ckpt.pt"
    path.write_bytes(full[: len(full) // 2])
    assert "truncated or corrupt" in _reason(str(path))


def test_missing_file(tmp_path: Path) -> None:
    assert "not found" in _reason(str(tmp_path / "nope.pt"))


def test_non_dict_top_level(tmp_path: Path) -> None:
    reason = _reason(_save(tmp_path, [1, 2, 3]))
    assert reason.startswith("not a nanoGPT checkpoint") and "list" in reason


def test_dict_without_model_or_model_args(tmp_path: Path) -> None:
    reason = _reason(_save(tmp_path, {"step": 3, "weights": torch.zeros(2)}))
    assert reason == "not a nanoGPT checkpoint (top-level keys: step, weights)"


def test_module_import_does_not_load_torch() -> None:
    code = ("import sys, lossdoctor.readers.checkpoint; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=root)
    assert subprocess.run([sys.executable, "-c", code], cwd=root, env=env).returncode == 0


# --------------------------------------------------------------------------- normalize_model_args


def test_normalize_aliases_and_inference() -> None:
    args = {"num_layers": 2, "n_heads": 4, "d_model": 32, "context_length": 64,
            "use_bias": True, "dropout_rate": torch.tensor(0.1), "extra": 1}
    shapes = {"transformer.wte.weight": (100, 32), "transformer.wpe.weight": (64, 32),
              "transformer.h.0.ln_1.weight": (32,), "transformer.h.1.ln_1.weight": (32,)}
    out, notes = normalize_model_args(args, shapes)
    assert out == {"n_layer": 2, "n_head": 4, "n_embd": 32, "block_size": 64, "bias": True,
                   "dropout": pytest.approx(0.1), "vocab_size": 100}
    assert notes[0].startswith("model_args uses a fork's key names (num_layers -> n_layer, ")
    assert "vocab_size not in model_args; inferred from transformer.wte.weight shape." in notes
    assert any("extra" in n for n in notes)


def test_normalize_without_shapes_says_what_is_unknown() -> None:
    out, notes = normalize_model_args({"n_layer": 3, "n_embed": 48})
    assert out == {"n_layer": 3, "n_embd": 48}
    assert notes[-1] == ("could not know n_head, block_size, bias, vocab_size, dropout "
                         "(not in model_args).")


def test_normalize_infers_layer_count_and_reports_mismatch() -> None:
    shapes = {f"transformer.h.{i}.attn.c_attn.weight": (48, 16) for i in range(3)}
    shapes["transformer.wte.weight"] = (50, 16)
    out, notes = normalize_model_args({"vocab_size": 65}, shapes)
    assert out["n_layer"] == 3 and out["vocab_size"] == 65 and out["n_embd"] == 16
    assert "model_args says vocab_size=65 but transformer.wte.weight shape gives 50." in notes


def test_normalize_nanogpt_name_wins_over_alias() -> None:
    out, notes = normalize_model_args({"block_size": 8, "seq_len": 16})
    assert out["block_size"] == 8
    assert any("both block_size=8 and seq_len=16" in n for n in notes)


# --------------------------------------------------------------------------- corpus


def test_corpus_sqtian_checkpoint() -> None:
    if not os.path.exists(CORPUS_CKPT):
        pytest.skip("corpus checkpoint not present")
    info = read_checkpoint(CORPUS_CKPT)
    assert info.iter_num == 2000
    # stored as a 0-d float32 tensor, tensor(1.5052)
    assert type(info.best_val_loss) is float
    assert info.best_val_loss == 1.5051857233047485
    assert info.model_args == {"vocab_size": 32, "seq_length": 8, "num_layers": 2,
                               "num_heads": 2, "dim_embedding": 16, "dropout_rate": 0.0,
                               "use_bias": False}
    assert info.config["INIT_FROM_RESUME"] == "resume" and len(info.config) == 11
    # wte 32*16 + wpe 8*16 + 2 blocks * 3104 + ln_f 16; lm_head shares wte's storage
    assert info.n_params == 6864
    assert info.n_params_no_wpe == 6736
    assert info.optimizer_steps == 1997
    assert info.param_group_lrs == (3e-05, 3e-05)
    assert info.param_group_weight_decay == (0.1, 0.0)
    notes = " ".join(info.notes)
    for old, new in [("seq_length", "block_size"), ("num_layers", "n_layer"),
                     ("num_heads", "n_head"), ("dim_embedding", "n_embd"),
                     ("dropout_rate", "dropout"), ("use_bias", "bias")]:
        assert f"{old} -> {new}" in notes
    assert "gamma" in notes
    assert "took 1997 steps but iter_num is 2000" in notes
    out, _ = normalize_model_args(info.model_args)
    assert out == {"n_layer": 2, "n_head": 2, "n_embd": 16, "block_size": 8, "bias": False,
                   "vocab_size": 32, "dropout": 0.0}
    # the facts read the shape under the fork's names too, and the verdict the saved best
    import lossdoctor
    from lossdoctor.report.verdict import _losses
    run = lossdoctor.load(CORPUS_CKPT)
    facts = lossdoctor.compute_facts(run)
    assert [facts.value(k) for k in ("n_layer", "n_head", "n_embd", "block_size")] == [2, 2, 16, 8]
    assert facts["n_layer"].source == "ckpt model_args (a fork's name for it)"
    assert _losses(facts) == "no val curve; best val 1.5052; 2,000 steps"


def test_checkpoint_config_wins_over_defaults_in_the_facts(tmp_path: Path) -> None:
    """A log that leaves dtype at train.py's default, with a checkpoint saved with
    dtype float32: the facts and the rules read float32, as the config table does."""
    import lossdoctor
    from lossdoctor.diagnose import diagnose
    from lossdoctor.facts import compute_facts
    ckpt = _save(tmp_path, _checkpoint())
    log = tmp_path / "train.log"
    log.write_text("Overriding: device = cpu\nOverriding: max_iters = 100\n"
                   "step 0: train loss 4.1700, val loss 4.1800\n"
                   "iter 0: loss 4.1900, time 10.00ms, mfu -100.00%\n")
    run = lossdoctor.load(str(log), checkpoint=ckpt)
    facts = compute_facts(run)
    assert run.config.get("dtype") == "float32"
    assert (facts.value("dtype"), facts["dtype"].status) == ("float32", "read")
    assert "LD1301-dtype-ignored-on-cpu" not in [f.rule for f in diagnose(run, facts).findings]


def test_a_checkpoint_of_another_model_is_not_merged_into_a_log(tmp_path: Path) -> None:
    import lossdoctor
    nano = Path(__file__).parent.parent / "fixtures" / "nanogpt"
    run = lossdoctor.load(str(nano / "cpu_small" / "train.log"), checkpoint=str(nano / "tiny_resume" / "ckpt.pt"))
    assert run.format == "nanogpt" and run.checkpoint is None  # the log's 4 x 128 model, its own params
    assert "holds another model (n_layer 2 there, 4 in the log" in run.notes[-1]
    own = lossdoctor.load(str(nano / "tiny_resume" / "train.log"), checkpoint=str(nano / "tiny_resume" / "ckpt.pt"))
    assert own.format == "nanogpt+ckpt" and own.checkpoint is not None
    # a lineage that began fresh, then resumed: its first process's shape is the model's
    long = nano.parent / "long"
    lineage = tmp_path / "lineage.log"
    lineage.write_text((long / "d3w96h4-2000" / "train.log").read_text()
                       + (long / "d3w96h4-resume-5000" / "train.log").read_text())
    run = lossdoctor.load(str(lineage), checkpoint=str(nano / "tiny_resume" / "ckpt.pt"))
    assert run.checkpoint is None and "holds another model (n_layer 2 there, 3 in the log" in run.notes[-1]


def test_a_folder_whose_checkpoint_cannot_be_read_is_read_by_its_log(tmp_path):
    # a ckpt.pt cut while it was saved (or a Git LFS pointer) had made the whole folder refused
    import shutil

    import lossdoctor
    from conftest import FIXTURES
    src = FIXTURES / "nanogpt" / "tiny_resume"
    shutil.copy(src / "train.log", tmp_path / "train.log")
    (tmp_path / "ckpt.pt").write_bytes((src / "ckpt.pt").read_bytes()[:200_000])
    run = lossdoctor.load(str(tmp_path))
    assert run.checkpoint is None and run.format == "nanogpt"
    assert any(n.startswith(f"{tmp_path / 'ckpt.pt'}: ") and n.endswith("not merged, the log alone is read")
               for n in run.notes)
    assert lossdoctor.load(str(tmp_path / "train.log")).evals.step.tolist() == run.evals.step.tolist()
