"""Every setting of a training run, and the ``webtext train`` options they are.

Kept apart from the trainer so the command line can build its options without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model.names import ATTENTION_BACKENDS, MODEL_NAMES
from pipeline.io.options import check_options, option


@dataclass
class TrainConfig:
    """Every setting of a run; stored in each checkpoint. Each field declared with ``option`` is
    also a ``webtext train`` flag (pipeline/io/options.py): its help, default and bounds live here
    and nowhere else."""

    tokens_dir: str
    out_dir: str
    model: str = option("gpt2", "model size (gpt2 is the 124M model)", choices=MODEL_NAMES)
    steps: int = option(1000, "optimizer steps", min_value=1)
    batch_tokens: int = option(
        512 * 1024, "global batch in tokens (512 x 1024, the paper's)", min_value=1
    )
    micro_batch: int = option(16, "sequences per forward pass and process", min_value=1)
    seq_len: int | None = option(
        None, "sequence length (default: the model's context)", min_value=1
    )
    lr: float = option(6e-4, "peak learning rate", min_value=0.0)
    min_lr_ratio: float = option(0.1, "final lr / peak lr of the cosine decay", min_value=0.0)
    warmup_steps: int | None = option(
        None, "linear warmup steps (default: min(2000, steps // 10))", min_value=0
    )
    weight_decay: float = option(0.1, "AdamW weight decay on weight matrices", min_value=0.0)
    beta1: float = option(0.9, "AdamW beta1", min_value=0.0)
    beta2: float = option(0.95, "AdamW beta2 (GPT-2 style training uses 0.95)", min_value=0.0)
    grad_clip: float = option(1.0, "clip the global gradient norm to this", min_value=0.0)
    dropout: float = option(0.0, "dropout probability", min_value=0.0)
    eval_interval: int = option(250, "steps between val-loss evaluations", min_value=1)
    eval_batches: int = option(20, "micro-batches of the fixed val set per evaluation", min_value=1)
    ckpt_interval: int = option(500, "steps between checkpoints", min_value=1)
    log_interval: int = option(10, "steps between progress lines", min_value=1)
    seed: int = option(1337, "seed of the initial weights and the data order")
    device: str = option("auto", "auto (a GPU when present), cpu, cuda or cuda:N")
    dtype: str = option(
        "auto",
        "auto: bf16 autocast on CUDA, float32 on CPU",
        choices=("auto", "bfloat16", "float32"),
    )
    compile: bool = option(False, "torch.compile the model (the DDP wrapper under torchrun)")
    loss_chunks: int = option(
        1, "compute the loss in N slices without holding all logits (saves GPU memory)",
        min_value=1,
    )  # fmt: skip
    attention: str = option(
        "auto",
        "attention kernel: PyTorch's choice (auto), or pinned; cudnn is often fastest on "
        "H100; cudnn and efficient need CUDA",
        choices=ATTENTION_BACKENDS,
    )
    vocab_size: int | None = option(
        None,
        "vocabulary size (default: entries of TOKENS_DIR/_tokenizer/encoder.json)",
        min_value=1,
    )
    resume: bool = option(False, "continue RUN_DIR's checkpoint (see README: what may change)")
    stop_at: int | None = option(
        None, "stop after this step with a checkpoint, as if interrupted", min_value=1
    )
    peak_tflops: float | None = option(
        None, "the chip's dense bf16 peak in TFLOP/s for MFU (default: from the GPU's name)"
    )
    fsdp: bool = option(
        False,
        "under torchrun: shard weights, gradients and optimizer state (FSDP) for models that "
        "do not fit one GPU with DDP",
    )
    init_from: str | None = option(
        None,
        "start from the weights of another run or of `webtext convert --from-hf` (fine-tuning; "
        "the optimizer and schedule start fresh)",
        metavar="RUN_DIR",
    )
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_options(self)

    def resolved_warmup(self) -> int:
        if self.warmup_steps is not None:
            return self.warmup_steps
        return max(1, min(2000, self.steps // 10))
