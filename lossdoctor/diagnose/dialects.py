"""A finding's flags in the syntax of the trainer that wrote the run.

Rules write nanoGPT's flags (`--key=value`, keys checked against train.py). A run read
from another trainer's output gets them in that trainer's syntax, key by key, where the
trainer has a flag of the same meaning:

    nanochat (scripts/base_train.py)   --device-batch-size=N, --num-iterations=N, ...
    nanochat-sft (chat_sft.py, 2025)   --device_batch_size=N, --eval_every=N, ... (its configurator)
    nanochat-2025 (base_train.py, 2025) --device_batch_size=N, --num_iterations=N, ... (the same)
    llm.c (train_gpt2cu)               -b N, -t N, -l LR, -x N, ...
    Hugging Face Trainer               --per_device_train_batch_size N, --max_steps N, ...

A key with no such flag is named in the advice, and the finding keeps the flags of the
keys that have one (none left: no flags); where the trainer does the same thing another
way (resuming, NOTES), the advice says how; a trainer whose
hyperparameters are constants in its script (build-nanogpt's train_gpt2.py,
modded-nanogpt's Hyperparameters) gets the constants to edit. A key the trainer derives
by itself is left out (nanochat computes the accumulation steps from --total-batch-size).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

IMPLIED = ""  # the trainer derives this value itself: no flag needed

FLAGS: dict[str, dict[str, str]] = {
    "nanochat": {"batch_size": "--device-batch-size={}", "block_size": "--max-seq-len={}",
                 "max_iters": "--num-iterations={}", "lr_decay_iters": IMPLIED, "eval_interval": "--eval-every={}",
                 "weight_decay": "--weight-decay={}", "warmup_iters": "--warmup-steps={}",
                 "gradient_accumulation_steps": IMPLIED},
    # chat_sft.py (October 2025): nanochat's configurator, `--key=value` of its globals
    "nanochat-sft": {"batch_size": "--device_batch_size={}", "max_iters": "--num_iterations={}",
                     "lr_decay_iters": IMPLIED, "eval_interval": "--eval_every={}", "weight_decay": "--weight_decay={}",
                     "gradient_accumulation_steps": IMPLIED},
    # base_train.py / mid_train.py to mid-January 2026: `--key=value` of its globals; warmup as a
    # fraction of the run (--warmup_ratio), not in steps: NOTES
    "nanochat-2025": {"batch_size": "--device_batch_size={}", "block_size": "--max_seq_len={}",
                      "max_iters": "--num_iterations={}", "lr_decay_iters": IMPLIED, "eval_interval": "--eval_every={}",
                      "weight_decay": "--weight_decay={}", "gradient_accumulation_steps": IMPLIED,
                      "grad_clip": "--grad_clip={}"},
    "llmc": {"batch_size": "-b {}", "total_batch_size": "-d {}", "block_size": "-t {}", "learning_rate": "-l {}",
             "max_iters": "-x {}",
             "lr_decay_iters": IMPLIED, "weight_decay": "-c {}", "warmup_iters": "-u {}", "eval_interval": "-v {}",
             "gradient_accumulation_steps": IMPLIED, "init_from": "-y {}"},
    "hf": {"batch_size": "--per_device_train_batch_size {}", "learning_rate": "--learning_rate {}",
           "max_iters": "--max_steps {}", "lr_decay_iters": IMPLIED, "weight_decay": "--weight_decay {}",
           "warmup_iters": "--warmup_steps {}",
           # --eval_steps takes effect with --eval_strategy steps (the Trainer's default is no)
           "eval_interval": "--eval_strategy steps --eval_steps {}",
           "gradient_accumulation_steps": "--gradient_accumulation_steps {}", "grad_clip": "--max_grad_norm {}",
           # keep the best-val model: the Trainer's own way (its save and eval strategies must match)
           "always_save_checkpoint": "--load_best_model_at_end {}"},
}
# trainers configured by editing constants in their script: (where, nanoGPT key -> name)
CONSTANTS: dict[str, tuple[str, dict[str, str]]] = {
    "build-nanogpt": ("train_gpt2.py", {"max_iters": "max_steps", "lr_decay_iters": "max_steps",
                                        "warmup_iters": "warmup_steps", "learning_rate": "max_lr",
                                        "min_lr": "min_lr",  # `min_lr = max_lr * 0.1` in its script
                                        "batch_size": "B", "block_size": "T"}),
    "modded-nanogpt": ("its Hyperparameters", {"max_iters": "num_iterations", "lr_decay_iters": IMPLIED,
                                               "eval_interval": "val_loss_every"}),
}
VALUES = {("llmc", "init_from", "resume"): "1", ("llmc", "init_from", "scratch"): "0",  # llm.c's -y: 1 resumes
          # the best-val model at the end (always_save_checkpoint=False), or the last (True)
          ("hf", "always_save_checkpoint", "False"): "True --metric_for_best_model {val_name}",
          ("hf", "always_save_checkpoint", "True"): "False"}
# (trainer, nanoGPT key): what its flags for the key need besides, said beside them
CAVEATS: dict[tuple[str, str], str] = {
    ("nanochat", "warmup_iters"): "--warmup-steps is base_train's from March 2026; before it, --warmup-ratio "
                                  "(the warmup as a fraction of the run)",
    ("nanochat-2025", "grad_clip"): "--grad_clip is base_train's (mid_train has none), until base_train "
                                    "dropped it on 2026-01-08",
    ("nanochat-sft", "max_iters"): "chat_sft.py's --num_iterations from 2025-10-20; the week before, "
                                   "--max_iterations, which could only lower the epoch's count",
    ("hf", "always_save_checkpoint"): "--load_best_model_at_end needs --eval_strategy and --save_strategy "
                                      "the same (and --save_steps a multiple of --eval_steps)",
}
# a trainer whose flags' names changed while its log's grammar did not: said beside them
NAMES_UNTIL = {"nanochat-sft": "chat_sft.py's names until 2026-01-13; from then, with the same log lines until "
                               "February, dashed: --device-batch-size, --num-iterations, --eval-every"}
# trainers whose flags go through nanochat's configurator (literal_eval, then a type check
# against the global's default), and nanoGPT's keys that map to float globals there
CONFIGURATOR = ("nanochat-2025", "nanochat-sft")
FLOAT_KEYS = ("weight_decay", "grad_clip")
# base_train's warmup from late October 2025 (before it, and in mid_train, none)
WARMUP_RATIO = ("this base_train sets its warmup as a fraction of the run (from late October 2025; mid_train "
                "has none): --warmup_ratio")
# (trainer, nanoGPT key): what the trainer has instead of a flag of its own for the key
NOTES: dict[tuple[str, str], str] = {
    ("nanochat", "init_from"): "nanochat's base_train resumes with --resume-from-step=N, N the step of a "
                               "checkpoint it saved (at the end, and every --save-every steps where that was set: "
                               "its default, -1, saves only at the end, so a run stopped before it has none); "
                               "mid_train and chat_sft cannot resume: start them again",
    ("nanochat-2025", "init_from"): "nanochat's base_train resumes with --resume_from_step=N (from November "
                                    "2025; mid_train cannot), N the step of a checkpoint it saved (every "
                                    "--save_every steps where that was set; by default only at the end)",
    ("nanochat-2025", "warmup_iters"): f"{WARMUP_RATIO}=W/N for W warmup steps of N",
    ("nanochat-sft", "init_from"): "this chat_sft.py cannot resume (it saves the model at its end, without "
                                   "the optimizer): start it again",
    ("build-nanogpt", "init_from"): "build-nanogpt's train_gpt2.py cannot resume (its checkpoints hold the "
                                    "model, not the optimizer): start the run again",
    ("hf", "init_from"): "the Hugging Face Trainer resumes with trainer.train(resume_from_checkpoint=True), "
                         "from the last checkpoint in output_dir",
    ("llmc", "min_lr"): "llm.c sets the LR's floor as a fraction of the peak, with -q (its final LR fraction): "
                        "-q 0.1 decays to a tenth",
}


def with_total_batch(flags: str, trainer: str, values: Mapping[str, object]) -> str:
    """llm.c's -b is its micro-batch, and -d its total batch in tokens (gradient
    accumulation makes up the rest): a new -b alone leaves a -d the run set as it was, and
    where B x T x processes does not divide it llm.c stops at its start (`assert
    total_batch_size % tokens_per_fwdbwd == 0`). So a new batch size comes with the total
    batch it makes at the run's accumulation, as nanoGPT's batch_size does: -d = B x T x
    processes x accumulation."""
    new = re.search(r"--batch_size=(\d+)", flags)
    if trainer != "llmc" or new is None or "--total_batch_size=" in flags:
        return flags
    sizes = [values.get(k) for k in ("block_size", "world_size", "gradient_accumulation_steps")]
    tokens = int(new[1])  # a micro-step's sequences, times T, processes and accumulation
    for v in sizes:
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            return flags
        tokens *= v
    return f"{flags} --total_batch_size={tokens}"


def setting(key: str, trainer: str) -> str:
    """How `trainer`'s users know nanoGPT's `key`: its flag's name where it has one
    (the Trainer's --load_best_model_at_end for always_save_checkpoint), else the key."""
    flag = FLAGS.get(trainer, {}).get(key)
    # the flag that takes the value: the last of them (`--eval_strategy steps --eval_steps {}`)
    return flag.split("{")[0].rstrip(" =").split(" ")[-1] if flag else key


# formats that name no trainer whose flags apply, by what they do say
UNNAMED = {"lightning-csv": "a Lightning CSV: its settings are your LightningModule's and Trainer's",
           "llmc-style": "llm.c's log format, written by llm.c or by a script of its own",
           "wandb-runs": "a runs table, which does not say which trainer ran its runs",
           "wandb-panel": "a W&B chart's export, which does not say which trainer ran its runs",
           "wandb-summary": "a W&B summary, which does not say which trainer ran it"}


def _edit(name: str, value: str) -> str:
    """`name = value`; a constant a fixed number of steps follow (a 2026 modded-nanogpt
    record's `num_scheduled_iterations + 10`: its extension at the final LR) gets the value
    less them, and says so."""
    base, _, after = name.partition(" + ")
    if after.isdigit() and value.isdigit():
        return f"{base} = {int(value) - int(after)} (the {after} steps after its schedule follow it, as now)"
    return f"{name} = {value}"


def translate(flags: str, trainer: str, val_name: str | None = None,
              constants: Mapping[str, str] | None = None, fmt: str = "") -> tuple[str, str | None]:
    """nanoGPT `--key=value` flags in `trainer`'s syntax, and a note naming what cannot be
    (the keys without a flag; with none left, the flags are empty). nanoGPT's own runs keep
    them; a format that does not name its trainer (a CSV, a W&B export, a crash log:
    trainer "") gets them as a note. `val_name`: the trainer's name of the val metric,
    for a flag that names it (Measures.val_name; the Trainer's eval_loss by default).
    `constants`: the constants the log shows its script setting (Measures.constants), for a
    trainer set by constants: those names, and no constant the log does not show. `fmt`: the
    run's format, which says what it can of a run with no trainer named (UNNAMED)."""
    if not flags or trainer == "nanogpt":
        return flags, None
    if trainer == "":
        return "", f"({UNNAMED.get(fmt, 'the log does not say which trainer ran it')}; in nanoGPT: {flags})"
    pairs = [(k, v) for k, _, v in (w[2:].partition("=") for w in flags.split())]
    instead = list(dict.fromkeys(_instead(trainer, k, dict(pairs)) for k, _ in pairs if (trainer, k) in NOTES))
    pairs = [(k, v) for k, v in pairs if (trainer, k) not in NOTES]
    if not pairs:
        return "", f"(no flags: {'; '.join(instead)})"
    out, said, edit = _translated(pairs, trainer, val_name, constants)
    if not instead + said:
        return out, None
    bare = not out and not edit  # an edit of constants is the advice itself
    return out, f"({'no flags: ' if bare else ''}{'; '.join(instead + said)})"


def _instead(trainer: str, key: str, given: Mapping[str, str]) -> str:
    """NOTES for `key`; the 2025 base_train's warmup, with the run's length among the flags,
    as the fraction it takes."""
    steps, warmup = given.get("max_iters", ""), given.get(key, "")
    if (trainer, key) == ("nanochat-2025", "warmup_iters") and steps.isdigit() and warmup.isdigit() and int(steps):
        ratio = f"{int(warmup) / int(steps):.4g}"
        return f"{WARMUP_RATIO}={ratio if '.' in ratio or 'e' in ratio else ratio + '.0'}"  # a float global
    return NOTES[(trainer, key)]


def _literal(trainer: str, key: str, value: str) -> str:
    """`value` as the trainer takes it: nanochat's 2025 configurator asserts that a value has
    its global's type, so a float global (weight_decay = 0.0) needs a float (`0.0`, not `0`)."""
    if trainer in CONFIGURATOR and key in FLOAT_KEYS and value.lstrip("-").isdigit():
        return f"{value}.0"
    return value


def _translated(pairs: list[tuple[str, str]], trainer: str, val_name: str | None,
                constants: Mapping[str, str] | None) -> tuple[str, list[str], bool]:
    """`translate` for the keys with no NOTES: the flags, what the note says of them, and
    whether that is an edit of constants (the advice itself, where there are no flags)."""
    if trainer in CONSTANTS:
        where, names = CONSTANTS[trainer]
        missing = [k for k, _ in pairs if k not in names]
        if missing:
            return "", [f"{trainer} has no setting for nanoGPT's {missing[0]}"], False
        if constants is not None:  # the script as the log prints it: its own names, and only those
            unseen = [names[k] for k, _ in pairs if names[k] != IMPLIED and k not in constants]
            if unseen:
                return "", [f"{where}, as this log prints them, have no {unseen[0]}: other constants there set it"], \
                    False
            names = {k: constants.get(k, v) if v != IMPLIED else v for k, v in names.items()}
        edits = [_edit(names[k], v) for k, v in pairs if names[k]]
        return "", [f"edit {where}: {', '.join(dict.fromkeys(edits))}"], True
    table = FLAGS.get(trainer, {})
    valued = [(k, VALUES.get((trainer, k, v), v).format(val_name=val_name or "eval_loss")) for k, v in pairs]
    out = [table[k].format(_literal(trainer, k, v)) for k, v in valued if table.get(k)]
    missing = list(dict.fromkeys(k for k, _ in pairs if k not in table))
    said = [CAVEATS[(trainer, k)] for k, _ in pairs if (trainer, k) in CAVEATS and table.get(k)]
    if out and trainer in NAMES_UNTIL:
        said.insert(0, NAMES_UNTIL[trainer])
    if missing:
        said.append(f"{trainer} has no flag for nanoGPT's {', '.join(missing)}")
    return " ".join(dict.fromkeys(out)), said, False
