"""The trainer's config: nanoGPT's train.py keys, names and defaults, read without exec.

Layers, in nanoGPT's order: defaults -> a config file (a nanoGPT `.py` read by its literal
assignments, or a `.yaml` mapping) -> `--key=value` overrides (ast.literal_eval, else a
string). Unknown keys and wrong types are refused with the key named, as nanoGPT's
configurator refuses them (an int is accepted where a float is expected).

Where nanoGPT's default only makes sense on a GPU, the default follows the device:
with no CUDA, device is 'cpu', dtype 'float32' and compile False (nanoGPT ignores dtype
on CPU, so float32 is what its CPU runs use).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from ..config import parse_assignments
from ..errors import UsageError
from ..nanogpt import COUNT_KEYS, DTYPES, NANOGPT_DEFAULTS, NANOGPT_KEYS, configurator_value

# keys the trainer adds to nanoGPT's
MACHINE_KEYS = ("device", "dtype", "compile")  # defaults() sets them by the machine, not as train.py does
EXTRA_DEFAULTS: dict[str, Any] = {
    "seed": 1337,  # nanoGPT: torch.manual_seed(1337 + rank)
}


@dataclass(frozen=True)
class TrainConfig:
    """Resolved values (nanoGPT keys + `seed`) and the echo lines nanoGPT would print."""

    values: dict[str, Any]
    echo: tuple[str, ...] = field(default=())  # 'Overriding config with ...' and 'Overriding: ...'

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def replace(self, **changes: Any) -> TrainConfig:
        return resolve(base=self, overrides=changes)


def defaults() -> dict[str, Any]:
    out = {**NANOGPT_DEFAULTS, **EXTRA_DEFAULTS}
    cuda = _cuda_available()
    if not cuda:
        out.update(device="cpu", dtype="float32", compile=False)
    elif not _bf16_ok():
        out["dtype"] = "float16"
    return out


def resolve(config_file: str | None = None, args: list[str] | None = None,
            overrides: dict[str, Any] | None = None, base: TrainConfig | None = None) -> TrainConfig:
    """Build a TrainConfig from a file, `--key=value` strings and/or a dict."""
    values = dict(base.values) if base else defaults()
    echo: list[str] = list(base.echo) if base else []
    in_file: set[str] = set()  # keys the config file set: its text is echoed whole
    if config_file:
        file_values, text = read_config_file(config_file)
        if not file_values:  # train.py's defaults are GPT-2 124M for 600,000 steps: never by accident
            raise UsageError(f"{config_file}: sets no config key: it would train train.py's defaults (GPT-2 124M, "
                             "600,000 steps); give its keys, or no file (on a CPU, nanoGPT's README CPU config)")
        echo += [f"Overriding config with {config_file}:", text.rstrip("\n")]
        for key, value in file_values.items():
            values[key] = _checked(key, value, values, config_file)
            in_file.add(key)
    for arg in args or []:
        if not arg.startswith("--") or "=" not in arg:
            raise UsageError(f"expected --key=value, got {arg!r}")
        key, text = arg[2:].split("=", 1)
        values[key] = _checked(key, configurator_value(text), values, "the command line")
        echo.append(f"Overriding: {key} = {values[key]}")
    for key, value in (overrides or {}).items():
        new = _checked(key, value, values, "the arguments")
        if key in NANOGPT_KEYS and values.get(key) != new:  # the log says what ran, as for a flag
            echo.append(f"Overriding: {key} = {new}")
        values[key] = new
    said = {line.split(" = ", 1)[0].removeprefix("Overriding: ") for line in echo if line.startswith("Overriding: ")}
    # a machine key off train.py's default that no line says yet is said first: the log shows what ran
    echo = [f"Overriding: {k} = {values[k]}" for k in MACHINE_KEYS
            if k not in said and k not in in_file and values[k] != NANOGPT_DEFAULTS[k]] + echo
    _validate(values)
    return TrainConfig(values, tuple(echo))


def read_config_file(path: str) -> tuple[dict[str, Any], str]:
    """(key -> value, the file's text) of a nanoGPT .py config or a .yaml mapping."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file: a config file is a nanoGPT .py or a .yaml mapping") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read config file: {e.strerror or e}") from None
    if not path.endswith((".py", ".yaml", ".yml")):
        raise UsageError(f"{path}: a config file is a nanoGPT .py or a .yaml mapping (by its name's ending)")
    if path.endswith((".yaml", ".yml")):
        import yaml

        from ..yamlio import safe_load
        try:
            data = safe_load(text)  # a key written twice is an error, not the last value silently
        except yaml.YAMLError as e:  # one line: where, and what
            mark = getattr(e, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise UsageError(f"{path}{where}: not valid YAML: {getattr(e, 'problem', None) or e}") from None
        if data is None:
            return {}, text
        if not isinstance(data, dict):
            raise UsageError(f"{path}: expected a mapping of config keys to values")
        return {str(k): v for k, v in data.items()}, text
    _only_assignments(text, path)
    out = {}
    for cv in parse_assignments(text):
        if not cv.known:
            raise UsageError(f"{path}: {cv.key} = {cv.raw}: only literal values are read "
                             "(config files are parsed, never executed)")
        out[cv.key] = cv.value
    return out, text


def _only_assignments(text: str, path: str) -> None:
    """A .py config must be `name = value` lines (with comments, a docstring, imports that
    nothing executes): a line that is not Python, or any other statement (`if`, `x += 1`,
    `a = b = 1`, `x: int = 1`), is refused with its line, not skipped, since skipping it
    would train with a default the user did not mean."""
    import ast
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        raise UsageError(f"{path} line {e.lineno}: not valid Python ({e.msg}): config files are parsed, "
                         "never executed") from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise UsageError(f"{path}: cannot be parsed ({type(e).__name__})") from None
    lines = text.splitlines()
    for node in tree.body:
        simple = isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        doc = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        if not (simple or doc or isinstance(node, (ast.Import, ast.ImportFrom))):
            shown = lines[node.lineno - 1].strip()[:60] if node.lineno <= len(lines) else ""
            raise UsageError(f"{path} line {node.lineno}: only `name = value` lines are read (config files are "
                             f"parsed, never executed), not: {shown}")


_EXPONENT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")  # a number PyYAML leaves a string


def _checked(key: str, value: Any, values: dict[str, Any], where: str) -> Any:
    if key not in values:
        import difflib
        near = difflib.get_close_matches(key, list(values), n=1)
        hint = f"; did you mean {near[0]}?" if near else "; `lossdoctor train --help` lists the keys"
        raise UsageError(f"unknown config key: {key} (from {where}){hint}")
    want = type(values[key])
    if want is float and type(value) is int:
        return float(value)
    if want is float and isinstance(value, str) and where.endswith((".yaml", ".yml")) and _EXPONENT.match(value):
        return float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string; nanoGPT's configs write LRs so
    if type(value) is not want:
        raise UsageError(f"config key {key}: expected {want.__name__}, got {type(value).__name__} "
                         f"{value!r} (from {where})")
    return value


SEED_LIMIT = 2 ** 63  # torch.manual_seed takes a 64-bit integer; the trainer adds the rank, which stays small


def _validate(v: dict[str, Any]) -> None:
    if v["dtype"] not in DTYPES:
        raise UsageError(f"config key dtype: expected one of {', '.join(DTYPES)}, got {v['dtype']!r}")
    if v["init_from"] not in ("scratch", "resume"):
        raise UsageError(f"config key init_from: {v['init_from']!r} is not supported here "
                         "(scratch or resume; GPT-2 weights need a download)")
    if v["wandb_log"]:
        raise UsageError("config key wandb_log: wandb logging is not supported; metrics go to "
                         "OUT_DIR/metrics.jsonl")
    for key in COUNT_KEYS:
        if v[key] < 1:
            raise UsageError(f"config key {key}: must be at least 1, got {v[key]}")
    if v["n_embd"] % v["n_head"]:
        raise UsageError(f"config keys n_embd={v['n_embd']}, n_head={v['n_head']}: "
                         "n_embd must be a multiple of n_head")
    if not 0 <= v["seed"] < SEED_LIMIT:
        raise UsageError(f"config key seed: must be in [0, 2**63), got {v['seed']} (torch.manual_seed's range)")
    if not 0.0 <= v["dropout"] < 1.0:
        raise UsageError(f"config key dropout: must be in [0, 1), got {v['dropout']}")
    for key in ("max_iters", "learning_rate", "min_lr", "weight_decay", "warmup_iters", "lr_decay_iters",
                "grad_clip"):  # the optimizer refuses some of these deep inside; the rest make no sense
        if v[key] < 0:
            raise UsageError(f"config key {key}: must be >= 0, got {v[key]}")
    for key in ("beta1", "beta2"):
        if not 0.0 <= v[key] < 1.0:
            raise UsageError(f"config key {key}: must be in [0, 1), got {v[key]}")
    if not str(v["out_dir"]).strip():
        raise UsageError("config key out_dir: empty; give the folder the run writes to")
    if os.path.exists(v["out_dir"]) and not os.path.isdir(v["out_dir"]):
        raise UsageError(f"config key out_dir: {v['out_dir']} is a file, not a folder")
    _check_device(str(v["device"]))


def _check_device(device: str) -> None:
    """A device torch knows (cpu, cuda, cuda:N, mps, ...) that this machine has, for CUDA."""
    import torch
    try:
        torch.device(device)
    except RuntimeError:
        raise UsageError(f"config key device: {device!r} is not a device (cpu, cuda, cuda:0, mps, ...)") from None
    if device.startswith("cuda") and not _cuda_available():
        raise UsageError(f"config key device: {device!r}, but this machine has no CUDA (use --device=cpu)")
    kind = torch.device(device).type
    if kind not in ("cpu", "cuda") and not _backend_available(kind):
        raise UsageError(f"config key device: {device!r}, but this machine's torch has no {kind} device "
                         "(use --device=cpu)")


def _backend_available(kind: str) -> bool:
    """Whether torch here can run on a device of type `kind` (mps, xpu, ...); a meta device
    holds no values, so nothing trains on it."""
    import torch
    if kind == "meta":
        return False
    backend = getattr(torch, kind, None) or getattr(torch.backends, kind, None)
    available = getattr(backend, "is_available", None)
    return bool(available()) if callable(available) else False


def _cuda_available() -> bool:
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        return False
    import torch
    return torch.cuda.is_available()


def _bf16_ok() -> bool:
    import torch
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
