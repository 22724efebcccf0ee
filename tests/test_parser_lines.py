"""One test per kind of line nanoGPT prints, and per quirk of real files."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lossdoctor
from conftest import parse_text

ITER = "iter {}: loss {:.4f}, time {:.2f}ms, mfu {:.2f}%\n"


def test_eval_line():
    run = parse_text("step 250: train loss 1.9712, val loss 2.0654\n")
    assert list(run.evals.step) == [250]
    assert run.evals.train[0] == 1.9712 and run.evals.val[0] == 2.0654


def test_iter_line_fast_path():
    run = parse_text(ITER.format(10, 3.7468, 46.52, 0.03))
    assert list(run.iters.step) == [10]
    assert run.iters.loss[0] == 3.7468 and run.iters.time_ms[0] == 46.52 and run.iters.mfu[0] == 0.03
    assert run.line_counts["iter"] == 1 and run.n_unparsed == 0


def test_iter_mfu_warmup_marker_and_nan_loss():
    run = parse_text("iter 0: loss 4.1828, time 8437.50ms, mfu -100.00%\n"
                     "iter 1: loss nan, time 44.95ms, mfu -100.00%\n")
    assert list(run.iters.mfu) == [-100.0, -100.0]
    assert math.isnan(run.iters.loss[1])
    assert [e.kind for e in run.events] == ["first_nan"] and run.events[0].step == 1


def test_inf_loss_and_old_format_without_mfu():
    run = parse_text("iter 5: loss inf, time 1.00ms, mfu 1.00%\niter 6: loss 3.2000, time 12.50ms\n")
    assert math.isinf(run.iters.loss[0])
    assert run.iters.time_ms[1] == 12.5 and math.isnan(run.iters.mfu[1])


def test_fast_path_agrees_with_the_line_grammar():
    rng = np.random.default_rng(0)
    rows = [(int(s), float(loss), float(t), float(m)) for s, loss, t, m in zip(
        np.arange(0, 5000, 7), rng.uniform(0, 12, 715), rng.uniform(0, 400000, 715), rng.uniform(-100, 120, 715),
        strict=True)]
    text = "".join(ITER.format(*r) for r in rows)
    fast = parse_text(text)
    slow = parse_text("".join("  " + line + "\n" for line in text.splitlines()))  # indented: grammar path
    for name in ("step", "loss", "time_ms", "mfu"):
        assert np.array_equal(getattr(fast.iters, name), getattr(slow.iters, name)), name
    assert np.allclose(fast.iters.loss, [float(f"{r[1]:.4f}") for r in rows], atol=0)


def test_config_echo_literals_arithmetic_and_expressions():
    run = parse_text(
        "Overriding config with config/x.py:\n"
        "# comment\n"
        "batch_size = 12\n"
        "gradient_accumulation_steps = 5 * 8\n"
        "device = 'cuda' if __import__('torch').cuda.is_available() else 'cpu'\n"
        "learning_rate = 1e-3 # trailing comment\n"
        "\n"
        "Overriding: batch_size = 32\n"
        "tokens per iteration will be: 1,310,720\n")
    cfg = run.config
    assert cfg["batch_size"].value == 32 and cfg["batch_size"].origin == "override"
    assert cfg["gradient_accumulation_steps"].value == 40 and cfg["gradient_accumulation_steps"].origin == "config file"
    assert cfg["device"].known is False and "__import__" in cfg["device"].raw
    assert cfg["learning_rate"].value == 1e-3 and cfg["learning_rate"].line == 6
    assert cfg["max_iters"].origin == "default" and cfg.seen
    assert run.header.tokens_per_iter == 1310720
    assert run.line_counts["config"] == 6


def test_override_values_keep_their_type():
    run = parse_text("Overriding: compile = False\nOverriding: out_dir = out-x\nOverriding: dropout = 0.0\n"
                     "step 0: train loss 4.0, val loss 4.0\n")
    assert run.config.get("compile") is False
    assert run.config.get("out_dir") == "out-x"
    assert run.config.get("dropout") == 0.0


def test_an_override_after_a_config_file_echo_with_a_tab_for_its_space_is_read():
    echo = "Overriding config with config/train_shakespeare_char.py:\nn_layer = 6\nbatch_size = 64\n"
    run = parse_text(echo + "Overriding:\tn_layer = 4\nOverriding:\tbatch_size\t=\t12\n"
                     "step 0:\ttrain loss 4.0,\tval loss 4.0\n")
    assert (run.config.get("n_layer"), run.config.get("batch_size")) == (4, 12)  # not the file's 6 and 64
    assert run.config.values["n_layer"].origin == "override"


@pytest.mark.parametrize(("path", "dataset"), [("data/shakespeare_char/meta.pkl", "shakespeare_char"),
                                               ("/home/u/nanoGPT/data/shakespeare_char/meta.pkl", "shakespeare_char"),
                                               ("data\\enwik8\\meta.pkl", "enwik8"), ("meta.pkl", None)])
def test_a_headerless_log_s_dataset_is_read_off_the_meta_path_train_py_printed(path, dataset):
    from lossdoctor.facts import compute_facts
    run = parse_text(f"tokens per iteration will be: 512\nfound vocab_size = 65 (inside {path})\n"
                     "step 0: train loss 4.2, val loss 4.2\n" + ITER.format(0, 4.2, 100.0, 0.01))
    assert run.config.trusted("dataset") == dataset and run.config.trusted("n_layer") is None  # the rest unknown
    if dataset == "shakespeare_char":
        assert run.config.values["dataset"].origin == "meta.pkl path" and compute_facts(run).value("dataset_tokens") > 0
        assert not run.config.seen  # the log still shows no config


@pytest.mark.parametrize("line,vocab,source", [
    ("found vocab_size = 65 (inside data/shakespeare_char/meta.pkl)", 65, "data/shakespeare_char/meta.pkl"),
    ("found vocab_size = 65 (inside data\\shakespeare_char\\meta.pkl)", 65, "data\\shakespeare_char\\meta.pkl"),
    ("defaulting to vocab_size of GPT-2 to 50304 (50257 rounded up for efficiency)", 50304, "gpt2 default"),
])
def test_vocab_lines(line, vocab, source):
    run = parse_text(line + "\nstep 0: train loss 4.0, val loss 4.0\n")
    assert (run.header.vocab_size, run.header.vocab_source) == (vocab, source)


def test_model_header_lines():
    run = parse_text(
        "Initializing a new model from scratch\n"
        "number of parameters: 0.80M\n"
        "num decayed parameter tensors: 18, with 802,944 parameters\n"
        "num non-decayed parameter tensors: 9, with 1,152 parameters\n"
        "using fused AdamW: True\n"
        "compiling the model... (takes a ~minute)\n"
        "WARNING: using slow attention. Flash Attention requires PyTorch >= 2.0\n")
    h = run.header
    assert (h.init_from, h.params_m, h.decayed_params, h.nodecay_params) == ("scratch", 0.8, 802944, 1152)
    assert h.fused_adamw is True and h.compile is True and h.slow_attention is True
    assert "compile" in {e.kind for e in run.events}
    assert run.n_unparsed == 0


def test_init_from_gpt2_sets_model_args():
    run = parse_text("Overriding: block_size = 256\nInitializing from OpenAI GPT-2 weights: gpt2-medium\n"
                     "loading weights from pretrained gpt: gpt2-medium\n"
                     "forcing vocab_size=50257, block_size=1024, bias=True\noverriding dropout rate to 0.1\n")
    assert run.header.init_from == "gpt2-medium"
    assert run.model_args.as_dict() == {"n_layer": 24, "n_head": 16, "n_embd": 1024, "block_size": 256,
                                        "bias": True, "dropout": 0.0, "vocab_size": 50257}
    assert run.n_unparsed == 0 and "init_gpt2" in {e.kind for e in run.events}


def test_saving_checkpoint_event_has_the_eval_step():
    run = parse_text("step 500: train loss 2.0, val loss 2.1\nsaving checkpoint to out\n" + ITER.format(500, 2, 1, 1))
    ev = [e for e in run.events if e.kind == "checkpoint_saved"]
    assert len(ev) == 1 and ev[0].step == 500 and ev[0].line == 2


def test_ddp_header_per_rank_and_glued_lines():
    header = "Overriding: init_from = resume\ntokens per iteration will be: 491,520\n"
    text = header * 3 + ("Resuming training from outResuming training from out\n"
                         "tokens per iteration will be: 491,520\n"
                         "using fused AdamW: Trueusing fused AdamW: True\n"
                         "step 44000: train loss 3.0082, val loss 3.0002\n" + ITER.format(44000, 3, 65998, -100))
    run = parse_text(text)
    assert len(run.segments) == 1 and run.segments[0].world_size == 4
    assert run.segments[0].init_from == "resume" and run.segments[0].first_step == 44000
    assert run.n_unparsed == 0


def test_resume_appended_makes_a_lineage():
    first = "Initializing a new model from scratch\n" + "".join(
        f"step {s}: train loss 3.0, val loss 3.1\n" + ITER.format(s, 3, 1, 1) for s in (0, 100, 200))
    second = "Overriding: init_from = resume\nResuming training from out\n" + "".join(
        f"step {s}: train loss 2.0, val loss 2.1\n" + ITER.format(s, 2, 1, 1) for s in (100, 200, 300))
    run = parse_text(first + second)
    assert [s.init_from for s in run.segments] == ["scratch", "resume"]
    assert run.lineage() == (0, 1)
    ev, it = run.curves()
    assert list(ev.step) == [0, 100, 200, 300] and list(ev.val) == [3.1, 2.1, 2.1, 2.1]
    assert list(it.step) == [0, 100, 200, 300]


def test_appended_runs_without_header_split_on_step_regression():
    run = parse_text("step 0: train loss 4, val loss 4\nstep 100: train loss 3, val loss 3\n"
                     "step 0: train loss 4.1, val loss 4.1\nstep 100: train loss 2.9, val loss 2.9\n")
    assert len(run.segments) == 2 and run.lineage() == (1,)
    assert list(run.curves()[0].val) == [4.1, 2.9]
    assert any("2 runs" in n for n in run.notes)


def test_an_earlier_run_of_the_file_is_said_with_the_cut_that_reads_it(tmp_path):
    text = ("step 0: train loss 4, val loss 4\nstep 100: train loss 3, val loss 3\n"
            "step 0: train loss 4.1, val loss 4.1\nstep 100: train loss 2.9, val loss 2.9\n")
    path = tmp_path / "two.log"
    path.write_text(text)
    note = next(n for n in lossdoctor.load(str(path)).notes if "2 runs" in n)
    cut = f"head -n 2 {path} > run1.log"
    assert f"run 1, steps 0 to 100: `{cut}`" in note
    (tmp_path / "run1.log").write_text("".join(text.splitlines(keepends=True)[:2]))
    assert list(lossdoctor.load(str(tmp_path / "run1.log")).curves()[0].val) == [4, 3]


def test_no_header_leaves_config_untrusted():
    run = parse_text("step 0: train loss 4.2874, val loss 4.2823\n")
    assert not run.config.seen and run.config.trusted("batch_size") is None
    assert any("no config" in n for n in run.notes)


@pytest.mark.parametrize("cut", ["beta2 = 0.9", "Overriding: devic", "Overriding: n_layer = 4\n"])
def test_a_log_cut_inside_its_config_echo_trusts_no_default(cut, tmp_path):
    from conftest import FIXTURES
    text = (FIXTURES / "nanogpt" / "cpu_small" / "train.log").read_text()
    path = tmp_path / "cut.log"
    path.write_text(text[: text.index(cut) + len(cut)])
    run = lossdoctor.load(path)
    # keys the log had not yet shown (bias is never set, device until its override): not
    # train.py's defaults, which a LD902 on beta2 = 0.95 had been read from
    assert run.config.seen and not run.config.defaults_trusted and run.config.trusted("bias") is None
    assert run.config.trusted("device") == ("cpu" if "n_layer" in cut else None)
    assert any(n.startswith("the log ends inside its config echo") for n in run.notes)
    # the config file's values: flags not yet printed may override them (its 6 layers, where 4 ran)
    assert run.config.trusted("n_layer") == (4 if "n_layer" in cut else None)
    assert run.config.trusted("batch_size") == (12 if "n_layer" in cut else None)  # its override, once printed
    if "n_layer" not in cut:
        from lossdoctor.facts.base import why_unknown
        assert "config sets n_layer = '6', but the log ends inside its config echo" in why_unknown(run.config,
                                                                                                    "n_layer")
    facts = lossdoctor.analyze([path])
    assert facts.facts[0]["log_cut"].value is (not cut.endswith("\n"))
    assert not any(f.rule.startswith("LD902") for f in facts.diagnoses[0].findings)
    if cut == "beta2 = 0.9":  # a config line cut is not read: 0.9 is not what the file set (0.99)
        assert run.config.trusted("beta2") is None and run.config["min_lr"].raw == "1e-4"
    whole = parse_text(text)  # the same log in full: its defaults stand
    assert whole.config.defaults_trusted and whole.config.trusted("bias") is False


def test_a_config_file_echo_whose_overrides_the_log_drops_is_not_read_as_what_ran():
    from conftest import FIXTURES
    # nanoGPT's CPU run with its `Overriding:` lines taken out: the file sets 64 x 256 and
    # 6 x 384, the log prints 768 tokens per iteration and 0.80M parameters (12 x 64, 4 x 128)
    text = (FIXTURES / "nanogpt" / "cpu_small" / "train.log").read_text()
    run = parse_text("".join(ln for ln in text.splitlines(keepends=True) if not ln.startswith("Overriding: ")))
    for key in ("batch_size", "block_size", "gradient_accumulation_steps", "n_layer", "n_head", "n_embd"):
        assert run.config.trusted(key) is None, key  # had been read as the file's, 64 ... 384
    # the flags replaced others too (max_iters 300, dropout 0.0): none of the file's values stands
    assert run.config.trusted("max_iters") is None and run.config.trusted("dropout") is None
    assert not run.config.defaults_trusted
    problems = " ".join(run.config.problems)
    assert "tokens per iteration (768) contradict the batch it shows (1 x 64 x 256" in problems
    # the batch the file shows against the printed tokens is evidence enough for all of them;
    # with the batch's flags shown and the model's dropped, the parameter count is the evidence
    shown = "".join(ln for ln in text.splitlines(keepends=True)
                    if not ln.startswith(("Overriding: n_layer", "Overriding: n_head", "Overriding: n_embd")))
    other = parse_text(shown)
    assert other.config.trusted("n_layer") is None and other.config.trusted("batch_size") == 12
    assert "parameter count (0.80M) contradicts the model it shows (6 layers x 384" in " ".join(other.config.problems)
    assert not any("does not match the config it shows" in n for n in run.notes)
    assert parse_text(text).config.trusted("n_layer") == 4  # with them: the flags' values


def test_a_resume_that_does_not_repeat_the_model_flags_keeps_its_config_file():
    from conftest import FIXTURES
    # the resume builds the checkpoint's model (2 x 32) whatever its config file says (6 x
    # 384): the printed count is that model's, no contradiction of the file's other values
    text = (FIXTURES / "nanogpt" / "tiny_resume" / "train.log").read_text()
    second = text.index("Overriding config with", 10)
    tail = "".join(ln for ln in text[second:].splitlines(keepends=True)
                   if not ln.startswith(("Overriding: n_layer", "Overriding: n_head", "Overriding: n_embd")))
    run = parse_text(text[:second] + tail)
    assert run.config.trusted("learning_rate") is not None and run.config.trusted("beta2") == 0.99
    assert not any("contradicts" in p for p in run.config.problems)


def test_a_log_that_drops_some_of_its_flags_loses_the_file_values_they_replaced_alone():
    from conftest import FIXTURES
    text = (FIXTURES / "nanogpt" / "cpu_small" / "train.log").read_text()
    run = parse_text(text.replace("Overriding: block_size = 64\n", ""))  # 768 = 12 x 64 printed
    assert run.config.trusted("block_size") is None  # the file's 256 had been read, unsaid
    assert run.config.trusted("max_iters") == 300 and run.config.trusted("batch_size") == 12  # its flags stand
    assert not run.config.defaults_trusted and "contradict the batch it shows" in " ".join(run.config.problems)


def test_tokens_a_whole_multiple_of_the_batch_are_a_forks_count_not_a_contradiction():
    from conftest import FIXTURES
    text = (FIXTURES / "nanogpt" / "cpu_small" / "train.log").read_text()  # 4 processes counted, undivided
    run = parse_text(text.replace("tokens per iteration will be: 768", "tokens per iteration will be: 3,072"))
    assert run.config.trusted("block_size") == 64 and not run.config.problems


def test_file_cut_mid_line_is_not_a_value():
    run = parse_text(ITER.format(10, 3, 1, 1) + "iter 4399")
    assert len(run.iters) == 1 and run.line_counts["truncated"] == 1
    assert any(n.startswith("the last line (2: 'iter 4399') ends without a newline and was not read")
               for n in run.notes)
    run = parse_text(ITER.format(10, 3, 1, 1) + "step 2000: train loss 1.4000, val loss 1.5")
    assert len(run.evals) == 0 and [e.kind for e in run.events] == ["truncated"]
    run = parse_text(ITER.format(10, 3, 1, 1) + ITER.format(11, 3, 1, 1).rstrip("\n"))
    assert len(run.iters) == 2  # complete to the last character: kept
    assert not any("cut short" in n for n in run.notes)


def test_wandb_stderr_warnings_and_tracebacks_are_understood():
    run = parse_text(
        "wandb: Syncing run mini-gpt\n"
        "wandb: 🚀 View run at https://wandb.ai/x\n"
        "train.py:196: FutureWarning: `torch.cuda.amp.GradScaler(args...)` is deprecated.\n"
        "  scaler = torch.cuda.amp.GradScaler(enabled=(dtype == 'float16'))\n"
        + ITER.format(1, 3, 1, 1) +
        "Traceback (most recent call last):\n"
        '  File "train.py", line 300, in <module>\n'
        "    X, Y = get_batch('train')\n"
        "KeyboardInterrupt\n"
        "[rank0]: Traceback (most recent call last):\n"
        '[rank0]:   File "train.py", line 300, in <module>\n'
        "[rank0]: KeyboardInterrupt\n")
    kinds = [e.kind for e in run.events]
    assert kinds.count("interrupted") == 2 and kinds.count("traceback") == 2 and "warning" in kinds
    assert run.n_unparsed == 0


def test_ansi_colours_and_carriage_returns():
    run = parse_text("\x1b[32mstep 0: train loss 4.0000, val loss 4.0100\x1b[0m\r\n"
                     "progress 10%\rprogress 90%\r" + ITER.format(0, 4, 1, 1))
    assert list(run.evals.val) == [4.01] and len(run.iters) == 1


def test_a_tqdm_bar_an_iter_line_is_glued_to_is_understood_not_counted_unread():
    bar = "\r  {0}%|\u2588\u2588\u2588       | {1}/3000 [00:0{1}<01:00, 20.00it/s]"
    text = "".join(bar.format(i // 30, i) + ITER.format(i, 4.0 - i / 10, 90.0, 0.01) for i in range(5))
    text += "train: 100%|\u2588\u2588\u2588\u2588| 3.0k/3.0k [02:30<00:00, 20.0it/s]\n"
    text += "".join(f"{i}it [00:0{i}, 20.00it/s]" + ITER.format(i, 3.5, 90.0, 0.01) for i in range(5, 8))  # no total
    run = parse_text(text)
    assert len(run.iters) == 8 and run.n_unparsed == 0


def test_prefixes_timestamps_and_quotes():
    run = parse_text("2023-03-22 09:30:39 iter 2920: loss 0.1000, time 1.00ms, mfu 1.00%\n"
                     "> step 3000: train loss 1.0000, val loss 1.1000\n")
    assert list(run.iters.step) == [2920] and list(run.evals.step) == [3000]


def test_markdown_paste_reads_only_code():
    md = ("# My run\n\nThe loss was step 9: train loss 1.0, val loss 1.0 in prose.\n\n"
          "```\n" + "step 0: train loss 4.2874, val loss 4.2823\n" + ITER.format(0, 4, 1, -100) + "...\n```\n\n"
          "- indented:\n\n     Overriding: device = mps\n     step 10: train loss 3.1, val loss 3.2\n")
    run = parse_text(md, "post.md")
    assert list(run.evals.step) == [0, 10] and len(run.iters) == 1
    assert run.line_counts["markdown"] >= 3 and run.n_unparsed == 0


def test_unparsed_lines_are_counted_and_kept():
    run = parse_text("hello world\n" + ITER.format(0, 4, 1, 1) + "something else entirely\n")
    assert run.n_unparsed == 2 and [u.line for u in run.unparsed] == [1, 3]
    assert run.unparsed[1].text == "something else entirely"


def test_nonstandard_fork_lines_are_read_and_flagged():
    run = parse_text("iter 240: loss 7.9497, loss_eval:7.9357  time 702.09ms, mfu 1.02%\n"
                     "Evaluating iteration 250: train loss 7.1, val loss 7.2\n")
    assert list(run.iters.loss) == [7.9497] and list(run.evals.val) == [7.2]
    assert any("non-standard" in n for n in run.notes)


def test_elided_config_distrusts_defaults():
    run = parse_text("Overriding: device = cpu\ntokens per iteration will be: 16,384\n"
                     "step 0: train loss 4.2874, val loss 4.2823\n")
    assert run.config.seen and not run.config.defaults_trusted
    assert run.config.trusted("n_layer") is None and run.config.trusted("device") == "cpu"


def _fast_scan(text: str):
    from lossdoctor.readers import fastiter
    a = np.frombuffer(text.encode(), np.uint8)
    lines = fastiter.split_lines(a)
    return fastiter.scan(a, lines.starts, lines.ends)


def test_fast_path_takes_every_shape_and_leaves_the_rest():
    text = "".join([
        "iter 10: loss 3.1234, time 100.00ms, mfu 4.00%\n",  # same length as the next
        "iter 100: loss 3.1234, time 10.00ms, mfu 4.00%\n",
        "iter 101: loss -0.0012, time 10.00ms, mfu -100.00%\n",  # signs
        "iter 12345678: loss 999.9999, time 99999.99ms, mfu 12345.67%\n",  # widest numbers
        "iter 123456789: loss 3.0000, time 1.00ms, mfu 1.00%\n",  # 9-digit step: grammar
        "iter 7: loss 1000.0000, time 1.00ms, mfu 1.00%\n",  # 4-digit loss: grammar
        "iter 8: loss 3.0000, time 100000.00ms, mfu 1.00%\n",  # 6-digit time: grammar
        "iter 9: loss nan, time 1.00ms, mfu 1.00%\n",
        "iter 9: loss 3.0000, time 1.00ms, mfu 1.00%  \n",  # trailing blanks: grammar
        "iter 9: loss 3.5000, time 1.0ms, mfu 1.00%\n",  # not train.py's format (and not a repeat)
    ])
    fast, taken = _fast_scan(text)
    assert list(np.flatnonzero(taken)) == [0, 1, 2, 3]
    assert list(fast.step) == [10, 100, 101, 12345678]
    assert list(fast.loss) == [3.1234, 3.1234, -0.0012, 999.9999]
    assert list(fast.time_ms) == [100.0, 10.0, 10.0, 99999.99]
    assert list(fast.mfu) == [4.0, 4.0, -100.0, 12345.67]
    run = parse_text(text)  # the grammar reads what the fast path left
    assert list(run.iters.step) == [10, 100, 101, 12345678, 123456789, 7, 8, 9, 9, 9]
    assert run.iters.loss[5] == 1000.0 and run.iters.time_ms[6] == 100000.0
    assert run.line_counts["iter"] == 10  # the lines the fast path took and those the grammar read


def test_fast_path_reads_the_last_lines_of_a_file():
    text = "".join(ITER.format(i, 2.5, 50.0, 1.0) for i in range(3))  # all within 256 bytes
    fast, taken = _fast_scan(text)
    assert taken.all() and list(fast.step) == [0, 1, 2]


def test_many_odd_lines_of_one_length_fall_back_to_the_grammar():
    odd = "".join(f"iter {i}: lost {i % 10}.0000, time 10.00ms, mfu 1.00%\n" for i in range(10, 50))
    good = "".join(ITER.format(i, 3.0, 10.0, 1.0) for i in range(10, 50))  # same length
    fast, taken = _fast_scan(odd + good)
    run = parse_text(odd + good)
    assert run.n_unparsed == 40 and list(run.iters.step) == list(range(10, 50))
    assert not taken[:40].any()  # never taken by the fast path; the grammar read the good ones


SAMPLE_PY = ("Overriding: out_dir = out-shakespeare-char\nOverriding: device = mps\nnumber of parameters: 10.65M\n"
             "Loading meta from data/shakespeare_char/meta.pkl...\n\nNurse:\nMadam, what says your friend?\n"
             "---------------\n")
TRAIN_PY = ("Overriding: out_dir = out-shakespeare-char\nOverriding: device = cpu\n"
            "tokens per iteration will be: 16,384\nInitializing a new model from scratch\n"
            "number of parameters: 10.65M\nstep 0: train loss 4.2874, val loss 4.2823\n"
            + ITER.format(0, 4.27, 9, -100))


def test_sample_py_output_after_a_run_is_no_run_and_sets_no_config():
    run = parse_text(TRAIN_PY + SAMPLE_PY)
    assert len(run.segments) == 1 and run.config.trusted("device") == "cpu"  # sample.py's mps is not the run's
    assert any(n.startswith("lines 8-15 are sample.py's output") for n in run.notes)
    assert run.n_unparsed == 0 and run.line_counts["sample_text"] == 3  # its text is no line a reader failed on
    long = parse_text(TRAIN_PY + SAMPLE_PY + "".join(f"ROMEO: line {i}\n" for i in range(1500)))
    assert long.n_unparsed == 0 and long.line_counts["sample_text"] == 1503  # past the 1,000 lines kept


def test_sample_py_output_alone_is_not_a_training_log(tmp_path):
    import lossdoctor
    from lossdoctor.errors import InputError
    path = tmp_path / "samples.txt"
    path.write_text(SAMPLE_PY)
    with pytest.raises(InputError, match="no lines of a training log found"):
        lossdoctor.load(str(path))
    path.write_text(SAMPLE_PY.replace("Loading meta from data/shakespeare_char/meta.pkl...",
                                      "tokens per iteration will be: 16,384"))
    assert lossdoctor.load(str(path)).segments  # train.py's header: a run that stopped before its first metric


@pytest.mark.parametrize(("tags", "seen", "said"), [
    ((), 0, None),
    ((0,), 1, "its [rank0]: line tags"),
    ((0, 3), 4, "lines tagged up to [rank3]: at least 4 processes")])
def test_torchrun_rank_tags_make_the_process_count_unknown(tags: tuple[int, ...], seen: int, said: str | None) -> None:
    """A log with one header print is one process, unless torchrun tagged its lines: it tees
    rank 0 alone by default, so `[rankN]:` shows only a lower bound."""
    text = "".join(ITER.format(i, 3, 1, 1) for i in range(3)) + "".join(
        f"[rank{r}]: Traceback (most recent call last):\n[rank{r}]: KeyboardInterrupt\n" for r in tags)
    run = parse_text(text)
    assert run.rank_tags == seen and run.n_unparsed == 0
    fact = lossdoctor.compute_facts(run)["world_size"]
    if said is None:
        assert (fact.value, fact.status) == (1, "assumed")
    else:
        assert fact.value is None and fact.status == "unknown" and said in fact.note


DECORATIONS = {
    "ISO 8601 timestamp with its zone": lambda i: f"2024-05-01T12:00:{i % 60:02d}.123Z ",
    "a time alone": lambda i: f"12:00:{i % 60:02d} ",
    "a date and time": lambda i: f"2024-05-01 12:00:{i % 60:02d} ",
    "a bracketed date and time": lambda i: f"[2024-05-01 12:00:{i % 60:02d}] ",
    "a Markdown quote": lambda i: "> ",
    "indented code": lambda i: "     ",
}


@pytest.mark.parametrize("name", DECORATIONS)
def test_a_decorated_log_keeps_its_config_echo_and_its_metrics(name: str) -> None:
    from conftest import FIXTURES
    path = FIXTURES / "nanogpt" / "cpu_small" / "train.log"
    plain = lossdoctor.load(str(path))
    deco = DECORATIONS[name]
    # a blank line keeps no space after its decoration (a logger that strips lines)
    text = "".join((deco(i) + line).rstrip() + "\n" for i, line in enumerate(path.read_text().splitlines()))
    run = parse_text(text, "decorated.md" if name == "indented code" else "decorated.log")
    assert len(run.evals) == len(plain.evals) and len(run.iters) == len(plain.iters)
    for key in ("max_iters", "n_layer", "batch_size", "eval_iters", "learning_rate"):
        assert (run.config.get(key), run.config[key].origin) == (plain.config.get(key), plain.config[key].origin)
    assert not any("shows no config" in n for n in run.notes)
