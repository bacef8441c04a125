"""GPT-2 model, tokenizer and token data. Submodules import only torch, numpy, pyarrow
(and tokenizers/tiktoken for tokenizing); nothing is imported here."""
