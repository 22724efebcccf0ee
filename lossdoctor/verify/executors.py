"""Where verify's arm-seeds (jobs.ArmJob) run.

An executor runs a batch of independent jobs and calls done(i, metrics) as each finishes,
so that the runner saves it at once (an interrupted verify keeps every finished arm-seed).

  local     LocalExecutor: one after another in this process, on the already loaded data,
            with a tick after every step
  devices   DeviceExecutor: one process per device (concurrent.futures, spawn), each arm on
            the next device that is free; `local_devices` lists this machine's GPUs
  torchrun  cluster.TorchrunExecutor: one arm at a time as a DDP run over nproc processes
            (`python -m torch.distributed.run`, trainer/ddp.py, worker.py)
  ray       cluster.RayExecutor: a Ray task per arm on a Ray cluster (the optional extra
            lossdoctor[ray])

Every executor but the local one ticks once per job, with the job's steps, when it ends. On
a job's error no new job starts; the running ones finish (their done is called), then the
first error is raised: a LossdoctorError as a LossdoctorError with its message. A
KeyboardInterrupt (or an error in done) stops the running jobs at once.

Data: a job carries its data's path (None: the embedded corpus). An executor given a Data
uses it for the jobs without a path: its file or directory when it has one, else the arrays
themselves (sent to each worker process once, or written as a nanoGPT data directory for
torchrun).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from ..errors import LossdoctorError, UsageError
from .jobs import ArmJob, run_job

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

    from ..trainer.data import Data

__all__ = ["Executor", "LocalExecutor", "DeviceExecutor", "Done", "Tick", "Start", "EXECUTORS", "make_executor",
           "local_devices"]

Done = Callable[[int, dict[str, float]], None]  # (index of the job in the batch, its metrics)
Tick = Callable[[int], None]  # steps finished since the last call
Start = Callable[[int], None]  # (index of the job that starts)

EXECUTORS = ("local", "devices", "torchrun", "ray")  # the names make_executor knows
STOP_TIMEOUT_S = 30.0  # after an interrupt: how long a worker may take to exit before it is killed
ERROR_TAIL_LINES = 25  # lines of a failed torchrun's output quoted in the error


class Executor(Protocol):
    name: str
    workers: int  # jobs that run at once

    def run(self, jobs: Sequence[ArmJob], done: Done, tick: Tick, start: Start | None = None) -> None:
        """Run every job: start(i) as job i starts, tick(steps) as steps finish, done(i,
        metrics) as job i finishes. Raises the first job's error after the others have
        finished (or been cancelled)."""
        ...


class LocalExecutor:
    """Jobs one after another in this process, on the already loaded data."""

    name = "local"
    workers = 1

    def __init__(self, data: Data) -> None:
        self.data = data

    def run(self, jobs: Sequence[ArmJob], done: Done, tick: Tick, start: Start | None = None) -> None:
        for i, job in enumerate(jobs):
            if start is not None:
                start(i)
            done(i, run_job(job, self.data, lambda: tick(1)))


# ---- what runs in a worker process (module level, so that spawn and Ray can import it) ----

_worker_data: Data | None = None  # the executor's Data, for jobs without a path
_loaded: dict[str | None, Data] = {}  # data loaded by path in this process (None: the embedded corpus)


def _init_worker(data: Data | None, device: str, threads: int | None) -> None:
    """A device process's setup: the shared data, the current CUDA device (so that nothing
    lands on cuda:0 by default), and torch's CPU threads when several processes share the CPU.
    Ctrl-C is left to the parent, which ends the workers (executors' _abort): a worker that
    took it too would print a traceback of its own."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    global _worker_data
    _worker_data = data
    import torch
    if device.startswith("cuda"):
        torch.cuda.set_device(device)
    if threads is not None:
        torch.set_num_threads(threads)


def _job_in_worker(job: ArmJob, data: Data | None = None) -> dict[str, float]:
    """run_job in a worker process; a LossdoctorError comes back as one that unpickles."""
    if data is None and job.data is None:
        data = _worker_data
    if data is None:
        if job.data not in _loaded:
            from ..trainer import load_data
            _loaded[job.data] = load_data(job.data)
        data = _loaded[job.data]
    try:
        return run_job(job, data)
    except LossdoctorError as e:
        raise _portable(e) from None


def _portable(e: LossdoctorError) -> LossdoctorError:
    """e if it can be rebuilt from its args, as unpickling on the way back from a worker
    does, else a LossdoctorError with its message (InputError's constructor takes a path and
    a reason, its args only the joined message)."""
    import copy
    try:
        back = copy.copy(e)  # the same reconstruction as pickle: type(e)(*e.args)
        if type(back) is type(e) and str(back) == str(e):
            return e
    except Exception:  # any failure to rebuild: send the message alone
        pass
    return LossdoctorError(str(e))


def _shipped(data: Data | None) -> str | Data | None:
    """What a job without a data path uses elsewhere: None for the embedded corpus (each
    process builds it), the data's file or directory when it exists, else the Data itself."""
    if data is None or data.source.startswith("embedded corpus"):
        return None
    if os.path.exists(data.source):
        return os.path.abspath(data.source)
    return data


def _with_data(job: ArmJob, shipped: str | Data | None) -> ArmJob:
    """The job with the executor's data path when it has none of its own."""
    return replace(job, data=shipped) if job.data is None and isinstance(shipped, str) else job


# ---- a queue of jobs over a fixed number of slots ----

H = TypeVar("H")  # a handle on a running job: a Future, a Ray ObjectRef


class _Queue(ABC, Generic[H]):
    """Jobs over `slots` places at once: the next job goes to the first slot that is free.
    A subclass says how many slots there are and how a job is submitted, awaited, read
    back and aborted; `run` is the scheduling they share."""

    @abstractmethod
    def _slots(self, jobs: Sequence[ArmJob]) -> int:
        """How many jobs run at once."""

    @abstractmethod
    def _submit(self, slot: int, job: ArmJob) -> H:
        """Start job in slot; a handle on it."""

    @abstractmethod
    def _wait(self, handles: list[H]) -> list[H]:
        """Block until at least one handle is finished; the finished ones."""

    @abstractmethod
    def _result(self, slot: int, handle: H) -> dict[str, float]:
        """A finished job's metrics, or its error raised."""

    @abstractmethod
    def _abort(self, handles: list[H]) -> None:
        """Stop the running jobs now (after a KeyboardInterrupt)."""

    def run(self, jobs: Sequence[ArmJob], done: Done, tick: Tick, start: Start | None = None) -> None:
        queue = deque(range(len(jobs)))
        free = list(range(self._slots(jobs)))
        running: dict[H, tuple[int, int]] = {}  # handle -> (job index, slot)
        error: Exception | None = None
        try:
            while running or (queue and error is None):
                while queue and free and error is None:
                    i, slot = queue.popleft(), free.pop(0)
                    if start is not None:
                        start(i)
                    running[self._submit(slot, jobs[i])] = (i, slot)
                for handle in self._wait(list(running)):
                    i, slot = running.pop(handle)
                    free.append(slot)
                    try:
                        metrics = self._result(slot, handle)
                    except Exception as e:  # the first error is raised once the running jobs end
                        error = e if error is None else error
                        continue
                    tick(jobs[i].steps)
                    done(i, metrics)
        except BaseException:
            self._abort(list(running))
            raise
        if error is not None:
            raise error


class DeviceExecutor(_Queue["Future[dict[str, float]]"]):
    """Independent arms in parallel, one worker process per device (e.g. ["cuda:0", "cuda:1"];
    ["cpu", "cpu"] also works). Each job's config `device` is set to its process's device.

    The processes (spawn, so that CUDA starts clean in each) are started on the first run
    and kept for the next ones; close() (or a `with` block) ends them, as does a
    KeyboardInterrupt or a worker's death. A worker loads a job's data by its path once.
    """

    name = "devices"

    def __init__(self, devices: Sequence[str], data: Data | None = None) -> None:
        if not devices:
            raise UsageError("DeviceExecutor needs at least one device")
        self.devices = list(devices)
        self.workers = len(self.devices)
        self.shipped = _shipped(data)
        self._pools: list[ProcessPoolExecutor | None] = [None] * len(self.devices)
        n_cpu = sum(1 for d in self.devices if not d.startswith("cuda"))
        # several CPU workers share the cores (torch takes them all by default), unless the user chose
        self.threads = (max(1, (os.cpu_count() or 1) // n_cpu)
                        if n_cpu > 1 and "OMP_NUM_THREADS" not in os.environ else None)

    def __enter__(self) -> DeviceExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the worker processes (they are idle between runs)."""
        for slot, pool in enumerate(self._pools):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                self._pools[slot] = None

    def _pool(self, slot: int) -> ProcessPoolExecutor:
        pool = self._pools[slot]
        if pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor
            data = self.shipped if not isinstance(self.shipped, str) else None
            pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_init_worker, initargs=(data, self.devices[slot], self.threads))
            self._pools[slot] = pool
        return pool

    def _slots(self, jobs: Sequence[ArmJob]) -> int:
        return len(self.devices)

    def _submit(self, slot: int, job: ArmJob) -> Future[dict[str, float]]:
        job = replace(_with_data(job, self.shipped), config={**job.config, "device": self.devices[slot]})
        return self._pool(slot).submit(_job_in_worker, job)

    def _wait(self, handles: list[Future[dict[str, float]]]) -> list[Future[dict[str, float]]]:
        from concurrent.futures import FIRST_COMPLETED, wait
        return list(wait(handles, return_when=FIRST_COMPLETED).done)

    def _result(self, slot: int, handle: Future[dict[str, float]]) -> dict[str, float]:
        from concurrent.futures.process import BrokenProcessPool
        try:
            return handle.result()
        except BrokenProcessPool:
            self._kill(slot)  # a new process on the next run
            raise LossdoctorError(f"the worker process on {self.devices[slot]} died (killed for memory, "
                                  "or crashed); see the system log") from None

    def _abort(self, handles: list[Future[dict[str, float]]]) -> None:
        for handle in handles:
            handle.cancel()
        for slot in range(len(self._pools)):
            self._kill(slot)

    def _kill(self, slot: int) -> None:
        """Terminate the slot's process (it may be mid-job), then drop its pool without waiting."""
        pool = self._pools[slot]
        if pool is None:
            return
        self._pools[slot] = None
        processes = list((getattr(pool, "_processes", None) or {}).values())
        for p in processes:
            p.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            p.join(STOP_TIMEOUT_S)
            if p.is_alive():
                p.kill()


def local_devices(kind: str) -> list[str]:
    """This machine's devices of a kind for DeviceExecutor: ["cuda:0", ..., "cuda:N-1"] for
    'cuda' (any 'cuda...' device; N from torch.cuda.device_count(), which honours
    CUDA_VISIBLE_DEVICES); [] when there are none, and for any other kind."""
    if not kind.startswith("cuda"):
        return []
    import torch
    if not torch.cuda.is_available():
        return []
    return [f"cuda:{i}" for i in range(torch.cuda.device_count())]


def make_executor(name: str, device: str, data: Data | None, data_path: str | None, *,
                  nproc: int | None = None, address: str | None = None) -> Executor:
    """The executor `lossdoctor verify --executor NAME` uses for arms on `device`.

      local     in this process, one arm after another (needs `data`)
      devices   one process per GPU of this machine (local_devices(device)), arms in parallel;
                UsageError when there is no GPU
      torchrun  one arm at a time over nproc processes (default: the GPUs here, else 1)
      ray       a Ray task per arm on the cluster at `address` (None: RAY_ADDRESS, else a
                local Ray); UsageError when ray is not installed

    data, data_path: the loaded data and its path (None for the embedded corpus or data
    given as arrays); the jobs carry data_path, the other processes load it themselves.
    UsageError for a device that is none the trainer takes (cpu, cuda, cuda:N, mps).
    """
    from .arguments import device as checked_device
    checked_device("make_executor", device)
    shared = data if data_path is None else None
    if name == "local":
        if data is None:
            from ..trainer import load_data
            data = load_data(data_path)
        return LocalExecutor(data)
    if name == "devices":
        devices = local_devices(device)
        if not devices:
            raise UsageError(f"--executor devices runs one process per GPU; there is none for device {device!r} here")
        return DeviceExecutor(devices, shared)
    from .cluster import RayExecutor, TorchrunExecutor
    if name == "torchrun":
        return TorchrunExecutor(nproc if nproc is not None else max(1, len(local_devices(device))), shared)
    if name == "ray":
        return RayExecutor(address, shared)
    raise UsageError(f"unknown executor {name!r}: one of {', '.join(EXECUTORS)}")
