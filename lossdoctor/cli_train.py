"""`lossdoctor train`: the built-in trainer's command line, nanoGPT-style --key=value."""

from __future__ import annotations

import argparse
import os
import sys

TRAIN_HELP = """\
usage: lossdoctor train [CONFIG.py|CONFIG.yaml] [--key=value ...]
                        [--data DIR|FILE] [--no-progress] [--debug]

Train a GPT with nanoGPT's train.py semantics, config keys and log format. The
log goes to stdout and OUT_DIR/train.log, metrics to OUT_DIR/metrics.jsonl,
checkpoints to OUT_DIR/ckpt.pt (nanoGPT's format: nanoGPT can resume or sample
them).

  CONFIG           a nanoGPT config .py (only its literal assignments are
                   read; it is never executed) or a .yaml mapping of config keys
  --key=value      any nanoGPT config key (e.g. --max_iters=2000
                   --device=cpu), plus --seed; values are Python literals,
                   else strings
  --data DIR|FILE  a nanoGPT data directory (train.bin, val.bin, meta.pkl) or
                   a text file (char-level, 90/10 split); default: data/DATASET
                   if it exists; the embedded corpus only where no config sets
                   dataset (see docs/trainer.md)
  --no-progress    no progress bar
  --debug          show a traceback where lossdoctor fails

With no CONFIG and no model shape flags on a CPU, the run starts from nanoGPT's
README CPU config (lossdoctor/configs/shakespeare_char_cpu.yaml), not train.py's
GPT-2 124M defaults; a resume starts from the one its checkpoint ran. A
checkpoint is always written: the best-val one, or the final model when no eval
improved.

Ctrl-C saves a checkpoint; rerun the same command with --init_from=resume.

examples:
  lossdoctor train --max_iters=200 --eval_interval=50 --device=cpu
  lossdoctor train lossdoctor/configs/shakespeare_char_cpu.yaml --data=input.txt
  lossdoctor train config/train_shakespeare_char.py --device=cpu --compile=False
"""


def keys_help() -> str:
    """The config keys --key=value takes, with train.py's defaults, wrapped at 80 columns."""
    import textwrap

    from .nanogpt import NANOGPT_DEFAULTS
    from .trainer.config import EXTRA_DEFAULTS
    items = [f"{k}={v!r}" for k, v in sorted({**NANOGPT_DEFAULTS, **EXTRA_DEFAULTS}.items())]
    return ("\nconfig keys, with train.py's defaults (plus seed; without CUDA, device,\n"
            "dtype and compile default to 'cpu', 'float32' and False):\n"
            + textwrap.fill(" ".join(items), width=78, initial_indent="  ", subsequent_indent="  ",
                            break_on_hyphens=False) + "\n")


def run_train(args: argparse.Namespace) -> int:
    """Train as nanoGPT's train.py would, from a config file and --key=value flags."""
    from .errors import UsageError
    rest = list(args.rest)
    if any(a in ("-h", "--help") for a in rest):
        sys.stdout.write(TRAIN_HELP + keys_help())
        return 0
    config_file, data, progress, overrides = None, None, True, []
    while rest:
        a = rest.pop(0)
        if a == "--data":
            if not rest:
                raise UsageError("--data needs a path")
            data = rest.pop(0)
        elif a.startswith("--data="):
            data = a.split("=", 1)[1]
        elif a == "--no-progress":
            progress = False
        elif a.startswith("--") and "=" not in a:  # nanoGPT's flags are --key=value, one word
            value = f" {rest[0]}" if rest and not rest[0].startswith("--") else ""
            raise UsageError(f"{a}{value}: config keys are given as --key=value (nanoGPT's form), "
                             f"e.g. {a}={rest[0] if value else '...'}")
        elif a.startswith("--"):
            overrides.append(a)
        elif a.startswith("-") and len(a) > 1:  # not a file train takes: -v, -x
            raise UsageError(f"{a}: unknown option (train takes a config file, --key=value flags, --data and "
                             "--no-progress; lossdoctor train --help lists them)")
        elif config_file is None:
            config_file = a
        else:
            raise UsageError(f"unexpected argument {a!r} (one config file, then --key=value)")
    if data is not None and not data:
        raise UsageError("--data needs a path")
    if data is not None and not os.path.exists(data):  # refused before anything is announced
        raise UsageError(f"{data}: no such file or directory")
    from .trainer import CPU_DEFAULT, EMBEDDED, cpu_default, resolve, run_training, without_local_data
    if cpu_default(config_file, overrides):
        resolve(CPU_DEFAULT, overrides)  # a bad flag is refused before the default is announced
        config_file = CPU_DEFAULT
        given = "; the flags given change it" if overrides else "; give a config file or --key=value flags to change it"
        print("lossdoctor: no config file and a CPU: using nanoGPT's README CPU config "
              f"({CPU_DEFAULT}: 4 layers x 128 wide, context 64, batch 12, 2000 steps){given}", file=sys.stderr)
        if without_local_data("shakespeare_char", data):
            overrides.insert(0, f"--dataset={EMBEDDED}")
            text = os.path.join("data", "shakespeare_char", "input.txt")
            where = (f"{os.path.dirname(text)} has no train.bin (nanoGPT's prepare.py writes it); give --data={text}"
                     if os.path.isfile(text) else "give --data=input.txt for tiny Shakespeare")
            print("lossdoctor: no --data and no data/shakespeare_char/train.bin here: using the embedded "
                  f"corpus (Python's own source text); {where}", file=sys.stderr)
    result = run_training(config_file, overrides, data, progress=progress)
    if result.stopped:
        print(f"lossdoctor: {result.stopped}", file=sys.stderr)
        if result.stopped.startswith("interrupted"):  # as a shell reports the signal: 128 + SIGTERM's 15, SIGINT's 2
            return 143 if result.stopped.endswith("(SIGTERM)") else 130
        return 0
    return 0
