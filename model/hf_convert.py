"""Import and export Hugging Face ``GPT2LMHeadModel`` weights (``webtext convert``).

A Hugging Face GPT-2 folder holds ``config.json`` and the weights as ``model.safetensors``
(possibly sharded, with ``model.safetensors.index.json``) or ``pytorch_model.bin``, plus the
tokenizer as ``vocab.json`` + ``merges.txt`` (the same files OpenAI calls ``encoder.json`` +
``vocab.bpe``). Differences from our module, handled here:

  - Hugging Face stores the attention and MLP projections as ``Conv1D`` with weights of shape
    (in, out); ``nn.Linear`` uses (out, in), so those four matrices are transposed;
  - names carry a ``transformer.`` prefix (``h.N`` for blocks) and the tied ``lm_head.weight``;
  - our embedding is padded to a multiple of 64 rows: zero rows are added on import and
    dropped on export.

Nothing here imports ``transformers``: only torch, and ``safetensors`` when such files are read
or written. Binary state dicts are read with ``weights_only=True``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from model.checkpoint import CheckpointError, load_model_weights
from model.gpt2 import GPT2, GPT2Config

# Per block: our name -> (Hugging Face name, transposed?)
_BLOCK_TENSORS = {
    "ln_1.weight": ("ln_1.weight", False),
    "ln_1.bias": ("ln_1.bias", False),
    "attn.c_attn.weight": ("attn.c_attn.weight", True),
    "attn.c_attn.bias": ("attn.c_attn.bias", False),
    "attn.c_proj.weight": ("attn.c_proj.weight", True),
    "attn.c_proj.bias": ("attn.c_proj.bias", False),
    "ln_2.weight": ("ln_2.weight", False),
    "ln_2.bias": ("ln_2.bias", False),
    "mlp.c_fc.weight": ("mlp.c_fc.weight", True),
    "mlp.c_fc.bias": ("mlp.c_fc.bias", False),
    "mlp.c_proj.weight": ("mlp.c_proj.weight", True),
    "mlp.c_proj.bias": ("mlp.c_proj.bias", False),
}
_TOKENIZER_FILES = {"vocab.json": "encoder.json", "merges.txt": "vocab.bpe"}


class ConversionError(ValueError):
    """A Hugging Face folder or file that cannot be converted, with the reason."""


def config_from_hf(hf: dict[str, Any], source: str) -> GPT2Config:
    """Our config from a Hugging Face GPT-2 ``config.json``; refuse variants we do not model."""
    if hf.get("model_type", "gpt2") != "gpt2":
        raise ConversionError(f"{source}: model_type {hf.get('model_type')!r} is not gpt2")
    n_embd = hf.get("n_embd", 768)
    checks = {
        "activation_function": (hf.get("activation_function", "gelu_new"), "gelu_new"),
        "n_inner": (hf.get("n_inner") or 4 * n_embd, 4 * n_embd),
        "scale_attn_weights": (hf.get("scale_attn_weights", True), True),
        "scale_attn_by_inverse_layer_idx": (
            hf.get("scale_attn_by_inverse_layer_idx", False),
            False,
        ),
        "add_cross_attention": (hf.get("add_cross_attention", False), False),
        "tie_word_embeddings": (hf.get("tie_word_embeddings", True), True),
    }
    for key, (got, want) in checks.items():
        if got != want:
            raise ConversionError(f"{source}: {key}={got!r} is not supported (GPT-2 has {want!r})")
    return GPT2Config(
        n_layer=hf.get("n_layer", 12),
        n_head=hf.get("n_head", 12),
        n_embd=n_embd,
        block_size=hf.get("n_positions", hf.get("n_ctx", 1024)),
        vocab_size=hf.get("vocab_size", 50257),
        dropout=0.0,
        layer_norm_eps=hf.get("layer_norm_epsilon", 1e-5),
    )


def config_to_hf(config: GPT2Config) -> dict[str, Any]:
    """A ``config.json`` that ``transformers.GPT2LMHeadModel.from_pretrained`` accepts."""
    eot = config.vocab_size - 1  # <|endoftext|> is the last id of GPT-2's vocabulary
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": config.vocab_size,
        "n_positions": config.block_size,
        "n_embd": config.n_embd,
        "n_layer": config.n_layer,
        "n_head": config.n_head,
        "n_inner": None,
        "activation_function": "gelu_new",
        "resid_pdrop": config.dropout,
        "embd_pdrop": config.dropout,
        "attn_pdrop": config.dropout,
        "layer_norm_epsilon": config.layer_norm_eps,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "tie_word_embeddings": True,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "torch_dtype": "float32",
    }


def state_from_hf(hf_state: dict[str, torch.Tensor], config: GPT2Config) -> dict[str, torch.Tensor]:
    """Map a Hugging Face GPT-2 state dict to ours (transpose Conv1D, pad the vocabulary)."""
    state = {
        (k[len("transformer.") :] if k.startswith("transformer.") else k): v
        for k, v in hf_state.items()
    }

    def take(name: str) -> torch.Tensor:
        if name not in state:
            raise ConversionError(f"Hugging Face weights lack tensor {name!r}")
        return state[name].float()

    wte = take("wte.weight")
    if wte.shape != (config.vocab_size, config.n_embd):
        raise ConversionError(
            f"wte.weight has shape {tuple(wte.shape)}, config says "
            f"({config.vocab_size}, {config.n_embd})"
        )
    padded = wte.new_zeros(config.padded_vocab_size, config.n_embd)
    padded[: config.vocab_size] = wte
    ours: dict[str, torch.Tensor] = {"wte.weight": padded, "wpe.weight": take("wpe.weight")}
    if "lm_head.weight" in state and not torch.equal(state["lm_head.weight"].float(), wte):
        raise ConversionError("lm_head.weight differs from wte.weight: GPT-2 ties them")
    for i in range(config.n_layer):
        for our_name, (hf_name, transpose) in _BLOCK_TENSORS.items():
            t = take(f"h.{i}.{hf_name}")
            ours[f"blocks.{i}.{our_name}"] = t.t().contiguous() if transpose else t
    ours["ln_f.weight"] = take("ln_f.weight")
    ours["ln_f.bias"] = take("ln_f.bias")
    return ours


def state_to_hf(state: dict[str, torch.Tensor], config: GPT2Config) -> dict[str, torch.Tensor]:
    """Our state dict in Hugging Face names and layouts (contiguous, no shared storage)."""
    hf = {
        "transformer.wte.weight": state["wte.weight"][: config.vocab_size].clone(),
        "transformer.wpe.weight": state["wpe.weight"].clone(),
        "transformer.ln_f.weight": state["ln_f.weight"].clone(),
        "transformer.ln_f.bias": state["ln_f.bias"].clone(),
    }
    for i in range(config.n_layer):
        for our_name, (hf_name, transpose) in _BLOCK_TENSORS.items():
            t = state[f"blocks.{i}.{our_name}"]
            hf[f"transformer.h.{i}.{hf_name}"] = t.t().contiguous() if transpose else t.clone()
    return {k: v.detach().cpu().contiguous() for k, v in hf.items()}


def _read_weights(hf_dir: Path) -> dict[str, torch.Tensor]:
    single = hf_dir / "model.safetensors"
    index = hf_dir / "model.safetensors.index.json"
    binary = hf_dir / "pytorch_model.bin"
    if single.exists() or index.exists():
        try:
            from safetensors.torch import load_file
        except ImportError as exc:
            raise ConversionError("reading .safetensors needs: pip install safetensors") from exc
        files = (
            [single]
            if single.exists()
            else sorted({hf_dir / f for f in json.loads(index.read_text())["weight_map"].values()})
        )
        weights: dict[str, torch.Tensor] = {}
        for f in files:
            try:
                weights.update(load_file(str(f)))
            except Exception as exc:  # safetensors raises its own error type for bad headers
                raise ConversionError(f"{f}: unreadable safetensors file ({exc})") from exc
        return weights
    if binary.exists():
        try:
            return torch.load(binary, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle, zip and EOF errors all mean the same here
            raise ConversionError(f"{binary}: unreadable PyTorch state dict ({exc})") from exc
    raise ConversionError(
        f"{hf_dir}: no model.safetensors, model.safetensors.index.json or pytorch_model.bin"
    )


def load_hf(hf_dir: str | os.PathLike[str]) -> GPT2:
    """A GPT2 module holding the weights of a local Hugging Face GPT-2 folder."""
    root = Path(hf_dir)
    config_path = root / "config.json"
    if not config_path.exists():
        raise ConversionError(f"{root}: no config.json (is it a Hugging Face model folder?)")
    config = config_from_hf(json.loads(config_path.read_text(encoding="utf-8")), str(config_path))
    model = GPT2(config)
    try:
        load_model_weights(model, state_from_hf(_read_weights(root), config), str(root))
    except CheckpointError as exc:
        raise ConversionError(str(exc)) from exc
    return model


def save_hf(model: GPT2, out_dir: str | os.PathLike[str], safetensors: bool = True) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (or ``pytorch_model.bin``) to ``out_dir``."""
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    tensors = state_to_hf(model.state_dict(), model.config)
    if safetensors:
        from safetensors.torch import save_file

        tmp = root / ".model.safetensors.tmp"
        save_file(tensors, str(tmp), metadata={"format": "pt"})
        os.replace(tmp, root / "model.safetensors")
    else:
        tmp = root / ".pytorch_model.bin.tmp"
        torch.save(tensors, tmp)
        os.replace(tmp, root / "pytorch_model.bin")
    tmp = root / ".config.json.tmp"
    tmp.write_text(json.dumps(config_to_hf(model.config), indent=2), encoding="utf-8")
    os.replace(tmp, root / "config.json")
    return root


def copy_tokenizer_from_hf(hf_dir: Path, tokenizer_dir: Path) -> bool:
    """vocab.json/merges.txt -> encoder.json/vocab.bpe; False when the folder has none."""
    if not all((hf_dir / name).exists() for name in _TOKENIZER_FILES):
        return False
    tokenizer_dir.mkdir(parents=True, exist_ok=True)
    for hf_name, our_name in _TOKENIZER_FILES.items():
        shutil.copyfile(hf_dir / hf_name, tokenizer_dir / our_name)
    return True


def copy_tokenizer_to_hf(tokenizer_dir: Path, hf_dir: Path) -> bool:
    """encoder.json/vocab.bpe -> vocab.json/merges.txt; False when the run has no tokenizer."""
    if not all((tokenizer_dir / name).exists() for name in _TOKENIZER_FILES.values()):
        return False
    for hf_name, our_name in _TOKENIZER_FILES.items():
        shutil.copyfile(tokenizer_dir / our_name, hf_dir / hf_name)
    return True


def import_to_run(hf_dir: str | os.PathLike[str], run_dir: str | os.PathLike[str]) -> Path:
    """``webtext convert --from-hf``: a weights-only checkpoint (+ tokenizer) in ``run_dir``."""
    from model.checkpoint import checkpoint_path, save_checkpoint
    from model.data import tokenizer_fingerprint

    model = load_hf(hf_dir)
    run = Path(run_dir)
    has_tok = copy_tokenizer_from_hf(Path(hf_dir), run / "tokenizer")
    save_checkpoint(
        checkpoint_path(run),
        {
            "model_config": model.config.to_dict(),
            "model": model.state_dict(),
            "optimizer": None,
            "step": 0,
            "data": {"epoch": 0, "cursor": 0},
            "rng": [],
            "train_config": {"imported_from": str(hf_dir)},
            "tokenizer": {
                "vocab_size": model.config.vocab_size,
                "fingerprint": tokenizer_fingerprint(run / "tokenizer") if has_tok else None,
            },
        },
    )
    return checkpoint_path(run)


def export_run(
    run_dir: str | os.PathLike[str], hf_dir: str | os.PathLike[str], safetensors: bool = True
) -> Path:
    """``webtext convert RUN_DIR --to-hf HF_DIR``: the run's checkpoint as a HF folder."""
    from model.checkpoint import load_checkpoint, model_from_checkpoint

    model = model_from_checkpoint(load_checkpoint(run_dir))
    out = save_hf(model, hf_dir, safetensors=safetensors)
    copy_tokenizer_to_hf(Path(run_dir) / "tokenizer", out)
    return out
