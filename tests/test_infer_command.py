"""A train.py command line shown above a log's output: its flags and config file are
the run's config."""

from __future__ import annotations

import pytest
from test_infer_config import loop_log

import lossdoctor
from conftest import parse_text
from lossdoctor.facts import compute_facts


def _command_run(command: str, body: str | None = None) -> lossdoctor.Run:
    return parse_text(f"{command}\n\n" + (body if body is not None else loop_log(last=500, out_dir="out")))


def test_a_command_line_gives_its_flags_and_its_config_file_as_nanogpt_ships_it():
    run = _command_run("$ python train.py config/train_shakespeare_char.py --device=cpu --compile=False "
                       "--max_iters=500 2>&1 | tee out.log")
    cfg = run.config
    assert cfg.seen and cfg["device"].origin == "override" and cfg.trusted("device") == "cpu"
    assert cfg.trusted("max_iters") == 500 and cfg["max_iters"].line == 1
    assert cfg["n_layer"].origin == "inferred" and cfg.trusted("n_layer") == 6 and cfg.trusted("dropout") == 0.2
    assert cfg.trusted("decay_lr") is None  # a default the file leaves alone: an edited copy may set it
    assert any("train.py command at line 1" in n and "as nanoGPT ships it" in n for n in run.notes)
    facts = compute_facts(run)
    assert facts["n_layer"].status == "inferred" and facts["device"].status == "read"


def test_a_command_without_a_config_file_runs_train_py_defaults():
    run = _command_run("uv run train.py --dataset=shakespeare_char --n_layer=2")
    assert run.config.trusted("n_layer") == 2 and run.config.trusted("decay_lr") is True
    assert any("its flags and train.py's defaults" in n for n in run.notes)


def test_a_config_file_whose_values_are_not_held_leaves_the_rest_unknown():
    run = _command_run("torchrun --standalone --nproc_per_node=4 train.py config/mine.py --batch_size=8")
    assert run.config.trusted("batch_size") == 8 and run.config.trusted("n_layer") is None
    assert any("lossdoctor does not hold the values of config/mine.py" in n for n in run.notes)


@pytest.mark.parametrize("flags", ["", " --out_dir=out-x"])  # a flag may set the file's first key
def test_a_printed_batch_that_contradicts_the_file_drops_its_values(flags):
    run = _command_run("python train.py config/train_shakespeare_char.py" + flags,
                       "tokens per iteration will be: 4,096\n" + loop_log(last=500, out_dir="out"))
    assert run.config.trusted("n_layer") is None and run.config.trusted("batch_size") is None
    assert any("(the file was edited)" in n for n in run.notes)


def test_an_echo_after_the_command_is_what_counts():
    echo = ("Overriding config with config/train_shakespeare_char.py:\n# edited\nn_layer = 3\n\n"
            "Overriding: device = cpu\n")
    run = _command_run("python train.py config/train_shakespeare_char.py --device=cpu", echo + loop_log(last=500))
    assert run.config.trusted("n_layer") == 3 and run.config.defaults_trusted
    # what the shipped file sets and the echoed one does not is train.py's default, as it ran
    assert run.config.trusted("dropout") == 0.0 and run.config["batch_size"].origin == "default"
    assert not any("train.py command" in n for n in run.notes)


@pytest.mark.parametrize(("line", "read"), [
    ("$ python train.py config/train_shakespeare_char.py --eval_iters=20 2>&1 | tee log.txt",
     ("config/train_shakespeare_char.py", (("eval_iters", "20"),))),
    ("!python train.py --device=cpu", (None, (("device", "cpu"),))),  # a notebook cell
    ("torchrun --nproc_per_node 8 train.py config/train_gpt2.py", ("config/train_gpt2.py", ())),
    ("python -m torch.distributed.run --nproc_per_node=4 train.py --batch_size=8", (None, (("batch_size", "8"),))),
    ("python train.py --eval_interval=250; echo done", (None, (("eval_interval", "250"),))),
    ("python train.py --device=cpu>out.log", (None, (("device", "cpu"),))),
    ("python train.py --max_iters=100  # a quick one", (None, (("max_iters", "100"),))),
])
def test_train_py_commands_as_shells_show_them(line, read):
    from lossdoctor.readers.lines import train_command
    assert train_command(line) == read


@pytest.mark.parametrize("line", [
    'File "/home/me/nanoGPT/train.py", line 355, in <module>',  # a traceback frame
    "then I ran train.py again",  # prose: no launcher
    "python train.py --n_layer 4",  # `--key value`: configurator.py refuses it
    "python train.py a.py b.py",  # two config files: which one set what is not read
])
def test_lines_that_are_no_train_py_command(line):
    from lossdoctor.readers.lines import train_command
    assert train_command(line) is None


def test_a_command_continued_over_lines_is_read_whole():
    run = _command_run("$ python train.py config/train_shakespeare_char.py --device=cpu \\\n"
                       "    --n_layer=4 --max_iters=500 \\\n    --dropout=0.0")
    cfg = run.config
    assert cfg.trusted("device") == "cpu" and cfg.trusted("n_layer") == 4 and cfg.trusted("dropout") == 0.0
    assert cfg["dropout"].line == 1 and cfg["n_layer"].origin == "override"
    assert run.line_counts["header"] == 3 and run.line_counts.get("unparsed", 0) == 0
    launched = _command_run("torchrun --standalone --nproc_per_node=1 \\\n    train.py --n_layer=3")
    assert launched.config.trusted("n_layer") == 3  # the launcher's line first, train.py on the next
    # lines ending in `\` that join into no train.py command are read one by one
    other = _command_run("python train.py --n_layer 4 \\\n  --device=cpu")
    assert other.config.trusted("n_layer") is None and other.line_counts.get("header", 0) == 0
    assert [u.line for u in other.unparsed] == [2]  # line 1 is read as a shell line, as it would alone


def test_a_command_that_no_output_follows_is_no_run():
    run = _command_run("python train.py --device=cpu", loop_log(last=300, out_dir="out") + "$ python train.py "
                       "--init_from=resume\n")
    assert len(run.segments) == 1 and run.config.trusted("device") == "cpu"
    assert any("train.py command at line 1" in n for n in run.notes)
    assert run.config.trusted("init_from") == "scratch"  # the later command, never run, sets nothing


def test_a_command_a_markdown_post_shows_as_inline_code_gives_the_run_below_it_its_config():
    text = ("# My run\n\nOn a laptop: `/usr/bin/time uv run train.py config/train_shakespeare_char.py --device=cpu` "
            "or just `python train.py`\n\n```\n" + loop_log(last=300, out_dir="out") + "```\n")
    run = parse_text(text, "post.md")
    assert run.config.trusted("device") == "cpu" and run.config["n_layer"].origin == "inferred"
    assert run.line_counts["header"] == 1  # the prose line, read once
    body = loop_log(last=300, out_dir="out")
    prose = parse_text("I ran `python train.py --n_layer 4` once.\n\n```\n" + body + "```\n", "post.md")
    assert prose.config.trusted("n_layer") is None  # no command configurator.py would take
