"""The corpus card: the report's first section, what a reader of a dataset paper asks first.

From the stage directories beside the corpus (or under ``--stages DIR``):

- the corpus: documents, tokens and characters per split (corpus/, tokens/_stats.json);
- the funnel: Reddit submissions -> links -> pages -> documents -> corpus documents, with the
  top drop reasons of each stage (each stage's _stats.json);
- the Reddit metadata: karma and post-time distributions of the links and the corpus documents;
- the domain mix, beside WebText's own top domains when ``--reference-domains`` names OpenAI's
  list (Spearman's rank correlation over the domains in both, the top 20 side by side);
- when pages/ was fetched from archives (``source``, ``capture_time`` columns): pages per source
  and capture age (capture time minus post time).

Every figure has a one-line reading; every number is in a table and in report.json.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from eval import corpus_columns as cols
from eval import domains as dom
from eval import figures
from eval.corpus_funnel import find_stages, funnel_rows, read_stats, top_reasons
from eval.report_sections import ReportInputs, SectionUnavailable

SPLIT_ORDER = ("train", "val", "test")
TOP_DOMAINS = 20
REFERENCE_NAME = "WebText"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _locate(inp: ReportInputs) -> tuple[Path, dict[str, Path]]:
    """(the corpus directory, the finished stage directories found beside it)."""
    if inp.stages_dir is not None and not inp.stages_dir.is_dir():
        raise SectionUnavailable(f"stage folder {inp.stages_dir} does not exist (--stages)")
    root = inp.stages_dir or (inp.corpus_dir.parent if inp.corpus_dir is not None else None)
    if root is None:
        raise SectionUnavailable("no corpus given (--corpus DIR, or --stages DIR holding corpus/)")
    stages = find_stages(root)
    corpus = inp.corpus_dir or stages.get("corpus")
    if corpus is None:
        raise SectionUnavailable(f"no finished corpus/ in {root} (--corpus DIR)")
    if not corpus.exists():
        raise SectionUnavailable(f"corpus directory {corpus} does not exist")
    stages["corpus"] = corpus
    return corpus, stages


# -- the corpus: documents, tokens, splits -------------------------------------------------------
def _splits_table(
    scan: dict[str, Counter], tokens: dict[str, Any] | None, notes: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    docs, chars = scan["documents"], scan["chars"]
    per_split_tokens = tokens.get("tokens_per_split") if tokens else None
    splits = [s for s in SPLIT_ORDER if s in docs] + sorted(set(docs) - set(SPLIT_ORDER))
    n_docs, n_chars = sum(docs.values()), sum(chars.values())
    n_tokens = sum(per_split_tokens.values()) if per_split_tokens else None
    rows, numbers = [], {}
    for split in [*splits, "all"]:
        d = n_docs if split == "all" else docs[split]
        c = n_chars if split == "all" else chars[split]
        t = n_tokens if split == "all" else (per_split_tokens or {}).get(split)
        numbers[split] = {"documents": d, "tokens": t, "characters": c}
        rows.append(
            [
                split,
                f"{d:,}",
                _pct(d, n_docs),
                "-" if t is None else f"{t:,}",
                "-" if t is None or not n_tokens else _pct(t, n_tokens),
                f"{c:,}",
                "-" if t is None or not d else f"{t / d:,.1f}",
            ]
        )
    notes.append(
        "Tokens: GPT-2 BPE ids of tokens/ (webtext tokenize), one <|endoftext|> per document "
        "included; characters: of the extracted text."
        if per_split_tokens
        else "Tokens: '-' as no tokens/ of this corpus was found (run webtext tokenize)."
    )
    table = {
        "caption": "the corpus: documents, tokens and characters per split",
        "columns": ["split", "documents", "% documents", "tokens", "% tokens", "characters",
                    "tokens / document"],
        "rows": rows,
        "notes": notes,
    }  # fmt: skip
    return table, numbers


def _tokens_stats(stages: dict[str, Path], n_docs: int, notes: list[str]) -> dict[str, Any] | None:
    if "tokens" not in stages:
        return None
    stats = read_stats(stages["tokens"])
    if stats is None or not isinstance(stats.get("tokens_per_split"), dict):
        return None
    if stats.get("records_in") != n_docs:
        notes.append(
            f"tokens/ ({stages['tokens']}) read {stats.get('records_in')} documents, not this "
            f"corpus's {n_docs:,}: its token counts are left out (rerun webtext tokenize)."
        )
        return None
    return stats


# -- the funnel ----------------------------------------------------------------------------------
def _funnel(sec: dict[str, Any], stages: dict[str, Path]) -> None:
    stats = {s: d for s, p in stages.items() if (d := read_stats(p)) is not None}
    rows, notes = funnel_rows(stats)
    if not rows:
        sec["numbers"]["funnel"] = []
        return
    sec["numbers"]["funnel"] = rows
    sec["tables"].append(
        {
            "caption": "the funnel: what each stage read, kept and dropped (its _stats.json)",
            "columns": ["stage", "reads", "in", "out", "kept", "top drop reasons"],
            "rows": [
                [
                    r["stage"],
                    r["reads"],
                    f"{r['in']:,}",
                    f"{r['out']:,}",
                    _pct(r["out"], r["in"]),
                    top_reasons(r["dropped"]),
                ]
                for r in rows
            ],  # fmt: skip
            "notes": [
                "kept = out / in; every record read is either written or dropped for a counted "
                "reason (in = out + dropped). Reasons: the stage's own names "
                "(webtext stats DIR shows all of them).",
                *notes,
            ],
        }
    )
    first, last = rows[0], rows[-1]
    cut = max(rows, key=lambda r: (r["in"] - r["out"], -rows.index(r)))
    reading = (
        f"{last['out']:,} of the {first['in']:,} {first['reads']} read "
        f"({_pct(last['out'], first['in'])}) end as {last['writes']}"
    )
    if cut["in"] > cut["out"]:
        reading += (
            f"; the biggest cut is at {cut['stage']}: {cut['in'] - cut['out']:,} {cut['reads']} "
            f"dropped ({top_reasons(cut['dropped'])})"
        )
    sec["figures"].append(
        {
            "after_table": len(sec["tables"]) - 1,
            "name": "corpus_funnel.png",
            "png": figures.funnel_bars(
                [first["reads"], *(r["writes"] for r in rows)],
                [first["in"], *(r["out"] for r in rows)],
                "records at each stage",
            ),
            "alt": "Horizontal bar chart: records left at each stage, from "
            f"{first['reads']} at the top to {last['writes']} at the bottom, each with its count "
            "and its share of the first.",
            "reading": reading + ".",
        }
    )


# -- Reddit metadata: karma and post time ----------------------------------------------------------
def _month_quantiles(months: Counter) -> tuple[str, str, str]:
    return min(months), cols.quantile(months, 0.5), max(months)


def _reddit_readings(numbers: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """The one-line readings of the karma and the post-time figures (corpus documents)."""
    main = numbers["corpus documents"]
    below = main["count"] - round(main["karma_3_or_more"] * main["count"])
    where = (
        "every one from a post with karma >= 3 (WebText's rule)"
        if not below
        else f"{below:,} of them below karma 3, WebText's threshold"
    )
    other = f" (links: {numbers['links']['karma_median']:,})" if "links" in numbers else ""
    karma = (
        f"The median corpus document comes from a post with karma {main['karma_median']:,}"
        f"{other}, {where}."
    )
    first, median, last = (main[f"{k}_post_month"] for k in ("first", "median", "last"))
    time = (
        f"Corpus documents were first posted between {first} and {last}; half of them by {median}."
        if first != last
        else f"Corpus documents were all first posted in {first}."
    )
    return karma, time


def _reddit(
    sec: dict[str, Any], corpus_scan: dict[str, Counter], links_dir: Path | None, notes: list[str]
) -> None:
    groups = {"corpus documents": corpus_scan}
    if links_dir is not None:
        groups = {"links": cols.scan_links(links_dir), **groups}
    groups = {k: v for k, v in groups.items() if sum(v["karma"].values())}
    if not cols.has_reddit_metadata(corpus_scan):
        # Not documents of Reddit links (e.g. the study's books and gold texts): one line, not
        # histograms of zeros.
        n = sum(corpus_scan["karma"].values())
        sec["numbers"]["reddit_metadata"] = False
        notes.append(
            f"No Reddit metadata: all {n:,} corpus documents have karma 0 and no post time "
            "(they were not collected from Reddit links), so there is no karma or post-time "
            "figure."
        )
        groups = {k: v for k, v in groups.items() if cols.has_reddit_metadata(v)}
    if not groups:
        return
    rows, numbers = [], {}
    for name, g in groups.items():
        k = g["karma"]
        first, median, last = _month_quantiles(g["months"])
        numbers[name] = {
            "count": sum(k.values()),
            "karma_min": min(k),
            "karma_median": cols.quantile(k, 0.5),
            "karma_p90": cols.quantile(k, 0.9),
            "karma_max": max(k),
            "karma_3_or_more": sum(n for s, n in k.items() if s >= 3) / sum(k.values()),
            "first_post_month": first,
            "median_post_month": median,
            "last_post_month": last,
        }
        m = numbers[name]
        rows.append([name, f"{m['count']:,}", f"{m['karma_min']:,}", f"{m['karma_median']:,}",
                     f"{m['karma_p90']:,}", f"{m['karma_max']:,}", first, median, last])  # fmt: skip
    sec["numbers"]["reddit"] = numbers
    sec["tables"].append(
        {
            "caption": "Reddit metadata: karma of the best post of each link or document, and "
            "the month of its first post (UTC)",
            "columns": ["group", "count", "karma min", "karma median", "karma p90",
                        "karma max", "first post", "median post", "last post"],
            "rows": rows,
            "notes": [
                "Karma: the highest score among the Reddit posts of the URL (WebText kept "
                "outbound links with karma >= 3). Median and p90 (90th percentile): nearest rank.",
                "links: every link the links stage kept, fetched or not; corpus documents: "
                "those that reached the corpus.",
            ],
        }
    )  # fmt: skip
    karma_reading, time_reading = _reddit_readings(numbers)
    labels = cols.karma_bin_labels()
    binned = {name: cols.karma_bins(g["karma"]) for name, g in groups.items()}
    used = [i for i in range(len(labels)) if any(b[i] for b in binned.values())]
    lo, hi = used[0], used[-1] + 1
    sec["figures"].append(
        {
            "after_table": len(sec["tables"]) - 1,
            "name": "corpus_karma.png",
            "png": figures.share_bars(
                labels[lo:hi],
                {n: b[lo:hi] for n, b in binned.items()},
                "karma of the best post",
                "karma",
            ),  # fmt: skip
            "alt": "Bar chart: share of " + " and of ".join(groups) + " in each karma range "
            f"({labels[lo]} to {labels[hi - 1]}).",
            "reading": karma_reading,
        }
    )
    time_labels, series = cols.time_bins([g["months"] for g in groups.values()])
    unit = "month" if len(time_labels[0]) > 4 else "year"
    sec["figures"].append(
        {
            "after_table": len(sec["tables"]) - 1,
            "name": "corpus_post_time.png",
            "png": figures.share_bars(
                time_labels,
                dict(zip(groups, series, strict=True)),
                f"{unit} of the first post (UTC)",
                "post time",
            ),  # fmt: skip
            "alt": f"Bar chart: share of {' and of '.join(groups)} by {unit} of the first "
            f"Reddit post, {time_labels[0]} to {time_labels[-1]}.",
            "reading": time_reading,
        }
    )


# -- the domain mix ------------------------------------------------------------------------------
def _reference(path: Path | None) -> tuple[list[tuple[str, int]] | None, str | None]:
    if path is None:
        return None, (
            f"{REFERENCE_NAME}'s top domains are not shown: pass --reference-domains PATH "
            "(OpenAI's domains.txt, '<count> <domain>' a line) to set them beside the "
            "corpus's, with their rank correlation."
        )
    try:
        return dom.read_reference_domains(path), None
    except dom.ReferenceDomainsError as exc:
        return None, f"{REFERENCE_NAME}'s top domains are not shown: {exc}."


def _domains(sec: dict[str, Any], hosts: Counter, reference_path: Path | None) -> None:
    counts, host_of = dom.labels_of(hosts)
    total = sum(counts.values())
    mine = dom.ranked(counts)[:TOP_DOMAINS]
    reference, missing = _reference(reference_path)
    ref_rank = {label: i + 1 for i, (label, _) in enumerate(reference or [])}
    ref_total = sum(n for _, n in reference or [])
    theirs = (reference or [])[:TOP_DOMAINS]
    numbers: dict[str, Any] = {
        "corpus_top": [[label, n] for label, n in mine],
        "corpus_domains": len(counts),
        "corpus_hosts": len(hosts),
    }
    columns = ["rank", "corpus domain", "documents", "% of corpus"]
    if reference is not None:
        columns += [f"{REFERENCE_NAME} rank of it", f"{REFERENCE_NAME} domain",
                    f"{REFERENCE_NAME} count", f"% of {REFERENCE_NAME}'s top {len(reference):,}"]  # fmt: skip
        comparison = dom.compare(counts, reference, f"{REFERENCE_NAME}'s list")
        numbers |= {"reference": str(reference_path), "reference_top": [list(x) for x in theirs]}
        numbers |= comparison
    rows = []
    for i in range(max(len(mine), len(theirs))):
        row: list[Any] = [i + 1]
        if i < len(mine):
            label, n = mine[i]
            shown = label if host_of[label] == label else f"{label} ({host_of[label]})"
            row += [shown, f"{n:,}", _pct(n, total)]
            if reference is not None:
                row.append(f"{ref_rank[label]:,}" if label in ref_rank else "not listed")
        else:
            row += ["", "", ""] + ([""] if reference is not None else [])
        if reference is not None:
            row += (
                [theirs[i][0], f"{theirs[i][1]:,}", _pct(theirs[i][1], ref_total)]
                if i < len(theirs)
                else ["", "", ""]
            )
        rows.append(row)
    notes = [
        "Domains are compared by name label, as WebText's list spells them (www.nytimes.com -> "
        "nytimes, x.blogspot.com -> blogspot, news.bbc.co.uk -> bbc); the corpus's hosts with "
        f"one label count together ({len(hosts):,} hosts, {len(counts):,} labels); in "
        "parentheses, the label's most frequent host."
    ]
    if reference is None:
        notes.append(missing)
        reading_tail = f"; {REFERENCE_NAME}'s own mix is not shown (--reference-domains PATH)"
    else:
        c = comparison
        rho = (
            f"Spearman's rank correlation of documents per domain over the {c['domains_in_both']:,} "
            f"domains in both lists: {c['spearman_rho']:.2f}"
            if c["spearman_rho"] is not None
            else f"Spearman's rank correlation of documents per domain is {c['rho_reason']}"
        )
        notes += [
            f"{REFERENCE_NAME}'s list ({reference_path}) holds only its {len(reference):,} most "
            "frequent domains: its % is of the documents of those domains.",
            f"{c['domains_in_both']:,} of the corpus's {len(counts):,} domains are in "
            f"{REFERENCE_NAME}'s top {len(reference):,}, holding "
            f"{_pct(c['corpus_documents_in_listed_domains'], total)} of the corpus's documents.",
            rho + ".",
        ]
        reading_tail = (
            f"; {c['domains_in_both']:,} of its {len(counts):,} domains are in "
            f"{REFERENCE_NAME}'s top {len(reference):,} (whose first is {theirs[0][0]}, "
            f"{_pct(theirs[0][1], ref_total)}), and the rank correlation is "
            + (f"{c['spearman_rho']:.2f}" if c["spearman_rho"] is not None
               else c["rho_reason"].replace("undefined: ", "undefined, as "))
        )  # fmt: skip
    sec["numbers"]["domains"] = numbers
    sec["tables"].append(
        {
            "caption": f"the domain mix: the top {TOP_DOMAINS} domains by documents"
            + (f", beside {REFERENCE_NAME}'s" if reference is not None else ""),
            "columns": columns,
            "rows": rows,
            "notes": notes,
        }
    )
    if not mine:
        return
    labels = [label for label, _ in mine]
    series: dict[str, list[float | None]] = {"corpus": [100 * n / total for _, n in mine]}
    if reference is not None:
        ref = dict(reference)
        series[f"{REFERENCE_NAME} (top {len(reference):,})"] = [
            100 * ref[x] / ref_total if x in ref else None for x in labels
        ]
    top_label, top_n = mine[0]
    sec["figures"].append(
        {
            "after_table": len(sec["tables"]) - 1,
            "name": "corpus_domains.png",
            "png": figures.domain_bars(labels, series, f"top {len(labels)} domains of the corpus"),
            "alt": f"Horizontal bar chart: % of the corpus's documents in each of its top "
            f"{len(labels)} domains"
            + (f", with {REFERENCE_NAME}'s share of the same domain beside it where listed"
               if reference is not None else "")
            + ".",
            "reading": f"The corpus's most frequent domain, {top_label}, holds "
            f"{_pct(top_n, total)} of its {total:,} documents" + reading_tail + ".",
        }
    )  # fmt: skip


# -- archive sources and capture age ---------------------------------------------------------------
def _archive(sec: dict[str, Any], pages_dir: Path | None) -> None:
    found = cols.scan_archive(pages_dir) if pages_dir is not None else None
    # pages/ of schema 2 always has capture_time: null throughout for a live-only fetch
    if found is None or (set(found["sources"]) <= {"live"} and not found["age_days"]):
        return
    sources, ages = found["sources"], found["age_days"]
    total = sum(sources.values())
    sec["numbers"]["archive"] = {
        "pages_per_source": dict(sorted(sources.items())),
        "pages_without_capture_time": found["no_capture"],
    }
    notes = ["source: where the page was read (live: fetched from its site today; cc: Common "
             "Crawl; wayback: the Wayback Machine; warc: a local WARC file)."]  # fmt: skip
    if ages is not None:
        n = sum(ages.values())
        median = cols.quantile(ages, 0.5)
        sec["numbers"]["archive"] |= {
            "pages_with_capture_time": n,
            "capture_age_days_median": median,
            "capture_age_days_min": min(ages) if ages else None,
            "capture_age_days_max": max(ages) if ages else None,
            "capture_age_bins": dict(
                zip((b for b, _, _ in cols.AGE_BINS), cols.age_bins(ages), strict=True)
            ),  # fmt: skip
        }
        notes.append(
            "Capture age: capture time minus the time of the URL's first Reddit post, in whole "
            f"days; {found['no_capture']:,} page(s) have no capture time (fetched live)."
        )
    sec["tables"].append(
        {
            "caption": "pages per source",
            "columns": ["source", "pages", "% pages"],
            "rows": [[s, f"{c:,}", _pct(c, total)] for s, c in dom.ranked(sources)],
            "notes": notes,
        }
    )
    if ages is None or not ages:
        return
    counts = cols.age_bins(ages)
    labels = [b for b, _, _ in cols.AGE_BINS]
    early = counts[0]
    sec["figures"].append(
        {
            "after_table": len(sec["tables"]) - 1,
            "name": "corpus_capture_age.png",
            "png": figures.share_bars(
                labels, {"archived pages": counts}, "capture time minus post time", "capture age"
            ),  # fmt: skip
            "alt": "Bar chart: share of archived pages by capture age, from captured before the "
            "Reddit post to ten years or more after it.",
            "reading": f"The median archived page was captured {median:,} day(s) after its link "
            f"was first posted ({n:,} pages with a capture time"
            + (f"; {early:,} captured before the post" if early else "")
            + ").",
        }
    )


def build_corpus_card(inp: ReportInputs, sec: dict[str, Any]) -> None:
    """Fill the corpus card ``sec`` (tables, figures, numbers) from the stage directories."""
    corpus, stages = _locate(inp)
    scan = cols.scan_corpus(corpus)
    n_docs = sum(scan["documents"].values())
    if not n_docs:
        raise SectionUnavailable(f"corpus {corpus} holds no documents")
    notes: list[str] = []
    tokens = _tokens_stats(stages, n_docs, notes)
    table, split_numbers = _splits_table(scan, tokens, notes)
    sec["numbers"] |= {
        "corpus": str(corpus),
        "stages": {k: str(v) for k, v in sorted(stages.items())},
        "documents": n_docs,
        "tokens": split_numbers["all"]["tokens"],
        "splits": split_numbers,
    }
    sec["tables"].append(table)
    _funnel(sec, stages)
    _reddit(sec, scan, stages.get("links"), notes)
    _domains(sec, scan["hosts"], inp.reference_domains)
    _archive(sec, stages.get("pages"))
