"""Training speed of `lossdoctor train` on nanoGPT's README CPU config, against nanoGPT.

    python benchmarks/train_speed.py [--iters 2000] [--modes fp32,compile,bf16,compile+bf16]
                                     [--nanogpt DIR] [--data input.txt]

The config is nanoGPT's config/train_shakespeare_char.py with the README's CPU overrides
(--device=cpu --compile=False --eval_iters=20 --log_interval=1 --block_size=64
--batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --max_iters=2000 --lr_decay_iters=2000
--dropout=0.0), on tiny Shakespeare (default: ../shared/data/shakespeare_char/input.txt).

For each mode it trains --iters iterations and prints the median time per training
iteration (evals and the first 5 iterations left out), tokens/s, the final val loss, and
MFU against this CPU's own measured matmul peak (fp32, and bf16 for bf16 modes). With
--nanogpt DIR (a nanoGPT checkout) it also runs nanoGPT's train.py on the same config,
reads its log with lossdoctor, and prints each mode's speed relative to it. Targets:
>= 1.0x nanoGPT in fp32; >= 1.3x in the best mode whose final val loss is within 0.03
(the seed and eval noise of this config) of fp32's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

# nanoGPT's config/train_shakespeare_char.py values, then the README's CPU overrides
CONFIG = dict(
    eval_interval=250, eval_iters=200, log_interval=10, always_save_checkpoint=False,
    dataset="shakespeare_char", gradient_accumulation_steps=1, batch_size=64, block_size=256,
    n_layer=6, n_head=6, n_embd=384, dropout=0.2, learning_rate=1e-3, max_iters=5000,
    lr_decay_iters=5000, min_lr=1e-4, beta2=0.99, warmup_iters=100,
)
README_CPU = dict(device="cpu", compile=False, eval_iters=20, log_interval=1, block_size=64,
                  batch_size=12, n_layer=4, n_head=4, n_embd=128, max_iters=2000,
                  lr_decay_iters=2000, dropout=0.0)
MODES = {"fp32": dict(dtype="float32"), "compile": dict(dtype="float32", compile=True),
         "bf16": dict(dtype="bfloat16"), "compile+bf16": dict(dtype="bfloat16", compile=True)}
NOISE = 0.03  # val loss, seed and eval noise of this config (real nanoGPT runs)


def matmul_peak(dtype_name: str, n: int = 2048, repeat: int = 10) -> float:
    """FLOP/s of an (n, n) @ (n, n) matmul on this CPU, all threads, best of `repeat`."""
    import torch
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b  # warm up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


def flops_per_iter(cfg: dict) -> float:
    """nanoGPT's 6N + 12*L*H*Q*T FLOPs per token times tokens per iteration: the model's
    own MFU formula at dt = 1 s against a peak of 1 FLOP/s."""
    from lossdoctor.trainer.model import GPT, GPTConfig
    model = GPT(GPTConfig(block_size=cfg["block_size"], vocab_size=65, n_layer=cfg["n_layer"],
                          n_head=cfg["n_head"], n_embd=cfg["n_embd"], bias=False))
    return model.estimate_mfu(cfg["batch_size"] * cfg["gradient_accumulation_steps"], 1.0, peak_flops=1.0)


def run_ours(mode: str, iters: int, data_path: str, out_dir: str) -> dict:
    from lossdoctor.trainer import load_data, resolve, train
    values = {**CONFIG, **README_CPU, **MODES[mode], "max_iters": iters, "lr_decay_iters": iters,
              "out_dir": out_dir}
    result = train(resolve(overrides=values), load_data(data_path), echo=False)
    return dict(ms=result.ms_per_iter, val=result.final_val_loss)


def run_nanogpt(nanogpt: str, iters: int, data_path: str, work: str) -> dict:
    """nanoGPT's train.py on the same config; its times read back with lossdoctor."""
    import lossdoctor
    from lossdoctor.trainer.data import load_data
    d = load_data(data_path)  # prepared exactly as nanoGPT's prepare.py
    data_dir = os.path.join(work, "data", "shakespeare_char")
    os.makedirs(data_dir, exist_ok=True)
    np.asarray(d.train, np.uint16).tofile(os.path.join(data_dir, "train.bin"))
    np.asarray(d.val, np.uint16).tofile(os.path.join(data_dir, "val.bin"))
    import pickle
    with open(os.path.join(data_dir, "meta.pkl"), "wb") as f:
        pickle.dump({"vocab_size": d.vocab_size, "itos": d.itos, "stoi": d.stoi}, f)
    for name in ("train.py", "model.py", "configurator.py"):
        shutil.copy(os.path.join(nanogpt, name), work)
    args = [f"--{k}={v}" for k, v in {**README_CPU, "max_iters": iters, "lr_decay_iters": iters}.items()]
    cfg_file = os.path.join(nanogpt, "config", "train_shakespeare_char.py")
    log = os.path.join(work, "nanogpt.log")
    with open(log, "w") as f:
        subprocess.run([sys.executable, "train.py", cfg_file, *args, "--out_dir=out-nanogpt"],
                       cwd=work, stdout=f, stderr=subprocess.STDOUT, check=True)
    run = lossdoctor.load(log)
    facts = lossdoctor.compute_facts(run)
    return dict(ms=facts["time_per_iter_ms"].value, val=float(run.evals.val[-1]))


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--modes", default="fp32,compile,bf16,compile+bf16")
    ap.add_argument("--nanogpt", metavar="DIR", help="a nanoGPT checkout to compare with")
    ap.add_argument("--data", default=os.path.join(here, "..", "..", "shared", "data",
                                                   "shakespeare_char", "input.txt"))
    args = ap.parse_args()
    import torch
    cfg = {**CONFIG, **README_CPU}
    work_per_iter = flops_per_iter(cfg)
    peaks = {"fp32": matmul_peak("fp32"), "bf16": matmul_peak("bf16")}
    tokens = cfg["batch_size"] * cfg["block_size"] * cfg["gradient_accumulation_steps"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    print(f"matmul peak: fp32 {peaks['fp32'] / 1e9:.1f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:.1f} GFLOP/s")
    print(f"config: README CPU, {args.iters} iterations, {tokens} tokens/iter, "
          f"{work_per_iter / 1e9:.3f} GFLOP/iter")
    results = {}
    with tempfile.TemporaryDirectory() as work:
        if args.nanogpt:
            results["nanoGPT"] = run_nanogpt(args.nanogpt, args.iters, args.data, work)
        for mode in args.modes.split(","):
            results[mode] = run_ours(mode, args.iters, args.data, os.path.join(work, mode))
    base = results.get("nanoGPT")
    print(f"{'':14s} {'ms/iter':>8s} {'tokens/s':>9s} {'MFU(own peak)':>13s} {'val loss':>9s}"
          + ("  vs nanoGPT" if base else ""))
    for name, r in results.items():
        peak = peaks["bf16" if "bf16" in name else "fp32"]
        mfu = work_per_iter / (r["ms"] / 1000) / peak
        line = (f"{name:14s} {r['ms']:8.2f} {tokens / (r['ms'] / 1000):9.0f} {100 * mfu:12.1f}% "
                f"{r['val']:9.4f}")
        if base:
            line += f"  {base['ms'] / r['ms']:.2f}x"
        print(line)
    if base and "fp32" in results:
        ok = [m for m in results if m != "nanoGPT" and abs(results[m]["val"] - results["fp32"]["val"]) <= NOISE]
        best = max(ok, key=lambda m: base["ms"] / results[m]["ms"])
        print(f"fp32 vs nanoGPT: {base['ms'] / results['fp32']['ms']:.2f}x (target >= 1.0)")
        print(f"best mode within {NOISE} of fp32's val loss: {best}, "
              f"{base['ms'] / results[best]['ms']:.2f}x (target >= 1.3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
