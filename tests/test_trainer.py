"""The built-in trainer, on tiny configs that take seconds on CPU."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lossdoctor.errors import CheckpointError, InputError, UsageError  # noqa: E402
from lossdoctor.trainer import Trainer, get_lr, load_data, resolve, train  # noqa: E402
from lossdoctor.trainer.data import prepare_text  # noqa: E402
from lossdoctor.trainer.loop import TrainingStopped, load_checkpoint  # noqa: E402
from lossdoctor.trainer.model import GPT, GPTConfig  # noqa: E402

TINY = ["--device=cpu", "--compile=False", "--dtype=float32", "--n_layer=1", "--n_head=2",
        "--n_embd=16", "--block_size=16", "--batch_size=8", "--gradient_accumulation_steps=1",
        "--eval_interval=10", "--eval_iters=4", "--log_interval=1", "--learning_rate=1e-2",
        "--warmup_iters=5", "--lr_decay_iters=40", "--min_lr=1e-3", "--max_iters=40",
        "--always_save_checkpoint=True"]

# nanoGPT's model.py state_dict for n_layer=2, bias=True (read off nanoGPT @3adf61e1)
NANOGPT_KEYS = ["transformer.wte.weight", "transformer.wpe.weight"] + [
    f"transformer.h.{i}.{name}" for i in range(2) for name in (
        "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
        "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
        "mlp.c_proj.weight", "mlp.c_proj.bias")] + [
    "transformer.ln_f.weight", "transformer.ln_f.bias", "lm_head.weight"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    words = ["the ", "cat ", "sat ", "on ", "a ", "mat. "]
    return prepare_text("".join(rng.choice(words, 4000)), "generated words")


def tiny(tmp_path, *extra: str):
    return resolve(None, TINY + [f"--out_dir={tmp_path / 'out'}", *extra])


def read_metrics(out_dir) -> list[dict]:
    with open(os.path.join(out_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_the_log_gives_the_splits_sizes_so_analyze_knows_the_epochs(tmp_path, data):
    # nanoGPT's log does not say how much data it trained on: a run on the user's own text
    # had its epochs unknown (and with them LD503 and the extrapolation's epoch limit)
    import lossdoctor
    train(tiny(tmp_path), data, echo=False)
    log = (tmp_path / "out" / "train.log").read_text()
    assert f"train split: {len(data.train):,} tokens, val split: {len(data.val):,} tokens" in log
    facts = lossdoctor.compute_facts(lossdoctor.load(str(tmp_path / "out")))
    assert facts["dataset_tokens"].value == len(data.train) and facts["epochs"].known


def test_the_loss_decreases(tmp_path, data):
    result = train(tiny(tmp_path), data, echo=False)
    first, last = result.evals[0], result.evals[-1]
    assert first[0] == 0 and last[0] == 40
    assert last[2] < first[2] - 0.5  # val loss, nats
    assert result.stopped is None and result.iter_num == 41


def test_log_parses_back_to_the_same_numbers(tmp_path, data):
    import lossdoctor
    result = train(tiny(tmp_path), data, echo=False)
    run = lossdoctor.load(result.out_dir)  # the log and ckpt.pt there, as one run
    assert run.format == "nanogpt+ckpt" and run.n_unparsed == 0
    assert list(run.evals.step) == [e[0] for e in result.evals]
    assert np.allclose(run.evals.val, [round(e[2], 4) for e in result.evals], atol=1e-9)
    iters = [m for m in read_metrics(result.out_dir) if m["kind"] == "iter"]
    assert list(run.iters.step) == [m["step"] for m in iters]
    assert np.allclose(run.iters.loss, [round(m["loss"], 4) for m in iters], atol=1e-9)
    assert run.config.get("n_embd") == 16 and run.config.get("batch_size") == 8
    facts = lossdoctor.compute_facts(run)
    assert facts["tokens_per_iter"].value == 8 * 16
    assert facts["params"].value == GPT(GPTConfig(16, data.vocab_size, 1, 2, 16, 0.0, False)).get_num_params()


def test_checkpoint_round_trips_and_resume_continues_the_schedule(tmp_path, data):
    first = train(tiny(tmp_path, "--max_iters=20"), data, echo=False)
    ckpt = load_checkpoint(first.checkpoint_path)
    assert ckpt["iter_num"] == 20 and set(ckpt["model_args"]) >= {"n_layer", "vocab_size", "block_size"}
    model = GPT(GPTConfig(**ckpt["model_args"]))
    model.load_state_dict(ckpt["model"], strict=True)
    resumed = train(tiny(tmp_path, "--init_from=resume"), data, echo=False)
    assert resumed.iter_num == 41
    cfg = tiny(tmp_path).values
    iters = [m for m in read_metrics(first.out_dir) if m["kind"] == "iter"]
    assert [m["step"] for m in iters] == list(range(0, 21)) + list(range(20, 41))
    for m in iters:
        assert m["lr"] == pytest.approx(get_lr(m["step"], cfg), rel=1e-12)
    # and that schedule is nanoGPT's: warmup (it+1)/(warmup+1), then cosine to min_lr at 40
    lr_of = {m["step"]: m["lr"] for m in iters}
    assert lr_of[2] == pytest.approx(1e-2 * 3 / 6)
    assert lr_of[25] == pytest.approx(1e-3 + 0.5 * (1 + math.cos(math.pi * 20 / 35)) * 9e-3)
    assert lr_of[40] == pytest.approx(1e-3)
    import lossdoctor
    run = lossdoctor.load(first.out_dir)  # appended log: scratch then resume
    assert len(run.segments) == 2 and run.lineage() == (0, 1)


def test_state_dict_keys_and_shapes_match_nanogpt():
    model = GPT(GPTConfig(block_size=16, vocab_size=50, n_layer=2, n_head=2, n_embd=8, bias=True))
    sd = model.state_dict()
    assert list(sd) == NANOGPT_KEYS
    assert sd["transformer.h.0.attn.c_attn.weight"].shape == (24, 8)
    assert sd["transformer.h.1.mlp.c_proj.weight"].shape == (8, 32)
    assert sd["lm_head.weight"].data_ptr() == sd["transformer.wte.weight"].data_ptr()  # tied
    no_bias = GPT(GPTConfig(block_size=16, vocab_size=50, n_layer=2, n_head=2, n_embd=8, bias=False))
    assert list(no_bias.state_dict()) == [k for k in NANOGPT_KEYS if not k.endswith(".bias")]


def test_scaled_residual_init():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=64, vocab_size=64, n_layer=8, n_head=4, n_embd=256))
    std = model.transformer.h[0].mlp.c_proj.weight.std().item()
    assert std == pytest.approx(0.02 / math.sqrt(2 * 8), rel=0.05)
    assert model.transformer.h[0].mlp.c_fc.weight.std().item() == pytest.approx(0.02, rel=0.05)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_autocast_runs_on_cpu(tmp_path, data, dtype):
    result = train(tiny(tmp_path, f"--dtype={dtype}", "--max_iters=10"), data, echo=False)
    assert math.isfinite(result.final_val_loss)


def test_a_resume_that_changes_the_batch_counts_the_tokens_each_process_trained_on(tmp_path, data):
    train(tiny(tmp_path, "--max_iters=20"), data, echo=False)  # 8 x 16 tokens an iteration
    resumed = train(tiny(tmp_path, "--init_from=resume", "--batch_size=4"), data, echo=False)  # 4 x 16
    # the save at step 20 holds steps 0-19: the resume trains step 20 again, at its own batch
    assert load_checkpoint(resumed.checkpoint_path)["tokens_seen"] == 20 * 128 + 20 * 64  # saved at 40
    iters = [m for m in read_metrics(resumed.out_dir) if m["kind"] == "iter"]
    assert iters[20]["tokens"] == 21 * 128  # the first process, steps 0-20 done
    assert iters[-1]["step"] == 40 and iters[-1]["tokens"] == 20 * 128 + 21 * 64  # not 41 x 64


def test_a_resume_past_max_iters_is_refused_before_it_trains(tmp_path, data, capsys):
    from lossdoctor.cli import main
    first = train(tiny(tmp_path, "--max_iters=20"), data, echo=False)
    log = Path(first.log_path).read_text()
    with pytest.raises(UsageError, match=r"at iter 20, past max_iters=10: nothing is left to train"):
        train(tiny(tmp_path, "--init_from=resume", "--max_iters=10"), data, echo=False)
    assert Path(first.log_path).read_text() == log and load_checkpoint(first.checkpoint_path)["iter_num"] == 20
    assert main(["train", *TINY, "--init_from=resume", "--max_iters=10", f"--out_dir={tmp_path / 'out'}"]) == 2
    assert "--eval_only=True" in capsys.readouterr().err
    again = train(tiny(tmp_path, "--init_from=resume", "--max_iters=20"), data, echo=False)  # step 20 is left
    assert again.iter_num == 21


def test_resumes_a_checkpoint_written_by_nanogpt(tmp_path, data):
    import shutil
    src = os.path.join(os.path.dirname(__file__), "..", "fixtures", "nanogpt", "tiny_resume", "ckpt.pt")
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(src, out / "ckpt.pt")
    ckpt = load_checkpoint(str(out / "ckpt.pt"))
    start = int(ckpt["iter_num"])
    shakespeare = prepare_text("".join(chr(c) for c in range(32, 32 + ckpt["model_args"]["vocab_size"])) * 50, "t")
    cfg = resolve(None, ["--device=cpu", "--compile=False", "--init_from=resume", f"--out_dir={out}",
                         f"--max_iters={start + 3}", "--eval_interval=1000", "--eval_iters=2",
                         "--batch_size=2", "--gradient_accumulation_steps=1"])
    result = train(cfg, shakespeare, echo=False)
    assert result.iter_num == start + 4
    # nanoGPT's checkpoint has no tokens count: its iter_num times its own config's batch
    c = ckpt["config"]
    before = start * c["gradient_accumulation_steps"] * c["batch_size"] * c["block_size"]
    tokens = [m["tokens"] for m in read_metrics(out) if m["kind"] == "iter"]
    assert tokens[0] == before + 2 * ckpt["model_args"]["block_size"]  # its sequences, not train.py's 1024
    assert "tokens per iteration will be: 64" in (out / "train.log").read_text()
    # the config's default block_size (1024) against those 64 tokens: a resume's, not a paste missing its echo
    import lossdoctor
    assert lossdoctor.load(str(out / "train.log")).config.defaults_trusted


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, data, monkeypatch):
    train(tiny(tmp_path, "--max_iters=10"), data, echo=False)
    forward = GPT.forward

    def poisoned(self, idx, targets=None):
        logits, loss = forward(self, idx, targets)
        return logits, (loss * float("nan") if loss is not None and self.training else loss)

    monkeypatch.setattr(GPT, "forward", poisoned)
    with pytest.raises(TrainingStopped, match="non-finite training loss.*last good checkpoint"):
        train(tiny(tmp_path, "--init_from=resume", "--max_iters=20"), data, echo=False)
    assert load_checkpoint(str(tmp_path / "out" / "ckpt.pt"))["iter_num"] == 10


def test_interrupt_saves_a_checkpoint_to_resume_from(tmp_path, data):
    def stop_at_7(event):
        if event.kind == "iter" and event.step == 7:
            raise KeyboardInterrupt

    result = train(tiny(tmp_path), data, callbacks=[stop_at_7], echo=False)
    assert result.stopped == "interrupted at iter 8"  # iteration 7's update done: resumes at 8
    ckpt = load_checkpoint(result.checkpoint_path)
    assert ckpt["iter_num"] == 8 and ckpt["val_at_save_step"] == 0  # its model's val: not measured past step 0
    from lossdoctor.trainer.sample import sample
    assert sample(result.checkpoint_path, "the", 5).best_val_loss is None  # not step 0's val as the saved model's
    again = train(tiny(tmp_path, "--init_from=resume", "--max_iters=12"), data, echo=False)
    assert again.iter_num == 13


def test_a_resume_on_another_text_is_refused_before_it_rewrites_the_vocabulary(tmp_path, data):
    first = train(tiny(tmp_path, "--max_iters=10"), data, echo=False)
    meta = (tmp_path / "out" / "meta.pkl").read_bytes()
    other = prepare_text("abcdefgh " * 500, "other text")
    with pytest.raises(UsageError, match=r"are not those of the checkpoint's vocabulary .*: its ids would mean"):
        train(tiny(tmp_path, "--init_from=resume", "--max_iters=20"), other, echo=False)
    assert (tmp_path / "out" / "meta.pkl").read_bytes() == meta and load_checkpoint(first.checkpoint_path)
    assert train(tiny(tmp_path, "--init_from=resume", "--max_iters=20"), data, echo=False).iter_num == 21


def test_a_new_run_says_it_replaces_an_earlier_run_s_checkpoint(tmp_path, capsys):
    from lossdoctor.cli import main
    args = ["train", *TINY, "--max_iters=10", f"--out_dir={tmp_path / 'o'}"]
    assert main(args) == 0 and "is replaced at this run's first save" not in capsys.readouterr().err
    assert main(args) == 0
    err = capsys.readouterr().err
    assert f"an earlier run's {tmp_path / 'o' / 'ckpt.pt'} is replaced at this run's first save" in err


def test_a_save_at_an_interruption_past_the_last_logged_iteration_is_read_with_its_log(tmp_path, data, monkeypatch):
    import lossdoctor
    from lossdoctor.trainer.stages import Trainer as Stages
    step = Stages.step

    def stop_at_8(self):
        if self.iter_num == 8:
            raise KeyboardInterrupt
        return step(self)
    monkeypatch.setattr(Stages, "step", stop_at_8)
    result = train(tiny(tmp_path, "--log_interval=5"), data, echo=False)  # prints iterations 0 and 5
    assert result.stopped == "interrupted at iter 8"
    run = lossdoctor.load(str(tmp_path / "out"))  # the save at 8 is the same run's, 3 steps past its last line
    assert run.checkpoint is not None and run.checkpoint.iter_num == 8
    assert not any("another run's" in n for n in run.notes)


def test_callback_can_stop_the_run(tmp_path, data):
    result = train(tiny(tmp_path), data, callbacks=[lambda e: e.kind == "eval" and e.step == 10], echo=False)
    assert result.stopped == "stopped by a callback" and result.evals[-1][0] == 10


@pytest.mark.parametrize("args, message", [
    (["--n_layr=2"], "unknown config key: n_layr"),
    (["--n_layer=2.5"], "n_layer: expected int, got float"),
    (["--compile=maybe"], "compile: expected bool, got str"),
    (["--dtype=float8"], "dtype: expected one of"),
    (["--init_from=gpt2"], "init_from"),
    (["n_layer=2"], "expected --key=value"),
    (["--learning_rate=-1"], "learning_rate: must be >= 0"),
    (["--weight_decay=-0.1"], "weight_decay: must be >= 0"),
    (["--warmup_iters=-3"], "warmup_iters: must be >= 0"),
    (["--beta1=2"], r"beta1: must be in \[0, 1\)"),
    (["--device=foo"], "'foo' is not a device"),
    (["--out_dir="], "out_dir: empty"),
])
def test_bad_config_is_refused_with_the_key_named(args, message):
    with pytest.raises(UsageError, match=message):
        resolve(None, ["--device=cpu"] + args)


def test_a_file_where_a_folder_is_wanted_and_a_binary_config_are_refused(tmp_path):
    (tmp_path / "afile").write_text("hi\n")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        resolve(None, ["--device=cpu", f"--out_dir={tmp_path / 'afile'}"])
    (tmp_path / "bin.yaml").write_bytes(bytes(range(128, 256)) * 4)
    with pytest.raises(UsageError, match="not a text file"):
        resolve(str(tmp_path / "bin.yaml"), ["--device=cpu"])


def test_a_run_that_fails_before_it_measures_anything_leaves_out_dir_as_it_was(tmp_path, data):
    import pickle
    train(tiny(tmp_path), data, echo=False)
    out = tmp_path / "out"
    before = {n: (out / n).read_bytes() for n in os.listdir(out)}
    bad = tmp_path / "bad"  # token ids up to 49 under a vocab_size of 10
    bad.mkdir()
    ids = np.random.default_rng(0).integers(0, 50, 5000).astype(np.uint16)
    ids.tofile(bad / "train.bin")
    ids[:500].tofile(bad / "val.bin")
    (bad / "meta.pkl").write_bytes(pickle.dumps({"vocab_size": 10}))
    with pytest.raises(InputError, match="token id 49, past the model's vocab_size of 10"):
        train(tiny(tmp_path), load_data(str(bad)), echo=False)
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before  # no train.log.1, nothing changed


def test_config_file_is_parsed_not_executed(tmp_path):
    py = tmp_path / "cfg.py"
    py.write_text("n_layer = 3\nbatch_size = 4 * 2\nimport os\nlearning_rate = 1e-3 # comment\n")
    cfg = resolve(str(py), ["--device=cpu", "--n_layer=5"])
    assert cfg["n_layer"] == 5 and cfg["batch_size"] == 8 and cfg["learning_rate"] == 1e-3
    assert f"Overriding config with {py}:" in cfg.echo and cfg.echo[-1] == "Overriding: n_layer = 5"
    import torch
    if not torch.cuda.is_available():  # the machine's defaults, said first: the log shows what ran
        assert cfg.echo[:2] == ("Overriding: dtype = float32", "Overriding: compile = False")  # device: a flag
    evil = tmp_path / "evil.py"
    evil.write_text("n_layer = int(open('/etc/passwd').read()[:1])\n")
    with pytest.raises(UsageError, match="only literal values"):
        resolve(str(evil), ["--device=cpu"])
    yml = tmp_path / "cfg.yaml"
    yml.write_text("n_layer: 2\nn_head: 4\nn_embd: 64\n")
    assert resolve(str(yml), ["--device=cpu"])["n_embd"] == 64


def test_resume_without_checkpoint_and_data_dir_without_train_bin(tmp_path, data):
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        train(tiny(tmp_path, "--init_from=resume"), data, echo=False)
    with pytest.raises(InputError, match="train.bin"):
        load_data(str(tmp_path))


def test_cli_train_writes_log_and_checkpoint(tmp_path, capsys, data):
    from lossdoctor.cli import main
    text = tmp_path / "input.txt"
    text.write_text("to be or not to be, that is the question. " * 200)
    code = main(["train", f"--data={text}", *TINY, "--max_iters=10", f"--out_dir={tmp_path / 'o'}",
                 "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "step 10: train loss" in out and "saving checkpoint to" in out
    assert (tmp_path / "o" / "ckpt.pt").exists() and (tmp_path / "o" / "train.log").exists()
    assert main(["train", "--n_layr=1"]) == 2
    assert "unknown config key: n_layr" in capsys.readouterr().err


def test_shipped_readme_cpu_config_resolves():
    path = os.path.join(os.path.dirname(__file__), "..", "lossdoctor", "configs", "shakespeare_char_cpu.yaml")
    cfg = resolve(path)
    expect = dict(device="cpu", compile=False, eval_iters=20, log_interval=1, block_size=64, batch_size=12,
                  n_layer=4, n_head=4, n_embd=128, max_iters=2000, lr_decay_iters=2000, dropout=0.0,
                  gradient_accumulation_steps=1, learning_rate=1e-3, min_lr=1e-4, beta2=0.99,
                  warmup_iters=100, eval_interval=250)
    assert {k: cfg[k] for k in expect} == expect


def test_out_of_memory_stops_with_a_message(tmp_path, data, monkeypatch):
    def no_memory(self, idx, targets=None):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(GPT, "forward", no_memory)
    with pytest.raises(TrainingStopped, match="out of memory at iter 0"):
        train(tiny(tmp_path), data, echo=False)


def test_stages_driven_by_hand_give_the_run_train_gives(tmp_path, data):
    args = ("--eval_interval=10", "--dropout=0.1")  # dropout draws from the global generator too
    train(tiny(tmp_path / "a", *args, "--max_iters=12"), data, echo=False)
    ref = train(tiny(tmp_path / "a", *args, "--max_iters=16", "--init_from=resume"), data, echo=False)
    metrics = read_metrics(ref.out_dir)
    want_evals = [(m["step"], m["train"], m["val"]) for m in metrics if m["kind"] == "eval"]
    want_iters = [(m["step"], m["loss"], m["lr"]) for m in metrics if m["kind"] == "iter"]

    evals, iters = [], []

    def evaluate(t):
        losses = t.evaluate()
        evals.append((t.iter_num, losses["train"], losses["val"]))
        return losses

    def steps(t, until):
        while t.iter_num <= until:
            s = t.step()
            iters.append((s.iter_num, s.loss, s.lr))

    t = Trainer.setup(tiny(tmp_path / "b", *args, "--max_iters=12"), data)
    evaluate(t)
    steps(t, 9)
    t.best_val_loss = evaluate(t)["val"]
    drawn = []
    get_batch = t.get_batch
    t.get_batch = lambda split, generator=None: drawn.append(split) or get_batch(split, generator)
    aside = t.evaluate(batches=7, generator=torch.Generator().manual_seed(3))  # leaves the run's draws alone
    t.get_batch = get_batch
    assert drawn == ["train"] * 7 + ["val"] * 7 and math.isfinite(aside["val"])
    path = t.save()
    steps(t, 12)
    resumed = Trainer.setup(tiny(tmp_path / "b", *args, "--max_iters=16", "--init_from=resume"), data)
    assert (resumed.iter_num, resumed.steps, resumed.best_val_loss) == (10, 0, evals[-1][2])
    evaluate(resumed)
    steps(resumed, 16)
    assert evals == want_evals and iters == want_iters  # bit for bit
    mine, theirs = load_checkpoint(path), load_checkpoint(ref.checkpoint_path)
    assert mine["iter_num"] == theirs["iter_num"] == 10
    assert all(torch.equal(mine["model"][k], theirs["model"][k]) for k in theirs["model"])


def test_a_step_reports_its_own_time_without_the_eval(tmp_path, data, monkeypatch):
    evaluate = Trainer.evaluate

    def slow_evaluate(self, batches=None, generator=None):
        time.sleep(0.3)
        return evaluate(self, batches, generator)

    monkeypatch.setattr(Trainer, "evaluate", slow_evaluate)
    result = train(tiny(tmp_path, "--max_iters=12", "--eval_interval=5"), data, echo=False)
    times = {m["step"]: m["time_ms"] for m in read_metrics(result.out_dir) if m["kind"] == "iter"}
    # the steps right after an eval do not carry its 300 ms (measured against the other steps, so
    # that a machine slowed by other work does not fail it)
    base = float(np.median([t for k, t in times.items() if k not in (0, 5, 10)]))
    assert times[5] < base + 250 and times[10] < base + 250
    # the median of the timed steps: the other steps' time, not the eval's 300 ms (half of it is
    # the bar, so that a machine slowed by other work between the two medians does not fail it)
    assert result.ms_per_iter < base + 150
    t = Trainer.setup(tiny(tmp_path / "by_hand"), data)
    taken = []
    for _ in range(7):
        start = time.perf_counter()
        s = t.step()
        assert 0 < s.seconds <= time.perf_counter() - start
        taken.append(s)
        t.evaluate(batches=1)
    assert [s.warmup for s in taken] == [True] * 5 + [False] * 2  # compile and warm-up: the first 5
    # each step its own, whatever evaluate() (300 ms) ran between them: were the eval counted, every
    # step would carry it (the fastest one is compared, so that one stall of a busy machine does not fail it)
    assert min(s.seconds * 1000 for s in taken if not s.warmup) < base + 250 and taken[0].tokens == 8 * 16


def test_a_run_whose_evals_never_improve_still_leaves_a_checkpoint(tmp_path, data):
    """always_save_checkpoint=False and no eval after step 0: the final model is saved,
    and the log says why."""
    cfg = tiny(tmp_path, "--always_save_checkpoint=False", "--max_iters=10", "--eval_interval=1000")
    result = train(cfg, data, echo=False)
    assert result.checkpoint_path and os.path.exists(result.checkpoint_path)
    log = (tmp_path / "out" / "train.log").read_text()
    assert "no checkpoint was saved during training" in log and "saving the final model" in log


@pytest.mark.parametrize("config, args, cuda, expect", [
    (None, ["--device=cpu"], True, True),
    (None, ["--device=cuda"], False, False),
    (None, [], False, True),
    (None, [], True, False),
    ("my_config.py", ["--device=cpu"], False, False),
    (None, ["--device=cpu", "--n_layer=2"], False, False),  # a model chosen on the command line
    # a resume with no checkpoint to go on from announces no base: its own error says why (the
    # base of one with a checkpoint, whatever shape flags: the next test)
    (None, ["--device=cpu", "--init_from=resume", "--n_layer=4", "--out_dir=/nonexistent/out"], False, False),
])
def test_train_starts_from_the_readme_cpu_config_only_without_a_config_on_a_cpu(config, args, cuda, expect,
                                                                               monkeypatch):
    import torch

    from lossdoctor.trainer import cpu_default
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert cpu_default(config, args) is expect


def test_a_resume_goes_on_from_the_base_config_its_checkpoint_ran(tmp_path, data):
    # the same command with --init_from=resume is the same run: train.py's defaults where the run had them
    from lossdoctor.trainer import CPU_DEFAULT, cpu_default
    train(tiny(tmp_path / "a", "--max_iters=10"), data, echo=False)  # shape flags: train.py's defaults
    resume = ["--device=cpu", "--init_from=resume", "--n_layer=1"]
    assert cpu_default(None, [*resume, f"--out_dir={tmp_path / 'a' / 'out'}"]) is False
    small = ["--device=cpu", "--compile=False", "--n_layer=1", "--n_head=2", "--n_embd=16", "--block_size=16",
             "--max_iters=10", "--eval_interval=5", "--eval_iters=2", f"--out_dir={tmp_path / 'b'}"]
    train(resolve(CPU_DEFAULT, small), data, echo=False)  # the README CPU config, shrunk by flags
    assert cpu_default(None, [*resume, f"--out_dir={tmp_path / 'b'}"]) is True


def test_a_resume_with_no_checkpoint_says_only_that(tmp_path, capsys, monkeypatch):
    from lossdoctor.cli import main
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--device=cpu", "--init_from=resume", f"--out_dir={tmp_path / 'out'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no checkpoint to resume from" in err  # no base or data announced first


def test_bare_cli_train_on_a_cpu_uses_the_readme_cpu_config(tmp_path, capsys, monkeypatch):
    from lossdoctor.cli import main
    monkeypatch.chdir(tmp_path)
    code = main(["train", "--device=cpu", "--max_iters=2", "--eval_iters=2", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0 and "README CPU config" in captured.err and "embedded corpus" in captured.err
    assert "Overriding: dataset = embedded" in captured.out
    log = (tmp_path / "out-shakespeare-char" / "train.log").read_text()
    assert "block_size: 64" in log and (tmp_path / "out-shakespeare-char" / "ckpt.pt").exists()
    # its one eval is at step 0 and its checkpoint the final model, saved after iter 2
    import lossdoctor
    an = lossdoctor.analyze([str(tmp_path / "out-shakespeare-char")])
    assert not any("may not belong together" in n for n in an.runs[0].notes)
    assert [e.step for e in an.runs[0].events if e.kind == "checkpoint_saved"] == [3]  # the log's, its ckpt's
    assert main(["analyze", str(tmp_path / "out-shakespeare-char"), "--width", "100"]) == 0
    assert "at step 0, its last eval" in capsys.readouterr().out


def test_sample_decodes_with_the_meta_pkl_the_trainer_writes(tmp_path, capsys):
    from lossdoctor.cli import main
    text = tmp_path / "input.txt"
    text.write_text("to be or not to be, that is the question. " * 200)
    out = tmp_path / "o"
    assert main(["train", f"--data={text}", *TINY, "--max_iters=20", f"--out_dir={out}", "--no-progress"]) == 0
    assert (out / "meta.pkl").exists()
    capsys.readouterr()
    assert main(["sample", str(out), str(out / "ckpt.pt"), "--start", "to", "--max-new-tokens", "30",
                 "--seed", "1", "--width", "100"]) == 0
    printed = capsys.readouterr().out
    assert "step 20, val at its save" in printed and printed.count("o/ckpt.pt") == 2  # TINY saves every eval

    from lossdoctor.trainer.sample import sample
    a = sample(str(out / "ckpt.pt"), "to", 30, seed=1)
    assert a.text.startswith("to") and len(a.text) == 32 and set(a.text) <= set(text.read_text())
    assert a == sample(str(out / "ckpt.pt"), "to", 30, seed=1)  # the seed fixes the draw
    os.remove(out / "meta.pkl")
    with pytest.raises(Exception, match="cannot decode its tokens"):
        sample(str(out / "ckpt.pt"), "to", 5)
    assert sample(str(out / "ckpt.pt"), "to", 5, data=str(text)).text.startswith("to")
    assert main(["sample", str(out), "--start", "Z"]) == 2  # never seen: a clear error, no traceback


def test_a_gpt2_sized_model_trained_on_character_ids_samples_with_their_meta_pkl(tmp_path):
    from lossdoctor.trainer.checkpoint import save_meta
    text = "the cat sat on a mat. " * 300
    stoi = {ch: i for i, ch in enumerate(sorted(set(text)))}
    ids = np.array([stoi[ch] for ch in text], dtype=np.uint16)
    data_dir = tmp_path / "chars"  # train.bin and val.bin of character ids, and no meta.pkl: train.py's 50,304
    data_dir.mkdir()
    ids[:6000].tofile(data_dir / "train.bin")
    ids[6000:].tofile(data_dir / "val.bin")
    result = train(tiny(tmp_path, "--max_iters=10"), load_data(str(data_dir)), echo=False)
    assert load_checkpoint(result.checkpoint_path)["model_args"]["vocab_size"] == 50304
    save_meta(stoi, str(tmp_path / "meta.pkl"))
    from lossdoctor.trainer.sample import sample
    s = sample(result.checkpoint_path, "the", 200, meta=str(tmp_path / "meta.pkl"))
    assert s.text.startswith("the") and set(s.text) <= set(text)  # every id drawn has a character
    assert s.vocab == str(tmp_path / "meta.pkl") and f"{len(stoi)} characters for the model's 50,304 outputs" in s.note
    from io import StringIO

    from rich.console import Console

    from lossdoctor.report.samples import render_samples
    out = StringIO()
    Console(file=out, width=80).print(render_samples([s]))
    assert "out/ckpt.pt: " in out.getvalue()  # the note is labelled with its checkpoint, as its column


def test_a_vocabulary_short_of_the_model_s_multiple_of_64_is_taken_as_padding_and_said(tmp_path):
    from lossdoctor.trainer.checkpoint import save_meta
    from lossdoctor.trainer.sample import sample
    text = "".join(chr(c) for c in range(33, 33 + 64)) * 200  # 64 characters: a model of 64 outputs
    result = train(tiny(tmp_path, "--max_iters=5"), prepare_text(text, "64 characters"), echo=False)
    save_meta({ch: i for i, ch in enumerate("abcdefghij")}, str(tmp_path / "ten.pkl"))
    s = sample(result.checkpoint_path, "a", 20, meta=str(tmp_path / "ten.pkl"))
    assert set(s.text) <= set("abcdefghij")  # no id past the ten is drawn
    assert s.note.startswith("10 characters for the model's 64 outputs, taken as padded up to a multiple of 64")
    assert sample(result.checkpoint_path, "A", 5).note == ""  # its own meta.pkl: nothing to say


def test_the_shipped_trainer_run_samples_without_data():
    from conftest import FIXTURES
    from lossdoctor.trainer.sample import sample
    s = sample(str(FIXTURES / "lossdoctor_train" / "tiny" / "ckpt.pt"), "def ", 40, seed=1)
    assert s.step == 100 and s.text.startswith("def ") and len(s.text) == 44
    # a temperature too small for float32 (1e-300 is 0 there) draws greedily, not from NaN probabilities
    greedy = [sample(str(FIXTURES / "lossdoctor_train" / "tiny" / "ckpt.pt"), "def ", 20, temperature=t, seed=k)
              for t, k in ((1e-300, 1), (1e-300, 2), (1e-40, 3))]
    assert len({g.text for g in greedy}) == 1 and len(greedy[0].text) == 24


def test_sample_a_checkpoint_written_by_nanogpt():
    from conftest import FIXTURES, shared_path
    from lossdoctor.trainer.sample import sample
    text = shared_path("data/shakespeare_char/input.txt")
    s = sample(str(FIXTURES / "nanogpt" / "tiny_resume" / "ckpt.pt"), "\n", 40, data=str(text))
    assert s.step == 300 and s.best_val_loss is not None and len(s.text) == 41
    assert s.val_at_save  # nanoGPT's run saved at every eval: its best_val_loss is the last eval's, 2.8013 not 2.7857


def test_sample_refuses_a_text_whose_vocabulary_is_not_the_model_s(tmp_path):
    from conftest import FIXTURES
    from lossdoctor.errors import InputError
    from lossdoctor.trainer.sample import sample
    (tmp_path / "four.txt").write_text("abcd")
    with pytest.raises(InputError, match="its vocabulary has 4 characters, the model's 65"):
        sample(str(FIXTURES / "nanogpt" / "tiny_resume" / "ckpt.pt"), "a", 5, data=str(tmp_path / "four.txt"))


def test_flags_alone_on_the_embedded_corpus_name_it_as_the_dataset(tmp_path, capsys, monkeypatch):
    """train.py's default dataset is openwebtext: a run that read the embedded corpus says so,
    in its log and its checkpoint, rather than claim openwebtext."""
    import torch

    from lossdoctor.cli import main
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY, "--max_iters=2", f"--out_dir={tmp_path / 'o'}", "--no-progress"]) == 0
    assert "Overriding: dataset = embedded" in capsys.readouterr().out
    ckpt = torch.load(tmp_path / "o" / "ckpt.pt", weights_only=True)
    assert ckpt["config"]["dataset"] == "embedded"


def test_a_cpu_run_in_bfloat16_says_so_and_analyze_does_not_call_its_dtype_ignored(tmp_path):
    from lossdoctor.cli import main
    out = tmp_path / "bf16"
    assert main(["train", *TINY, "--dtype=bfloat16", "--max_iters=4", f"--out_dir={out}", "--no-progress"]) == 0
    log = (out / "train.log").read_text()
    assert "autocast on cpu: bfloat16" in log
    import lossdoctor
    an = lossdoctor.analyze([str(out / "train.log")])
    assert an.facts[0].value("dtype_effective") == "bfloat16"
    assert not any(f.rule.startswith("LD1301") for f in an.diagnoses[0].findings)
    # resumed in float32: the last process's precision, not the first's
    assert main(["train", *TINY, "--dtype=float32", "--max_iters=8", "--init_from=resume", f"--out_dir={out}",
                 "--no-progress"]) == 0
    assert lossdoctor.analyze([str(out / "train.log")]).facts[0].value("dtype_effective") == "float32"


def test_machine_defaults_set_through_overrides_are_said_too():
    import torch
    if torch.cuda.is_available():
        pytest.skip("the machine defaults differ from train.py's only without CUDA")
    cfg = resolve(overrides={"device": "cpu", "n_layer": 2})  # the API's path, and verify's
    assert cfg.echo[:3] == ("Overriding: device = cpu", "Overriding: dtype = float32", "Overriding: compile = False")


def test_a_final_save_between_logged_iterations_belongs_to_its_checkpoint(tmp_path):
    from lossdoctor.cli import main
    out = tmp_path / "o"
    assert main(["train", *TINY, "--max_iters=25", "--eval_interval=100", "--always_save_checkpoint=False",
                 "--log_interval=7", f"--out_dir={out}", "--no-progress"]) == 0
    import lossdoctor
    run = lossdoctor.load(str(out))
    assert not any("may not belong together" in n or "optimizer took" in n for n in run.notes)


def test_a_data_path_names_the_dataset_as_nanogpt_would(tmp_path):
    from lossdoctor.trainer import dataset_name
    folder = tmp_path / "shakespeare_char"
    folder.mkdir()
    (folder / "input.txt").write_text("to be or not to be\n" * 10)
    (tmp_path / "poems.txt").write_text("roses are red\n" * 10)
    assert dataset_name(str(folder / "input.txt")) == "shakespeare_char"  # nanoGPT's data/DATASET/input.txt
    assert dataset_name(str(folder)) == "shakespeare_char" and dataset_name(str(tmp_path / "poems.txt")) == "poems"


def test_an_earlier_run_s_log_and_metrics_are_kept_under_one_number(tmp_path):
    from lossdoctor.fsio import keep_previous
    log, metrics = tmp_path / "train.log", tmp_path / "metrics.jsonl"
    log.write_text("run 1\n")
    metrics.write_text("")  # an empty file is nothing to keep
    (tmp_path / "train.log.1").write_text("run 0\n")
    (tmp_path / "metrics.jsonl.2").write_text("{}\n")
    assert keep_previous(str(log), str(metrics)) == [f"{log}.3"]  # .1 and .2 are taken by one or the other
    metrics.write_text("{}\n")
    log.write_text("run 2\n")
    assert keep_previous(str(log), str(metrics)) == [f"{log}.4", f"{metrics}.4"]


def test_analyze_reads_an_interrupted_run_whose_best_model_stays_in_ckpt_pt(tmp_path, data):
    import lossdoctor

    def stop_at_25(event):
        if event.kind == "iter" and event.step == 25:
            raise KeyboardInterrupt
    result = train(tiny(tmp_path, "--always_save_checkpoint=False"), data, callbacks=[stop_at_25], echo=False)
    out = tmp_path / "out"
    assert result.stopped == "interrupted at iter 26" and (out / "ckpt_interrupted.pt").exists()
    assert load_checkpoint(str(out / "ckpt.pt"))["iter_num"] <= 20  # the best model, from an eval
    run = lossdoctor.load(str(out))
    assert not any("may not belong together" in n or "optimizer took" in n for n in run.notes)


def test_a_resume_that_asks_for_another_model_shape_is_noted(tmp_path, data):
    import lossdoctor
    train(tiny(tmp_path, "--max_iters=20"), data, echo=False)
    train(tiny(tmp_path, "--init_from=resume", "--max_iters=30", "--n_layer=2"), data, echo=False)
    run = lossdoctor.load(str(tmp_path / "out"))
    assert any(n.startswith("the log sets n_layer = 2, but the checkpoint's model has n_layer = 1") for n in run.notes)


def test_eval_only_evaluates_and_leaves_the_checkpoint_as_it_was(tmp_path, data, capsys):
    trained = train(tiny(tmp_path, "--max_iters=10", "--lr_decay_iters=10"), data, echo=False)
    ckpt = Path(trained.out_dir) / "ckpt.pt"
    before, log = ckpt.read_bytes(), (Path(trained.out_dir) / "train.log").read_text()
    (Path(trained.out_dir) / "ckpt_interrupted.pt").write_bytes(before)  # an interrupted run's state
    fresh = train(tiny(tmp_path, "--eval_only=True"), data, echo=False)  # a new model, evaluated: not saved
    assert [e[0] for e in fresh.evals] == [0] and ckpt.read_bytes() == before
    capsys.readouterr()
    again = train(tiny(tmp_path, "--eval_only=True", "--init_from=resume"), data, echo=True)
    assert "step 10: train loss" in capsys.readouterr().out  # printed, as train.py prints it
    assert [e[0] for e in again.evals] == [10] and ckpt.read_bytes() == before  # at its save, not trained on
    assert (Path(trained.out_dir) / "train.log").read_text() == log  # printed, not written: no log moved aside
    assert (Path(trained.out_dir) / "ckpt_interrupted.pt").exists()  # the interrupted state is still there
    (Path(trained.out_dir) / "ckpt_interrupted.pt").unlink()

    def interrupt(event):
        if event.kind == "eval":
            raise KeyboardInterrupt
    stopped = train(tiny(tmp_path, "--eval_only=True"), data, callbacks=[interrupt], echo=False)
    assert stopped.stopped and sorted(p.name for p in Path(trained.out_dir).iterdir()) == sorted(
        ["ckpt.pt", "meta.pkl", "metrics.jsonl", "train.log"])  # an interrupted eval saves no state either


def test_a_fresh_run_on_other_text_writes_its_own_meta_pkl(tmp_path):
    from lossdoctor.trainer.data import read_meta
    digits = prepare_text("0123456789+-=\n" * 400, "digits")
    letters = prepare_text("abcdefghijklm\n" * 400, "letters")  # as many characters: sample would not refuse
    train(tiny(tmp_path, "--max_iters=10", "--lr_decay_iters=10"), digits, echo=False)
    out = tmp_path / "out" / "meta.pkl"
    assert "7" in read_meta(out)["stoi"]
    train(tiny(tmp_path, "--max_iters=10", "--lr_decay_iters=10"), letters, echo=False)
    assert set(read_meta(out)["stoi"]) == set("abcdefghijklm\n")


def test_a_final_model_saved_when_no_eval_improved_is_sampled_with_its_own_val(tmp_path, data):
    from lossdoctor.trainer.sample import sample
    cfg = tiny(tmp_path, "--always_save_checkpoint=False", "--learning_rate=3.0", "--warmup_iters=0",
               "--grad_clip=0.0", "--max_iters=20", "--lr_decay_iters=20")
    result = train(cfg, data, echo=False)  # an LR that diverges: no eval after step 0 improves on it
    last_val = result.evals[-1][2]
    assert last_val > result.evals[0][2]
    s = sample(str(Path(result.out_dir) / "ckpt.pt"), max_new_tokens=5)
    assert s.best_val_loss == pytest.approx(last_val) and s.val_at_save  # not the step-0 model's val
    assert s.val_step == result.evals[-1][0] == 20  # the eval it is from (the model trained one step past it)


def test_a_yaml_config_may_write_an_lr_as_1e_3(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("learning_rate: 1e-3\nmin_lr: 1E-4\n")  # YAML 1.1 reads these as strings
    cfg = resolve(str(path), ["--device=cpu"])
    assert cfg["learning_rate"] == 1e-3 and cfg["min_lr"] == 1e-4
    path.write_text("learning_rate: fast\n")
    with pytest.raises(UsageError, match="expected float, got str 'fast'"):
        resolve(str(path), ["--device=cpu"])


@pytest.mark.parametrize(("text", "line"), [
    ("n_layer = 1\nmax_iters = 20 +\nn_head = 2\n", "line 2: not valid Python"),
    ("if True:\n    max_iters = 7\n", "line 1: only `name = value` lines"),
    ("max_iters = 7\nmax_iters += 5\n", "line 2: only `name = value` lines"),
    ("max_iters = eval_interval = 7\n", "line 1: only `name = value` lines"),
    ("max_iters: int = 7\n", "line 1: only `name = value` lines"),
    ("max_iters, eval_interval = 7, 7\n", "line 1: only `name = value` lines"),
])
def test_a_py_config_line_that_is_not_read_is_refused_not_skipped(tmp_path, text, line):
    from lossdoctor.errors import UsageError
    from lossdoctor.trainer.config import read_config_file
    p = tmp_path / "c.py"
    p.write_text(text)
    with pytest.raises(UsageError, match=line):
        read_config_file(str(p))


def test_a_py_config_as_nanogpt_writes_them_is_read(tmp_path):
    from lossdoctor.trainer.config import read_config_file
    p = tmp_path / "c.py"
    p.write_text('"""a docstring"""\nimport time\n# a comment\nout_dir = \'out-x\'\n'
                 "gradient_accumulation_steps = 5 * 8  # nanoGPT's train_gpt2.py writes products\n")
    assert read_config_file(str(p))[0] == {"out_dir": "out-x", "gradient_accumulation_steps": 40}


def test_a_yaml_config_error_is_one_line_with_its_line(tmp_path):
    from lossdoctor.errors import UsageError
    from lossdoctor.trainer.config import read_config_file
    p = tmp_path / "c.yaml"
    p.write_text("max_iters: 60\nn_layer: 1\nmax_iters: 40\n")
    with pytest.raises(UsageError) as e:
        read_config_file(str(p))
    assert "\n" not in str(e.value) and "line 3: not valid YAML: the key 'max_iters' is written twice" in str(e.value)


@pytest.mark.parametrize("device", ["mps", "meta"])
def test_a_device_this_torch_lacks_is_a_usage_error_not_a_crash(device):
    import torch

    from lossdoctor.errors import UsageError
    from lossdoctor.trainer.config import resolve
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has an MPS device")
    with pytest.raises(UsageError, match=f"this machine's torch has no {device} device"):
        resolve(args=[f"--device={device}"])


@pytest.mark.parametrize(("kwargs", "said"), [
    ({"start": ""}, "start text is empty"), ({"temperature": 0}, "temperature 0"),
    ({"temperature": -1.0}, "temperature -1.0"), ({"temperature": True}, "temperature True"),
    ({"top_k": 0}, "top_k 0"), ({"top_k": -2}, "top_k -2"), ({"max_new_tokens": 0}, "max_new_tokens 0"),
    ({"max_new_tokens": 2.5}, "max_new_tokens 2.5"), ({"data": "a.txt", "meta": "meta.pkl"}, "give one"),
])
def test_sample_refuses_what_it_cannot_use_before_reading(kwargs, said):
    from conftest import FIXTURES
    from lossdoctor import UsageError
    from lossdoctor.trainer.sample import sample
    with pytest.raises(UsageError, match=said):
        sample(str(FIXTURES / "lossdoctor_train" / "tiny"), **kwargs)


def test_sample_takes_a_run_directory_as_the_cli_does():
    from conftest import FIXTURES
    from lossdoctor.trainer.sample import sample
    s = sample(str(FIXTURES / "lossdoctor_train" / "tiny"), "def ", 5, seed=1, top_k=None)
    assert s.path.endswith("ckpt.pt") and len(s.text) == 9


def test_a_lineage_constant_then_decaying_then_constant_is_a_continuation_after_a_decay(tmp_path, data):
    import lossdoctor
    train(tiny(tmp_path, "--max_iters=20", "--decay_lr=False"), data, echo=False)
    train(tiny(tmp_path, "--init_from=resume", "--max_iters=40", "--lr_decay_iters=40", "--decay_lr=True"), data,
          echo=False)
    train(tiny(tmp_path, "--init_from=resume", "--max_iters=60", "--decay_lr=False", "--learning_rate=1e-4"), data,
          echo=False)
    facts = lossdoctor.compute_facts(lossdoctor.load(str(tmp_path / "out")))
    assert facts.value("constant_from") == 40  # the third process, after the second's decay
    assert facts.value("learning_rate") == 1e-4 and facts.value("lr_peak") == resolve(None, TINY)["learning_rate"]
