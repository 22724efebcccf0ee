"""lossdoctor.verify.executors, worker and trainer.ddp: the same tiny arm-seeds give the same
metrics in this process, in a process per device (two CPU "devices"), under torchrun (gloo on
CPU) and on a local Ray; done once per job; errors come back after the running jobs end."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import replace
from typing import Any

import pytest

from lossdoctor.errors import InputError, LossdoctorError, UsageError
from lossdoctor.trainer import ddp, load_data, resolve
from lossdoctor.verify.cluster import RayExecutor, TorchrunExecutor, estimate_training_memory, exceeds_device_memory
from lossdoctor.verify.executors import DeviceExecutor, LocalExecutor, _portable, local_devices, make_executor
from lossdoctor.verify.jobs import ArmJob
from lossdoctor.verify.worker import job_from_json, job_to_json, main

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16, "batch_size": 4,
        "gradient_accumulation_steps": 2, "max_iters": 5, "warmup_iters": 1, "lr_decay_iters": 5,
        "device": "cpu", "compile": False, "dtype": "float32"}
SEEDS = (1, 2)
GIB = 2**30


def _job(seed: int, **over: Any) -> ArmJob:
    return ArmJob("train", resolve(overrides={**TINY, "seed": seed, **over}).values, eval_batch=4, equal_tokens_at=3)


class _Calls:
    """What an executor reported: start(i), tick(steps), done(i, metrics)."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.ticks = 0
        self.done: dict[int, dict[str, float]] = {}
        self.done_calls = 0

    def start(self, i: int) -> None:
        self.started.append(i)

    def tick(self, steps: int) -> None:
        self.ticks += steps

    def finish(self, i: int, metrics: dict[str, float]) -> None:
        self.done_calls += 1
        self.done[i] = metrics

    def run(self, executor: Any, jobs: list[ArmJob]) -> None:
        executor.run(jobs, self.finish, self.tick, self.start)


@pytest.fixture(scope="module")
def reference() -> dict[int, dict[str, float]]:
    """LocalExecutor's metrics of the tiny job at each seed."""
    calls = _Calls()
    calls.run(LocalExecutor(load_data(None)), [_job(s) for s in SEEDS])
    return {s: calls.done[i] for i, s in enumerate(SEEDS)}


@pytest.fixture(scope="module")
def devices() -> Any:
    with DeviceExecutor(["cpu", "cpu"]) as executor:
        yield executor


def _same(a: dict[str, float], b: dict[str, float]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=1e-6), k


def test_device_executor_matches_local(devices: DeviceExecutor, reference: dict[int, dict[str, float]]) -> None:
    calls = _Calls()
    calls.run(devices, [_job(s) for s in SEEDS])
    assert calls.done_calls == len(SEEDS) and sorted(calls.started) == [0, 1]
    assert calls.ticks == len(SEEDS) * TINY["max_iters"]
    for i, s in enumerate(SEEDS):
        _same(calls.done[i], reference[s])


def test_device_executor_raises_after_the_others_finish(devices: DeviceExecutor,
                                                        reference: dict[int, dict[str, float]]) -> None:
    calls = _Calls()
    with pytest.raises(LossdoctorError, match="non-finite training loss"):
        calls.run(devices, [_job(1, learning_rate=1e6), _job(2)])
    assert calls.done_calls == 1
    _same(calls.done[1], reference[2])


def test_device_executor_interrupt_stops_running_jobs(devices: DeviceExecutor) -> None:
    def interrupt(i: int, metrics: dict[str, float]) -> None:
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        devices.run([_job(1), _job(2, max_iters=1_000_000, lr_decay_iters=1_000_000)], interrupt, lambda n: None)
    assert time.monotonic() - started < 30
    assert devices._pools == [None, None]  # both processes ended; the next run starts new ones


def test_torchrun_one_process_matches_local(reference: dict[int, dict[str, float]]) -> None:
    calls = _Calls()
    calls.run(TorchrunExecutor(1), [_job(1)])
    assert calls.done_calls == 1 and calls.ticks == TINY["max_iters"]
    _same(calls.done[0], reference[1])


def test_torchrun_two_processes_gloo(reference: dict[int, dict[str, float]]) -> None:
    """Two DDP ranks on CPU, one micro-step each: rank 0 draws the batches of the
    one-process run's first micro-steps, rank 1 its own, so the metrics are close, not equal."""
    calls = _Calls()
    calls.run(TorchrunExecutor(2), [_job(1)])
    assert calls.done_calls == 1 and calls.ticks == TINY["max_iters"]
    for k, v in calls.done[0].items():
        assert math.isfinite(v) and v == pytest.approx(reference[1][k], abs=0.1)


def test_lossdoctor_train_under_torchrun_logs_once(tmp_path: Any) -> None:
    """Only rank 0 logs, evaluates and saves: each eval line appears once."""
    import subprocess
    import sys
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "lossdoctor",
           "train", "--device=cpu", "--n_layer=1", "--n_head=2", "--n_embd=16", "--block_size=16", "--batch_size=4",
           "--gradient_accumulation_steps=2", "--max_iters=20", "--eval_interval=10", "--eval_iters=5",
           "--log_interval=5", "--compile=False", f"--out_dir={out}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = (out / "train.log").read_text()
    assert [line.split(":")[0] for line in log.splitlines() if line.startswith("step ")] == \
        ["step 0", "step 10", "step 20"]
    assert proc.stdout.count("step 10:") == 1 and "tokens per iteration will be: 128" in proc.stdout


def test_torchrun_error_is_the_workers_message(tmp_path: Any) -> None:
    """The worker's LossdoctorError comes back with its message (an InputError's, before
    any training: a divergence is tested with the other executors)."""
    calls = _Calls()
    missing = str(tmp_path / "no-such-data")
    with pytest.raises(LossdoctorError, match=f"{missing}: no such file or directory"):
        calls.run(TorchrunExecutor(2), [replace(_job(1), data=missing), _job(2)])
    assert calls.done_calls == 0  # one arm after another: the second never started


def test_ray_executor_matches_local(reference: dict[int, dict[str, float]]) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    try:
        executor = RayExecutor()
        assert executor.workers == 2 and not executor.started
        calls = _Calls()
        calls.run(executor, [_job(s) for s in SEEDS])
        assert calls.done_calls == len(SEEDS) and calls.ticks == len(SEEDS) * TINY["max_iters"]
        for i, s in enumerate(SEEDS):
            _same(calls.done[i], reference[s])
        calls = _Calls()
        with pytest.raises(LossdoctorError, match="non-finite training loss"):
            calls.run(executor, [_job(1, learning_rate=1e6), _job(2)])
        assert calls.done_calls == 1
    finally:
        ray.shutdown()


def test_ray_missing_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(UsageError, match=r"pip install 'lossdoctor\[ray\]'"):
        make_executor("ray", "cpu", None, None)


def test_make_executor_and_local_devices() -> None:
    assert local_devices("cpu") == [] and local_devices("mps") == []
    assert isinstance(make_executor("local", "cpu", None, None), LocalExecutor)
    assert isinstance(make_executor("torchrun", "cpu", None, None), TorchrunExecutor)
    with pytest.raises(UsageError, match="one process per GPU"):
        make_executor("devices", "cpu", None, None)
    with pytest.raises(UsageError, match="unknown executor"):
        make_executor("slurm", "cpu", None, None)


def test_exceeds_device_memory_small_and_huge() -> None:
    tiny = resolve(overrides=TINY).values
    assert estimate_training_memory(tiny, vocab_size=100) < 10 * 2**20
    assert not exceeds_device_memory(tiny, 1 * GIB)
    gpt2 = resolve(overrides={"dtype": "bfloat16", "device": "cpu"}).values  # nanoGPT's 124M, batch 12 x 1024
    assert 8 * GIB < estimate_training_memory(gpt2) < 16 * GIB
    assert not exceeds_device_memory(gpt2, 80 * GIB)
    xl = {**gpt2, "n_layer": 48, "n_head": 25, "n_embd": 1600}  # GPT-2 XL, 1.5B parameters
    assert exceeds_device_memory(xl, 24 * GIB)


def test_job_json_round_trip_and_bad_arguments(tmp_path: Any) -> None:
    job = ArmJob("eval noise", resolve(overrides=TINY).values, 4, None, (2, 20), "some/dir")
    assert job_from_json(json.loads(json.dumps(job_to_json(job)))) == job
    assert dict(job_from_json(job_to_json(job)).config) == dict(job.config)
    with pytest.raises(UsageError):
        job_from_json({"kind": "train", "config": {}})
    assert main([str(tmp_path / "only-one.json")]) == 2
    assert main([str(tmp_path / "missing.json"), str(tmp_path / "out.json")]) == 2


def test_input_error_survives_the_way_back() -> None:
    e = _portable(InputError("/no/such/data", "no such file or directory"))
    assert type(e) is LossdoctorError and str(e) == "/no/such/data: no such file or directory"
    usage = UsageError("bad flag")
    assert _portable(usage) is usage


def test_ddp_refuses_indivisible_accumulation(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(k, v)
    values = dict(resolve(overrides={**TINY, "gradient_accumulation_steps": 3}).values)
    with pytest.raises(UsageError, match="not a multiple of the DDP world size 2"):
        ddp.setup(values)
    monkeypatch.delenv("RANK")
    assert ddp.setup(values) is None and values["gradient_accumulation_steps"] == 3


def test_each_seed_of_an_eval_noise_job_draws_its_own_windows(monkeypatch: Any) -> None:
    # seeds scored on the same draws would be one sample of the eval's noise, not n
    from lossdoctor.verify import jobs
    drawn: dict[int, list[int]] = {}
    real = jobs.val_loss

    def spy(trainer: Any, batches: int, seed: int, batch_size: int) -> float:
        drawn.setdefault(int(trainer.cfg["seed"]), []).append(seed)
        return real(trainer, batches, seed, batch_size)
    monkeypatch.setattr(jobs, "val_loss", spy)
    for seed in (1, 2):
        jobs.run_job(ArmJob("eval noise", resolve(overrides={**TINY, "seed": seed}).values, 4, None, (2, 4)))
    reference = jobs.EVAL_SEED
    one, two = ({s for s in drawn[k] if s != reference} for k in (1, 2))
    assert one and two and not one & two  # the reference batches aside, no window seed is shared


def test_a_ray_started_here_keeps_its_start_up_lines_off_stderr(monkeypatch):
    # lossdoctor's errors are one line each: Ray's INFO and WARNING lines of a local start
    # (a budget refused after it) are not printed
    import logging
    import types

    from lossdoctor.verify import cluster
    calls = []
    fake = types.SimpleNamespace(is_initialized=lambda: False, init=lambda **kw: calls.append(kw),
                                 cluster_resources=lambda: {"CPU": 2}, remote=lambda f: f, shutdown=lambda: None)
    monkeypatch.setattr(cluster, "_ray", lambda: fake)
    ex = cluster.RayExecutor()
    assert calls == [{"address": None, "logging_level": logging.ERROR}] and ex.workers == 2
