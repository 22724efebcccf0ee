"""Mutated and arbitrary inputs never crash a stage: every input that ever crashed one is
run again (fixtures/fuzz/crashes), and hypothesis mutates the project's own inputs of
every format. The long search is benchmarks/fuzz.py; these are its quick, repeatable part.
"""

from __future__ import annotations

import random
from pathlib import Path

import fuzzing
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

CRASHES = sorted(fuzzing.CRASHES.glob("*"))
SEEDS = [p for p in fuzzing.seeds() if fuzzing.CRASHES not in p.parents]
# one seed per suffix and reader family: a property test draws from these
FAMILIES = sorted({p.suffix: p for p in SEEDS}.values()) + [
    p for p in SEEDS if p.name in ("train.log", "nanochat_base_train.log", "llmc_stdout.log", "modded_record.txt",
                                   "build_nanogpt_log.txt", "metrics.csv")]
QUICK = settings(max_examples=20, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def test_the_regression_inputs_are_there() -> None:
    assert len(CRASHES) >= 20
    assert len(SEEDS) >= 40


@pytest.mark.parametrize("path", CRASHES, ids=[p.name for p in CRASHES])
def test_every_input_that_ever_crashed_now_reads(path: Path) -> None:
    assert fuzzing.run_case(str(path), extrapolate=True, limit=60) is None


def test_a_crash_is_reported_by_its_last_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lossdoctor

    def boom(paths: object) -> None:
        raise ZeroDivisionError

    monkeypatch.setattr(lossdoctor, "analyze", boom)
    case = tmp_path / "x.log"
    case.write_text("iter 0: loss 4.2, time 1.0ms, mfu 1.00%\n")
    line = boom.__code__.co_firstlineno + 1
    assert fuzzing.run_case(str(case)) == f"ZeroDivisionError at tests/test_fuzz.py:{line} in boom"


@QUICK
@given(st.sampled_from(FAMILIES), st.lists(st.sampled_from(fuzzing.MUTATIONS), min_size=1, max_size=3),
       st.integers(0, 2**32))
def test_mutated_inputs_give_a_result_or_a_one_line_error(tmp_path_factory: pytest.TempPathFactory, seed: Path,
                                                         mutations: list, salt: int) -> None:
    rng = random.Random(salt)
    data = seed.read_bytes()[:fuzzing.MAX_SEED]
    for m in mutations:
        data = m(data, rng) if m is not fuzzing.long_line else data + b"x" * 10_000 + b"\n"
    case = tmp_path_factory.mktemp("case") / seed.name
    case.write_bytes(data)
    assert fuzzing.run_case(str(case), extrapolate=salt % 4 == 0) is None


@QUICK
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_give_a_result_or_a_one_line_error(tmp_path_factory: pytest.TempPathFactory,
                                                           data: bytes) -> None:
    case = tmp_path_factory.mktemp("bytes") / "run.log"
    case.write_bytes(data)
    assert fuzzing.run_case(str(case), extrapolate=False) is None


@QUICK
@given(st.lists(st.text(alphabet=st.sampled_from(list("0123456789.,:|/= -+eEnaifstepvlroxb\t")), max_size=80),
                max_size=40))
def test_metric_like_text_gives_a_result_or_a_one_line_error(tmp_path_factory: pytest.TempPathFactory,
                                                             lines: list[str]) -> None:
    case = tmp_path_factory.mktemp("text") / "train.log"
    case.write_text("\n".join(lines))
    assert fuzzing.run_case(str(case), extrapolate=True) is None


@pytest.mark.parametrize("fmt", __import__("lossdoctor.readers.registry", fromlist=["names"]).names())
def test_every_reader_forced_on_every_kind_of_file(tmp_path: Path, fmt: str) -> None:
    """A format forced on a file of another format (`--input-format`) reads it or says why."""
    from lossdoctor.errors import LossdoctorError
    from lossdoctor.readers import registry
    rng = random.Random(fmt)
    for seed in FAMILIES:
        data, _ = fuzzing.mutate(seed.read_bytes()[:fuzzing.MAX_SEED], rng)
        for i, content in enumerate((seed.read_bytes(), data)):
            case = tmp_path / f"{i}-{seed.name}"
            case.write_bytes(content)
            try:
                registry.read_runs(str(case), [registry.by_name(fmt)])
            except LossdoctorError:
                pass
