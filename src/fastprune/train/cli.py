"""``fastprune train PRUNED --data FILE.jsonl --mode lora --out OUT``: recovery finetuning.

Multi-GPU / multi-process: ``torchrun --nproc_per_node=N -m fastprune train ...`` (FSDP2). A killed run
resumes when the same command is run again with the same OUT.
"""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from fastprune.train.config import TrainConfig
    from fastprune.train.loop import train

    cfg = TrainConfig(
        model=args.model, data=args.data, out=args.out, mode=args.mode, lr=args.lr, epochs=args.epochs,
        max_steps=args.max_steps, batch_size=args.batch_size, grad_accum=args.grad_accum,
        max_seq_len=args.max_seq_len, pack=args.pack, lora_r=args.lora_r, lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout, last_k=args.last_k, warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay, grad_clip=args.grad_clip, save_every=args.save_every, seed=args.seed,
        dtype=args.dtype, save_dtype=args.save_dtype, device=args.device,
        activation_checkpointing=args.activation_checkpointing, teacher=args.teacher, kd_alpha=args.kd_alpha,
        kd_temperature=args.kd_temperature, chat_template=not args.no_chat_template,
        peak_flops=args.peak_flops, overwrite=args.overwrite, keep_state=args.keep_state,
        trust_remote_code=args.trust_remote_code,
    )
    summary = train(cfg)
    final = summary["final"]
    if _is_rank0():
        print(f"trained {summary['steps']} steps ({cfg.mode}); final loss {final.get('loss', float('nan')):.4f}; "
              f"wrote {cfg.out}")
    return 0


def _is_rank0() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def register(sub, name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="model to train: a pruned checkpoint dir, smollm2-135m, random:NAME, tiny:FAMILY")
    p.add_argument("--data", required=True, help="self-response JSONL (fastprune generate) or chat-format JSONL")
    p.add_argument("--out", required=True, help="output dir: a plain HF checkpoint + train_log.jsonl")
    p.add_argument("--mode", default="lora", choices=["lora", "full", "partial", "qlora"])
    p.add_argument("--lr", type=float, default=None, help="default 2e-4 for lora/qlora, 2e-5 for full/partial")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")
    p.add_argument("--batch-size", type=int, default=4, help="sequences per micro-batch per process")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    p.add_argument("--max-seq-len", type=int, default=1024, help="longer rows are truncated (and counted)")
    p.add_argument("--pack", action="store_true", help="pack several examples per sequence (document masks)")
    p.add_argument("--lora-r", type=int, default=None, help="default 16 (qlora: 64)")
    p.add_argument("--lora-alpha", type=int, default=None, help="default 32 (qlora: 16)")
    p.add_argument("--lora-dropout", type=float, default=0.05)
    p.add_argument("--last-k", type=int, default=4, help="partial mode: train the last k decoder layers + head")
    p.add_argument("--warmup-steps", type=int, default=50)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--save-every", type=int, default=0, help="distributed checkpoint every N steps (0: never)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="auto", help="parameter dtype; auto = float32 master weights")
    p.add_argument("--save-dtype", default="auto", help="output dtype; auto = the source checkpoint's")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda")
    p.add_argument("--activation-checkpointing", action="store_true", help="recompute layer activations")
    p.add_argument("--teacher", default=None,
                   help="optional: distil logits from this model (the unpruned one) on the response tokens")
    p.add_argument("--kd-alpha", type=float, default=0.5, help="weight of the distillation term (rest: CE)")
    p.add_argument("--kd-temperature", type=float, default=1.0)
    p.add_argument("--no-chat-template", action="store_true",
                   help="train on raw prompt + response text (for models without a chat template)")
    p.add_argument("--peak-flops", type=float, default=None,
                   help="peak FLOP/s per device for MFU (known GPUs are looked up; otherwise MFU is null)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    p.add_argument("--keep-state", action="store_true", help="keep OUT.train/ (checkpoints) after success")
    p.add_argument("--trust-remote-code", action="store_true", help="allow custom model code (off by default)")
    p.set_defaults(func=run)
