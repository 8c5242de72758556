"""Output paths: every one a command will write is checked before any work starts.

A command lists what it will write in an :class:`OutputPlan` (files, and folders it will fill
with names it can predict, :func:`output_path`) and calls :meth:`OutputPlan.check` before it
loads a model. The check refuses, in one message listing every problem: an output that is one
of the inputs (never allowed), two outputs on the same path, an existing file unless the user
gave ``--overwrite``, a directory where a file goes, and a place that cannot be written (a
parent that is a file, a read-only or missing place that cannot be created). Whether a place is
writable is found out by creating and removing a hidden probe file there: permission bits say
nothing for root, on read-only mounts or immutable folders. The writers then go through a
temporary file and a rename (:func:`emostyle.images.write_image`, :func:`commit`), so nothing
half-written is left.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from emostyle.errors import InputError


class OutputConflict(InputError):
    """Outputs that would replace a file, clash with each other or cannot be written there."""


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe(folder: Path) -> str | None:
    """None when a file can be created in ``folder``, else the system's reason."""
    probe = folder / f".emostyle-probe-{random_hex(4)}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        return exc.strerror or str(exc)
    probe.unlink(missing_ok=True)
    return None


def place_problem(path: Path, probed: dict[Path, str | None] | None = None) -> str | None:
    """Why a file cannot be created at ``path`` (its folder made if needed), or None.

    ``probed`` caches the probe per folder, so a plan of 10,000 pictures probes one folder once.
    """
    if path.is_dir():
        return "is a directory"
    if path.exists() and not os.access(path, os.W_OK):
        return "is read-only"
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        return f"cannot create a folder under {base}: it is a file"
    probed = {} if probed is None else probed
    if base not in probed:
        probed[base] = _probe(base)
    if probed[base] is None:
        return None
    where = "its folder" if base == path.parent else f"{base} (to create {path.parent})"
    return f"cannot write into {where}: {probed[base]}"


@dataclass
class OutputPlan:
    """What one command run will write; :meth:`check` it before any work.

    ``inputs`` are the files the command reads; ``overwrite`` is the user's ``--overwrite``.
    """

    inputs: set[Path] = field(default_factory=set)
    overwrite: bool = False
    _files: list[tuple[Path, str, bool]] = field(default_factory=list)
    _folders: list[tuple[Path, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.inputs = {Path(p).resolve() for p in self.inputs}

    def file(self, path: Path | None, what: str, append: bool = False) -> Path | None:
        """Plan one output file (``what`` names it in messages: ``--log``); None is skipped.

        ``append`` (``--resume``): an existing file is continued, not replaced.
        """
        if path is not None:
            self._files.append((Path(path), what, append))
        return path

    def folder(self, path: Path | None, what: str) -> Path | None:
        """Plan an output folder (made when missing); add its predictable names with file()."""
        if path is not None:
            self._folders.append((Path(path), what))
        return path

    def folder_of(self, path: Path, names: tuple[str, ...], what: str) -> Path:
        """Plan an output folder and the files ``names`` a run writes into it (a report's)."""
        self.folder(path, what)
        for name in names:
            self.file(path / name, what)
        return path

    def named_files(self, files: list[Path], out_dir: Path | None, what: str,
                    tags: list[str] | set[str], suffix: str | None = None) -> None:
        """Plan ``out_dir/<stem>_<tag>`` for every input and every tag it may get
        (see :func:`output_path`); nothing when ``out_dir`` is None.

        When the tag depends on the result (the detected mood), every possible tag is planned,
        so a file a run *might* replace is named before any work.
        """
        if out_dir is None:
            return
        self.folder(out_dir, what)
        for tag in sorted(tags):
            taken: set[Path] = set()
            for f in files:
                self.file(output_path(f, out_dir, tag, set(), taken, suffix), what)

    def problems(self) -> list[str]:
        found: list[str] = []
        seen: dict[Path, str] = {}
        existing: list[str] = []
        probed: dict[Path, str | None] = {}
        unplaceable: dict[str, list[str]] = {}
        bad_folders: set[Path] = set()
        for folder, what in self._folders:
            why = ("is a file, not a folder" if folder.exists() and not folder.is_dir() else
                   place_problem(folder / ".emostyle-output", probed))
            if why:
                found.append(f"{folder} ({what}): {why.replace('its folder', 'it')}")
                bad_folders.add(folder.resolve())
        for path, what, append in self._files:
            key = path.resolve()
            if key.parent in bad_folders:  # said once, for the folder
                continue
            if key in self.inputs:
                found.append(f"{path} ({what}): is one of the inputs; it is never replaced")
                continue
            if key in seen:
                found.append(f"{path} ({what}): also the output of {seen[key]}")
                continue
            seen[key] = what
            why = place_problem(path, probed)
            if why:  # one line per reason: the video, its log and plot in one bad folder
                unplaceable.setdefault(why, []).append(f"{path} ({what})")
            elif path.exists() and not append and not self.overwrite:
                existing.append(f"{path} ({what})")
        found.extend(f"{', '.join(paths)}: {why}" for why, paths in unplaceable.items())
        if existing:
            if len(existing) == 1:
                found.append(f"{existing[0]} already exists (give --overwrite to replace it)")
            else:
                shown = ", ".join(existing[:5]) + (f" and {len(existing) - 5} more"
                                                   if len(existing) > 5 else "")
                found.append(f"{len(existing)} files already exist (give --overwrite to "
                             f"replace them): {shown}")
        return found

    def check(self) -> None:
        """Raise :class:`OutputConflict` listing every problem; nothing has been written."""
        found = self.problems()
        if len(found) == 1:
            raise OutputConflict(f"nothing written: {found[0]}")
        if found:
            raise OutputConflict("nothing written:\n  " + "\n  ".join(found))


def output_path(src: Path, out_dir: Path, tag: str, inputs: set[Path],
                taken: set[Path] | None = None, suffix: str | None = None) -> Path:
    """``out_dir/<stem>_<tag><suffix>``; refuses a path that is one of the inputs.

    The suffix is ``suffix``, else the input's when it is PNG, JPEG or WebP, else ``.png``.
    ``taken`` collects the paths already written in this run: two inputs with the same name
    in different folders get ``_2``, ``_3``... instead of overwriting each other.
    """
    if suffix is None:
        suffix = src.suffix.lower() if src.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp") \
            else ".png"
    dest = out_dir / f"{src.stem}_{tag}{suffix}"
    n = 1
    while taken is not None and dest.resolve() in taken:
        n += 1
        dest = out_dir / f"{src.stem}_{tag}_{n}{suffix}"
    if dest.resolve() in inputs:
        raise InputError(f"{dest}: refusing to overwrite an input file")
    if taken is not None:
        taken.add(dest.resolve())
    return dest


def random_hex(nbytes: int) -> str:
    """What ``secrets.token_hex`` returns, without importing ``secrets`` (and with it hmac and
    OpenSSL's hashes, which a temporary name does not need)."""
    return os.urandom(nbytes).hex()


def temp_beside(path: Path) -> Path:
    """A hidden temporary name in ``path``'s folder, so the final rename is atomic."""
    return path.parent / f".{path.name}.{random_hex(6)}.tmp"


def write_text(path: Path, text: str, overwrite: bool = True) -> Path:
    """``path.write_text(text)`` through a temporary file and a rename (:func:`commit`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        return commit(tmp, path, overwrite)
    finally:
        tmp.unlink(missing_ok=True)


def commit(tmp: Path, path: Path, overwrite: bool = True) -> Path:
    """Move a finished temporary file into place; without ``overwrite`` never replace a file.

    The no-replace move is a hard link (atomic: it fails when ``path`` appeared meanwhile),
    with a checked rename where the file system has no hard links.
    """
    try:
        if overwrite:
            os.replace(tmp, path)
            return path
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise InputError(f"{path}: already exists, not replaced (give --overwrite)"
                             ) from None
        except OSError:  # no hard links here (some network and FAT file systems)
            if path.exists():
                raise InputError(f"{path}: already exists, not replaced (give --overwrite)"
                                 ) from None
            os.replace(tmp, path)
            return path
        tmp.unlink(missing_ok=True)
        return path
    finally:
        if tmp.exists() and tmp != path:
            tmp.unlink(missing_ok=True)
