"""Loading profiles: find the TOML file, decode it into `Profile`, apply overrides, and turn every
failure into a one-line `ConfigError` that names the file and the key.

Owns file lookup and error wording. Must never hold defaults or ranges (those live in
`config.schema`), and never read the environment or the working directory to find a profile:
a bare name resolves inside this package, so the CLI works from any directory.
"""

from __future__ import annotations

import re
import tomllib
import typing
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import msgspec
import msgspec.toml

from config.schema import Profile

DEFAULT_PROFILE = "paper"
PROFILE_NAMES = ("paper", "dev", "canary", "prod")
OVERRIDES_SOURCE = "overrides"

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]*)`$")
_FIELD_PREFIX = re.compile(r"^(?P<field>[A-Za-z_]\w*): (?P<rest>.*)$", re.DOTALL)
_TOKEN = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


class ConfigError(Exception):
    """A bad profile or override. `str()` is one line: `<source>: <key>: <what is wrong>`."""

    def __init__(self, source: str, detail: str, key: str | None = None) -> None:
        self.source = source
        self.key = key
        self.detail = " ".join(detail.split())
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.key is None:
            return f"{self.source}: {self.detail}"
        return f"{self.source}: {self.key}: {self.detail}"


def load_profile(name_or_path: str = DEFAULT_PROFILE) -> Profile:
    """Load a profile by bare name (`paper`, resolved inside this package) or by file path."""
    data, source = _read(name_or_path)
    try:
        return msgspec.toml.decode(data, type=Profile)
    except msgspec.ValidationError as exc:
        raise _from_validation(exc, source, _raw_toml(data)) from None
    except msgspec.DecodeError as exc:
        raise ConfigError(source, f"invalid TOML: {exc}") from None


def apply_overrides(profile: Profile, **overrides: Any) -> Profile:
    """Return `profile` with dotted keys replaced: `apply_overrides(p, **{"run.seed": 7})`.

    `section__field` is accepted as a spelling of `section.field` so plain keyword arguments work.
    String values are converted to the field's type (CLI input), then the whole profile is
    validated again, so an override can never produce a profile a file could not.
    """
    tree = msgspec.to_builtins(profile)
    raw: dict[str, dict[str, Any]] = {}
    for dotted, value in overrides.items():
        key = dotted.replace("__", ".")
        section, _, field = key.partition(".")
        if not field or "." in field or section not in tree or field not in tree[section]:
            raise ConfigError(OVERRIDES_SOURCE, f'unknown key "{key}"')
        if isinstance(value, str) and _is_tuple_field(section, field):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        tree[section][field] = _plain(value)
        raw.setdefault(section, {})[field] = value
    try:
        return msgspec.convert(tree, type=Profile, strict=False)
    except msgspec.ValidationError as exc:
        raise _from_validation(exc, OVERRIDES_SOURCE, raw) from None


def profile_path(name: str) -> Path:
    """Where the bundled profile `name` lives (inside the installed `config` package)."""
    return Path(str(resources.files(__package__) / "profiles" / f"{name}.toml"))


def _read(name_or_path: str) -> tuple[bytes, str]:
    is_bare_name = "/" not in name_or_path and "\\" not in name_or_path and not name_or_path.endswith(".toml")
    if is_bare_name:
        source = f"config/profiles/{name_or_path}.toml"
        try:
            return profile_path(name_or_path).read_bytes(), source
        except FileNotFoundError:
            known = ", ".join(sorted(PROFILE_NAMES))
            raise ConfigError(source, f'no such profile "{name_or_path}" (known: {known})') from None
    try:
        return Path(name_or_path).read_bytes(), name_or_path
    except OSError as exc:
        raise ConfigError(name_or_path, f"cannot read: {exc.strerror or exc}") from None


def _raw_toml(data: bytes) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def _from_validation(exc: msgspec.ValidationError, source: str, raw: dict[str, Any]) -> ConfigError:
    """Translate msgspec's `<msg> - at `$.a.b`` into `<source>: a.b: <msg>, got <value>`."""
    match = _AT.match(str(exc))
    assert match is not None  # the pattern matches any string
    msg, path = match["msg"], match["path"] or ""
    tokens = _tokens(path)

    unknown = _UNKNOWN.match(msg)
    if unknown:
        key = _display([*tokens, unknown["name"]])
        return ConfigError(source, f'unknown key "{key}"')

    # A __post_init__ check reports at the section; its message starts with the field name and
    # already says what it got.
    prefixed = _FIELD_PREFIX.match(msg)
    if prefixed:
        return ConfigError(source, prefixed["rest"], key=_display([*tokens, prefixed["field"]]))

    if msg.startswith("Invalid enum value"):
        choices = _literal_choices(tokens)
        if choices:
            msg = "expected one of " + ", ".join(f'"{c}"' for c in choices)
    msg = msg.replace("`", "")
    found, value = _lookup(raw, tokens)
    if found:
        msg = f"{msg.split(', got ')[0]}, got {_show(value)}"
    return ConfigError(source, msg, key=_display(tokens) or None)


def _tokens(path: str) -> list[str | int]:
    return [name if name else int(index) for name, index in _TOKEN.findall(path)]


def _display(tokens: list[str | int]) -> str:
    out = ""
    for tok in tokens:
        out += f"[{tok}]" if isinstance(tok, int) else (f".{tok}" if out else tok)
    return out


def _lookup(raw: Any, tokens: list[str | int]) -> tuple[bool, Any]:
    node = raw
    for tok in tokens:
        if isinstance(tok, int) and isinstance(node, (list, tuple)) and tok < len(node):
            node = node[tok]
        elif isinstance(tok, str) and isinstance(node, dict) and tok in node:
            node = node[tok]
        else:
            return False, None
    return True, node


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _field_type(tokens: list[str | int]) -> Any:
    """The declared type at `tokens` inside Profile (Annotated stripped), or None."""
    tp: Any = Profile
    for tok in tokens:
        tp = _strip_annotated(tp)
        if isinstance(tok, int):
            args = typing.get_args(tp)
            if typing.get_origin(tp) is not tuple or not args:
                return None
            tp = args[0]
        else:
            if not (isinstance(tp, type) and issubclass(tp, msgspec.Struct)):
                return None
            hints = typing.get_type_hints(tp, include_extras=True)
            if tok not in hints:
                return None
            tp = hints[tok]
    return _strip_annotated(tp)


def _strip_annotated(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _literal_choices(tokens: list[str | int]) -> tuple[Any, ...]:
    tp = _field_type(tokens)
    return typing.get_args(tp) if typing.get_origin(tp) is Literal else ()


def _is_tuple_field(section: str, field: str) -> bool:
    return typing.get_origin(_field_type([section, field])) is tuple


def _plain(value: Any) -> Any:
    """Builtins msgspec.convert reads back into the schema (Decimal stays exact as a string)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
