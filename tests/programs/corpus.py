"""Shared helpers for the WASI test-program corpus (cases.toml).

Used by gen_expected.py (native runs) and check_wasmtime.py (wasmtime-py
runs). Python >= 3.11 (tomllib), standard library only.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MANIFEST = ROOT / "cases.toml"
GUEST_DIR = "/sandbox"  # guest path of the scratch preopen
DIR_TOKEN = "{dir}"

_KNOWN = {"name", "wasm", "args", "env", "stdin", "dir", "dir_symlinks", "dir_modules", "expect_exit",
          "expect_trap", "stdout", "stderr_contains", "expect_source"}


@dataclass
class Case:
    name: str
    wasm: str
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    stdin: str | None = None
    dir: bool = False
    dir_symlinks: list[str] = field(default_factory=list)
    dir_modules: list[str] = field(default_factory=list)
    expect_exit: int | None = 0
    expect_trap: bool = False
    stdout: str = ""
    stderr_contains: str | None = None
    expect_source: str = "native"

    @property
    def program(self) -> str:
        """Program name = wasm file stem; native binary is native/<program>."""
        return Path(self.wasm).stem

    def wasm_path(self) -> Path:
        return ROOT / self.wasm

    def native_path(self) -> Path:
        return ROOT / "native" / self.program

    def stdout_path(self) -> Path:
        return ROOT / self.stdout

    def stdin_path(self) -> Path | None:
        return ROOT / self.stdin if self.stdin else None

    def env_pairs(self) -> list[tuple[str, str]]:
        out = []
        for kv in self.env:
            k, sep, v = kv.partition("=")
            if not sep:
                raise ValueError(f"{self.name}: env entry {kv!r} is not K=V")
            out.append((k, v))
        return out

    def argv(self, dir_value: str) -> list[str]:
        return [a.replace(DIR_TOKEN, dir_value) for a in self.args]


def load_cases(path: Path = MANIFEST) -> list[Case]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    cases, seen = [], set()
    for raw in data.get("case", []):
        unknown = set(raw) - _KNOWN
        if unknown:
            raise ValueError(f"case {raw.get('name')}: unknown keys {sorted(unknown)}")
        c = Case(**raw)
        if c.name in seen:
            raise ValueError(f"duplicate case name {c.name}")
        if c.expect_source not in ("native", "wasi-spec"):
            raise ValueError(f"{c.name}: expect_source must be 'native' or 'wasi-spec'")
        if not c.expect_trap and c.expect_exit is None:
            raise ValueError(f"{c.name}: expect_exit required unless expect_trap")
        seen.add(c.name)
        cases.append(c)
    return cases


def make_scratch_dir(case: Case) -> str | None:
    """Fresh host temp dir for a dir=true case, with its dir_symlinks made."""
    if not case.dir:
        return None
    d = tempfile.mkdtemp(prefix=f"wasabi-{case.name}-")
    for spec in case.dir_symlinks:
        name, sep, target = spec.partition("=")
        if not sep:
            raise ValueError(f"{case.name}: dir_symlinks entry {spec!r} is not NAME=TARGET")
        os.symlink(target, os.path.join(d, name))
    for m in case.dir_modules:
        # Native runs load the plugin's shared-library build.
        shutil.copy(ROOT / "native" / f"{m}.so", os.path.join(d, f"{m}.so"))
    return d


def remove_scratch_dir(d: str | None) -> None:
    if d:
        shutil.rmtree(d, ignore_errors=True)


def set_expect_exit(name: str, code: int, path: Path = MANIFEST) -> bool:
    """Rewrite `expect_exit = N` inside the [[case]] block named `name`."""
    text = path.read_text(encoding="utf-8")
    blocks = re.split(r"(?m)^(?=\[\[case\]\])", text)
    changed = False
    for i, b in enumerate(blocks):
        if re.search(r'(?m)^name\s*=\s*"' + re.escape(name) + r'"\s*$', b):
            nb, n = re.subn(r"(?m)^expect_exit\s*=\s*-?\d+", f"expect_exit = {code}", b)
            if n == 0:
                raise ValueError(f"{name}: no expect_exit line to update")
            changed = nb != b
            blocks[i] = nb
    if changed:
        path.write_text("".join(blocks), encoding="utf-8")
    return changed
