"""The API reference covers the public face: every rnnflow name the README and the docs use (in
their Python code, their inline code and their cross-references) and every name a public package
exports is documented on an API page, and every documented name exists.

No Sphinx build: the pages are parsed for autodoc directives, the code with ``ast``. A name counts
as documented when the object it resolves to is documented under any name, so a re-export
documented under its defining module counts (cross-references are the exception: Sphinx resolves
them by name, so they must name a documented target)."""
from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import re
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.glob("*.md")) + sorted(DOCS.glob("*.rst"))
PROSE = PAGES + [ROOT / "README.md"]
GALLERY = sorted((DOCS / "gallery").glob("*.py"))

# the packages the docs present; one without __all__ exports its `from .x import a as a` re-exports
# and the public names it defines (the Equinox convention, STYLE.md)
PUBLIC_PACKAGES = ("rnnflow", "rnnflow.analysis", "rnnflow.training", "rnnflow.plotting", "rnnflow.diagnosis",
                   "rnnflow.sweep", "rnnflow.studies", "rnnflow.tasks", "rnnflow.torch", "rnnflow.jax")
# exported names that need no page of their own, each with its reason
NOT_DOCUMENTED = {
    "rnnflow.__version__": "the version string",
}
# names the docs use that are not API, each with its reason
NOT_API = {
    "rnnflow._backend.load": "design.md describes the private lazy loader the core reaches a backend through",
}
BACKENDS = {"rnnflow.torch": "torch", "rnnflow.jax": "jax"}   # skipped where the framework is not installed

_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), tuple, frozenset)


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _skipped(dotted: str) -> bool:
    return any((dotted == p or dotted.startswith(p + ".")) and not _installed(f)
               for p, f in BACKENDS.items())


_MISSING = object()


def resolve(dotted: str, *, modules_first: bool = False):
    """The object ``dotted`` names, or _MISSING. As Python does, an attribute wins over a submodule
    of the same name (``rnnflow.analysis.mean_field`` is the function); ``modules_first``, as
    autodoc does, imports the longest importable prefix as a module (there, the module)."""
    parts = dotted.split(".")
    try:
        obj = importlib.import_module(parts[0])
    except ImportError:
        return _MISSING
    start = 1
    if modules_first:
        for i in range(len(parts), 1, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            start = i
            break
    for i, part in enumerate(parts[start:], start):
        if hasattr(obj, part):
            obj = getattr(obj, part)
        elif isinstance(obj, types.ModuleType):
            try:
                obj = importlib.import_module(".".join(parts[:i + 1]))
            except ImportError:
                return _MISSING
        else:
            return _MISSING
    return obj


def key(obj, dotted: str):
    """What a use and a documented entry are matched by: the object itself; for a plain value
    (a tuple of names, an int) also its name, since equal small values may be one object."""
    if isinstance(obj, _IMMUTABLE):
        return ("value", dotted.rsplit(".", 1)[-1], id(obj))
    return ("object", id(obj))


# ---- what the API pages document -------------------------------------------------------------

_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. (?P<kind>auto\w+|currentmodule|module)::\s*(?P<target>\S*)\s*$")
_MYST_FENCE = re.compile(r"^(?P<fence>```+|~~~+)\{(?P<kind>[\w-]+)\}\s*(?P<target>\S*)\s*$")


def _rst_blocks(path: pathlib.Path):
    """(reST text, first line number) of a page: the whole .rst, or a .md's {eval-rst} blocks and
    MyST autodoc fences rewritten as directives."""
    lines = path.read_text().splitlines()
    if path.suffix == ".rst":
        yield "\n".join(lines), 1
        return
    i = 0
    while i < len(lines):
        m = _MYST_FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith(m["fence"])), len(lines))
        body = lines[i + 1:end]
        if m["kind"] == "eval-rst":
            yield "\n".join(body), i + 2
        elif m["kind"].startswith("auto") or m["kind"] in ("currentmodule", "module"):
            yield "\n".join([f".. {m['kind']}:: {m['target']}"] + ["   " + b for b in body]), i + 1
        i = end + 1


def _directives(text: str):
    """(kind, target, options, content lines, line) for each directive of interest in reST text."""
    lines = text.splitlines()
    for n, line in enumerate(lines):
        m = _DIRECTIVE.match(line)
        if not m:
            continue
        indent = len(m["indent"])
        body = []
        for nxt in lines[n + 1:]:
            if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                break
            body.append(nxt.strip())
        options, content, current = {}, [], None
        for b in body:
            opt = re.match(r"^:([\w-]+):\s*(.*)$", b)
            if opt and not content:
                current = opt[1]
                options[current] = opt[2]
            elif b and current is not None and not content and not b.startswith(":"):
                options[current] += " " + b   # a wrapped option value
            elif b:
                content.append(b)
            else:
                current = None
        yield m["kind"], m["target"], options, content, n


def _attr_docs(obj) -> set[str]:
    """Names assigned in a module's or a class's body that autodoc finds a doc for (a ``#:``
    comment, or a string after the assignment)."""
    try:
        source = inspect.cleandoc("\n" + inspect.getsource(obj)) if isinstance(obj, type) else inspect.getsource(obj)
    except (OSError, TypeError):
        return set()
    lines = source.splitlines()
    tree = ast.parse(source)
    body = tree.body[0].body if isinstance(obj, type) else tree.body
    found = set()
    for stmt, nxt in zip(body, body[1:] + [None]):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if not names:
            continue
        before = lines[stmt.lineno - 2].strip() if stmt.lineno > 1 else ""
        doc_after = isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)
        if before.startswith("#:") or "#:" in lines[stmt.lineno - 1] or doc_after:
            found.update(names)
    return found


def _has_doc(obj) -> bool:
    """Whether autodoc would find a docstring (an instance showing its type's doc has none)."""
    doc = inspect.getdoc(obj)
    return bool(doc) and not (not isinstance(obj, type) and doc == inspect.getdoc(type(obj)))


def _shown(name: str, obj, undoc: bool, attr_docs: set[str]) -> bool:
    """Whether autodoc shows member ``name`` of ``parent``: only with a docstring or a doc comment
    (an explicit ``:members:`` list does not change that), unless ``:undoc-members:``."""
    return undoc or name in attr_docs or (not isinstance(obj, _IMMUTABLE) and _has_doc(obj))


def _module_members(module, names: str, undoc: bool):
    """The members ``automodule :members: names`` documents (all of them when ``names`` is empty:
    the module's __all__, or what it defines itself), as autodoc filters them."""
    explicit = [n.strip() for n in names.split(",") if n.strip()]
    if explicit:
        candidates = explicit
    elif hasattr(module, "__all__"):
        candidates = list(module.__all__)
    else:   # what the module defines: its functions and classes, and values with a doc comment
        candidates = [n for n, v in vars(module).items() if not n.startswith("_") and (
            getattr(v, "__module__", None) == module.__name__ or n in _attr_docs(module))]
    attr_docs = _attr_docs(module)
    for name in candidates:
        obj = getattr(module, name, _MISSING)
        yield name, obj, obj is _MISSING or _shown(name, obj, undoc, attr_docs)


def documented():
    """{dotted name: (object, where)} of every object an API page documents, and the entries that
    document nothing ({dotted name: where})."""
    names, stale = {}, {}
    for page in PAGES:
        for text, first in _rst_blocks(page):
            current = None
            for kind, target, options, content, n in _directives(text):
                where = f"{page.relative_to(ROOT)}:{first + n}"
                if kind in ("currentmodule", "module"):
                    current = target or None
                    continue
                targets = [target] if target else []
                if kind == "autosummary":
                    targets = [c for c in content if not c.startswith("..")]
                for t in targets:
                    dotted = t if t.startswith("rnnflow") or current is None else f"{current}.{t}"
                    if _skipped(dotted):
                        continue
                    obj = resolve(dotted, modules_first=True)
                    if obj is _MISSING:
                        stale[dotted] = where
                        continue
                    names[dotted] = (obj, where)
                    if "members" not in options:
                        continue
                    undoc = "undoc-members" in options
                    if isinstance(obj, types.ModuleType):
                        members = _module_members(obj, options["members"], undoc)
                    else:
                        attr_docs = _attr_docs(obj)
                        members = [(m, getattr(obj, m, _MISSING)) for m in
                                   (m.strip() for m in options["members"].split(",")) if m]
                        members = ((m, v, v is _MISSING or _shown(m, v, undoc, attr_docs)) for m, v in members)
                    for name, member, shown in members:
                        if member is _MISSING or not shown:
                            stale[f"{dotted}.{name}"] = where + ("" if member is _MISSING else " (no docstring: autodoc skips it)")
                        else:
                            names[f"{dotted}.{name}"] = (member, where)
    return names, stale


# ---- what the README and the docs use --------------------------------------------------------

_FENCE = re.compile(r"^(```+|~~~+)\s*(?:\{code-block\}\s*)?(python|py|python3)\s*$")
_RST_CODE = re.compile(r"^(\s*)\.\. (?:code-block|code|sourcecode):: (?:python|py|python3)\s*$")
_INLINE = re.compile(r"``?(rnnflow(?:\.[A-Za-z_]\w*)+)")
_ROLE = re.compile(r"(?::(?:py:)?(?:func|class|mod|meth|data|attr|obj|exc|const):|\{(?:py:)?(?:func|class|mod|meth|data|attr|obj|exc|const)\})`~?([\w.]+)`")


def code_blocks():
    """(code, where) for every Python block of the prose pages and every gallery script."""
    for page in PROSE:
        lines = page.read_text().splitlines()
        i = 0
        while i < len(lines):
            fence = _FENCE.match(lines[i]) if page.suffix == ".md" else None
            rst = _RST_CODE.match(lines[i]) if page.suffix == ".rst" else None
            if fence:
                end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == fence[1]), len(lines))
                yield "\n".join(lines[i + 1:end]), f"{page.relative_to(ROOT)}:{i + 1}"
                i = end + 1
            elif rst:
                indent, end = len(rst[1]), i + 1
                while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
                    end += 1
                body = [ln for ln in lines[i + 1:end] if not re.match(r"^\s*:[\w-]+:", ln)]
                yield inspect.cleandoc("\n".join(body)), f"{page.relative_to(ROOT)}:{i + 1}"
                i = end
            else:
                i += 1
    for script in GALLERY:
        yield script.read_text(), str(script.relative_to(ROOT))


class _Uses(ast.NodeVisitor):
    """The rnnflow names a piece of code reaches: imported names and attribute chains on them."""

    def __init__(self):
        self.aliases: dict[str, str] = {}
        self.found: list[tuple[str, int]] = []

    def visit_Import(self, node):
        for a in node.names:
            if a.name.split(".")[0] == "rnnflow":
                if a.asname:
                    self.aliases[a.asname] = a.name
                    self.found.append((a.name, node.lineno))
                else:
                    self.aliases["rnnflow"] = "rnnflow"
                    self.found.append((a.name, node.lineno))

    def visit_ImportFrom(self, node):
        if node.level == 0 and node.module and node.module.split(".")[0] == "rnnflow":
            for a in node.names:
                self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
                self.found.append((f"{node.module}.{a.name}", node.lineno))

    def visit_Attribute(self, node):
        chain, inner = [], node
        while isinstance(inner, ast.Attribute):
            chain.append(inner.attr)
            inner = inner.value
        if isinstance(inner, ast.Name) and inner.id in self.aliases:
            self.found.append((".".join([self.aliases[inner.id]] + chain[::-1]), node.lineno))
        else:
            self.generic_visit(node)


def _used_object(dotted: str):
    """The public object a used chain reaches: the first non-module along it (its methods and
    fields are the object's own business), or the module it ends on. (name, object)."""
    parts = dotted.split(".")
    for i in range(2, len(parts) + 1):
        obj = resolve(".".join(parts[:i]))
        if obj is _MISSING or not isinstance(obj, types.ModuleType):
            return ".".join(parts[:i]), obj
    return dotted, resolve(dotted)


def used():
    """{dotted name: [where, ...]} of the rnnflow objects the docs and the README use, and the
    cross-references ({target: [where, ...]})."""
    uses, refs = {}, {}
    for code, where in code_blocks():
        tree = ast.parse(code, filename=where)
        visitor = _Uses()
        visitor.visit(tree)
        base = int(where.rsplit(":", 1)[1]) if ":" in where else 0
        for dotted, line in visitor.found:
            uses.setdefault(dotted, []).append(f"{where.split(':')[0]}:{base + line}")
    for page in PROSE + GALLERY:
        for n, line in enumerate(page.read_text().splitlines(), 1):
            for m in _ROLE.finditer(line):
                if m[1].startswith("rnnflow"):
                    refs.setdefault(m[1], []).append(f"{page.relative_to(ROOT)}:{n}")
            if page.suffix == ".md" or page in GALLERY:
                for m in _INLINE.finditer(line):
                    uses.setdefault(m[1], []).append(f"{page.relative_to(ROOT)}:{n}")
    resolved = {}
    for dotted, wheres in uses.items():
        if _skipped(dotted):
            continue
        name, obj = _used_object(dotted)
        if name == "rnnflow":   # `import rnnflow as rf` alone uses nothing in particular
            continue
        resolved.setdefault(name, (obj, []))[1].extend(wheres)
    return resolved, refs


# ---- what the public packages export ---------------------------------------------------------

def exported_names(module) -> list[str]:
    """``module.__all__``, or its explicit re-exports and the public names it defines."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    tree = ast.parse(inspect.getsource(module))
    names = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names += [a.asname for a in stmt.names if a.asname and a.asname == a.name.split(".")[-1]]
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(stmt.name)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return [n for n in names if not n.startswith("_") or n in ("__version__",)]


def exported():
    """{dotted name: object} of every name the public packages export."""
    out = {}
    for package in PUBLIC_PACKAGES:
        if _skipped(package):
            continue
        module = importlib.import_module(package)
        for name in exported_names(module):
            out[f"{package}.{name}"] = getattr(module, name, _MISSING)
    return out


# ---- the checks ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference():
    names, stale = documented()
    return names, stale, {key(obj, n) for n, (obj, _) in names.items()}


def _report(missing: dict, how: str = "used at") -> str:
    return "\n".join(f"  {name}  ({how} {', '.join(sorted(set(w))[:4])})" for name, w in sorted(missing.items()))


def test_every_documented_name_exists(reference):
    _, stale, _ = reference
    assert not stale, ("API page entries that document nothing:\n"
                       + "\n".join(f"  {n}  ({w})" for n, w in sorted(stale.items())))


def test_every_name_the_docs_use_is_documented(reference):
    names, _, keys = reference
    uses, refs = used()
    unknown = {n: w for n, (obj, w) in uses.items() if obj is _MISSING}
    assert not unknown, "the docs use rnnflow names that do not exist:\n" + _report(unknown)
    missing = {n: w for n, (obj, w) in uses.items() if n not in NOT_API and key(obj, n) not in keys}
    assert not missing, "rnnflow names the docs and the README use, missing from docs/api.rst:\n" + _report(missing)
    dead = {t: w for t, w in refs.items() if t not in names and not _skipped(t)}
    assert not dead, "cross-references to names no API page documents (dead links):\n" + _report(dead)


def test_every_exported_name_is_documented(reference):
    _, _, keys = reference
    names = exported()
    unknown = [n for n, obj in names.items() if obj is _MISSING]
    assert not unknown, f"__all__ entries that do not exist: {unknown}"
    missing = {n: [n.rsplit(".", 1)[0]] for n, obj in names.items()
               if n not in NOT_DOCUMENTED and key(obj, n) not in keys}
    assert not missing, "names the public packages export, missing from docs/api.rst:\n" + _report(missing, "exported by")


def test_the_collectors_find_something(reference):
    names, _, _ = reference
    uses, _ = used()
    assert len(names) > 100 and len(uses) > 20 and len(exported()) > 100
