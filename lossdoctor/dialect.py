"""What a Run was read from (its Dialect): the format, the trainer whose flags apply to it,
and how its steps are numbered."""

from __future__ import annotations

from enum import Enum


class Dialect(str, Enum):
    """What a Run was read from; its value is the `format` of the JSON report."""

    NANOGPT = "nanogpt"  # nanoGPT train.py's output
    NANOGPT_MD = "nanogpt-md"  # that output pasted into Markdown
    NANOGPT_CKPT = "nanogpt-ckpt"  # a ckpt.pt alone
    NANOGPT_WITH_CKPT = "nanogpt+ckpt"  # a log merged with its ckpt.pt
    NANOCHAT = "nanochat"  # nanochat's base_train / mid_train / chat_sft output
    # base_train / mid_train before mid-January 2026: `--key=value` of its globals (underscores)
    NANOCHAT_2025 = "nanochat-2025"
    # nanochat's chat_sft.py of October 2025: one step's loss, val in nats, configurator flags
    NANOCHAT_SFT = "nanochat-sft"
    NANOCHAT_CKPT = "nanochat-ckpt"  # nanochat's meta_NNNNNN.json (with model_NNNNNN.pt)
    MODDED = "modded-nanogpt"  # a modded-nanogpt record log (its source code printed first)
    LLMC = "llmc"  # llm.c's train_gpt2cu stdout
    LLMC_MAIN = "llmc-main"  # llm.c's -o main.log (`s:N trl:X lr:Y norm:Z`, `s:N tel:X`)
    # `s:N trl:X` without lr/norm: llm.c before mid-2024, or a PyTorch script writing its
    # format (modded-nanogpt's first train_gpt2.py): whose flags, the log does not say
    LLMC_STYLE = "llmc-style"
    BUILD_NANOGPT = "build-nanogpt"  # build-nanogpt's train_gpt2.py stdout
    BUILD_NANOGPT_LOG = "build-nanogpt-log"  # build-nanogpt's log/log.txt (`N train X`)
    HF_TRAINER = "hf-trainer"  # Hugging Face Trainer's trainer_state.json
    LIGHTNING = "lightning-csv"  # PyTorch Lightning CSVLogger's metrics.csv
    WANDB_PANEL = "wandb-panel"  # a W&B chart's "export panel data" CSV
    WANDB_RUNS = "wandb-runs"  # a W&B runs table CSV, or any table of one row per run
    WANDB_SUMMARY = "wandb-summary"  # a W&B run's files/wandb-summary.json
    CSV = "csv"  # any CSV with a step column and a loss-like column
    JSONL = "jsonl"  # JSON lines with a step key and a loss-like key
    TENSORBOARD = "tensorboard"  # TensorBoard event files
    CRASH = "crash-log"  # a run's output with no metric at all, read for how it ended

    def __str__(self) -> str:
        return str(self.value)

    def __hash__(self) -> int:
        return hash(self.value)  # equal to its value, so hashed like it

    @property
    def has_log(self) -> bool:
        return self not in (Dialect.NANOGPT_CKPT, Dialect.NANOCHAT_CKPT)

    @property
    def has_checkpoint(self) -> bool:
        return self in (Dialect.NANOGPT_CKPT, Dialect.NANOGPT_WITH_CKPT)

    @property
    def is_nanogpt(self) -> bool:
        """Read from nanoGPT's own output or checkpoint: its config keys, defaults and
        schedule apply."""
        return self in (Dialect.NANOGPT, Dialect.NANOGPT_MD, Dialect.NANOGPT_CKPT, Dialect.NANOGPT_WITH_CKPT)

    @property
    def trainer(self) -> str:
        """The trainer whose flags a finding gives: nanogpt, nanochat, llmc, modded-nanogpt,
        build-nanogpt, hf, or "" when the format does not say (a CSV, a W&B export)."""
        return _TRAINER.get(self.value, "")

    @property
    def counts_steps(self) -> bool:
        """Whether a train point's step counts the optimizer steps done, its own included
        (1-based: the first step's line says 1), rather than indexing it (0-based, as
        nanoGPT's `iter N`, printed after update N: N + 1 steps done). An eval's step is the
        number of steps done before it, in nanoGPT and in these formats alike."""
        return self.value in _COUNTS_STEPS


_TRAINER = {"nanogpt": "nanogpt", "nanogpt-md": "nanogpt", "nanogpt-ckpt": "nanogpt", "nanogpt+ckpt": "nanogpt",
            "nanochat": "nanochat", "nanochat-ckpt": "nanochat", "nanochat-sft": "nanochat-sft",
            "nanochat-2025": "nanochat-2025",
            "modded-nanogpt": "modded-nanogpt",
            "llmc": "llmc", "llmc-main": "llmc", "build-nanogpt": "build-nanogpt",
            "build-nanogpt-log": "build-nanogpt", "hf-trainer": "hf"}
# formats whose train lines count the steps done (Dialect.counts_steps); every other format
# numbers a train line with the 0-based index of its step
_COUNTS_STEPS = frozenset({
    "modded-nanogpt",  # train_gpt2.py prints f"step:{step+1}/{num_iterations} train_loss:..." after update `step`
    "llmc",  # train_gpt2.cu: printf0("step %4d/%d | loss ...", step + 1, ...); its main.log's
    # `s:N trl:X` gets the 0-based `step`, so llmc-main is not here
    "hf-trainer",  # log_history's `step` is state.global_step, raised after each optimizer step
})
