"""The training recipe: a plain loop (no HF Trainer) over response-only cross-entropy.

Loss normalisation: a step's loss is the mean over every target token of its global batch (all ranks, all
micro-batches). Each micro-batch backpropagates ``sum of its token losses / global target count``, scaled
by the world size because FSDP2 averages gradients over ranks. Hence a step's gradient does not depend on
how its global batch is split into ranks, micro-batches or packed sequences.
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from fastprune.data.batching import pad_id_of
from fastprune.train import checkpoint
from fastprune.train.collate import Sequence, as_sequences, collate, filler, pack, to_device
from fastprune.train.config import TrainConfig
from fastprune.train.data import IGNORE, Renderer, build_examples, read_rows
from fastprune.train.distributed import DistEnv, setup, step_slices
from fastprune.train.metrics import StepLog, flops_per_token, gpu_peak_flops
from fastprune.train.model_io import load_for_training, master_dtype, save_final, source_dtype
from fastprune.train.modes import prepare
from fastprune.train.sharded_load import load_sharded
from fastprune.utils_io import sha256_file

logger = logging.getLogger(__name__)


def build_sequences(examples, cfg: TrainConfig) -> list[Sequence]:
    """Every epoch's examples in a seeded order (the same on every rank), packed or one per sequence."""
    seqs: list[Sequence] = []
    for epoch in range(cfg.epochs):
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        order = [examples[i] for i in torch.randperm(len(examples), generator=gen).tolist()]
        seqs.extend(pack(order, cfg.max_seq_len) if cfg.pack else as_sequences(order))
    return seqs


def enable_activation_checkpointing(model) -> None:
    """Recompute each decoder layer in backward (non-reentrant: works with frozen inputs, LoRA and FSDP2)."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x name
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def token_loss_sum(model, batch: dict, distiller=None) -> torch.Tensor:
    """Summed cross-entropy (or, with a ``kd.Distiller``, the distillation loss) over the batch's target
    tokens (targets are already shifted)."""
    kwargs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids") if k in batch}
    logits = model(**kwargs, use_cache=False).logits
    if distiller is not None:
        return distiller.loss_sum(logits, batch, kwargs)
    return F.cross_entropy(logits.float().flatten(0, 1), batch["targets"].flatten(), ignore_index=IGNORE,
                           reduction="sum")


def optimizer_step(model, micro_batches, step_targets: int, world: int, params, optimizer,
                   grad_clip: float, distiller=None) -> tuple[float, float]:
    """One optimizer step over this rank's micro-batches; returns (this rank's summed token loss, the
    global gradient norm before clipping). See the module docstring for the loss scaling."""
    local = 0.0
    batches = list(micro_batches)
    sync = getattr(model, "set_requires_gradient_sync", None)  # an FSDP2 module
    for i, batch in enumerate(batches):
        if sync is not None:
            # Gradients accumulate unsharded on each rank; only the last micro-batch reduce-scatters them.
            sync(i == len(batches) - 1)
        loss_sum = token_loss_sum(model, batch, distiller)
        (loss_sum * (world / step_targets)).backward()
        local += float(loss_sum.detach())
    norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
    if hasattr(norm, "full_tensor"):  # a DTensor under FSDP2
        norm = norm.full_tensor()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return local, float(norm)


def _prepare(cfg: TrainConfig, loaded):
    return prepare(loaded.model, loaded.adapter.layers, cfg.mode, cfg.last_k, cfg.lora_r, cfg.lora_alpha,
                   cfg.lora_dropout, seed=cfg.seed)


def _distiller(cfg: TrainConfig, student, env: DistEnv):
    if cfg.teacher is None:
        return None
    from fastprune.train.kd import Distiller, frozen_teacher, load_teacher

    dtype = next(p for p in student.parameters() if p.is_floating_point()).dtype
    if env.sharded:
        teacher = load_sharded(cfg.teacher, dtype, env, cfg.trust_remote_code, seed=0)[0].model
        teacher = frozen_teacher(cfg.teacher, teacher, student)
    else:
        teacher = load_teacher(cfg.teacher, student, dtype, cfg.trust_remote_code).to(env.device)
    return Distiller(teacher, cfg.kd_alpha, cfg.kd_temperature)


def train(cfg: TrainConfig, on_step: Callable[[dict], None] | None = None) -> dict:
    """Run ``cfg`` to completion (resuming from the newest checkpoint in ``cfg.state_dir``); returns the
    summary also written to ``OUT/train_summary.json``. ``on_step`` gets each logged record (any exception it
    raises stops the run as a kill would, leaving the checkpoints for a resume)."""
    from fastprune.errors import FastpruneError

    if cfg.out_path.exists() and not cfg.overwrite:
        raise FastpruneError(f"{cfg.out} already exists; pass --overwrite to replace it or choose another --out")
    env = setup(cfg.device)
    try:
        return _train(cfg, env, on_step)
    finally:
        env.close()


def _train(cfg: TrainConfig, env: DistEnv, on_step) -> dict:
    from tqdm.auto import tqdm

    # Whatever draws from the global RNG before training (random weights) must be the same on every rank and
    # for every world size, so it is seeded with the seed alone; only dropout below is per rank. (LoRA
    # adapters do not use it: modes.lora_init draws each from its own name.)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    rows = read_rows(cfg.data)
    if env.sharded and cfg.mode != "qlora":
        # Built on meta and filled shard by shard: no rank holds the whole model (see sharded_load).
        loaded, mode = load_sharded(cfg.model, master_dtype(cfg), env, cfg.trust_remote_code, cfg.seed,
                                    lambda loaded: _prepare(cfg, loaded))
    else:
        loaded = load_for_training(cfg, env)
        mode = _prepare(cfg, loaded)
    examples, stats = build_examples(rows, Renderer(loaded.tokenizer, cfg.chat_template), cfg.max_seq_len)
    seqs = build_sequences(examples, cfg)
    micro = cfg.batch_size
    global_batch = micro * cfg.grad_accum * env.world
    total_steps = math.ceil(len(seqs) / global_batch)
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    pad_id = pad_id_of(loaded.tokenizer)

    base = loaded.model
    model = mode.model
    torch.manual_seed(cfg.seed + env.rank)  # dropout masks: independent draws on each rank
    random.seed(cfg.seed + env.rank)
    for note in stats.notes + mode.notes:
        if env.is_main:
            logger.warning(f"note: {note}")
    # Attention cost grows with the context each token sees: the token-weighted mean document length.
    context = sum(n * n for s in seqs for n in s.doc_lengths) / max(sum(len(s.input_ids) for s in seqs), 1)
    fpt = flops_per_token(base, mode.layers, mode.first_trained_layer, context)
    if cfg.activation_checkpointing:
        enable_activation_checkpointing(base)
    if not env.sharded and cfg.mode != "qlora":  # a quantised base is placed on its device by its load
        model.to(env.device)
    distiller = _distiller(cfg, base, env)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
    peak = cfg.peak_flops or gpu_peak_flops(env.device)

    # Settings that must not change across a resume (the data order and step boundaries depend on them).
    identity = {"data_sha256": sha256_file(cfg.data), "mode": cfg.mode, "global_batch": global_batch,
                "pack": cfg.pack, "max_seq_len": cfg.max_seq_len, "seed": cfg.seed, "epochs": cfg.epochs,
                "model": cfg.model, "teacher": cfg.teacher,
                "kd": [cfg.kd_alpha, cfg.kd_temperature] if cfg.teacher else None}
    ckpt_dir = cfg.state_dir / "checkpoints"
    start = 0
    found = checkpoint.complete_checkpoints(ckpt_dir)
    if found:
        start = checkpoint.load(found[-1], model, optimizer, env, identity)["step"]
        if env.is_main:
            logger.info(f"note: resuming from {found[-1]} (step {start})")
    if env.is_main:
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
    env.barrier()
    log = StepLog(cfg.state_dir / "train_log.jsonl", resume_step=start, enabled=env.is_main)
    mask_dtype = torch.bfloat16 if env.device.type == "cuda" else next(base.parameters()).dtype

    bar = tqdm(total=total_steps, initial=start, desc=f"train {cfg.mode}", unit="step", file=sys.stderr,
               disable=not env.is_main)
    model.train()
    last = {}
    for step in range(start, total_steps):
        t0 = time.perf_counter()
        lr = cfg.lr_at(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        lo, hi = step * global_batch, min((step + 1) * global_batch, len(seqs))
        step_targets = sum(seqs[i].num_targets for i in range(lo, hi))
        step_tokens = sum(len(seqs[i].input_ids) for i in range(lo, hi))
        micro_batches = (
            to_device(collate([seqs[i] for i in part] or [filler(pad_id)], pad_id, cfg.pack, base.config,
                              mask_dtype), env.device)
            for part in step_slices(len(seqs), global_batch, micro, env.world, env.rank, step))
        local, grad_norm = optimizer_step(model, micro_batches, step_targets, env.world, params, optimizer,
                                          cfg.grad_clip, distiller)
        loss = env.sum(local) / step_targets
        if not math.isfinite(float(loss)):
            bar.close()  # the error line must start a line of its own
            _refuse_non_finite(cfg, ckpt_dir, env, step, float(loss))
        if env.device.type == "cuda":
            torch.cuda.synchronize(env.device)
        dt = time.perf_counter() - t0
        tps = step_tokens / dt
        last = {"step": step + 1, "loss": loss, "lr": lr, "grad_norm": grad_norm, "tokens": step_tokens,
                "target_tokens": step_targets, "tokens_per_s": tps, "step_time_s": dt,
                "mfu": (fpt * tps / (peak * env.world)) if peak else None}
        log.write(last)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}")
        if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < total_steps:
            # The data position is implied by the step (global batches are fixed); stored for readers.
            checkpoint.save(ckpt_dir, step + 1, model, optimizer,
                            {**identity, "next_sequence": (step + 1) * global_batch, "sequences": len(seqs)}, env)
        if on_step is not None:
            on_step(last)
    bar.close()

    summary = {"config": cfg.to_dict(), "world_size": env.world, "fsdp2": env.sharded, "device": str(env.device),
               "steps": total_steps, "resumed_from_step": start, "sequences": len(seqs),
               "global_batch_sequences": global_batch, "trainable_params": mode.trainable,
               "total_params": mode.total, "flops_per_token": fpt, "peak_flops_per_device": peak,
               "data": {"rows": stats.rows, "examples": stats.examples, "truncated": stats.truncated,
                        "dropped": stats.dropped, "target_tokens": stats.target_tokens, "tokens": stats.tokens},
               "notes": stats.notes + mode.notes, "final": last}
    if cfg.save_dtype == "auto":
        # A 4-bit base has no dtype of its own to keep: its source checkpoint's, else bf16.
        fallback = torch.bfloat16 if cfg.mode == "qlora" else next(base.parameters()).dtype
        save_dtype = source_dtype(loaded) or fallback
    else:
        from fastprune.models.devices import parse_dtype

        save_dtype = parse_dtype(cfg.save_dtype, "--save-dtype")
    save_final(mode, base, loaded.tokenizer, cfg, env, save_dtype, summary)
    return summary


def _refuse_non_finite(cfg: TrainConfig, ckpt_dir, env: DistEnv, step: int, loss: float) -> None:
    """Stop on a NaN/inf loss instead of saving a broken model; a state dir holding no checkpoint goes too."""
    import shutil

    from fastprune.errors import FastpruneError

    if env.is_main and not checkpoint.complete_checkpoints(ckpt_dir):
        shutil.rmtree(cfg.state_dir, ignore_errors=True)
    raise FastpruneError(
        f"training loss is {loss} at step {step + 1}: the model's outputs are not finite (check {cfg.model}'s "
        "weights with 'fastprune eval MODEL --tasks ppl') or training diverged (lower --lr, keep --grad-clip)")
