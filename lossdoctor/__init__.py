"""lossdoctor: explains a training run's loss from the run's own logs and checkpoints.

    >>> import lossdoctor
    >>> run = lossdoctor.load("fixtures/nanogpt/tiny_resume")  # a log, a ckpt.pt, or an out_dir
    >>> facts = lossdoctor.compute_facts(run)
    >>> facts["tokens_seen"].value, facts["tokens_seen"].status

The names below are imported on first use, so that `import lossdoctor` (and the CLI's
--help) does not pay for numpy until a run is read.
"""

import typing as _typing

__version__ = "0.1.0"

_API = {
    "load": ("lossdoctor.readers", "load"),
    "load_many": ("lossdoctor.readers", "load_many"),
    "discover": ("lossdoctor.readers", "discover"),
    "read_checkpoint": ("lossdoctor.readers.checkpoint", "read_checkpoint"),
    "compute_facts": ("lossdoctor.facts", "compute_facts"),
    "analyze": ("lossdoctor.analysis", "analyze"),
    "Analysis": ("lossdoctor.analysis", "Analysis"),
    "extrapolate": ("lossdoctor.fit.extrapolate", "extrapolate"),
    "Extrapolation": ("lossdoctor.fit.extrapolate", "Extrapolation"),
    "Extrapolator": ("lossdoctor.fit.extrapolate", "Extrapolator"),
    "CannotExtrapolate": ("lossdoctor.fit.extrapolate", "CannotExtrapolate"),
    "verify_groups": ("lossdoctor.verify.groups", "verify_groups"),
    "run_experiments": ("lossdoctor.verify.runner", "run_experiments"),
    "default_experiments": ("lossdoctor.verify.design", "default_experiments"),
    "hardware_experiment": ("lossdoctor.verify.design", "hardware_experiment"),
    "plan_from_runs": ("lossdoctor.verify.from_runs", "plan_from_runs"),
    "run_extrapolation": ("lossdoctor.verify.prediction", "run_extrapolation"),
    "make_executor": ("lossdoctor.verify.executors", "make_executor"),
    "sample": ("lossdoctor.trainer.sample", "sample"),
    "Run": ("lossdoctor.run", "Run"),
    "Fact": ("lossdoctor.facts", "Fact"),
    "Facts": ("lossdoctor.facts", "Facts"),
    "LossdoctorError": ("lossdoctor.errors", "LossdoctorError"),
    "InputError": ("lossdoctor.errors", "InputError"),
    "CheckpointError": ("lossdoctor.errors", "CheckpointError"),
    "UsageError": ("lossdoctor.errors", "UsageError"),
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str) -> _typing.Any:
    if name not in _API:
        raise AttributeError(f"module 'lossdoctor' has no attribute {name!r}")
    import importlib
    module, attr = _API[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names too, before their first use (tab completion, help())."""
    return sorted(set(globals()) | set(__all__))
