"""Which code made a result: the library's source hash, an entry module's import closure, and git.

:func:`source_hash` hashes every library ``.py`` file: caches key on it, so a code change never serves
an old cached result.  Whether a *shipped artifact* is stale is a narrower question: did the code it
depends on change?  :func:`import_closure` answers "which code": the library modules an entry module
imports, directly or through other library modules, found by reading the source (``ast``; imports
inside functions count, since the library imports heavy packages lazily), without importing
anything.  :func:`code_hash` hashes those files; :func:`changed_files` asks git which of them changed
since a commit.

Example:
    >>> files = import_closure(["netgpt_lite.theory.sweep"])
    >>> "theory/sweep.py" in files and "theory/__init__.py" in files and "cli/main.py" not in files
    True
    >>> len(code_hash(files))
    16
"""

from __future__ import annotations

import ast
import functools
import hashlib
import subprocess
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "netgpt_lite"
PACKAGE_DIR = Path(__file__).resolve().parents[1]
BOOKKEEPING = "provenance/"
"""The library folder left out of every import closure: manifests, hashes, the staleness report and the
pipeline, which record and schedule what the rest of the library computes."""


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """sha256 (first 16 hex digits) of the library source: every ``netgpt_lite/**/*.py``, path and bytes.

    Shipped data (``netgpt_lite/data``) is not part of it: artifacts do not change the code's hash.
    Cached for the life of the process (the source does not change under a running program).
    """
    return code_hash(sorted(p.relative_to(PACKAGE_DIR).as_posix() for p in PACKAGE_DIR.rglob("*.py")
                            if p.relative_to(PACKAGE_DIR).parts[0] != "data"))  # fmt: skip


def code_hash(files: Iterable[str], root: Path = PACKAGE_DIR) -> str:
    """sha256 (16 hex digits) over ``files`` (paths relative to the package), each path and its bytes;
    a listed file that does not exist hashes as missing (so a deleted module changes the hash)."""
    return _digest((rel, (root / rel).read_bytes() if (root / rel).is_file() else b"<missing>") for rel in sorted(files))


def _digest(named_bytes: Iterable[tuple[str, bytes]]) -> str:
    """sha256 (16 hex digits) over ``(path, bytes)`` pairs, in the order given: the one format of every code hash."""
    digest = hashlib.sha256()
    for rel, body in named_bytes:
        digest.update(rel.encode() + b"\0" + body + b"\0")
    return digest.hexdigest()[:16]


def _module_file(module: str, root: Path) -> str | None:
    """``netgpt_lite.a.b`` -> ``a/b.py`` or ``a/b/__init__.py`` (relative to the package), if it exists."""
    parts = module.split(".")[1:]
    for rel in (Path(*parts, "__init__.py") if parts else Path("__init__.py"),
                Path(*parts[:-1], parts[-1] + ".py") if parts else None):  # fmt: skip
        if rel is not None and (root / rel).is_file():
            return rel.as_posix()
    return None


def _imports(rel: str, root: Path) -> set[str]:
    """Library modules named by the import statements of one file (relative imports resolved)."""
    tree = ast.parse((root / rel).read_text(), filename=rel)
    here = [PACKAGE, *Path(rel).with_suffix("").parts]
    if here[-1] == "__init__":
        here = here[:-1]
    package = here if rel.endswith("__init__.py") else here[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            subs = {f"{module}.{alias.name}" for alias in node.names}
            found.update(subs)  # `from pkg import submodule`; when every name is one, pkg runs as a parent only
            if not all(_module_file(m, root) for m in subs):
                found.add(module)
    return {m for m in found if m == PACKAGE or m.startswith(PACKAGE + ".")}


def import_closure(entries: Iterable[str], root: Path = PACKAGE_DIR) -> list[str]:
    """The library files that the ``entries`` (dotted module names) import, transitively, sorted.

    The provenance package itself (:data:`BOOKKEEPING`) is left out: it writes the record of how an artifact
    was made (its manifest, which :func:`~netgpt_lite.provenance.content.content_digest` leaves out) and judges
    staleness, and never computes an artifact's numbers, so rewriting it leaves every artifact fresh.

    Importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` too, so parents are included; a parent
    that only re-exports (a docstring, imports and ``__all__``) is not followed into the siblings it
    re-exports, which cannot change what ``a.b.c`` computes.  A package named in an import for a name that is
    not a submodule (``from a.b import f``) is followed in full.

    Raises:
        ValueError: when an entry is not a module of the library.
    """
    todo, seen, followed = [], set(), set()
    for entry in entries:
        if _module_file(entry, root) is None:
            raise ValueError(f"{entry!r} is not a module of {PACKAGE} (looked in {root.name}/)")
        todo.append(entry)
    while todo:
        module = todo.pop()
        parts = module.split(".")
        for k in range(1, len(parts) + 1):  # the module and every parent package
            rel = _module_file(".".join(parts[:k]), root)
            if rel is None or rel.startswith(BOOKKEEPING):
                continue
            seen.add(rel)
            # a parent package that only re-exports runs its submodules' definitions and nothing else (the
            # house rule: nothing happens at import time), so what it re-exports cannot change this module's
            # results; its own file still counts.  A package named in an import is followed in full.
            if rel not in followed and (k == len(parts) or not _is_facade(rel, root)):
                followed.add(rel)
                todo.extend(_imports(rel, root))
    return sorted(seen)


def _is_facade(rel: str, root: Path) -> bool:
    """True when a module's top level is only a docstring, imports and ``__all__``: a re-export facade."""
    tree = ast.parse((root / rel).read_text(), filename=rel)
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if targets and all(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            continue
        return False
    return True


def git_state() -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the checkout the library runs from, or ``(None, None)`` outside git.

    ``dirty`` is True when tracked files of the library's code differ from the commit (so the commit
    alone does not say which code ran; :func:`source_hash` does); the shipped data do not count.
    """
    root = PACKAGE_DIR.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", PACKAGE,
                                 f":(exclude){PACKAGE}/data"],  # artifacts a regenerate has remade are not code
                                cwd=root, capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(status.strip())


@functools.lru_cache(maxsize=64)
def source_hash_at(commit: str, root: Path | None = None) -> str | None:
    """:func:`source_hash` of the library as committed at ``commit`` (a full hash: a commit never changes, so the
    answer is cached; read from git, not the working tree); None when git cannot tell.  A manifest whose ``source_hash`` equals it was made by exactly that commit's
    code, whatever its ``git_dirty`` flag says (older manifests counted remade data as dirty)."""
    root = PACKAGE_DIR.parent if root is None else root
    try:
        names = subprocess.run(["git", "ls-tree", "-r", "--name-only", commit, "--", PACKAGE], cwd=root,
                               capture_output=True, text=True, timeout=30, check=True).stdout.split("\n")
        rels = sorted(n[len(PACKAGE) + 1:] for n in names if n.endswith(".py") and not n.startswith(f"{PACKAGE}/data/"))
        blobs = subprocess.run(["git", "cat-file", "--batch"], cwd=root, capture_output=True, timeout=60, check=True,
                               input="".join(f"{commit}:{PACKAGE}/{r}\n" for r in rels).encode()).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    bodies, at = [], 0
    for _ in rels:  # each blob: "<sha> blob <size>\n<bytes>\n", in the order asked
        header_end = blobs.index(b"\n", at)
        size = int(blobs[at:header_end].split()[2])
        bodies.append(blobs[header_end + 1 : header_end + 1 + size])
        at = header_end + 1 + size + 1
    return _digest(zip(rels, bodies))


def changed_files(commit: str, files: Iterable[str], root: Path | None = None) -> list[str] | None:
    """Which of ``files`` (relative to the package) compute something else at ``commit`` than in the working
    tree, including files that did not exist at ``commit``; ``None`` when git cannot tell (no git, not a
    checkout, or a commit this clone does not have).

    A file whose edits touch only comments, docstrings or layout is not counted (:func:`same_code`): an
    artifact that took hours to make does not go stale because a sentence about it was rewritten.

    Args:
        commit: the commit an artifact's manifest names.
        files: paths relative to the package (an import closure).
        root: the checkout (default: the one the library runs from).
    """
    root = PACKAGE_DIR.parent if root is None else root
    paths = [f"{PACKAGE}/{f}" for f in files]
    try:
        subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=root, capture_output=True,
                       timeout=10, check=True)  # fmt: skip
        diff = subprocess.run(["git", "diff", "--name-only", commit, "--", *paths], cwd=root, capture_output=True,
                              text=True, timeout=30, check=True).stdout.split()  # fmt: skip
        untracked = subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "--", *paths], cwd=root,
                                   capture_output=True, text=True, timeout=30, check=True).stdout.split()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    prefix = f"{PACKAGE}/"
    new = {p for p in untracked if p.startswith(prefix)}
    edited = {p for p in diff if p.startswith(prefix) and p not in new and not _same_as_at(commit, p, root)}
    return sorted(p[len(prefix):] for p in new | edited)


def _same_as_at(commit: str, path: str, root: Path) -> bool:
    """Whether ``path`` (relative to the checkout) in the working tree computes what it did at ``commit``."""
    try:
        old = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=root, capture_output=True, text=True,
                             timeout=30, check=True).stdout  # fmt: skip
        new = (root / path).read_text()
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        return False  # deleted, unreadable or not text: count it as changed
    return path.endswith(".py") and same_code(old, new)


def same_code(old: str, new: str) -> bool:
    """True when two Python sources differ only in comments, docstrings and layout (equal syntax trees once
    every statement that is a bare string is dropped); False when either does not parse.

    Example:
        >>> same_code("def f(x):\\n    'Twice x.'\\n    return 2 * x\\n", "def f(x):  # why\\n    return 2*x\\n")
        True
        >>> same_code("def f(x):\\n    return 2 * x\\n", "def f(x):\\n    return 3 * x\\n")
        False
    """
    try:
        trees = [ast.parse(source) for source in (old, new)]
    except (SyntaxError, ValueError):
        return False
    return ast.dump(_without_docstrings(trees[0])) == ast.dump(_without_docstrings(trees[1]))


def _without_docstrings(tree: ast.AST) -> ast.AST:
    """``tree`` with every bare string statement removed (docstrings, and the attribute docstrings after an
    assignment: statements that compute nothing); an emptied body keeps a ``pass``."""
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if not isinstance(body, list) or not body or not isinstance(body[0], ast.stmt):
                continue
            kept = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                            and isinstance(s.value.value, str))]  # fmt: skip
            setattr(node, name, kept or ([ast.Pass()] if name == "body" else []))
    return tree
