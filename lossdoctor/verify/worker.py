"""Run one arm-seed in a process of its own: `python -m lossdoctor.verify.worker JOB.json OUT.json`.

JOB.json is an ArmJob's fields as JSON (`job_to_json`). The worker trains and measures it
with jobs.run_job and writes the metrics ({"val": ..., ...}) to OUT.json atomically (a
temporary file, then os.replace), so that a reader sees the whole file or none.

Under torchrun (cluster.TorchrunExecutor) every rank runs the job, as one DDP run
(trainer/ddp.py), and only rank 0 writes OUT.json. A LossdoctorError (a diverged arm, bad
data, a refused config) is printed to stderr as one line starting with ERROR_PREFIX and the
exit status is 2, so that the launcher can raise it again with its message.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import LossdoctorError, UsageError
from ..fsio import atomic_json
from .jobs import ArmJob, run_job

__all__ = ["ERROR_PREFIX", "job_to_json", "job_from_json", "write_json", "main"]

ERROR_PREFIX = "lossdoctor worker error: "  # the stderr line of a LossdoctorError, then its message
_KINDS = ("train", "eval noise")


def job_to_json(job: ArmJob) -> dict[str, Any]:
    """The job's fields as JSON values (config values are str, int, float or bool)."""
    return {"kind": job.kind, "config": dict(job.config), "eval_batch": job.eval_batch,
            "equal_tokens_at": job.equal_tokens_at, "eval_iters": list(job.eval_iters), "data": job.data}


def job_from_json(obj: Any) -> ArmJob:
    """The ArmJob that job_to_json gave; UsageError for anything else."""
    if not isinstance(obj, Mapping):
        raise UsageError("a job file holds a JSON object of an ArmJob's fields")
    try:
        kind, config, eval_batch = obj["kind"], obj["config"], obj["eval_batch"]
        at, iters, data = obj.get("equal_tokens_at"), obj.get("eval_iters", [0, 0]), obj.get("data")
    except KeyError as e:
        raise UsageError(f"a job file lacks the field {e.args[0]!r}") from None
    if kind not in _KINDS or not isinstance(config, Mapping) or type(eval_batch) is not int:
        raise UsageError(f"a job file needs kind in {_KINDS}, a config object and an int eval_batch")
    if not (at is None or type(at) is int) or not (data is None or isinstance(data, str)):
        raise UsageError("a job file's equal_tokens_at is an int or null, its data a path or null")
    if not (isinstance(iters, Sequence) and len(iters) == 2 and all(type(k) is int for k in iters)):
        raise UsageError("a job file's eval_iters is a list of two ints")
    return ArmJob(kind, dict(config), eval_batch, at, (iters[0], iters[1]), data)


def write_json(path: str, obj: Any) -> None:
    """Write obj as JSON atomically: a kill mid-write leaves the old file or none."""
    atomic_json(path, obj)


def main(argv: Sequence[str] | None = None) -> int:
    """Run JOB.json, write OUT.json (rank 0 only); 0 on success, 2 for a LossdoctorError."""
    from ..trainer import ddp
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m lossdoctor.verify.worker JOB.json OUT.json", file=sys.stderr)
        return 2
    job_path, out_path = args
    try:
        try:
            with open(job_path, encoding="utf-8") as f:
                job = job_from_json(json.load(f))
        except (OSError, ValueError) as e:
            raise UsageError(f"{job_path}: cannot read the job: {e}") from None
        metrics = run_job(job)
        if ddp.is_master():
            write_json(out_path, metrics)
    except LossdoctorError as e:
        print(f"{ERROR_PREFIX}{type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return 2
    finally:
        ddp.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
