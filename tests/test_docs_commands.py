"""The commands, links and names the README and docs/ give stay true: every `python X.py ...` command in README.md
runs (`--help` appended, each option it uses listed there), the other README commands are checked against the
layout, every command in docs/ uses only options its script has, every relative link and repository path in the
README, docs/ and requirements files resolves, and the stage and module lists name what the code has.

    python -m pytest -q tests/test_docs_commands.py
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest

from moodpipe import paths

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PYTHONS = {"python", "python3", ".venv/bin/python", sys.executable}
OPTION = re.compile(r"^--[\w-]+")


# ----------------------------------------------------------------------------- reading commands out of markdown

def code_block_lines(markdown: str) -> list[str]:
    """The lines of the fenced shell blocks (```bash), a backslash-continued line joined to the next.

    >>> code_block_lines("x\\n```bash\\na \\\\\\n  b\\nc\\n```\\n```\\ndiagram\\n```")
    ['a b', 'c']
    """
    lines = []
    for block in re.findall(r"```(?:bash|sh|shell|console)\n(.*?)```", markdown, flags=re.S):
        lines += re.sub(r"\\\n\s*", "", block).splitlines()
    return [line.strip() for line in lines if line.strip()]


def inline_commands(markdown: str) -> list[str]:
    """`python ...` spans outside code blocks, with the optional-part brackets of a usage line removed.

    >>> inline_commands("run `python a.py train [--lora \\\\| --qlora]` or `x`")
    ['python a.py train --lora --qlora']
    """
    text = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    spans = [s for s in re.findall(r"`([^`\n]+)`", text) if s.startswith("python ")]
    return [" ".join(re.sub(r"\\\||[\[\]|]", " ", s).split()) for s in spans]


def commands(markdown: str, inline: bool = True) -> list[list[str]]:
    """Every command as argv: each line of a code block split at `&&`, comments dropped, plus the inline ones."""
    argvs = []
    for line in code_block_lines(markdown) + (inline_commands(markdown) if inline else []):
        for part in line.split("&&"):
            argv = shlex.split(part, comments=True)
            if argv:
                argvs.append(argv)
    return argvs


def script_call(argv: list[str]) -> tuple[str, str | None, list[str]] | None:
    """(script, subcommand, its options) for a command that runs one of the repository's scripts, directly or
    through a launcher (torchrun, accelerate launch); None for anything else."""
    at = next((i for i, a in enumerate(argv) if a.endswith(".py") and (ROOT / a).is_file()), None)
    if at is None:
        return None
    rest = argv[at + 1:]
    sub = rest[0] if rest and rest[0] in subcommands(argv[at]) else None
    return argv[at], sub, [OPTION.match(a).group() for a in rest if OPTION.match(a)]


@cache
def run_help(script: str, sub: str | None = None) -> tuple[int, str]:
    """Exit code and output of `python script [sub] --help`, run as a user would, from the repository root."""
    done = subprocess.run([sys.executable, script, *([sub] if sub else []), "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def subcommands(script: str) -> set[str]:
    """The subcommands a script's argparse declares (`{train,score,mood}`), read from its source."""
    source = (ROOT / script).read_text(encoding="utf-8")
    return set(re.findall(r"add_parser\(\s*\"([\w-]+)\"", source))


def all_help(calls: set[tuple[str, str | None]]) -> None:
    """Fill run_help's cache in parallel: each call is a fresh interpreter importing its script (up to ~13 s)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda c: run_help(*c), sorted(calls, key=str)))


# ----------------------------------------------------------------------------- README commands

README_COMMANDS = commands(README.read_text(encoding="utf-8"))


def test_every_readme_python_command_runs_and_has_the_options_it_uses():
    calls = [c for c in map(script_call, README_COMMANDS) if c]
    assert len(calls) >= 10, "the README's commands were not found"
    all_help({(script, sub) for script, sub, _ in calls})
    for script, sub, options in calls:
        code, out = run_help(script, sub)
        assert code == 0, f"`python {script} {sub or ''} --help` exited {code}:\n{out[-2000:]}"
        missing = [o for o in options if o not in out]
        assert not missing, f"README: `{script} {sub or ''}` has no option {missing}"


def test_the_other_readme_commands_match_the_layout():
    outputs = {paths.GRAPHS_DIR, str(paths.Layout(Path(".")).explorer)}
    for argv in README_COMMANDS:
        if script_call(argv):
            continue
        name = Path(argv[0]).name
        if argv[0] in PYTHONS and argv[1:3] == ["-m", "venv"]:
            continue
        if argv[0] in PYTHONS and argv[1:3] == ["-m", "pytest"]:
            assert (ROOT / "tests").is_dir() and "pytest" in (ROOT / "requirements.txt").read_text(encoding="utf-8")
        elif name == "pip":
            files = [argv[i + 1] for i, a in enumerate(argv) if a == "-r"]
            assert files and all((ROOT / f).is_file() for f in files), argv
        elif name == "xdg-open":
            assert len(argv) == 2, f"xdg-open takes one file or URL: {argv}"
            assert argv[1].rstrip("/") in outputs, f"xdg-open {argv[1]}: not an output the pipeline writes"
        else:
            pytest.fail(f"README command with no check here: {argv}")


# ----------------------------------------------------------------------------- docs commands

def docs_calls() -> list[tuple[str, str, str | None, list[str]]]:
    return [(md.name, *call) for md in DOCS for argv in commands(md.read_text(encoding="utf-8"), inline=False)
            if (call := script_call(argv))]


def test_every_command_in_docs_uses_options_its_script_has():
    calls = docs_calls()
    all_help({(script, sub) for _, script, sub, _ in calls})
    for doc, script, sub, options in calls:
        code, out = run_help(script, sub)
        assert code == 0, f"{doc}: `python {script} {sub or ''} --help` exited {code}:\n{out[-2000:]}"
        missing = [o for o in options if o not in out]
        assert not missing, f"{doc}: `{script} {sub or ''}` has no option {missing}"


# ----------------------------------------------------------------------------- links and paths

LINK = re.compile(r"\]\(([^)\s]+)\)")
REPO_PATH = re.compile(r"(?<![\w./<-])((?:moodpipe|tests|bench|docs)/[\w/.-]*\w\.(?:py|md|png))(?![\w/])")
TEXTS = [README, *DOCS, ROOT / "requirements.txt", ROOT / "requirements-gpu.txt"]


@pytest.mark.parametrize("path", TEXTS, ids=lambda p: p.name)
def test_every_link_and_repository_path_resolves(path):
    text = path.read_text(encoding="utf-8")
    targets = [t.split("#")[0] for t in LINK.findall(text) if not re.match(r"\w+:|#", t)]
    broken = [t for t in targets if not (path.parent / t).exists()]
    broken += [p for p in REPO_PATH.findall(text) if not (ROOT / p).exists() and not (path.parent / p).exists()]
    assert not broken, f"{path.name}: links or paths to nothing: {broken}"


@pytest.mark.parametrize("path", TEXTS, ids=lambda p: p.name)
def test_every_readme_section_named_exists(path):
    headings = set(re.findall(r"^#+ (.+)$", README.read_text(encoding="utf-8"), flags=re.M))
    named = re.findall(r"README(?:'s)?,? \"([^\"]+)\"", path.read_text(encoding="utf-8"))
    assert not [n for n in named if n not in headings], f"{path.name} names README sections it lacks: {named}"


# ----------------------------------------------------------------------------- stages and modules

def stages() -> list[str]:
    """STAGES, read from moodpipe/stages/pipeline.py's source (importing it loads torch)."""
    tree = ast.parse((ROOT / "moodpipe" / "stages" / "pipeline.py").read_text(encoding="utf-8"))
    return next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                and any(getattr(t, "id", None) == "STAGES" for t in n.targets))


def stage_chain(text: str) -> list[str]:
    """The stage names of the first `a -> b -> c` chain in a text, what is in parentheses dropped.

    >>> stage_chain("Stages: `data` (checks) -> crawl -> x (y -> z) -> graphs. A stage")
    ['data', 'crawl', 'x', 'graphs']
    """
    flat = " ".join(text.split())
    while re.search(r"\([^()]*\)", flat):
        flat = re.sub(r"\([^()]*\)", "", flat)
    chain = re.search(r"`?\w+`?(?:\s*->\s*`?\w+`?)+", flat).group()
    return [s.strip(" `") for s in chain.split("->")]


@pytest.mark.parametrize("where", ["main.py", "moodpipe/stages/pipeline.py", "docs/running.md"])
def test_the_stage_lists_name_every_stage_in_order(where):
    text = (ROOT / where).read_text(encoding="utf-8")
    if where.endswith(".py"):
        text = ast.get_docstring(ast.parse(text))
    assert stage_chain(text) == stages()


def test_the_architecture_page_lists_every_module():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    modules = [p for p in (ROOT / "moodpipe").rglob("*.py") if p.name != "__init__.py"]
    missing = [str(p.relative_to(ROOT)) for p in modules if not re.search(rf"\b{re.escape(p.name)}\b", page)]
    assert not missing, f"docs/architecture.md does not list: {missing}"
