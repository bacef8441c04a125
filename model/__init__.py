"""GPT-2: tokenizer, module, token-shard loader, trainer, sampling and checkpoint interop.

Import-light on purpose: importing ``model`` pulls in nothing; each submodule imports only
torch, numpy and pyarrow (never Beam or the ``pipeline`` package), so a training machine
needs no corpus-building dependencies.
"""
