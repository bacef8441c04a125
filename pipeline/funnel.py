"""The corpus funnel: what each stage of a run kept, dropped and why, read from _stats.json.

Every stage directory ends with ``_job.json`` (what produced it), ``_stats.json`` (records
in/out, drops by reason, repairs, stage-specific figures) and ``_SUCCESS`` (written last).
This module finds those directories under a root, reads them defensively (a damaged or
half-written directory becomes a note, never a crash) and orders them in pipeline order so
the records flowing from Reddit links down to tokens can be read at a glance.

Reading is separate from the pure part: ``parse_stats`` and ``build_funnel`` take plain data,
so the arithmetic and the checks (balance, hand-off between stages) are tested without files.
Rendering lives in pipeline/funnel_format.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow.fs as pafs

from pipeline.io import shards
from pipeline.io.stage_names import current_name

# The stages in pipeline order, by the name each directory records (pipeline.io.stage_names;
# names older versions recorded are mapped there), then the products found by their files.
STAGE_ORDER: tuple[str, ...] = (
    "links",
    "pages",
    "docs",
    "dups",
    "corpus",
    "tokens",
    "overlap",
    "overlap-documents",
    "train",
    "eval",
    "report",
)
# A directory that records no stage (neither _job.json nor _stats.json readable) is known by
# its name: these are the directory names that differ from the stage's.
_DIR_NAMES = {"documents": "overlap-documents", "runs": "train", "run": "train"}
_RANK = {stage: i for i, stage in enumerate(STAGE_ORDER)}

# The main line of the funnel: each one's output is the next one's input.
MAIN_LINE = ("links", "pages", "docs", "corpus", "tokens")

# Side outputs: rows another stage set aside (dups/ holds what dedup removed from corpus/);
# their records in/out mean nothing, their row count and reasons do.
SIDE_OUTPUTS = frozenset({"dups"})

# Stages after tokens that write no _stats.json, recognised by the files they do write.
TRAIN_METRICS = "metrics.jsonl"
TRAIN_CONFIG = "train_config.json"
TRAIN_CHECKPOINT = "checkpoint.pt"
EVAL_SUMMARY = "summary.json"
REPORT_JSON = "report.json"
REPORT_INDEX = "index.html"

# _stats.json keys that are not stage-specific figures.
CORE_KEYS = frozenset(
    {
        "records_in",
        "records_out",
        "dropped_total",
        "dropped",
        "repaired",
        "error_samples",
        "shards",
        "stage",
    }
)

COMPLETE = "complete"
IN_PROGRESS = "in progress"
NOT_STARTED = "not started"

MAX_DEPTH = 3


@dataclass
class StageFigures:
    """The numbers of one _stats.json, validated."""

    records_in: int
    records_out: int
    dropped: dict[str, int]
    repaired: dict[str, int] = field(default_factory=dict)
    # Stage-specific groups, e.g. {"tokens_per_split": {"train": 4261}, "retry": {...}}.
    extras: dict[str, dict[str, float]] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    shard_files: int | None = None
    shard_rows: int | None = None
    dropped_total_field: int | None = None

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def unaccounted(self) -> int:
        """Records neither output nor dropped (0 when the stage balances)."""
        return self.records_in - self.records_out - self.dropped_total


@dataclass
class Note:
    """Something the reader should know about a stage or the funnel.

    ``error``: the figures are missing or wrong (unreadable _stats.json, no balance);
    ``warning``: worth a look but not wrong by itself (stale hand-off, leftover temp files);
    ``info``: the state explained (a stage still running has no stats yet)."""

    severity: str
    message: str


@dataclass
class StageReport:
    """One stage directory as found on disk."""

    stage: str  # canonical name (see STAGE_ORDER) or the name the directory gave
    name: str  # the name as written by the stage (_job.json / _stats.json) or the dir name
    path: str
    relpath: str
    state: str
    figures: StageFigures | None = None
    notes: list[Note] = field(default_factory=list)
    temp_files: int = 0
    # train / eval / report: what they did, read from their own files (see *_details).
    details: dict[str, Any] | None = None

    @property
    def side_output(self) -> bool:
        return self.stage in SIDE_OUTPUTS

    @property
    def rank(self) -> int:
        return _RANK.get(self.stage, len(_RANK))

    @property
    def has_error(self) -> bool:
        return any(n.severity == "error" for n in self.notes)


@dataclass
class EndToEnd:
    """From the first main-line stage's input to the last one's output."""

    from_stage: str
    records_in: int
    to_stage: str
    records_out: int

    @property
    def kept_fraction(self) -> float | None:
        return self.records_out / self.records_in if self.records_in else None


@dataclass
class Funnel:
    root: str
    stages: list[StageReport]
    end_to_end: EndToEnd | None
    notes: list[Note] = field(default_factory=list)

    @property
    def has_error(self) -> bool:
        return any(n.severity == "error" for n in self.notes) or any(
            s.has_error for s in self.stages
        )


def canonical_stage(name: str) -> str:
    """The pipeline's name for a stage, given the name its directory recorded (an older
    version's name included) or, lacking one, the directory's name; unknown names unchanged."""
    return _DIR_NAMES.get(name) or current_name(name)


def _count(value: Any, what: str, problems: list[str]) -> int | None:
    # bool is an int subclass; a true/false count is a damaged file, not a 1 or 0.
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer() and value >= 0:
            return int(value)
        problems.append(f"{what} is {value!r}, expected a whole number")
        return None
    if value < 0:
        problems.append(f"{what} is {value}, expected >= 0")
        return None
    return value


def _counts(value: Any, what: str, problems: list[str]) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{what} is {type(value).__name__}, expected an object of counts")
        return {}
    out: dict[str, int] = {}
    for reason, raw in value.items():
        n = _count(raw, f"{what}[{reason!r}]", problems)
        if n is not None:
            out[str(reason)] = n
    return out


def _extras(data: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Stage-specific figures: top-level numbers and objects of numbers (one level deep)."""
    extras: dict[str, dict[str, float]] = {}
    for key, value in sorted(data.items()):
        if key in CORE_KEYS:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            extras.setdefault("", {})[key] = value
        elif isinstance(value, dict):
            numbers = {
                str(k): v
                for k, v in value.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
            if numbers:
                extras[key] = dict(sorted(numbers.items()))
    return extras


def parse_stats(data: Any) -> tuple[StageFigures | None, list[str]]:
    """Validate a decoded _stats.json. Returns the figures (None when records in/out are
    unusable) and a list of problems, each saying which field is wrong and how."""
    problems: list[str] = []
    if not isinstance(data, dict):
        return None, [f"top level is {type(data).__name__}, expected an object"]
    missing = [k for k in ("records_in", "records_out") if k not in data]
    if missing:
        problems.append(f"lacks {' and '.join(missing)}")
    records_in = _count(data.get("records_in"), "records_in", problems) if not missing else None
    records_out = _count(data.get("records_out"), "records_out", problems) if not missing else None
    dropped = _counts(data.get("dropped"), "dropped", problems)
    repaired = _counts(data.get("repaired"), "repaired", problems)
    if records_in is None or records_out is None:
        return None, problems
    samples = data.get("error_samples", [])
    figures = StageFigures(
        records_in=records_in,
        records_out=records_out,
        dropped=dropped,
        repaired=repaired,
        extras=_extras(data),
        error_samples=[str(s) for s in samples] if isinstance(samples, list) else [],
    )
    if "dropped_total" in data:
        figures.dropped_total_field = _count(data["dropped_total"], "dropped_total", problems)
    shard_counts = data.get("shards")
    if isinstance(shard_counts, dict):
        rows = _counts(shard_counts, "shards", problems)
        figures.shard_files, figures.shard_rows = len(rows), sum(rows.values())
    return figures, problems


def check_figures(figures: StageFigures) -> list[Note]:
    """The accounting rule (in == out + dropped) and the totals that must agree with it."""
    notes: list[Note] = []
    if figures.unaccounted != 0:
        notes.append(
            Note(
                "error",
                f"does not balance: in {figures.records_in:,} != out {figures.records_out:,} "
                f"+ dropped {figures.dropped_total:,} ({figures.unaccounted:+,} unaccounted)",
            )
        )
    if (
        figures.dropped_total_field is not None
        and figures.dropped_total_field != figures.dropped_total
    ):
        notes.append(
            Note(
                "error",
                f"dropped_total {figures.dropped_total_field:,} != sum of dropped reasons "
                f"{figures.dropped_total:,}",
            )
        )
    if figures.shard_rows is not None and figures.shard_rows != figures.records_out:
        notes.append(
            Note(
                "error",
                f"shards hold {figures.shard_rows:,} rows but records_out is "
                f"{figures.records_out:,}",
            )
        )
    return notes


# ---- reading directories (the only part that touches the filesystem) ----


def _listing(path: str) -> tuple[pafs.FileSystem, str, list[pafs.FileInfo]] | None:
    fs, p = shards.resolve(path)
    info = fs.get_file_info(p)
    if info.type != pafs.FileType.Directory:
        return None
    return fs, p, fs.get_file_info(pafs.FileSelector(p, recursive=False))


def path_kind(path: str) -> str:
    """ "dir", "file" or "missing" (local paths and pyarrow URIs alike)."""
    fs, p = shards.resolve(path)
    kind = fs.get_file_info(p).type
    if kind == pafs.FileType.Directory:
        return "dir"
    return "missing" if kind == pafs.FileType.NotFound else "file"


def product_kind(names: set[str]) -> str | None:
    """ "train", "eval" or "report" for a directory written by one of those stages (they
    keep no _stats.json), from the files it holds; None for anything else."""
    if TRAIN_METRICS in names:
        return "train"
    if EVAL_SUMMARY in names and "examples" in names:
        return "eval"
    if REPORT_JSON in names and REPORT_INDEX in names:
        return "report"
    return None


def is_stage_dir(names: set[str]) -> bool:
    has_stats = shards.stats_name(names) is not None
    return has_stats or shards.JOB_FILE in names or bool(product_kind(names))


def discover_stage_dirs(root: str, max_depth: int = MAX_DEPTH) -> list[str]:
    """Every directory under ``root`` (``root`` included, at most ``max_depth`` levels down)
    holding _stats.json (or stats.json) or _job.json. Directories ``_*``, ``.*`` (ledgers, caches)
    are not entered."""
    found: list[str] = []

    def walk(directory: str, depth: int) -> None:
        listed = _listing(directory)
        if listed is None:
            return
        _, _, infos = listed
        if is_stage_dir({i.base_name for i in infos}):
            found.append(directory)
        if depth >= max_depth:
            return
        for info in sorted(infos, key=lambda i: i.base_name):
            if info.type == pafs.FileType.Directory and not info.base_name.startswith(("_", ".")):
                walk(shards.join(directory, info.base_name), depth + 1)

    walk(root.rstrip("/") or "/", 0)
    return found


def _read_json(path: str) -> tuple[Any, str | None]:
    try:
        text = shards.read_text(path)
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    except OSError as exc:
        return None, f"cannot be read ({exc})"
    if not text.strip():
        return None, "is empty"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"


def _relative(path: str, root: str) -> str:
    root = root.rstrip("/")
    if path == root:
        return "."
    if path.startswith(root + "/"):
        return path[len(root) + 1 :]
    return path


def read_stage(directory: str, root: str) -> StageReport:
    """One stage directory: its name, state (complete / in progress), figures and notes."""
    listed = _listing(directory)
    names = {i.base_name for i in listed[2]} if listed else set()
    dir_name = directory.rstrip("/").rsplit("/", 1)[-1]
    kind = product_kind(names)
    stats_file = shards.stats_name(names)  # _stats.json, or an older output's stats.json
    if kind is not None and stats_file is None and shards.JOB_FILE not in names:
        return read_product(directory, root, kind, names)
    notes: list[Note] = []
    job_stage = stats_stage = None
    if shards.JOB_FILE in names:
        job, problem = _read_json(shards.join(directory, shards.JOB_FILE))
        if problem:
            notes.append(Note("warning", f"{shards.JOB_FILE} {problem}"))
        elif isinstance(job, dict) and isinstance(job.get("stage"), str):
            job_stage = job["stage"]
    data = None
    if stats_file is not None:
        data, problem = _read_json(shards.join(directory, stats_file))
        if problem:
            notes.append(Note("error", f"{stats_file} {problem}"))
        elif isinstance(data, dict) and isinstance(data.get("stage"), str):
            stats_stage = data["stage"]
    name = job_stage or stats_stage or dir_name
    temp_files = sum(1 for n in names if n.startswith(shards.TMP_PREFIX))
    complete = shards.SUCCESS_MARKER in names
    report = StageReport(
        stage=canonical_stage(name),
        name=name,
        path=directory,
        relpath=_relative(directory, root),
        state=COMPLETE if complete else IN_PROGRESS,
        notes=notes,
        temp_files=temp_files,
    )
    if complete and temp_files:
        notes.append(
            Note("warning", f"_SUCCESS present but {temp_files} temporary file(s) left behind")
        )
    if data is not None:
        figures, problems = parse_stats(data)
        notes.extend(Note("error", f"{stats_file}: {p}") for p in problems)
        if figures is not None:
            report.figures = figures
            notes.extend(check_figures(figures))
            if not complete:
                notes.append(
                    Note(
                        "warning",
                        f"{stats_file} written but no _SUCCESS: the run stopped "
                        "before finishing (rerun it: it resumes)",
                    )
                )
    elif stats_file is None and complete and report.stage != "overlap":
        # `overlap` finishes with tables (sets.json, table.txt) and no _stats.json of its own.
        notes.append(Note("warning", f"complete but no {shards.STATS_FILE}"))
    elif not complete and stats_file is None:
        detail = f", {temp_files} shard(s) being written" if temp_files else ""
        notes.append(Note("info", f"running or stopped: no stats yet{detail}"))
    return report


def _read_jsonl(path: str) -> tuple[list[dict[str, Any]], str | None]:
    try:
        text = shards.read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        return [], f"cannot be read ({exc})"
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            # The last line of a run killed mid-write may be cut short; say so, keep the rest.
            return records, f"line {number} is not valid JSON"
        if isinstance(record, dict):
            records.append(record)
    return records, None


def read_product(directory: str, root: str, kind: str, names: set[str]) -> StageReport:
    """A train run, eval or report directory: what it did, from its own files."""
    notes: list[Note] = []
    details: dict[str, Any] | None = None
    state = IN_PROGRESS
    if kind == "train":
        metrics, problem = _read_jsonl(shards.join(directory, TRAIN_METRICS))
        if problem:
            notes.append(Note("warning", f"{TRAIN_METRICS} {problem}"))
        config = None
        if TRAIN_CONFIG in names:
            config, problem = _read_json(shards.join(directory, TRAIN_CONFIG))
            if problem:
                notes.append(Note("warning", f"{TRAIN_CONFIG} {problem}"))
        details = train_details(metrics, config if isinstance(config, dict) else None)
        asked, done = details["steps_asked"], details["steps_done"]
        finished = done >= asked if asked is not None else TRAIN_CHECKPOINT in names
        state = COMPLETE if finished and TRAIN_CHECKPOINT in names else IN_PROGRESS
    else:
        name = EVAL_SUMMARY if kind == "eval" else REPORT_JSON
        data, problem = _read_json(shards.join(directory, name))
        if problem or not isinstance(data, dict):
            notes.append(Note("error", f"{name} {problem or 'is not a JSON object'}"))
        else:
            details = eval_details(data) if kind == "eval" else report_details(data, REPORT_INDEX)
            state = COMPLETE
    return StageReport(
        stage=kind,
        name=directory.rstrip("/").rsplit("/", 1)[-1],
        path=directory,
        relpath=_relative(directory, root),
        state=state,
        notes=notes,
        details=details,
    )


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return value if ok else None


def train_details(metrics: list[dict[str, Any]], config: dict[str, Any] | None) -> dict[str, Any]:
    """Steps done (and asked, from train_config.json), tokens seen, the last train and
    validation losses, from metrics.jsonl's records."""
    steps = [m for m in metrics if _number(m.get("loss")) is not None]
    vals = [m for m in metrics if _number(m.get("val_loss")) is not None]
    last = steps[-1] if steps else {}
    asked = _number((config or {}).get("steps"))
    return {
        "steps_done": int(_number(last.get("step")) or 0),
        "steps_asked": int(asked) if asked is not None else None,
        "tokens_seen": int(_number(last.get("tokens")) or 0),
        "train_loss": _number(last.get("loss")),
        "val_loss": _number(vals[-1].get("val_loss")) if vals else None,
    }


def eval_details(summary: dict[str, Any]) -> dict[str, Any]:
    """The test sets an eval directory's summary.json scored, with examples and loss."""
    sets = summary.get("sets") if isinstance(summary.get("sets"), list) else []
    return {
        "checkpoint_step": _number(summary.get("checkpoint_step")),
        "sets": [
            {
                "test_set": str(s.get("test_set", "?")),
                "examples": _number(s.get("examples")),
                "loss_per_token": _number(s.get("loss_per_token")),
            }
            for s in sets
            if isinstance(s, dict)
        ],
    }


def report_details(report: dict[str, Any], index: str) -> dict[str, Any]:
    """The sections a report built and those it could not (with why), and its page."""
    sections = report.get("sections") if isinstance(report.get("sections"), list) else []
    not_built = report.get("not_built") if isinstance(report.get("not_built"), dict) else {}
    return {
        "sections_built": len(sections),
        "not_built": {str(k): str(v) for k, v in not_built.items()},
        "index": index,
    }


# ---- the funnel (pure) ----


def _stage_key(report: StageReport) -> tuple[int, str]:
    return report.rank, report.relpath


def build_funnel(root: str, reports: list[StageReport], *, expect_main_line: bool = True) -> Funnel:
    """Order the stages, add not-started main-line stages (when ``expect_main_line``), check
    that each main-line stage read what the one before it wrote, and sum up end to end."""
    stages = sorted(reports, key=_stage_key)
    present = {s.stage for s in stages}
    notes: list[Note] = []
    if expect_main_line and present & set(MAIN_LINE):
        last = max(MAIN_LINE.index(s) for s in present if s in MAIN_LINE)
        for i, stage in enumerate(MAIN_LINE):
            if stage in present:
                continue
            if i > last:
                stages.append(
                    StageReport(stage=stage, name=stage, path="", relpath="-", state=NOT_STARTED)
                )
            else:
                notes.append(Note("warning", f"no {stage} stage directory here (kept elsewhere?)"))
        stages.sort(key=_stage_key)
    by_stage: dict[str, list[StageReport]] = {}
    for s in stages:
        by_stage.setdefault(s.stage, []).append(s)
    for stage, group in by_stage.items():
        if len(group) > 1 and stage in MAIN_LINE:
            notes.append(
                Note(
                    "warning",
                    f"{len(group)} directories claim stage {stage!r} "
                    f"({', '.join(g.relpath for g in group)}); hand-off checks skip it",
                )
            )
    for before, after in zip(MAIN_LINE, MAIN_LINE[1:], strict=False):
        a, b = by_stage.get(before, []), by_stage.get(after, [])
        if len(a) != 1 or len(b) != 1 or a[0].figures is None or b[0].figures is None:
            continue
        if a[0].state != COMPLETE or b[0].state != COMPLETE:
            continue
        out_a, in_b = a[0].figures.records_out, b[0].figures.records_in
        if out_a != in_b:
            notes.append(
                Note(
                    "warning",
                    f"{before} wrote {out_a:,} records but {after} read {in_b:,}: "
                    f"{after} was built from another {before} run (rebuild it)",
                )
            )
    return Funnel(root=root, stages=stages, end_to_end=_end_to_end(by_stage), notes=notes)


def _end_to_end(by_stage: dict[str, list[StageReport]]) -> EndToEnd | None:
    line = [
        by_stage[s][0]
        for s in MAIN_LINE
        if len(by_stage.get(s, [])) == 1 and by_stage[s][0].figures is not None
    ]
    if len(line) < 2:
        return None
    first, last = line[0], line[-1]
    assert first.figures is not None and last.figures is not None
    return EndToEnd(first.stage, first.figures.records_in, last.stage, last.figures.records_out)


def load_funnel(paths: list[str], *, max_depth: int = MAX_DEPTH) -> list[Funnel]:
    """Funnels for the paths given: one per root; stage directories named directly are pooled
    into one funnel (so `stats links/ pages/ docs/` reads as one). Raises FileNotFoundError for
    a path that does not exist and ValueError for one that holds no stage directory."""
    pooled: list[StageReport] = []
    funnels: list[Funnel] = []
    for path in paths:
        kind = path_kind(path)
        if kind == "missing":
            raise FileNotFoundError(f"{path}: no such directory")
        if kind != "dir":
            raise ValueError(f"{path}: is a file; give a run's root or a stage directory")
        listed = _listing(path)
        names = {i.base_name for i in listed[2]} if listed else set()
        if is_stage_dir(names):
            found = discover_stage_dirs(path, max_depth=max_depth)
            # A stage's own sub-stages (overlap/documents) come with it.
            parent = path.rstrip("/").rsplit("/", 1)[0] if "/" in path.rstrip("/") else "."
            pooled.extend(read_stage(d, parent) for d in found)
            continue
        found = discover_stage_dirs(path, max_depth=max_depth)
        if not found:
            raise ValueError(
                f"{path}: holds no stage directory (none with {shards.STATS_FILE} or "
                f"{shards.JOB_FILE} within {max_depth} levels)"
            )
        funnels.append(build_funnel(path, [read_stage(d, path) for d in found]))
    if pooled:
        funnels.insert(0, build_funnel("(stage directories)", pooled, expect_main_line=False))
    return funnels
