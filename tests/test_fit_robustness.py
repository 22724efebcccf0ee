"""Curves the law cannot take get a plain "cannot extrapolate: why", never a traceback
or a warning from numpy or scipy."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import pytest

import lossdoctor
from lossdoctor.cli import main
from lossdoctor.fit import CannotExtrapolate, Extrapolator

HEADER = "Overriding: max_iters = 2000\nOverriding: lr_decay_iters = 2000\nOverriding: eval_interval = 250\n"


def _log(loss: object, evals: list[int], iters: list[int], train: object = None) -> str:
    """A nanoGPT log with eval and iter lines interleaved by step, as train.py writes them."""
    f = loss if callable(loss) else (lambda s: loss)
    g = train if callable(train) else f
    lines = [(s, 0, f"step {s}: train loss {g(s):.4f}, val loss {f(s):.4f}") for s in evals]
    lines += [(s, 1, f"iter {s}: loss {g(s):.4f}, time 10.00ms, mfu 1.00%") for s in iters]
    return HEADER + "\n".join(text for _, _, text in sorted(lines, key=lambda x: x[:2])) + "\n"


def falling(s: int) -> float:
    return 1.2 + 3.0 / (1 + s / 300)


EVALS, ITERS = list(range(0, 2001, 250)), list(range(0, 2001, 10))
CASES = {
    "no points": (HEADER, "the run has no loss values"),
    "one eval": (_log(4.2, [0], []), "every point is at step 0"),
    "an eval at step 0 only": (_log(4.2, [0], [0]), "every point is at step 0"),
    # past a warmup of 100 (HEADER leaves train.py's 2000, which the run would still be inside)
    "two evals": ("Overriding: warmup_iters = 100\n" + _log(falling, [0, 250], []), "too few points"),
    "inside train.py's warmup": (_log(falling, [0, 250], []), r"ends at step 250, inside its warmup \(2,000 steps\)"),
    "constant": (_log(2.0, EVALS, ITERS), "the loss is constant"),
    "all NaN": (_log(math.nan, EVALS, ITERS), "non-finite"),
    # finite but far beyond any cross-entropy: refused, not NaN predictions from overflowing sums
    "one eval at 1e308": (_log(lambda s: 1e308 if s == 500 else falling(s), EVALS, ITERS),
                          "an eval loss of 1e.308 at step 500: beyond any cross-entropy"),
    "one iteration at 1e200": (_log(falling, EVALS, ITERS, train=lambda s: 1e200 if s == 1500 else falling(s)),
                               "loss of 1e.200 at step 1,500"),
    "diverging": (_log(lambda s: 2 + s / 400, EVALS, ITERS), "the loss is rising"),
    "steps backwards": (HEADER + "".join(f"step {s}: train loss {falling(s):.4f}, val loss {falling(s):.4f}\n"
                                         for s in reversed(EVALS)), "its steps go back 8 times"),
    # each eval's step twice, with other values and nothing between: not a line printed
    # twice (that is read once), nor a resume (no iteration between), but one process's
    "duplicate steps": (HEADER + "".join(f"step {s}: train loss {falling(s):.4f}, val loss {falling(s):.4f}\n"
                                         f"step {s}: train loss {falling(s):.4f}, val loss {falling(s) + 0.01:.4f}\n"
                                         for s in EVALS),
                        r"steps are not increasing: the eval at line \d+ is at step 0, after one at step 0"),
}


@pytest.mark.parametrize("name", CASES)
def test_a_curve_the_law_cannot_take_says_why(tmp_path: Path, name: str) -> None:
    text, why = CASES[name]
    path = tmp_path / "train.log"
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from numpy, no OptimizeWarning from scipy
        run = lossdoctor.load(str(path))
        with pytest.raises(CannotExtrapolate, match=why) as e:
            Extrapolator(run).extrapolate(5000)
        assert str(e.value).startswith("cannot extrapolate: ")
        lossdoctor.analyze([str(path)])  # the rules that lean on the fit say "not applicable"


def test_one_val_eval_far_off_its_neighbours_withholds_val_and_says_where(tmp_path: Path) -> None:
    # one val typed ten times its value (19.2 for 1.92): no val prediction (it had been 4 [-5.6, 14]), train stays
    path = tmp_path / "train.log"
    path.write_text(_log(lambda s: 10 * falling(s) if s == 1000 else falling(s), EVALS, ITERS, train=falling))
    x = Extrapolator(lossdoctor.load(str(path))).extrapolate(3000)
    assert all(s.val is None and "misses the run's own evals" in s.note and s.train is not None for s in x.scenarios)
    assert any(re.search(r"most at step 1,000 \(val 18.9", n) for n in x.notes)


def test_one_iteration_spike_is_left_out_of_the_fit_and_said(tmp_path: Path) -> None:
    clean, spiked = tmp_path / "clean.log", tmp_path / "spiked.log"
    clean.write_text(_log(falling, EVALS, ITERS))
    spiked.write_text(_log(falling, EVALS, ITERS, train=lambda s: 60.0 if s == 1510 else falling(s)))
    a, b = (Extrapolator(lossdoctor.load(str(p))).extrapolate(3000) for p in (clean, spiked))
    assert b.scenarios[0].val.mean == pytest.approx(a.scenarios[0].val.mean, abs=1e-9)  # the law had refused it
    assert any(n.startswith("1 iteration loss far above its neighbours") for n in b.notes)
    assert not any("spikes" in n for n in a.notes)


def test_a_falling_curve_still_extrapolates(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    path.write_text(_log(falling, EVALS, ITERS))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Extrapolator(lossdoctor.load(str(path))).extrapolate(3000)


@pytest.mark.parametrize("to", ["1e10", "10000000000", "-5", "0", "nan", "abc"])
def test_extrapolate_to_an_absurd_step_is_one_line(tmp_path: Path, to: str, capsys: pytest.CaptureFixture[str]
                                                  ) -> None:
    path = tmp_path / "train.log"
    path.write_text(_log(falling, EVALS, ITERS))
    assert main(["extrapolate", str(path), "--to", to]) == 2
    err = capsys.readouterr().err.strip()
    assert "error: " in err.splitlines()[-1] and "Traceback" not in err, err
    if to in ("1e10", "10000000000"):
        assert "cannot extrapolate: step 10,000,000,000 is beyond what this run supports" in err


def test_a_short_log_that_claims_a_huge_step_costs_little(tmp_path: Path) -> None:
    """Cost follows the file, not the steps it claims: the per-step arrays are never made."""
    import tracemalloc
    path = tmp_path / "train.log"
    path.write_text("step 0: train loss 4.2000, val loss 4.2100\niter 0: loss 4.2000, time 10.00ms, mfu 1.00%\n"
                    "step 50000000: train loss 1.5000, val loss 1.6000\n"
                    "iter 100000000: loss 1.4000, time 10.00ms, mfu 1.00%\n"
                    "step 100000000: train loss 1.4000, val loss 1.5000\n")
    run = lossdoctor.load(str(path))
    with pytest.raises(CannotExtrapolate, match="the run reaches step 100,000,000"):
        Extrapolator(run).extrapolate(200_000_000)
    tracemalloc.start()
    try:
        lossdoctor.analyze([str(path), str(path)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6  # bytes; one float per claimed step would be 800 MB


@pytest.mark.parametrize(("iters", "said"), [
    ([], "no per-iteration losses: eval noise assumed 0.01 nats"),
    (list(range(0, 2001, 200)), "too few per-iteration losses to measure their noise (9 past the first fifth of "
                                "them, 20 needed): eval noise assumed 0.01 nats"),
])
def test_the_eval_noise_assumed_says_whether_the_log_has_iteration_losses(tmp_path: Path, iters: list[int],
                                                                          said: str) -> None:
    log = tmp_path / "train.log"
    log.write_text("Overriding: warmup_iters = 100\nOverriding: learning_rate = 0.001\n"
                   + _log(falling, EVALS, iters))
    x = Extrapolator(lossdoctor.load(str(log))).extrapolate(4000)
    assert said in x.notes
