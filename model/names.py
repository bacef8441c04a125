"""Names offered on the command line, importable before torch (``webtext --help`` stays fast).

model/gpt2.py defines a config per model name and a kernel per attention name from these.
"""

MODEL_NAMES = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "midi", "mini", "tiny")

# ``scaled_dot_product_attention`` kernels a run may pin (``webtext train --attention``). "auto"
# lets PyTorch choose (flash first on recent GPUs); "cudnn" is cuDNN's fused attention, which on
# Hopper GPUs is usually the fastest; "math" is the reference implementation (any device).
ATTENTION_BACKENDS = ("auto", "flash", "cudnn", "efficient", "math")
