"""A headerless nanoGPT log's config, inferred from the config file its out_dir names."""

from __future__ import annotations

from pathlib import Path

import pytest

import lossdoctor
from conftest import parse_text
from lossdoctor.facts import compute_facts
from lossdoctor.fit.lr import read as read_schedule


def loop_log(out_dir: str = "out-shakespeare-char", log_every: int = 10, eval_every: int = 250,
             last: int = 1000, header: str = "", save_all: bool = False, bump_at: int = -1,
             rise_after: int = 10**9, mfu: str = "10.00") -> str:
    """The training loop's output only, as nanoGPT prints it with the config file's cadence:
    an eval every `eval_every` steps, a save after each that improved (each, `save_all`), an
    iteration every `log_every`; val worse than before at step `bump_at`, and rising past
    `rise_after` while train keeps falling."""
    lines = [header] if header else []
    best = float("inf")
    for i in range(0, last + 1):
        if i % eval_every == 0:
            train = 4.2 - 2.0 * (i / 5000) ** 0.5
            val = train + (0.5 if i == bump_at else 0.0) + 2.0 * max(0, i - rise_after) / 5000
            lines.append(f"step {i}: train loss {train - 0.02:.4f}, val loss {val:.4f}")
            if i and (save_all or val < best):
                lines.append(f"saving checkpoint to {out_dir}")
            best = min(best, val)
        if i % log_every == 0:
            lines.append(f"iter {i}: loss {4.2 - 2.0 * (i / 5000) ** 0.5:.4f}, time 35.00ms, mfu {mfu}%")
    return "\n".join(lines) + "\n"


def _inferred(run: lossdoctor.Run) -> bool:
    return run.config.trusted("n_layer") == 6 and any("origin 'inferred'" in n for n in run.notes)


def test_the_shakespeare_char_config_is_inferred_from_its_out_dir_cadence_and_saves():
    run = parse_text(loop_log())
    assert _inferred(run) and run.config.trusted("dropout") == 0.2 and not run.config.seen
    assert run.config.trusted("device") is None  # a default the file leaves alone stays unknown
    facts = compute_facts(run)
    assert facts["n_layer"].status == "inferred" and facts["tokens_per_iter"].value == 16384
    assert facts["tokens_per_iter"].status == "inferred"
    assert facts["lr_peak"].value == 1e-3 and facts["lr_peak"].status == "inferred"  # the file's, not the log's
    # stopped before the file's max_iters: a --max_iters flag may have stopped it, so neither
    # max_iters nor lr_decay_iters is taken
    assert run.config.trusted("max_iters") is None and "not taken" in run.notes[0]
    sched = read_schedule(run, 1000)
    assert sched.params.learning_rate == 1e-3
    assert set(sched.assumed) == {"learning_rate (inferred 0.001)", "warmup_iters (inferred 100)",
                                  "lr_decay_iters (assumed 600000)", "min_lr (inferred 0.0001)",
                                  "decay_lr (assumed True)"}
    whole = parse_text(loop_log(last=5000))
    assert whole.config.trusted("max_iters") == 5000 and whole.config.trusted("lr_decay_iters") == 5000


TOKENS = "tokens per iteration will be: 16,384"


@pytest.mark.parametrize("changes, why", [
    ({"log_every": 1}, "intervals"),  # the README CPU command's --log_interval=1
    ({"eval_every": 500}, "intervals"),  # a multiple of the file's 250 is not its cadence
    ({"out_dir": "out"}, None),
    ({"header": "tokens per iteration will be: 768"}, "printed tokens"),
    ({"header": "number of parameters: 0.80M"}, "parameter count"),  # the file's model prints 10.65M
    ({"save_all": True, "bump_at": 500}, "saves"),  # a save after an eval that got worse
    ({"header": f"{TOKENS}\n{TOKENS}"}, "DDP"),  # two ranks printed the header
    ({"last": 260, "first_eval": False}, "too few evals"),  # one eval: no interval to see
    # the file's 10.65M-parameter model at 16,384 tokens in 35 ms prints about 10.6%, not 0.01
    ({"mfu": "0.01"}, "printed mfu"),
    ({"mfu": "90.00"}, "printed mfu"),
])
def test_nothing_is_inferred_where_the_log_contradicts_the_file(changes, why):
    first = changes.pop("first_eval", True)
    text = loop_log(**changes)
    run = parse_text(text if first else text.replace("step 0: ", "skipped 0: "))
    assert not _inferred(run)
    said = [n for n in run.notes if "the out_dir of nanoGPT's config/train_shakespeare_char.py, but" in n]
    assert bool(said) == (why is not None) and (why is None or why in said[0])


def test_the_right_parameter_count_or_a_shown_config_decide_as_they_should():
    assert _inferred(parse_text(loop_log(header="number of parameters: 10.65M")))
    shown = parse_text(loop_log(header="Overriding: n_layer = 4"))
    assert shown.config.trusted("n_layer") == 4 and shown.config.values["dropout"].origin == "default"
    two = parse_text(loop_log() + "Resuming training from out-shakespeare-char\n" + loop_log().split("\n", 5)[5])
    assert not _inferred(two)  # two processes: each could have run with other flags


def test_a_checkpoint_beside_the_log_wins_over_the_inferred_values(tmp_path: Path):
    torch = pytest.importorskip("torch")
    sd = {"transformer.wte.weight": torch.zeros(65, 8), "transformer.wpe.weight": torch.zeros(16, 8),
          "lm_head.weight": torch.zeros(65, 8)}
    torch.save({"model": sd, "optimizer": {"state": {}, "param_groups": [{"lr": 3e-4, "weight_decay": 0.1}]},
                "model_args": {"n_layer": 2, "n_head": 2, "n_embd": 8, "block_size": 16, "vocab_size": 65,
                               "bias": False, "dropout": 0.0},
                "iter_num": 1000, "best_val_loss": 2.9,
                "config": {"n_layer": 2, "n_embd": 8, "block_size": 16, "batch_size": 8, "dropout": 0.0,
                           "learning_rate": 3e-4, "max_iters": 1000}}, tmp_path / "ckpt.pt")
    (tmp_path / "train.log").write_text(loop_log())
    run = lossdoctor.load(str(tmp_path))
    assert run.config.trusted("n_layer") == 2 and run.config.trusted("dropout") == 0.0
    assert run.config.values["learning_rate"].origin == "checkpoint"
    assert not any("origin 'inferred'" in n for n in run.notes)


def test_advice_says_which_values_it_found_already_set_were_inferred():
    from lossdoctor.diagnose import diagnose
    run = parse_text(loop_log(last=5000, rise_after=2000))  # the stock run overfits past step 2000
    [ld501] = [f for f in diagnose(run).findings if f.rule.startswith("LD501")]
    assert "dropout=0.2 (inferred)" in ld501.advice and "--dropout" not in ld501.flags


def test_many_epochs_withhold_train_longer():
    from lossdoctor.diagnose import diagnose
    run = parse_text(loop_log(last=2000))  # still falling at 32.6 epochs of tiny Shakespeare
    found = {f.rule[:5]: f for f in diagnose(run).findings}
    assert "LD503" in found and "LD101" in found
    assert found["LD101"].flags == "" and "withheld: LD503" in found["LD101"].advice
    assert found["LD101"].verify.flags == ""  # nor does verify train the withheld advice


def test_an_inferred_run_cut_before_max_iters_is_not_extrapolated_on_a_default_lr_decay_iters():
    from lossdoctor.fit import limits
    assert "does not show lr_decay_iters" in limits.unknown_schedule(parse_text(loop_log(last=1000)))
    assert limits.unknown_schedule(parse_text(loop_log(last=5000))) is None


def test_a_headerless_log_gives_its_intervals_by_the_spacing_of_its_lines():
    # no out_dir of a config file: only the cadence can be read, each key on its own
    run = parse_text(loop_log(out_dir="out-mine", log_every=10, eval_every=200, last=900))
    assert run.config.trusted("eval_interval") == 200 and run.config.trusted("log_interval") == 10
    assert run.config["eval_interval"].origin == "log cadence" and not run.config.seen
    assert run.config.trusted("n_layer") is None  # nothing else is taken
    assert any("eval_interval 200 and log_interval 10 are read off the steps of the log's evals and iteration "
               "lines" in n for n in run.notes)
    fact = compute_facts(run)["eval_interval"]
    assert fact.status == "inferred" and fact.note == "inferred: the log's evals 200 steps apart"


def test_spacing_that_is_not_train_pys_cadence_gives_no_interval():
    text = loop_log(out_dir="out-mine", eval_every=200, last=600) + "step 650: train loss 3.0000, val loss 3.1000\n"
    run = parse_text(text)  # one process evaluating 200 and 50 apart
    assert run.config.trusted("eval_interval") is None and run.config.trusted("log_interval") == 10
    one = parse_text("step 0: train loss 4.2000, val loss 4.2000\niter 0: loss 4.2000, time 35.00ms, mfu 1.00%\n")
    assert one.config.trusted("eval_interval") is None  # one eval shows no spacing


def test_a_shown_config_keeps_its_intervals():
    run = parse_text(loop_log(out_dir="out-mine", eval_every=200, last=600,
                              header="Overriding: eval_interval = 200\nOverriding: max_iters = 600"))
    assert run.config["eval_interval"].origin == "override"
    assert run.config["log_interval"].origin == "default"  # train.py's, trusted where the config shows


def test_the_spacing_is_the_last_processs_own_and_must_show_twice():
    first = loop_log(out_dir="out-mine", eval_every=250, last=1000)
    resumed = ("Resuming training from out-mine\n"
               + "".join(f"iter {i}: loss 3.0000, time 35.00ms, mfu 10.00%\n" for i in range(1000, 1100, 10))
               + "step 1500: train loss 2.9000, val loss 3.0000\n")
    run = parse_text(first + resumed)  # the resumed process evaluates once: its spacing is not shown
    assert len(run.segments) == 2 and run.config.trusted("eval_interval") is None
    assert run.config.trusted("log_interval") == 10
    excerpt = parse_text("step 0: train loss 4.2000, val loss 4.2000\n...\nstep 5000: train loss 1.0000, "
                         "val loss 1.5000\n")  # one gap, across lines left out
    assert excerpt.config.trusted("eval_interval") is None


def test_thinned_iteration_lines_give_no_log_interval(monkeypatch):
    from lossdoctor.readers import chunks
    monkeypatch.setattr(chunks, "ITER_CAP", 100)
    run = parse_text(loop_log(out_dir="out-mine", log_every=1, eval_every=100, last=400))
    assert run.config.trusted("log_interval") is None and run.config.trusted("eval_interval") == 100


def test_a_checkpoint_without_the_intervals_keeps_the_logs_spacing(tmp_path):
    import torch
    log = tmp_path / "train.log"
    log.write_text(loop_log(out_dir="out-mine", eval_every=200, last=600))
    torch.save({"config": {"n_layer": 2, "dataset": "shakespeare_char"}, "iter_num": 600, "best_val_loss": 3.0,
                "model_args": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16, "vocab_size": 65,
                               "bias": False}}, tmp_path / "ckpt.pt")
    run = lossdoctor.load(str(log), str(tmp_path / "ckpt.pt"))
    assert run.config.trusted("n_layer") == 2 and run.config["eval_interval"].origin == "log cadence"


def test_a_checkpoint_that_holds_the_intervals_replaces_the_spacing_and_its_note(tmp_path):
    import torch
    log = tmp_path / "train.log"
    log.write_text(loop_log(out_dir="out-mine", eval_every=200, last=600))
    torch.save({"config": {"eval_interval": 200, "log_interval": 10, "dataset": "shakespeare_char"},
                "iter_num": 600, "best_val_loss": 3.0,
                "model_args": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16, "vocab_size": 65,
                               "bias": False}}, tmp_path / "ckpt.pt")
    run = lossdoctor.load(str(log), str(tmp_path / "ckpt.pt"))
    assert run.config["eval_interval"].origin == "checkpoint"
    assert not any("log cadence" in n for n in run.notes)
    one = {"config": {"eval_interval": 200, "dataset": "shakespeare_char"}, "iter_num": 600, "best_val_loss": 3.0,
           "model_args": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16, "vocab_size": 65, "bias": False}}
    torch.save(one, tmp_path / "ckpt.pt")  # only one interval: the other's note stays, for it alone
    run = lossdoctor.load(str(log), str(tmp_path / "ckpt.pt"))
    assert run.config["log_interval"].origin == "log cadence"
    assert [n for n in run.notes if "log cadence" in n] == [
        "log_interval 10 is read off the steps of the log's iteration lines (origin 'log cadence'): train.py "
        "prints at the multiples of it"]


def _resume_lines(keep_first_header: bool) -> list[str]:
    """nanoGPT's tiny_resume log (a run to step 200, then `init_from=resume` to 300) with its
    headers taken out: its loop lines alone, or with the first process's header kept."""
    from conftest import FIXTURES
    lines = (FIXTURES / "nanogpt" / "tiny_resume" / "train.log").read_text().split("\n")
    first_eval = next(i for i, x in enumerate(lines) if x.startswith("step "))
    resumed = next(i for i, x in enumerate(lines) if i > first_eval and x.startswith("Overriding"))
    head = lines[:resumed] if keep_first_header else [x for x in lines[:resumed] if x.startswith(("iter ", "step "))]
    return head + [x for x in lines[resumed:] if x.startswith(("iter ", "step "))]


def test_a_step_evaluated_again_with_no_header_reads_as_a_resume(tmp_path: Path) -> None:
    from lossdoctor.fit import CannotExtrapolate
    path = tmp_path / "loop.log"
    path.write_text("\n".join(_resume_lines(keep_first_header=False)))
    run = lossdoctor.load(str(path))
    assert list(run.lineage()) == [0, 1] and run.segments[1].init_from == "resume"
    ev, _ = run.curves()
    assert list(ev.step).count(200) == 1 and ev.val[list(ev.step).index(200)] == pytest.approx(2.8651)
    [note] = [n for n in run.notes if "comes again" in n]
    assert note.startswith("step 200 comes again at line ") and "(inferred;" in note and "config" not in note
    with pytest.raises(CannotExtrapolate, match="does not show learning_rate"):  # not "steps are not increasing"
        lossdoctor.extrapolate(run, 800)


def test_a_resume_with_no_header_of_its_own_takes_the_config_before_it_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "first_header.log"
    path.write_text("\n".join(_resume_lines(keep_first_header=True)))
    run = lossdoctor.load(str(path))
    assert run.config.seen and run.config.get("n_layer") == 2 and run.resumes_last()
    [note] = [n for n in run.notes if "comes again" in n]
    assert note.endswith("with the config of the run before it (assumed: the process shows none of its own)")
    x = lossdoctor.extrapolate(run, 800, scenarios=("rerun", "resume"))
    assert "--init_from=scratch" in x.scenarios[0].flags
    assert (x.scenarios[1].note or "").startswith("goes on from step 200, not 300")


def test_an_eval_back_at_step_0_with_no_header_is_another_run_not_a_resume(tmp_path: Path) -> None:
    lines = _resume_lines(keep_first_header=False)
    again = next(i for i, x in enumerate(lines) if i and x.startswith("step 200"))
    path = tmp_path / "two_runs.log"
    path.write_text("\n".join(lines[:again] + lines[:again]))
    run = lossdoctor.load(str(path))
    assert len(run.segments) == 2 and run.segments[1].init_from is None and list(run.lineage()) == [1]
    assert not [n for n in run.notes if "comes again" in n]


def test_each_eval_printed_twice_with_nothing_between_is_one_process(tmp_path: Path) -> None:
    from conftest import FIXTURES
    lines = (FIXTURES / "nanogpt" / "cpu_small" / "train.log").read_text().split("\n")
    twice = [y for x in lines for y in ((x, x.replace("val loss ", "val loss 1")) if x.startswith("step ") else (x,))]
    (tmp_path / "two_vals.log").write_text("\n".join(twice))  # a fork printing two val sets alike
    run = lossdoctor.load(str(tmp_path / "two_vals.log"))
    assert len(run.segments) == 1 and run.config.get("n_layer") == 4
    assert not [n for n in run.notes if "resuming" in n]


def test_many_resumes_with_no_header_are_said_in_one_note(tmp_path: Path) -> None:
    out, first = [], 0
    for _ in range(5):  # five processes of 100 steps, each resuming where the one before saved
        for s in range(first, first + 101, 10):
            if s % 50 == 0:
                out.append(f"step {s}: train loss {4 - s / 400:.4f}, val loss {4.1 - s / 400:.4f}")
            out.append(f"iter {s}: loss {4 - s / 400:.4f}, time 10.00ms, mfu 1.00%")
        first += 100
    (tmp_path / "chain.log").write_text("\n".join(out) + "\n")
    run = lossdoctor.load(str(tmp_path / "chain.log"))
    assert len(run.segments) == 5 and list(run.lineage()) == [0, 1, 2, 3, 4]
    [note] = [n for n in run.notes if "resuming" in n]
    assert note.startswith("4 times the steps come again or go back with no header, at steps 100 (line ")


def test_values_the_log_contradicts_are_read_off_what_it_shows_instead():
    # nanoGPT's CPU run with its `Overriding:` lines dropped: the config file's batch and model
    # are contradicted by the printed tokens and parameters, so none of its values is taken;
    # its intervals had stayed unknown with them, and its dataset and epochs too
    lines = (Path(__file__).parent.parent / "fixtures" / "nanogpt" / "cpu_small" / "train.log").read_text()
    run = parse_text("".join(x for x in lines.splitlines(keepends=True) if not x.startswith("Overriding: ")))
    assert run.config.trusted("n_layer") is None  # still not taken
    cfg = run.config.values
    assert (cfg["eval_interval"].value, cfg["eval_interval"].origin) == (100, "log cadence")
    assert (cfg["dataset"].value, cfg["dataset"].origin) == ("shakespeare_char", "meta.pkl path")
    assert compute_facts(run).value("epochs") is not None
