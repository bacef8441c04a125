"""The GPT-2 trainer behind ``webtext train``: one process or many (torchrun, DDP).

One optimizer step consumes a global batch of ``batch_tokens`` tokens: ``grad_accum``
micro-batches of ``micro_batch`` sequences on each of ``world_size`` ranks. AdamW with weight
decay on matrices only (fused on CUDA), linear warmup then cosine decay to ``min_lr_ratio`` x
lr, gradient clipping, bf16 autocast on GPU and float32 on CPU, ``torch.compile`` on request.

Everything a step depends on is in the checkpoint (model, optimizer, step, data position, RNG
states of every rank), so ``--resume`` continues exactly: N steps straight and N/2 + resume +
N/2 give the same losses. Metrics go to ``RUN_DIR/metrics.jsonl`` (one JSON object a line; on
resume, lines after the checkpoint's step are dropped so none appears twice) and to TensorBoard
when it is installed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from model import checkpoint as ckpt
from model.data import (
    DataPosition,
    TokenBatches,
    TokenDataError,
    eval_batches,
    list_token_shards,
    load_split_cached,
    other_stage_message,
    tokenizer_fingerprint,
    tokenizer_vocab_size,
)
from model.gpt2 import (
    GPT2,
    GPT2Config,
    attention_backend,
    config_for,
)
from model.resume import config_changes, describe_changes, identity_mismatch, token_identity
from model.train_config import TrainConfig
from pipeline.io.shard_verify import TOKENIZER_DIR, tokenizer_path

log = logging.getLogger("webtext.train")

METRICS_NAME = "metrics.jsonl"
TRAIN_CONFIG_NAME = "train_config.json"
# Dense bf16 tensor-core peaks (FLOP/s) by device-name substring, for MFU.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12}


class TrainingError(RuntimeError):
    """Training stopped for a reason the user must act on (divergence, out of memory)."""


class TrainingDiverged(TrainingError):
    """The loss or the gradient norm became NaN/inf."""


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based): linear warmup, cosine decay."""
    warmup = cfg.resolved_warmup()
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, cfg.steps - warmup))
    min_lr = cfg.lr * cfg.min_lr_ratio
    return min_lr + 0.5 * (cfg.lr - min_lr) * (1.0 + math.cos(math.pi * progress))


@dataclass
class DistContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    initialised_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()


def setup_distributed(device_type: str) -> DistContext:
    """Join the process group torchrun (or a test) describes in the environment, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    here = False
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
        here = True
    return DistContext(rank, local_rank, world_size, here)


def resolve_device(spec: str, local_rank: int) -> torch.device:
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda requested but no CUDA device is available")
        return torch.device("cuda", local_rank)
    return torch.device(spec)


def autocast_for(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (the default there); plain float32 elsewhere."""
    if dtype == "auto":
        dtype = "bfloat16" if device.type == "cuda" else "float32"
    if dtype == "float32":
        return contextlib.nullcontext()
    if dtype != "bfloat16":
        raise ValueError(f"unsupported --dtype {dtype!r} (bfloat16 or float32)")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def peak_flops(device: torch.device, cfg: TrainConfig) -> float | None:
    """The chip's dense bf16 peak for MFU, or None (CPU, unknown GPU): MFU is then n/a."""
    if cfg.peak_tflops:
        return cfg.peak_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


def make_optimizer(model: GPT2, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    extra = {"fused": True} if device.type == "cuda" else {}
    return torch.optim.AdamW(
        model.optimizer_groups(cfg.weight_decay),
        lr=cfg.lr,
        betas=(cfg.beta1, cfg.beta2),
        eps=1e-8,
        **extra,
    )


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


class MetricsLog:
    """Append-only JSONL metrics (rank 0), plus TensorBoard scalars when available."""

    def __init__(self, run_dir: Path, resume_step: int | None) -> None:
        self.path = run_dir / METRICS_NAME
        if resume_step is not None and self.path.exists():
            # Drop records of steps after the checkpoint: they will be redone.
            kept = [
                line
                for line in self.path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= resume_step
            ]
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
            os.replace(tmp, self.path)
        elif resume_step is None:
            self.path.unlink(missing_ok=True)
        self.fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
        except ImportError:
            pass

    def write(self, record: dict[str, Any]) -> None:
        self.fh.write(json.dumps(record) + "\n")
        self.fh.flush()
        if self.tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, int | float):
                    self.tb.add_scalar(key, value, record["step"])

    def close(self) -> None:
        self.fh.close()
        if self.tb is not None:
            self.tb.close()


def read_metrics(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    path = Path(run_dir) / METRICS_NAME
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _fmt_rate(x: float) -> str:
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}K" if x >= 1e3 else f"{x:.0f}"


def _oom_message(cfg: TrainConfig, seq_len: int) -> str:
    return (
        f"GPU out of memory at --micro-batch {cfg.micro_batch} x --seq-len {seq_len} "
        f"(model {cfg.model}): lower --micro-batch (gradient accumulation grows to keep "
        f"--batch-tokens {cfg.batch_tokens}), or set --loss-chunks 4 so the 50K-column logits "
        "are never held for the whole micro-batch"
    )


@dataclass
class TrainResult:
    step: int
    loss: float | None
    val_loss: float | None
    run_dir: str


class Trainer:
    """Holds the state of one run; ``run()`` trains until ``steps`` (or ``stop_at``)."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.run_dir = Path(cfg.out_dir)
        self.tokens_dir = Path(cfg.tokens_dir)
        self._setup_device()
        self._setup_shapes()
        state = self._existing_checkpoint()
        self._setup_model(state)
        position = self._setup_optimizer(state)
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._copy_tokenizer()
        self._setup_data(state, position)
        self._setup_wrappers()
        self.metrics = (
            MetricsLog(self.run_dir, self.step if state is not None else None)
            if self.dist.is_main
            else None
        )

    def _setup_device(self) -> None:
        """Processes (torchrun or one), this one's device, and device-dependent refusals."""
        cfg = self.cfg
        device_type = (
            "cuda"
            if cfg.device.startswith("cuda") or (cfg.device == "auto" and torch.cuda.is_available())
            else "cpu"
        )
        self.dist = setup_distributed(device_type)
        self.device = resolve_device(cfg.device, self.dist.local_rank)
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        if cfg.attention in ("cudnn", "efficient") and self.device.type != "cuda":
            raise ValueError(
                f"--attention {cfg.attention} needs a CUDA device (this run: {self.device}); "
                "use auto, flash or math"
            )

    def _setup_shapes(self) -> None:
        """Vocabulary, model config, sequence length and gradient accumulation, all checked."""
        cfg = self.cfg
        list_token_shards(self.tokens_dir)  # an empty or unfinished tokens/ stops here, clearly
        self.vocab_size = self._vocab_size()
        self.fingerprint = tokenizer_fingerprint(tokenizer_path(str(self.tokens_dir)))
        self.model_config: GPT2Config = config_for(
            cfg.model, vocab_size=self.vocab_size, dropout=cfg.dropout
        )
        self.seq_len = cfg.seq_len or self.model_config.block_size
        if self.seq_len > self.model_config.block_size:
            raise ValueError(
                f"--seq-len {self.seq_len} exceeds the context of {cfg.model} "
                f"({self.model_config.block_size})"
            )
        per_micro = cfg.micro_batch * self.seq_len * self.dist.world_size
        if cfg.batch_tokens % per_micro:
            raise ValueError(
                f"--batch-tokens {cfg.batch_tokens} is not a multiple of micro-batch x seq-len x "
                f"processes = {cfg.micro_batch} x {self.seq_len} x {self.dist.world_size} = "
                f"{per_micro}"
            )
        self.grad_accum = cfg.batch_tokens // per_micro

    def _setup_model(self, state: dict[str, Any] | None) -> None:
        """The model: seeded init, checkpoint or --init-from weights, FSDP sharding."""
        cfg = self.cfg
        torch.manual_seed(cfg.seed + self.dist.rank)
        self.model = GPT2(self.model_config).to(self.device)
        self.model.loss_chunks = cfg.loss_chunks
        self.fsdp = cfg.fsdp and self.dist.world_size > 1
        if cfg.fsdp and not self.fsdp:
            log.warning("--fsdp needs several processes (torchrun); training unsharded")
        if state is not None:
            ckpt.load_model_weights(self.model, state["model"], str(self.run_dir))
        elif cfg.init_from:
            self._init_weights_from(cfg.init_from)
        if self.fsdp:
            from torch.distributed.fsdp import fully_shard

            # Every process starts from rank 0's initial weights, as DDP's broadcast gives.
            for tensor in self.model.state_dict().values():
                dist.broadcast(tensor, src=0)
            for block in self.model.blocks:
                fully_shard(block)
            fully_shard(self.model)

    def _setup_optimizer(self, state: dict[str, Any] | None) -> DataPosition:
        """The optimizer, and on resume its state, the step, the RNGs and the settings that
        changed. Returns where the data stream stands."""
        self.optimizer = make_optimizer(self.model, self.cfg, self.device)
        self.step = 0
        self.config_history: list[dict[str, Any]] = []
        self.last_good_step = None
        if state is None:
            return DataPosition()
        # load_state_dict restores the saved groups' hyperparameters too; the settings of this
        # invocation win (a changed --weight-decay must train, not only be recorded).
        fresh = [{k: g[k] for k in ("weight_decay", "betas")} for g in self.optimizer.param_groups]
        self._load_optimizer(state["optimizer"])
        for group, settings in zip(self.optimizer.param_groups, fresh, strict=True):
            group.update(settings)
        self.config_history = list(state.get("config_history", []))
        self._note_changes(state)
        self.step = self.last_good_step = int(state["step"])
        rng = state["rng"]
        if len(rng) == self.dist.world_size:
            _set_rng_state(rng[self.dist.rank], self.device)
        else:
            log.warning(
                "checkpoint has RNG states of %d processes, this run has %d: dropout noise "
                "will differ from an uninterrupted run",
                len(rng),
                self.dist.world_size,
            )
        return DataPosition(**state["data"])

    def _setup_data(self, state: dict[str, Any] | None, position: DataPosition) -> None:
        """Token splits (one memory-mapped copy per node), checked against a resumed run's."""
        cfg = self.cfg
        train_tokens, val_tokens = self._load_splits()
        self.data_identity = token_identity({"train": train_tokens, "val": val_tokens})
        if state is not None:
            self._check_same_data(state)
        self.train_data = TokenBatches(
            train_tokens,
            self.seq_len,
            cfg.micro_batch,
            self.grad_accum,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            seed=cfg.seed,
            position=position,
            device=self.device,
        )
        self.val_tokens = val_tokens
        self.val_starts = eval_batches(
            val_tokens,
            self.seq_len,
            cfg.micro_batch,
            cfg.eval_batches,
            self.dist.rank,
            self.dist.world_size,
        )

    def _load_splits(self) -> tuple[np.ndarray, np.ndarray]:
        """Local rank 0 builds the token cache; the other ranks of the node map it after."""
        cache_dir = self.run_dir / "token_cache"

        def load(build: bool) -> tuple[np.ndarray, np.ndarray]:
            return tuple(  # type: ignore[return-value]
                load_split_cached(self.tokens_dir, split, cache_dir, self.vocab_size, build=build)
                for split in ("train", "val")
            )

        if self.dist.local_rank == 0:
            splits = load(build=True)
        self.dist.barrier()
        if self.dist.local_rank != 0:
            splits = load(build=False)
        return splits

    def _setup_wrappers(self) -> None:
        """DDP and torch.compile around the model, autocast, and the throughput constants."""
        cfg = self.cfg
        self.forward_model: torch.nn.Module = self.model
        self.ddp: torch.nn.Module | None = None
        if self.dist.world_size > 1 and not self.fsdp:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = self.forward_model = DDP(self.model, device_ids=ids)
        if cfg.compile:
            # Compile the DDP wrapper, not the bare model: dynamo then splits the graph at DDP's
            # gradient buckets, so each bucket's all-reduce overlaps the rest of the backward.
            self.forward_model = torch.compile(self.forward_model)
        self.autocast = autocast_for(self.device, cfg.dtype)
        self.tokens_per_step = cfg.batch_tokens
        self.flops_per_token = self.model.flops_per_token(self.seq_len)
        self.peak = peak_flops(self.device, cfg)

    # -- setup helpers -------------------------------------------------------------------

    def _vocab_size(self) -> int:
        from_tokenizer = tokenizer_vocab_size(self.tokens_dir)
        flag = self.cfg.vocab_size
        if flag is not None and from_tokenizer is not None and flag != from_tokenizer:
            raise ValueError(
                f"--vocab-size {flag} disagrees with {tokenizer_path(str(self.tokens_dir))}"
                "/encoder.json "
                f"({from_tokenizer} entries)"
            )
        vocab = flag if flag is not None else from_tokenizer
        if vocab is None:
            raise TokenDataError(
                other_stage_message(self.tokens_dir)
                or f"{self.tokens_dir} has no {TOKENIZER_DIR}/encoder.json: pass --vocab-size"
            )
        return vocab

    def _existing_checkpoint(self) -> dict[str, Any] | None:
        path = ckpt.checkpoint_path(self.run_dir)
        if not path.exists():
            if self.cfg.resume:
                log.info("no checkpoint in %s: starting from scratch", self.run_dir)
            return None
        if not self.cfg.resume:
            raise ValueError(
                f"{self.run_dir} already holds a checkpoint: pass --resume to continue it or "
                "choose another --out"
            )
        state = ckpt.load_checkpoint(path)
        if state.get("optimizer") is None:
            raise ckpt.CheckpointError(
                f"{path} holds weights only (imported or exported), not a training state to "
                "resume; train into another --out"
            )
        ckpt.check_config(state, self.model_config, str(path))
        saved_tok = state.get("tokenizer", {})
        if saved_tok.get("vocab_size") != self.vocab_size or (
            saved_tok.get("fingerprint") != self.fingerprint
        ):
            raise ckpt.CheckpointError(
                f"{path} was trained on tokens of another tokenizer "
                f"(vocab {saved_tok.get('vocab_size')}, fingerprint "
                f"{str(saved_tok.get('fingerprint'))[:12]}) than {self.tokens_dir} "
                f"(vocab {self.vocab_size}, fingerprint {str(self.fingerprint)[:12]})"
            )
        saved = state["train_config"]
        for key in ("batch_tokens", "seed"):
            if saved.get(key) != getattr(self.cfg, key):
                raise ckpt.CheckpointError(
                    f"cannot resume {path}: --{key.replace('_', '-')} was {saved.get(key)}, "
                    f"now {getattr(self.cfg, key)} (the data order would change)"
                )
        if saved.get("seq_len_resolved") != self.seq_len:
            raise ckpt.CheckpointError(
                f"cannot resume {path}: --seq-len was {saved.get('seq_len_resolved')}, now "
                f"{self.seq_len}"
            )
        log.info("resuming %s from step %d", self.run_dir, state["step"])
        return state

    def _note_changes(self, state: dict[str, Any]) -> None:
        """Log and record the changeable settings this resumed invocation changes."""
        changes = config_changes(state["train_config"], asdict(self.cfg))
        if changes:
            log.info("%s", describe_changes(changes, int(state["step"])))
            self.config_history.append({"step": int(state["step"]), "changes": changes})

    def _check_same_data(self, state: dict[str, Any]) -> None:
        """Refuse to continue a run on other token data (another corpus, a re-tokenisation)."""
        saved = state.get("data_identity")
        path = ckpt.checkpoint_path(self.run_dir)
        if saved is None:
            log.warning(
                "%s predates data checks: cannot verify that %s holds the tokens it was trained on",
                path,
                self.tokens_dir,
            )
            return
        why = identity_mismatch(saved, self.data_identity)
        if why is not None:
            raise ckpt.CheckpointError(
                f"cannot resume {path}: {self.tokens_dir} holds other token data than the run "
                f"was trained on ({why}); train into another --out"
            )

    def _init_weights_from(self, source: str) -> None:
        """Fine-tuning: weights of another run or an imported checkpoint, fresh optimizer."""
        init = ckpt.load_checkpoint(source)
        ckpt.check_config(init, self.model_config, source)
        theirs = init.get("tokenizer", {}).get("fingerprint")
        if theirs is not None and self.fingerprint is not None and theirs != self.fingerprint:
            raise ckpt.CheckpointError(
                f"--init-from {source} was trained with another tokenizer than {self.tokens_dir}"
            )
        ckpt.load_model_weights(self.model, init["model"], source)
        log.info("initialised from %s (its step %d)", source, init["step"])

    def _copy_tokenizer(self) -> None:
        src = Path(tokenizer_path(str(self.tokens_dir)))
        if src.is_dir():  # into RUN_DIR/tokenizer/ (a run directory is not a dataset)
            dst = self.run_dir / "tokenizer"
            dst.mkdir(exist_ok=True)
            for path in src.iterdir():
                if path.is_file():
                    shutil.copyfile(path, dst / path.name)

    # -- state in the checkpoint's (unsharded) format -------------------------------------

    def _group_names(self) -> list[list[str]]:
        """Parameter names per optimizer group, in the order ``optimizer_groups`` lists them."""
        by_id = {id(p): n for n, p in self.model.named_parameters()}
        return [[by_id[id(p)] for p in g["params"]] for g in self.optimizer.param_groups]

    def _full_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Model and optimizer state as one process would hold it (gathered under FSDP).

        Optimizer state always uses ``torch.optim`` numbering (parameters counted through the
        groups), so a checkpoint resumes with or without FSDP and with any process count.
        """
        if not self.fsdp:
            return self.model.state_dict(), self.optimizer.state_dict()
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        model_state, optim_state = get_state_dict(self.model, self.optimizer, options=options)
        if not self.dist.is_main:
            return {}, {}
        index = {name: i for i, name in enumerate(n for g in self._group_names() for n in g)}
        groups = [
            {**g, "params": [index[n] for n in g["params"]]} for g in optim_state["param_groups"]
        ]
        state = {index[n]: v for n, v in optim_state["state"].items()}
        return model_state, {"state": state, "param_groups": groups}

    def _load_optimizer(self, saved: dict[str, Any]) -> None:
        if not self.fsdp:
            self.optimizer.load_state_dict(saved)
            return
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_optimizer_state_dict,
        )

        names = [n for g in self._group_names() for n in g]
        by_name = {
            "state": {names[i]: v for i, v in saved["state"].items()},
            "param_groups": [
                {**g, "params": [names[i] for i in g["params"]]} for g in saved["param_groups"]
            ],
        }
        set_optimizer_state_dict(
            self.model,
            self.optimizer,
            optim_state_dict=by_name,
            options=StateDictOptions(full_state_dict=True),
        )

    # -- the loop ------------------------------------------------------------------------

    def _micro_contexts(self) -> Iterator[contextlib.AbstractContextManager]:
        """no_sync for every micro-step but the last, so DDP all-reduces once per step."""
        for i in range(self.grad_accum):
            last = i == self.grad_accum - 1
            if self.ddp is not None and not last:
                yield self.ddp.no_sync()
            else:
                yield contextlib.nullcontext()

    def train_step(self) -> tuple[float, float]:
        """One optimizer step; returns (mean loss over the global batch, gradient norm)."""
        lr = lr_at(self.step, self.cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batches = self.train_data.next_step()
        loss_sum = torch.zeros((), device=self.device)
        for (x, y), sync_ctx in zip(batches, self._micro_contexts(), strict=True):
            with sync_ctx:
                with self.autocast, attention_backend(self.cfg.attention):
                    _, loss = self.forward_model(x, y)
                (loss / self.grad_accum).backward()
            loss_sum += loss.detach()
        if self.dist.world_size > 1:
            dist.all_reduce(loss_sum, op=dist.ReduceOp.SUM)
        mean_loss = loss_sum.item() / (self.grad_accum * self.dist.world_size)
        if not math.isfinite(mean_loss):
            raise self._diverged("loss", mean_loss)
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
        if not math.isfinite(grad_norm):
            raise self._diverged("gradient norm", grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return mean_loss, grad_norm

    def _diverged(self, what: str, value: float) -> TrainingDiverged:
        kept = (
            f"the last good checkpoint (step {self.last_good_step}) is kept in {self.run_dir}"
            if self.last_good_step is not None
            else "no checkpoint was written yet"
        )
        return TrainingDiverged(
            f"{what} is {value} at step {self.step + 1}; stopped without updating the weights; "
            f"{kept}. Lower --lr or raise --warmup-steps"
        )

    @torch.no_grad()
    def evaluate(self) -> float | None:
        """Mean validation loss over the fixed val windows (None when the split is empty)."""
        if not self.val_starts:
            return None
        self.model.eval()
        total = torch.zeros(2, device=self.device, dtype=torch.float64)
        offsets = np.arange(self.seq_len + 1, dtype=np.int64)
        for starts in self.val_starts:
            block = torch.from_numpy(
                self.val_tokens[starts[:, None] + offsets].astype(np.int64)
            ).to(self.device)
            with self.autocast, attention_backend(self.cfg.attention):
                _, loss = self.model(block[:, :-1], block[:, 1:])
            total[0] += loss.double() * starts.size * self.seq_len
            total[1] += starts.size * self.seq_len
        self.model.train()
        if self.dist.world_size > 1:
            dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return float(total[0] / total[1]) if total[1] > 0 else None

    def save(self) -> None:
        rng = [_rng_state(self.device)]
        if self.dist.world_size > 1:
            gathered: list[Any] = [None] * self.dist.world_size
            dist.all_gather_object(gathered, {k: v.cpu() for k, v in rng[0].items()})
            rng = gathered
        model_state, optim_state = self._full_state()
        if self.dist.is_main:
            train_config = asdict(self.cfg) | {"seq_len_resolved": self.seq_len}
            # The steps asked, readable without torch (`webtext stats` shows steps done/asked).
            tmp = self.run_dir / f".{TRAIN_CONFIG_NAME}.tmp-{os.getpid()}"
            tmp.write_text(json.dumps(train_config, indent=2, default=str) + "\n", "utf-8")
            os.replace(tmp, self.run_dir / TRAIN_CONFIG_NAME)
            ckpt.save_checkpoint(
                ckpt.checkpoint_path(self.run_dir),
                {
                    "model_config": self.model_config.to_dict(),
                    "model": model_state,
                    "optimizer": optim_state,
                    "step": self.step,
                    "data": self.train_data.position.to_dict(),
                    "rng": rng,
                    "train_config": train_config,
                    "tokenizer": {"vocab_size": self.vocab_size, "fingerprint": self.fingerprint},
                    "data_identity": self.data_identity,
                    "config_history": self.config_history,
                },
            )
        self.dist.barrier()
        self.last_good_step = self.step

    def _progress(self, loss: float, lr: float, tok_s: float, dt: float) -> None:
        mfu = (
            f"{self.flops_per_token * tok_s / self.dist.world_size / self.peak:.1%}"
            if self.peak
            else "n/a"
        )
        log.info(
            "step %d/%d | loss %.4f | lr %.2e | %s tok/s | MFU %s | %.0f ms/step",
            self.step,
            self.cfg.steps,
            loss,
            lr,
            _fmt_rate(tok_s),
            mfu,
            dt * 1000,
        )

    def run(self) -> TrainResult:
        cfg = self.cfg
        last_stop = cfg.steps if cfg.stop_at is None else min(cfg.steps, cfg.stop_at)
        if self.dist.is_main:
            log.info(
                "training %s (%.2fM params, vocab %d) on %s x%d%s | global batch %d tokens = "
                "%d x %d seq x %d accum x %d procs | steps %d..%d",
                cfg.model,
                self.model.num_params() / 1e6,
                self.vocab_size,
                self.device,
                self.dist.world_size,
                " (FSDP)" if self.fsdp else " (DDP)" if self.dist.world_size > 1 else "",
                cfg.batch_tokens,
                cfg.micro_batch,
                self.seq_len,
                self.grad_accum,
                self.dist.world_size,
                self.step,
                last_stop,
            )
        loss: float | None = None
        val_loss: float | None = None
        window_steps, window_time = 0, 0.0
        try:
            while self.step < last_stop:
                lr = lr_at(self.step, cfg)
                t0 = time.perf_counter()
                try:
                    loss, grad_norm = self.train_step()
                except torch.cuda.OutOfMemoryError as exc:
                    raise TrainingError(_oom_message(cfg, self.seq_len)) from exc
                dt = time.perf_counter() - t0
                tok_s = self.tokens_per_step / dt
                window_steps += 1
                window_time += dt
                record: dict[str, Any] = {
                    "step": self.step,
                    "loss": loss,
                    "lr": lr,
                    "grad_norm": grad_norm,
                    "tokens": self.step * self.tokens_per_step,
                    "tokens_per_s": tok_s,
                    "mfu": (self.flops_per_token * tok_s / self.dist.world_size / self.peak)
                    if self.peak
                    else None,
                }
                if self.metrics is not None:
                    self.metrics.write(record)
                if self.dist.is_main and (
                    self.step % cfg.log_interval == 0 or self.step == last_stop
                ):
                    rate = window_steps * self.tokens_per_step / window_time
                    self._progress(loss, lr, rate, window_time / window_steps)
                    window_steps, window_time = 0, 0.0
                if self.step % cfg.eval_interval == 0 or self.step == cfg.steps:
                    val_loss = self.evaluate()
                    if val_loss is not None and self.metrics is not None:
                        self.metrics.write({"step": self.step, "val_loss": val_loss})
                        log.info("step %d | val loss %.4f", self.step, val_loss)
                if self.step % cfg.ckpt_interval == 0 or self.step == last_stop:
                    self.save()
        finally:
            if self.metrics is not None:
                self.metrics.close()
        return TrainResult(self.step, loss, val_loss, str(self.run_dir))

    def close(self) -> None:
        if self.dist.initialised_here:
            dist.destroy_process_group()


def train(cfg: TrainConfig) -> TrainResult:
    """Train (or resume) one run as configured; the entry point of ``webtext train``."""
    trainer = Trainer(cfg)
    try:
        return trainer.run()
    finally:
        trainer.close()
