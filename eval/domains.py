"""The corpus's domain mix beside WebText's own: name labels, the reference list, rank correlation.

OpenAI published WebText's 1,000 most frequent domains as ``<count> <label>`` lines, where the
label is the registrable domain's name without its public suffix (``nytimes`` for nytimes.com,
``blogspot`` for any x.blogspot.com, ``bbc`` for bbc.co.uk and bbc.com alike). The corpus's hosts
are mapped to the same labels (:func:`domain_label`) before the two lists are compared.

The comparison is Spearman's rank correlation of the documents per label over the labels in both
lists; with fewer than two labels in common, or every count tied on one side, it is undefined,
and :func:`compare` says why in words (never a NaN).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

# Second-level names under a country code that are part of the public suffix (bbc.co.uk,
# abc.net.au, asahi.com.jp...): a small rule in place of the whole public suffix list.
_SECOND_LEVEL = frozenset(
    {"co", "com", "org", "net", "ac", "gov", "edu", "ne", "or", "go", "gob", "gv", "nic", "ltd",
     "plc", "me", "nom", "mil", "sch", "info", "biz"}
)  # fmt: skip


def domain_label(host: str) -> str:
    """The name label of a host as WebText's domain list spells it: ``www.nytimes.com`` ->
    ``nytimes``, ``foo.blogspot.com`` -> ``blogspot``, ``news.bbc.co.uk`` -> ``bbc``; an IP
    address or a one-label host is returned whole (lower-cased, port dropped)."""
    host = host.strip().lower().rstrip(".").split(":")[0]
    labels = [x for x in host.split(".") if x]
    if len(labels) < 2 or all(x.isdigit() for x in labels):
        return host
    suffix = 1
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        suffix = 2
    return labels[-suffix - 1]


# The label of a count-only line (WebText's list has one: documents with no domain name).
EMPTY_LABEL = "(no name)"


class ReferenceDomainsError(ValueError):
    """The reference domain list cannot be read; the message names the file and the line."""


def read_reference_domains(path: Path) -> list[tuple[str, int]]:
    """(label, count) of each ``<count> <label>`` line of ``path``, most frequent first (the
    file's order kept among equal counts). Blank lines and ``#`` comments are skipped; a line
    with a count alone is labelled :data:`EMPTY_LABEL`, which no host's label equals."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReferenceDomainsError(f"reference domain list {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReferenceDomainsError(f"reference domain list {path} cannot be read: {exc}") from None
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) == 1 and parts[0].isdigit():
            parts.append(EMPTY_LABEL)  # OpenAI's list has one count with no name
        if len(parts) != 2 or not parts[0].isdigit():
            raise ReferenceDomainsError(
                f"{path} line {number}: expected '<count> <domain>', got {line.strip()[:60]!r}"
            )
        label = parts[1].lower()
        if label not in seen:  # a label listed twice keeps its first (higher) count
            seen.add(label)
            out.append((label, int(parts[0])))
    if not out:
        raise ReferenceDomainsError(
            f"reference domain list {path} holds no '<count> <domain>' line"
        )
    out.sort(key=lambda lc: -lc[1])
    return out


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties given the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson's of the average ranks); None where undefined:
    fewer than two pairs, or one side constant."""
    if len(xs) != len(ys):
        raise ValueError(f"spearman: {len(xs)} x values but {len(ys)} y values")
    if len(xs) < 2:
        return None
    rx, ry = average_ranks(xs), average_ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def labels_of(hosts: Counter) -> tuple[Counter, dict[str, str]]:
    """(documents per label, the most frequent host of each label) from documents per host."""
    counts: Counter = Counter()
    best: dict[str, tuple[int, str]] = {}
    for host, n in hosts.items():
        label = domain_label(host)
        counts[label] += n
        if label not in best or (n, host) > best[label]:  # ties: the later name, stable
            best[label] = (n, host)
    return counts, {label: host for label, (_, host) in best.items()}


def ranked(counts: Counter) -> list[tuple[str, int]]:
    """(label, count) most frequent first, ties in name order (the same order on every run)."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def compare(
    corpus: Counter, reference: Iterable[tuple[str, int]], name: str = "the reference"
) -> dict[str, Any]:
    """The corpus's documents per label against the reference list: the labels in both, the
    share of corpus documents whose label is listed, Spearman's rho over the labels in both
    (None when undefined, with ``rho_reason`` saying why in words)."""
    ref = dict(reference)
    common = sorted(label for label in corpus if label in ref)
    total = sum(corpus.values())
    rho = spearman([corpus[x] for x in common], [ref[x] for x in common])
    reason = None
    if rho is None:
        if not common:
            reason = (
                f"undefined: none of the corpus's {len(corpus):,} domains is among the "
                f"{len(ref):,} of {name}"
            )
        elif len(common) == 1:
            reason = f"undefined: only one domain ({common[0]}) is in both lists"
        else:
            side = "the corpus" if len({corpus[x] for x in common}) == 1 else name
            reason = (
                f"undefined: the {len(common)} domains in both lists all have the same count "
                f"in {side}, so they have no order there"
            )
    return {
        "reference_domains": len(ref),
        "corpus_domains": len(corpus),
        "domains_in_both": len(common),
        "corpus_documents_in_listed_domains": sum(corpus[x] for x in common),
        "share_of_corpus_in_listed_domains": (
            sum(corpus[x] for x in common) / total if total else None
        ),
        "spearman_rho": rho,
        "rho_reason": reason,
    }
