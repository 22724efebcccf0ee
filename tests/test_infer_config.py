"""A headerless nanoGPT log's config, inferred from the config file its out_dir names."""

from __future__ import annotations

from conftest import parse_text
from lossdoctor.facts import compute_facts
from lossdoctor.fit.lr import read as read_schedule


def loop_log(out_dir: str = "out-shakespeare-char", log_every: int = 10, header: str = "") -> str:
    """The training loop's output only, as nanoGPT prints it with the config file's cadence:
    an eval every 250 steps (a save after each that improved), an iteration every `log_every`."""
    lines = [header] if header else []
    for i in range(0, 1001):
        if i % 250 == 0:
            val = 4.2 - 2.0 * (i / 1000) ** 0.5
            lines.append(f"step {i}: train loss {val - 0.02:.4f}, val loss {val:.4f}")
            if i:
                lines.append(f"saving checkpoint to {out_dir}")
        if i % log_every == 0:
            lines.append(f"iter {i}: loss {4.2 - 2.0 * (i / 1000) ** 0.5:.4f}, time 35.00ms, mfu 10.00%")
    return "\n".join(lines) + "\n"


def test_the_shakespeare_char_config_is_inferred_from_its_out_dir_and_cadence():
    run = parse_text(loop_log())
    assert run.config.trusted("n_layer") == 6 and run.config.trusted("dropout") == 0.2
    assert run.config.trusted("device") is None  # a default the file leaves alone stays unknown
    assert not run.config.seen and any("config/train_shakespeare_char.py" in n for n in run.notes)
    facts = compute_facts(run)
    assert facts["n_layer"].status == "inferred" and facts["tokens_per_iter"].value == 16384
    sched = read_schedule(run, 1000)
    assert sched.params.learning_rate == 1e-3 and sched.params.lr_decay_iters == 5000
    assert [a.split()[0] for a in sched.assumed] == ["decay_lr"]  # the file does not set it


def test_nothing_is_inferred_where_the_log_contradicts_the_file_or_shows_its_config():
    every_step = parse_text(loop_log(log_every=1))  # README CPU command: --log_interval=1
    other_dir = parse_text(loop_log(out_dir="out"))
    small_batch = parse_text(loop_log(header="tokens per iteration will be: 768"))
    shown = parse_text(loop_log(header="Overriding: n_layer = 4"))
    for run in (every_step, other_dir, small_batch):
        assert run.config.trusted("n_layer") is None and not any("inferred" in n for n in run.notes)
    assert shown.config.trusted("n_layer") == 4 and shown.config.values["dropout"].origin == "default"
