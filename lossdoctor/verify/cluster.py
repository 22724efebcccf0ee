"""The executors that leave this machine's single process: `TorchrunExecutor` (one arm at
a time as a DDP run over several processes) and `RayExecutor` (a Ray task per arm), and the
memory estimate of an arm (does it fit one device). executors.py has the protocol, the local
and per-device executors, and make_executor.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import LossdoctorError, UsageError
from ..fsio import atomic_write
from .executors import (
    ERROR_TAIL_LINES,
    STOP_TIMEOUT_S,
    Done,
    Start,
    Tick,
    _job_in_worker,
    _Queue,
    _shipped,
    _with_data,
)
from .jobs import ArmJob

if TYPE_CHECKING:
    from ..trainer.data import Data

__all__ = ["TorchrunExecutor", "RayExecutor", "device_memory", "estimate_training_memory", "gpt_parameters",
           "exceeds_device_memory"]


# ---- torchrun ----

class TorchrunExecutor:
    """Each arm as a DDP run of nproc processes, one arm after another:
    `python -m torch.distributed.run --standalone --nproc_per_node=N -m lossdoctor.verify.worker
    JOB.json OUT.json` (trainer/ddp.py: nccl on CUDA with one GPU per process, gloo on CPU).
    gradient_accumulation_steps must be a multiple of nproc. An arm under DDP draws other
    batches than the same arm in one process (each rank its own, seeded seed + rank), so
    its metrics match LocalExecutor's only for nproc=1."""

    name = "torchrun"
    workers = 1

    def __init__(self, nproc: int, data: Data | None = None) -> None:
        if nproc < 1:
            raise UsageError(f"torchrun needs at least 1 process per node, got {nproc}")
        self.nproc = nproc
        self.shipped = _shipped(data)

    def command(self, job_path: str, out_path: str) -> list[str]:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={self.nproc}",
                "-m", "lossdoctor.verify.worker", job_path, out_path]

    def run(self, jobs: Sequence[ArmJob], done: Done, tick: Tick, start: Start | None = None) -> None:
        with tempfile.TemporaryDirectory(prefix="lossdoctor-torchrun-") as tmp:
            shipped = self.shipped
            if shipped is not None and not isinstance(shipped, str):
                shipped = _save_data(shipped, os.path.join(tmp, "data"))
            for i, job in enumerate(jobs):
                if start is not None:
                    start(i)
                job = _with_data(job, shipped)
                metrics = self._run_one(job, os.path.join(tmp, f"job{i}"))
                tick(job.steps)
                done(i, metrics)

    def _run_one(self, job: ArmJob, stem: str) -> dict[str, float]:
        """One torchrun; its output (all ranks, stdout and stderr) goes to STEM.log."""
        import json

        from .worker import job_to_json, write_json
        write_json(f"{stem}.job.json", job_to_json(job))
        with open(f"{stem}.log", "wb") as log:
            proc = subprocess.Popen(self.command(f"{stem}.job.json", f"{stem}.out.json"), stdout=log,
                                    stderr=subprocess.STDOUT)
            try:
                rc = proc.wait()
            except BaseException:  # torchrun ends its workers on SIGTERM; kill it if it does not exit
                proc.terminate()
                try:
                    proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                raise
        if rc != 0:
            raise _torchrun_error(rc, f"{stem}.log", self.nproc)
        try:
            with open(f"{stem}.out.json", encoding="utf-8") as f:
                return {str(k): float(v) for k, v in json.load(f).items()}
        except (OSError, ValueError, AttributeError):
            raise LossdoctorError(f"torchrun exited cleanly but rank 0 wrote no metrics to {stem}.out.json") from None


def _torchrun_error(rc: int, log_path: str, nproc: int) -> LossdoctorError:
    """The worker's own LossdoctorError when it printed one, else the end of the output."""
    from .worker import ERROR_PREFIX
    with open(log_path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    for line in lines:
        if line.startswith(ERROR_PREFIX):
            name, _, message = line[len(ERROR_PREFIX):].partition(": ")
            return UsageError(message) if name == "UsageError" else LossdoctorError(message)
    tail = "\n".join(lines[-ERROR_TAIL_LINES:])
    return LossdoctorError(f"torchrun --nproc_per_node={nproc} failed with exit status {rc}; "
                           f"the end of its output:\n{tail}")


def _save_data(data: Data, path: str) -> str:
    """data as a nanoGPT data directory (train.bin, val.bin, meta.pkl) at path, for processes
    that load data by path; returns path."""
    import numpy as np
    os.makedirs(path, exist_ok=True)
    np.asarray(data.train, dtype=np.uint16).tofile(os.path.join(path, "train.bin"))
    np.asarray(data.val, dtype=np.uint16).tofile(os.path.join(path, "val.bin"))
    if data.vocab_size is not None:
        meta: dict[str, Any] = {"vocab_size": data.vocab_size}
        if data.stoi is not None and data.itos is not None:
            meta.update(stoi=data.stoi, itos=data.itos)
        atomic_write(os.path.join(path, "meta.pkl"), lambda f: pickle.dump(meta, f))
    return path


# ---- Ray ----

def _ray() -> Any:
    """The ray module, imported when first needed (it is the optional extra lossdoctor[ray])."""
    import importlib
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise UsageError("--executor ray needs Ray, which is not installed: pip install 'lossdoctor[ray]'") from None


class RayExecutor(_Queue[Any]):
    """A Ray task per arm on a Ray cluster: `num_gpus=1` for a CUDA arm (Ray gives the task its
    GPU as cuda:0 through CUDA_VISIBLE_DEVICES), else `num_cpus=1`. At most as many tasks as
    the cluster has GPUs (CUDA arms) or CPUs run at once, so that after an error no new arm
    starts; done is called as each ends (ray.wait).

    address: the cluster (ray.init(address)); None: RAY_ADDRESS, else a new local Ray. An
    already initialised Ray is used as it is. A data path must be readable at the same place
    on every node; lossdoctor must be installed there too. Data given as arrays goes through
    Ray's object store, once per run.
    """

    name = "ray"

    def __init__(self, address: str | None = None, data: Data | None = None) -> None:
        ray = _ray()
        self.started = not ray.is_initialized()
        if self.started:  # Ray's own start-up lines (INFO, WARNING) kept off stderr: lossdoctor's are one line each
            import logging
            ray.init(address=address, logging_level=logging.ERROR)
        resources = ray.cluster_resources()
        self.workers = max(1, int(resources.get("GPU", 0) or resources.get("CPU", 1)))
        self.shipped = _shipped(data)
        self._remote = ray.remote(_job_in_worker)
        self._data_ref: Any = None

    def close(self) -> None:
        """Shut Ray down if this executor started it."""
        if self.started:
            _ray().shutdown()
            self.started = False

    def run(self, jobs: Sequence[ArmJob], done: Done, tick: Tick, start: Start | None = None) -> None:
        if self.shipped is not None and not isinstance(self.shipped, str):
            self._data_ref = _ray().put(self.shipped)
        try:
            super().run(jobs, done, tick, start)
        finally:
            self._data_ref = None

    def _slots(self, jobs: Sequence[ArmJob]) -> int:
        resources = _ray().cluster_resources()
        gpu = any(str(j.config["device"]).startswith("cuda") for j in jobs)
        if gpu and not resources.get("GPU"):  # a task asking for a GPU would wait forever
            raise UsageError("the Ray cluster has no GPU for arms on cuda; add GPU nodes, or verify on cpu")
        return max(1, int(resources.get("GPU" if gpu else "CPU", 1)))

    def _submit(self, slot: int, job: ArmJob) -> Any:
        job = _with_data(job, self.shipped)
        if job.data is not None:
            job = replace(job, data=os.path.abspath(job.data))  # a worker's working directory is Ray's own
        if str(job.config["device"]).startswith("cuda"):
            job = replace(job, config={**job.config, "device": "cuda"})
            return self._remote.options(num_gpus=1).remote(job, self._data_ref)
        return self._remote.options(num_cpus=1).remote(job, self._data_ref)

    def _wait(self, handles: list[Any]) -> list[Any]:
        ready, _ = _ray().wait(handles, num_returns=1)
        return list(ready)

    def _result(self, slot: int, handle: Any) -> dict[str, float]:
        ray = _ray()
        try:
            return dict(ray.get(handle))
        except ray.exceptions.RayTaskError as e:  # the task raised: a LossdoctorError as itself
            if isinstance(e.cause, LossdoctorError):
                raise e.cause from None
            raise
        except ray.exceptions.RayError as e:  # the worker died, the node went away, ...
            raise LossdoctorError(f"a Ray worker failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                                  ) from None

    def _abort(self, handles: list[Any]) -> None:
        ray = _ray()
        for handle in handles:
            try:
                ray.cancel(handle, force=True)
            except Exception:  # already finished or gone: nothing to stop
                pass


# ---- memory: does an arm fit one device ----

# Bytes per parameter trained with AdamW in fp32 master weights (mixed precision autocasts
# copies on the fly): the weight 4, its gradient 4, AdamW's exp_avg 4 and exp_avg_sq 4.
BYTES_PER_PARAM = 16
# Activations kept for the backward, per layer, token and channel, as values: Korthikanti et
# al. 2022, "Reducing Activation Recomputation in Large Transformer Models" (arXiv:2205.05198),
# eq. 1: s*b*h*(34 + 5*a*s/h) bytes per layer with 2-byte values. The 5*a*s/h term is the
# attention matrices, which scaled_dot_product_attention (flash / memory-efficient) does not
# store, leaving 34 bytes = 17 two-byte values (the dropout masks counted as values: an upper
# bound). float32 runs keep 4-byte values.
ACTIVATION_VALUES_PER_LAYER = 17
USABLE_MEMORY = 0.9  # of a device's memory: the CUDA context and the caching allocator's slack take the rest


def gpt_parameters(values: Mapping[str, Any], vocab_size: int | None = None) -> int:
    """Parameters of nanoGPT's GPT for the config (wte tied to lm_head, counted once; wpe
    counted). vocab_size: default nanoGPT's padded GPT-2 vocabulary, 50304."""
    from ..nanogpt import PADDED_VOCAB_SIZE
    v = PADDED_VOCAB_SIZE if vocab_size is None else vocab_size
    c, n_layer, bias = int(values["n_embd"]), int(values["n_layer"]), bool(values["bias"])
    # per block: c_attn 3c^2, attn c_proj c^2, c_fc 4c^2, mlp c_proj 4c^2; 2 LayerNorm weights;
    # with bias: the linears' 3c + c + 4c + c and the LayerNorms' 2c
    block = 12 * c * c + 2 * c + (11 * c if bias else 0)
    return v * c + int(values["block_size"]) * c + n_layer * block + c + (c if bias else 0)


def estimate_training_memory(values: Mapping[str, Any], vocab_size: int | None = None) -> int:
    """Bytes one training process of the config needs on its device, roughly (the peak,
    for one micro-batch of batch_size windows; gradient accumulation adds nothing):

      parameters x BYTES_PER_PARAM (16: fp32 weights, gradients, AdamW state)
      + n_layer x batch_size x block_size x n_embd x 17 values (Korthikanti et al. 2022)
      + batch_size x block_size x vocab x (one logits value + 8 bytes: the fp32 log-softmax
        kept for the backward and its gradient)

    values are 2 bytes under bfloat16/float16 autocast, 4 under float32. A DDP rank holds all
    of this too, plus about 4 bytes per parameter of gradient buckets."""
    from ..nanogpt import PADDED_VOCAB_SIZE
    value_bytes = 4 if values["dtype"] == "float32" else 2
    v = PADDED_VOCAB_SIZE if vocab_size is None else vocab_size
    tokens = int(values["batch_size"]) * int(values["block_size"])
    static = gpt_parameters(values, vocab_size) * BYTES_PER_PARAM
    activations = int(values["n_layer"]) * tokens * int(values["n_embd"]) * ACTIVATION_VALUES_PER_LAYER * value_bytes
    logits = tokens * v * (value_bytes + 8)
    return static + activations + logits


def exceeds_device_memory(values: Mapping[str, Any], device_memory_bytes: int, vocab_size: int | None = None) -> bool:
    """Whether the arm does not fit one device as one process: estimate_training_memory over
    USABLE_MEMORY of device_memory_bytes.

    True does not mean that torchrun makes it fit: nanoGPT's DDP keeps the whole model, its
    AdamW state and a full micro-batch (batch_size windows) on every rank, and shares only the
    micro-steps (gradient_accumulation_steps) among the ranks, so each rank needs as much as
    one process. What lowers the memory per device is a smaller batch_size with a larger
    gradient_accumulation_steps (the same tokens per step), or a sharded engine (FSDP)."""
    return estimate_training_memory(values, vocab_size) > USABLE_MEMORY * device_memory_bytes


def device_memory(device: str) -> int | None:
    """Total memory of a CUDA device in bytes (torch.cuda.get_device_properties); None for
    other devices, whose memory is the machine's."""
    if not device.startswith("cuda"):
        return None
    import torch
    if not torch.cuda.is_available():
        return None
    index = torch.device(device).index
    return int(torch.cuda.get_device_properties(torch.cuda.current_device() if index is None else index).total_memory)
