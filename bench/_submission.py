"""Published submissions and their verifications as files under ``leaderboards/``.

One file per submission, ``<track>/<tier>/<submission_id>.jsonl``: a header line, then one line per cell::

    {"kind": "privbench-submission", "format": 2, "submission_id": ..., "track": ..., "tier": ...,
     "title", "paper", "code", "submitted_at", "supersedes": [ids],
     "plugins": {distribution: version},            # the submitter's plugins the cells ran
     "harness": {privbench_version, git_commit, python, torch},   # the harness that validated the submission
     "migrated_from": null | "..."}
    {"record": {<result record, metrics as the harness recomputed them>}, "roc": {"fpr": [...], "tpr": [...]}}

The id hashes the header (less ``submitted_at`` and the id itself) and every cell line, so the same cells under
another title are another submission, an identical re-submission is refused, and an edited file no longer hashes
to its name. A file is written once and never rewritten; superseding is a new submission naming the old one.

Verifications are separate files, ``<track>/<tier>/verifications/<submission_id>__<run_id[:12]>__<id>.json``,
written by ``verify`` alone (:mod:`bench.verify`); nothing inside a submission can mark it verified.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ._record import Record, finite_number

__all__ = [
    "FORMAT", "KIND", "VERIFICATION_KIND", "SubmissionError", "Header", "PublishedCell", "SubmissionFile",
    "check_name", "title_key", "same_title", "reads_as_first_party", "cell_line", "submission_id", "write_submission", "read_submission", "iter_submissions",
    "write_verification", "iter_verifications", "roc_problem", "finite_number", "text_problems", "FIRST_PARTY_TITLE", "BOOK", "booked_parts",
]

FORMAT = 2  # format 1: one JSON entry per cell (bench._migrate converts it)
KIND = "privbench-submission"
VERIFICATION_KIND = "privbench-verification"
ID_CHARS = 16
VERIFICATIONS = "verifications"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")
_ID = re.compile(rf"^[0-9a-f]{{{ID_CHARS}}}$")


class SubmissionError(ValueError):
    """A submission or verification file that cannot be written or read as it is."""


def check_name(what: str, value: Any) -> str:
    """``value`` if it is a plain name that cannot leave a folder, else ValueError naming it."""
    if not isinstance(value, str) or not _SAFE_NAME.match(value) or ".." in value:
        raise ValueError(f"{what} name {value!r} is not a plain name (letters, digits, '_', '.', '+', '-', "
                         "no '..'); refusing to write it")
    return value


@dataclass(frozen=True)
class Header:
    track: str
    tier: str
    title: str | None = None
    paper: str | None = None
    code: str | None = None
    submitted_at: str | None = None
    supersedes: tuple[str, ...] = ()
    plugins: dict[str, str | None] = field(default_factory=dict)
    harness: dict[str, Any] = field(default_factory=dict)
    migrated_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "format": FORMAT, "track": self.track, "tier": self.tier, "title": self.title,
                "paper": self.paper, "code": self.code, "submitted_at": self.submitted_at,
                "supersedes": sorted(self.supersedes), "plugins": dict(sorted(self.plugins.items())),
                "harness": dict(self.harness), "migrated_from": self.migrated_from}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> "Header":
        if data.get("kind") != KIND or data.get("format") != FORMAT:
            raise SubmissionError(f"{where}: not a privbench submission of format {FORMAT} (kind {data.get('kind')!r}, "
                                  f"format {data.get('format')!r}); upgrade privbench")
        keys = ("track", "tier", "title", "paper", "code", "submitted_at", "plugins", "harness", "migrated_from")
        old = data.get("supersedes") or []
        if not isinstance(old, list) or not all(isinstance(i, str) and _ID.match(i) for i in old):
            raise SubmissionError(f"{where}: 'supersedes' must be a list of submission ids, not {old!r}")
        for k in keys:  # the boards hash and print these: a list as a title stopped every build (adversarial review)
            want = _HEADER_TYPES[k]
            if k in data and not isinstance(data[k], want):
                kinds = " or ".join("null" if t is type(None) else {str: "a string", dict: "an object"}[t] for t in want)
                raise SubmissionError(f"{where}: '{k}' must be {kinds}, not {data[k]!r}")
        plugins = data.get("plugins") or {}
        if not all(isinstance(v, (str, type(None))) for v in plugins.values()):
            raise SubmissionError(f"{where}: 'plugins' maps each distribution to its version (a string or null), not {plugins!r}")
        for problem in text_problems(**{k: data.get(k) for k in TEXT_LIMITS}):
            raise SubmissionError(f"{where}: {problem}")
        for name, version in plugins.items():
            for problem in text_problems(plugin=name, version=version):
                raise SubmissionError(f"{where}: 'plugins': {problem}")
        return cls(**{k: data.get(k) for k in keys if k in data}, supersedes=tuple(old))

    def may_supersede(self, old: "Header") -> bool:
        """Whether this submission's ``supersedes`` is honoured for ``old``: a title is all a file says of who
        submitted it, so the same (non-empty) title, the same track and tier, and the same plugin distributions."""
        return bool(title_key(self.title)) and same_title(self.title, old.title) and \
            (self.track, self.tier, set(self.plugins)) == (old.track, old.tier, set(old.plugins))


_HEADER_TYPES: dict[str, tuple[type, ...]] = {"track": (str,), "tier": (str,), "plugins": (dict,), "harness": (dict,),
                                               **{k: (str, type(None)) for k in ("title", "paper", "code", "submitted_at", "migrated_from")}}
# The header's free text, as the boards print it: one line of printable characters, at most this long. A title whose
# direction overrides (U+202E) swapped two letter pairs displayed as ours while every comparison read it apart, and
# a 1 MB title was repeated in every row of the site (adversarial review).
TEXT_LIMITS = {"title": 200, "paper": 500, "code": 500, "submitted_at": 64, "migrated_from": 500}


def text_problems(**fields: Any) -> list[str]:
    """Why each of ``fields`` (name=value; None is fine) cannot be printed on a board as it is (empty: all can)."""
    out = []
    for name, value in fields.items():
        if value is None:
            continue
        limit = TEXT_LIMITS.get(name, 200)
        if not isinstance(value, str):
            out.append(f"{name!r} must be text, not {type(value).__name__}")
        elif len(value) > limit:
            out.append(f"{name!r} is {len(value):,} characters long, over the {limit} a board prints: shorten it")
        elif not value.isprintable():
            bad = next(ch for ch in value if not ch.isprintable())
            out.append(f"{name!r} holds U+{ord(bad):04X} ({unicodedata.name(bad, 'unassigned')}), which prints nothing or changes "
                       "how the text around it displays: write it in plain printable characters")
    return out


FIRST_PARTY_TITLE = "privbench first-party baselines"  # our own parts' title (scripts/publish_parts.py)
BOOK = "republish.json"  # under the boards' root: {commit: {track: {"parts": [submission id, ...]}}}, committed by us


def booked_parts(root: str | os.PathLike[str]) -> frozenset[str]:
    """The submission ids the maintainers' book (``republish.json``) lists as first-party parts. A file cannot make
    itself first-party: the title is anyone's to write, the book only the repository's reviewers'."""
    import json

    path = Path(root) / BOOK
    try:
        book = json.loads(path.read_text()) if path.is_file() else {}
        return frozenset(str(sid) for tracks in book.values() for entry in tracks.values() for sid in entry.get("parts", []))
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise SubmissionError(f"{path}: not a book of parts ({exc}): it maps commit -> track -> {{\"parts\": [ids]}}") from exc


def title_key(title: str | None) -> str:
    """A title as it reads (NFKC, format characters such as U+200B dropped, case-folded, each look-alike of a Latin
    letter mapped to it as in Unicode TR39's skeleton, whitespace collapsed): two titles that read the same are one
    submitter's, so a look-alike of ours (a Cyrillic 'а', a zero-width space) is superseded like an exact copy."""
    text = unicodedata.normalize("NFKD", str(title or ""))
    # marks (combining, variation selectors), format characters and blank letters (Hangul fillers, the Braille
    # blank) add nothing a reader sees; every dash reads as '-' (a re-attack used U+2010, U+2011, U+2212)
    text = "".join("-" if unicodedata.category(ch) == "Pd" or ch == "\u2212" else ch for ch in text
                   if unicodedata.category(ch) not in _UNSEEN and ch not in _BLANK_LETTERS).casefold()
    return " ".join("".join(_latin(ch) for ch in text).split())


_UNSEEN = ("Mn", "Me", "Cf", "Cn", "Co", "Cc", "Cs")  # marks, format, unassigned (U+2065 renders as nothing), private, control
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")  # Hangul fillers and the Braille blank: letters that print nothing
_EXTRA_LATIN = {"\u0131": "i", "\u0251": "a", "\u0269": "i", "\u0261": "g", "\u028f": "y"}  # look-alikes TR39 data misses


@functools.lru_cache(maxsize=4096)
def _latin(ch: str) -> str:
    """The ASCII character ``ch`` is confusable with (TR39 data of ``confusable-homoglyphs``), else ``ch``."""
    from confusable_homoglyphs import confusables

    if ch.isascii():
        return ch
    if ch in _EXTRA_LATIN:
        return _EXTRA_LATIN[ch]
    for item in confusables.is_confusable(ch, preferred_aliases=["latin"], greedy=True) or []:
        for glyph in item.get("homoglyphs", []):
            if glyph["c"].isascii():
                return glyph["c"].casefold()
    return ch


def same_title(a: str | None, b: str | None) -> bool:
    return title_key(a) == title_key(b)


def reads_as_first_party(title: str | None) -> bool:
    """Whether ``title`` reads as, or nearly as, :data:`FIRST_PARTY_TITLE`: the same :func:`title_key`, or its letters
    and digits (each first mapped to the Latin letter it looks like, symbols such as APL iota included) hold ours
    within an edit distance of 3, whatever words surround them. Exact look-alike tables always miss some (re-attacks
    found 292 titles :func:`title_key` kept apart, then symbols dropped before mapping, then added words)."""
    import html

    ours = _letters(FIRST_PARTY_TITLE)
    # as written, and as markdown shows it: a character reference (&zwnj;) reads as four letters, displays as none
    return any(same_title(t, FIRST_PARTY_TITLE) or _distance_within(ours, _letters(t)) <= 3 for t in {title, html.unescape(str(title or ""))})


def _letters(title: str | None) -> str:
    text = unicodedata.normalize("NFKD", str(title or ""))
    mapped = "".join(_latin_letter(ch) for ch in text if unicodedata.category(ch) not in _UNSEEN and ch not in _BLANK_LETTERS)
    return "".join(ch for ch in mapped.casefold() if unicodedata.category(ch)[0] in "LN")


@functools.lru_cache(maxsize=4096)
def _latin_letter(ch: str) -> str:
    """``ch`` as the Latin letter it looks like: TR39's data, else its name (LATIN LETTER SMALL CAPITAL C: c)."""
    got = _latin(ch)
    if got != ch or ch.isascii():
        return got
    m = re.match(r"LATIN (?:SMALL |CAPITAL )?LETTER (?:SMALL CAPITAL |DOTLESS |LONG )?([A-Z])$", unicodedata.name(ch, ""))
    return m.group(1).lower() if m else ch


def _distance_within(pattern: str, text: str) -> int:
    """The least edit distance between ``pattern`` and any stretch of ``text`` (Sellers' dynamic programme)."""
    row = list(range(len(pattern) + 1))
    best = row[-1]
    for ct in text:
        prev, row[0] = row[0], 0  # a match may start anywhere in the text
        for j, cp in enumerate(pattern, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (cp != ct))
        best = min(best, row[-1])
    return best


@dataclass(frozen=True)
class PublishedCell:
    record: Record
    roc: dict[str, list[float]] | None = None


@dataclass(frozen=True)
class SubmissionFile:
    header: Header
    cells: tuple[PublishedCell, ...]
    submission_id: str  # as the file names itself
    intact: bool  # the content still hashes to that id


def cell_line(record: Record, roc: dict[str, list[float]] | None) -> dict[str, Any]:
    """The JSON of one cell: its record (no run-folder details: ``error``, ``scores_file``) and its ROC points."""
    rec = {k: v for k, v in record.to_dict().items() if k not in ("error", "scores_file")}
    return {"record": rec, "roc": roc}


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def submission_id(header: dict[str, Any], cells: Iterable[dict[str, Any]]) -> str:
    """The id of a submission: a hash of its header (less ``submission_id``, ``submitted_at``) and its cell lines."""
    head = {k: v for k, v in header.items() if k not in ("submission_id", "submitted_at")}
    digest = hashlib.sha256(_canonical(head).encode())
    for cell in cells:
        digest.update(b"\n" + _canonical(cell).encode())
    return digest.hexdigest()[:ID_CHARS]


def _folder(root: str | os.PathLike[str], track: str, tier: str) -> Path:
    folder = Path(root) / check_name("track", track) / check_name("budget tier", tier)
    if not folder.resolve().is_relative_to(Path(root).resolve()):
        raise ValueError(f"{folder} leaves the leaderboard root {root}")
    return folder


def _write_new(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` only if nothing is there: a published file is never replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # a file to commit, readable like the rest of the repository
        os.link(tmp, path)  # fails if ``path`` exists, unlike a rename; readers never see half a file
    except FileExistsError:
        raise SubmissionError(f"{path} already exists: an identical submission is already published") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_submission(root: str | os.PathLike[str], header: Header, cells: list[dict[str, Any]]) -> tuple[str, Path]:
    """Write a new submission file; returns (submission id, path). Refuses to replace an existing file."""
    head = header.to_dict()
    sid = submission_id(head, cells)
    path = _folder(root, header.track, header.tier) / f"{sid}.jsonl"
    lines = [{"submission_id": sid, **head}, *cells]
    _write_new(path, "".join(json.dumps(x, sort_keys=True, allow_nan=False) + "\n" for x in lines))
    return sid, path


MAX_CELLS = 4096  # a whole board (16 attacks x 15 defenses x 2 seeds) is 480
MAX_FILE_BYTES = 64 * 2**20  # a part of 480 cells is 2.7 MB; a link to /dev/zero must not fill the memory


def _plain_file(path: Path) -> None:
    """A regular file of bounded size, not a link (which could name /dev/zero or a file outside the boards)."""
    import stat

    try:
        st = path.lstat()
    except OSError as exc:
        raise SubmissionError(f"{path}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise SubmissionError(f"{path}: not a regular file (a link, a folder or a device): the boards hold plain files only")
    if st.st_size > MAX_FILE_BYTES:
        raise SubmissionError(f"{path}: {st.st_size:,} bytes, over the {MAX_FILE_BYTES:,} a submission may hold")


def read_submission(path: str | os.PathLike[str]) -> SubmissionFile:
    path = Path(path)
    _plain_file(path)
    try:
        lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    except (ValueError, OSError, RecursionError) as exc:  # RecursionError: arrays nested thousands deep
        raise SubmissionError(f"{path}: not JSON lines ({type(exc).__name__}: {exc})") from None
    if not lines or not isinstance(lines[0], dict):
        raise SubmissionError(f"{path}: empty, or its first line is not a submission header")
    head, cells = lines[0], lines[1:]
    header = Header.from_dict(head, str(path))
    sid = head.get("submission_id")
    if not isinstance(sid, str) or not _ID.match(sid) or path.stem != sid:
        raise SubmissionError(f"{path}: its header's submission_id {sid!r} does not name the file")
    if not cells:  # it could only supersede: a file of no cells must not take a submission off the board
        raise SubmissionError(f"{path}: a submission holds at least one cell")
    if len(cells) > MAX_CELLS:  # 8,000 hand-written rows buried a board and took a build 73 s (adversarial review)
        raise SubmissionError(f"{path}: {len(cells):,} cells, over the {MAX_CELLS:,} one submission may hold: submit it in parts")
    published = []
    for i, cell in enumerate(cells, 2):
        if not isinstance(cell, dict) or not isinstance(cell.get("record"), dict):
            raise SubmissionError(f"{path}:{i}: a cell line holds its result record under 'record'")
        roc = cell.get("roc")
        why = roc_problem(roc)
        if why:  # the site draws it: one bad curve stopped every build (adversarial review)
            raise SubmissionError(f"{path}:{i}: 'roc' {why}")
        published.append(PublishedCell(Record.from_dict(cell["record"], f"{path}:{i}"), roc))
    try:
        intact = submission_id(head, cells) == sid
    except ValueError as exc:  # NaN or infinity in a cell: no submit wrote it
        raise SubmissionError(f"{path}: {exc}") from None
    return SubmissionFile(header, tuple(published), sid, intact=intact)


def iter_submissions(root: str | os.PathLike[str], refuse: Callable[[Path, str], None] | None = None) -> list[tuple[Path, SubmissionFile]]:
    """Every submission under ``root``, in a stable order. Per-cell JSON entries (format 1) are refused with the
    command that migrates them. A file that cannot be read as a submission raises SubmissionError naming it, or, given
    ``refuse``, is passed to ``refuse(path, message)`` and skipped (one hand-made file must not stop a build)."""
    def fail(path: Path, message: str) -> None:
        if refuse is None:
            raise SubmissionError(message)
        refuse(path, message)

    old = sorted(Path(root).glob("*/*/*__seed*__*.json"))  # <defense>__<attack>__seed<k>__<run id>.json
    if old:
        fail(old[0], f"{old[0]} (and {len(old) - 1} more) are per-cell entries of format 1: convert them "
                     f"once with `python -m bench._migrate {root}`")
    out = []
    for p in sorted(Path(root).glob("*/*/*.jsonl")):
        try:
            sub = read_submission(p)
        except Exception as exc:  # SubmissionError, a cell's RecordError, or whatever else a hand-written value raised
            if refuse is None:
                raise
            refuse(p, str(exc) if isinstance(exc, ValueError) else f"{p}: {type(exc).__name__}: {exc}")
            continue
        # A board reads a file's track and tier from its header and cells, --supersedes from its folder: all must agree
        where = {(p.parent.parent.name, p.parent.name), (sub.header.track, sub.header.tier),
                 *((c.record.track.name, c.record.budget.tier) for c in sub.cells)}
        if len(where) > 1:
            fail(p, f"{p}: its folder, header and cells name different (track, tier): {sorted(where, key=str)}; "
                    "a submission lives in <root>/<track>/<tier>/ and holds that board's cells only")
            continue
        out.append((p, sub))
    return out


def write_verification(root: str | os.PathLike[str], track: str, tier: str, data: dict[str, Any]) -> Path:
    """Write one verification file (never replacing another); ``data`` holds submission_id and run_id."""
    body = {"kind": VERIFICATION_KIND, "format": 1, **data}
    vid = hashlib.sha256(_canonical(body).encode()).hexdigest()[:12]
    name = f"{check_name('submission', body['submission_id'])}__{check_name('run id', str(body['run_id'])[:12])}__{vid}.json"
    path = _folder(root, track, tier) / VERIFICATIONS / name
    _write_new(path, json.dumps(body, indent=1, sort_keys=True, allow_nan=False) + "\n")
    return path


MAX_ROC_POINTS = 100_000


def roc_problem(roc: Any) -> str | None:
    """Why a cell's ``roc`` cannot be drawn (None: it can, or there is none): ``{"fpr": [...], "tpr": [...]}``, two
    equal-length lists of 2 to ``MAX_ROC_POINTS`` finite numbers in [0, 1], ``fpr`` non-decreasing."""
    if roc is None:
        return None
    if not isinstance(roc, dict) or not isinstance(roc.get("fpr"), list) or not isinstance(roc.get("tpr"), list):
        return 'must be {"fpr": [...], "tpr": [...]} or absent'
    fpr, tpr = roc["fpr"], roc["tpr"]
    if len(fpr) != len(tpr) or not 2 <= len(fpr) <= MAX_ROC_POINTS:
        return f"needs fpr and tpr of one length, 2 to {MAX_ROC_POINTS:,} points (has {len(fpr)} and {len(tpr)})"
    for v in (*fpr, *tpr):
        if not finite_number(v) or not 0.0 <= v <= 1.0:
            return f"holds {v!r}: every rate is a number in [0, 1]"
    if any(b < a for a, b in zip(fpr, fpr[1:])):
        return "has a decreasing fpr"
    return None


_VERIFICATION_TYPES = {"submission_id": str, "run_id": str, "agree": bool, "hardware": str, "device": (str, type(None)),
                       "verified_at": (str, type(None)), "record": (dict, type(None)), "agreement": (dict, type(None))}


def iter_verifications(root: str | os.PathLike[str]) -> list[tuple[Path, dict[str, Any]]]:
    """Every verification file under ``root`` that reads as one (others are not verifications and are skipped, as is
    one whose fields have the wrong types: a hand-written ``hardware`` list stopped every build)."""
    out = []
    for path in sorted(Path(root).glob(f"*/*/{VERIFICATIONS}/*.json")):
        try:
            _plain_file(path)
            data = json.loads(path.read_text())
        except (ValueError, OSError, RecursionError):
            continue
        if isinstance(data, dict) and data.get("kind") == VERIFICATION_KIND and data.get("format") == 1 and \
                all(isinstance(data.get(k, ""), t) for k, t in _VERIFICATION_TYPES.items()) and \
                not text_problems(**{k: data.get(k) for k in ("hardware", "device", "verified_at")}):  # the boards print them
            out.append((path, data))
    return out
