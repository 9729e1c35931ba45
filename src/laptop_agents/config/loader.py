"""Build the effective `Settings` from layers, and explain bad input in one line per problem.

Precedence, lowest first: `config/default.json` < `--profile NAME` < `--config FILE` < environment
`LA_SECTION__KEY` < CLI `--set section.key=value`. Each layer is a partial nested dict; later layers
override single keys, not whole sections. Values from the environment and `--set` are parsed as JSON
when they can be (`2`, `true`, `null`, `[1,2]`), and taken as text otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel, ValidationError

from laptop_agents.config.models import Settings
from laptop_agents.core.errors import ConfigError

ENV_PREFIX = "LA_"
ENV_OTHERS = frozenset({"LA_CONFIG_DIR", "LA_CRASH_AT"})
"""The `LA_` variables that are not settings: where config/ is, and the crash-test hook."""
_REDACTED = "***"


def find_config_dir(start: Path | None = None) -> Path | None:
    """The project's `config/` folder: `$LA_CONFIG_DIR`, else `./config`, else the source checkout's."""
    env = os.environ.get("LA_CONFIG_DIR")
    if env:
        return Path(env)
    candidates = [(start or Path.cwd()) / "config", Path(__file__).resolve().parents[3] / "config"]
    for candidate in candidates:
        if (candidate / "default.json").is_file():
            return candidate
    return None


@dataclass
class Layers:
    """The raw layers, in precedence order, each with a label used in error messages."""

    items: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def add(self, label: str, values: Mapping[str, Any]) -> None:
        self.items.append((label, dict(values)))


def load_settings(
    *,
    profile: str | None = None,
    config_file: str | None = None,
    sets: list[str] | None = None,
    cli_values: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_dir: Path | None = None,
) -> Settings:
    """Merge the layers and validate. Raises `ConfigError` with one line per problem."""
    layers = Layers()
    cdir = config_dir if config_dir is not None else find_config_dir()
    if cdir is not None and (cdir / "default.json").is_file():
        layers.add(f"default ({cdir / 'default.json'})", _read_json(cdir / "default.json", "defaults"))
    _add_overrides(layers, cdir, profile, config_file, sets, cli_values, environ)
    return validate_layers(layers)


SESSION_KEYS = frozenset({
    "run.run_id", "run.duration_s", "run.runs_dir", "run.log_level", "run.log_format", "run.mode",
    "live.acknowledged_external", "live.flatten_on_stop",
})  # fmt: skip
"""What a command line may set for one session of a resumed run without changing the run's configuration
(`dashboard.*`, `metrics.*` and `alerts.*` too: how the run is shown and watched, not how it trades)."""
WATCH_SECTIONS = ("dashboard.", "metrics.", "alerts.")


@dataclass(frozen=True, slots=True)
class Change:
    key: str
    before: Any
    after: Any

    def line(self) -> str:
        return f"{self.key} {orjson.dumps(self.before).decode()} -> {orjson.dumps(self.after).decode()}"


def resume_settings(
    saved: Mapping[str, Any],
    *,
    profile: str | None = None,
    config_file: str | None = None,
    sets: list[str] | None = None,
    cli_values: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_dir: Path | None = None,
) -> tuple[Settings, list[Change]]:
    """A resumed run's settings: its saved `config.json`, with what this command line gives on top; and
    what that changes of the run's configuration (the caller refuses it without `--reconfigure`).
    Values the command line leaves out come from the run, never from today's defaults."""
    base = orjson.loads(orjson.dumps(saved))  # a deep copy
    dashboard = base.get("dashboard")
    if isinstance(dashboard, dict) and dashboard.get("token") == _REDACTED:
        dashboard["token"] = None  # redacted when saved: today's environment or files give it again
    layers = Layers()
    layers.add("the run's config.json", base)
    cdir = config_dir if config_dir is not None else find_config_dir()
    _add_overrides(layers, cdir, profile, config_file, sets, cli_values, environ)
    before = _flat(validate_layers(Layers([("the run's config.json", base)])).model_dump(mode="json"))
    settings = validate_layers(layers)
    after = _flat(settings.model_dump(mode="json"))
    changes = [
        Change(key, before.get(key), value)
        for key, value in after.items()
        if before.get(key) != value and key not in SESSION_KEYS and not key.startswith(WATCH_SECTIONS)
    ]
    return settings, changes


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value and dotted.count(".") < 1:  # sections; mappings inside are values
            out.update(_flat(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _add_overrides(
    layers: Layers,
    cdir: Path | None,
    profile: str | None,
    config_file: str | None,
    sets: list[str] | None,
    cli_values: Mapping[str, Any] | None,
    environ: Mapping[str, str] | None,
) -> None:
    """Every layer above the base one (defaults, or a resumed run's configuration), in precedence order."""
    if profile:
        if cdir is None:
            raise ConfigError([f"--profile {profile}: no config/ folder found (set LA_CONFIG_DIR)"])
        path = cdir / "profiles" / f"{profile}.json"
        if not path.is_file():
            known = sorted(p.stem for p in (cdir / "profiles").glob("*.json"))
            raise ConfigError([f"--profile {profile}: no such profile; known: {', '.join(known) or 'none'}"])
        layers.add(f"profile {profile}", _read_json(path, f"profile {profile}"))
    if config_file:
        layers.add(f"--config {config_file}", _read_json(Path(config_file), "--config"))
    env_layer, env_errors = _env_layer(os.environ if environ is None else environ)
    if env_errors:
        raise ConfigError(env_errors)
    if env_layer:
        layers.add("environment", env_layer)
    if cli_values:
        layers.add("command line", _nest(dict(cli_values)))
    if sets:
        layers.add("--set", _parse_sets(sets))


def validate_layers(layers: Layers) -> Settings:
    merged: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    for label, values in layers.items:
        _deep_merge(merged, values, (), origin, label)
    token_from = origin.get(("dashboard", "token"))
    section = merged.get("dashboard")
    given = section.get("token") if isinstance(section, dict) else None
    if token_from is not None and token_from != "environment" and given is not None:
        raise ConfigError(
            [
                f"dashboard.token: set by {token_from}; a token is never read from a config file or the command line: "
                "set LA_DASHBOARD__TOKEN in the environment, or dashboard.token_file to a 0600 file"
            ]
        )
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError([_explain(err, origin) for err in exc.errors()]) from None


def redacted_dump(settings: Settings) -> dict[str, Any]:
    """The effective config as plain JSON-able data, with every secret replaced by `***`."""
    data = settings.model_dump(mode="json")
    if settings.dashboard.token is not None:
        data["dashboard"]["token"] = _REDACTED
    return data


# -- Helpers ---------------------------------------------------------------------------------------------


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        raw = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError([f"{what}: file {path} not found; check the path"]) from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError([f"{what}: {path} is not valid JSON ({exc}); fix the file"]) from None
    except OSError as exc:
        raise ConfigError([f"{what}: cannot read {path} ({exc.strerror})"]) from None
    if not isinstance(raw, dict):
        raise ConfigError([f"{what}: {path} must hold a JSON object of sections"])
    return raw


def _parse_value(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _parse_sets(sets: list[str]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    errors: list[str] = []
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or "." not in key:
            errors.append(f"--set {item!r}: write it as section.key=value, e.g. risk.risk_pct=0.5")
            continue
        flat[key.strip()] = _parse_value(value)
    if errors:
        raise ConfigError(errors)
    return _nest(flat)


def _env_layer(environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    flat: dict[str, Any] = {}
    errors: list[str] = []
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_OTHERS:
            continue
        if "__" not in name:
            errors.append(
                f"environment {name}: not a setting; write it as LA_SECTION__KEY (e.g. LA_RISK__RISK_PCT=0.5), "
                "or unset it"
            )
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if any(not p for p in parts):
            errors.append(f"environment {name}: write it as LA_SECTION__KEY, e.g. LA_RISK__RISK_PCT=0.5")
            continue
        flat[".".join(parts)] = _parse_value(value)
    return _nest(flat), errors


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        parts = dotted.split(".")
        node = nested
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError([f"{dotted}: {part} is a value, not a section"])
            node = child
        node[parts[-1]] = value
    return nested


def _deep_merge(
    into: dict[str, Any],
    new: Mapping[str, Any],
    path: tuple[str, ...],
    origin: dict[tuple[str, ...], str],
    label: str,
) -> None:
    for key, value in new.items():
        here = (*path, key)
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            if value:
                origin[here] = label  # a section or mapping value is named by the last layer that changed it
            _deep_merge(into[key], value, here, origin, label)
        else:
            into[key] = value
            origin[here] = label
            if isinstance(value, dict):
                for sub in _leaf_paths(value, here):
                    origin[sub] = label


def _leaf_paths(value: dict[str, Any], path: tuple[str, ...]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for key, sub in value.items():
        out.append((*path, key))
        if isinstance(sub, dict):
            out.extend(_leaf_paths(sub, (*path, key)))
    return out


def _explain(err: Mapping[str, Any], origin: dict[tuple[str, ...], str]) -> str:
    loc = tuple(str(p) for p in err.get("loc", ()))
    dotted = ".".join(loc) or "config"
    where = origin.get(loc)
    source = f" (from {where})" if where else ""
    if err.get("type") == "extra_forbidden":
        known = _known_keys(loc[:-1])
        hint = f"; known keys here: {', '.join(known)}" if known else ""
        return f"{dotted}: unknown config key{source}{hint}"
    value = err.get("input")
    allowed = _allowed(loc)
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if not loc or (len(loc) == 1 and isinstance(value, dict)):  # a rule across fields: its message names them
        return f"{message}{source}"
    shown = "***" if "token" in dotted else _short(value)
    rng = f"; allowed: {allowed}" if allowed and allowed not in message else ""
    return f"{dotted} = {shown}{source}: {message}{rng}"


def _short(value: Any) -> str:
    text = orjson.dumps(value, default=str).decode() if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _field_info(loc: tuple[str, ...]) -> Any:
    model: type[BaseModel] | None = Settings
    info: Any = None
    for part in loc:
        if model is None or part not in model.model_fields:
            return None
        info = model.model_fields[part]
        annotation = info.annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return info


def _known_keys(loc: tuple[str, ...]) -> list[str]:
    model: type[BaseModel] = Settings
    for part in loc:
        field_info = model.model_fields.get(part)
        annotation = field_info.annotation if field_info else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _allowed(loc: tuple[str, ...]) -> str:
    info = _field_info(loc)
    if info is None:
        return ""
    low = high = ""
    unit = "items" if getattr(info.annotation, "__origin__", None) is list else "characters"
    for meta in info.metadata:
        if isinstance(meta, Gt):
            low = f"> {meta.gt}"
        elif isinstance(meta, Ge):
            low = f">= {meta.ge}"
        elif isinstance(meta, Lt):
            high = f"< {meta.lt}"
        elif isinstance(meta, Le):
            high = f"<= {meta.le}"
        elif isinstance(meta, MinLen):
            low = f"at least {meta.min_length} {unit}"
        elif isinstance(meta, MaxLen):
            high = f"at most {meta.max_length} {unit}"
    parts = [p for p in (low, high) if p]
    text = " and ".join(parts)
    if info.description:
        text = f"{text} ({info.description})" if text else info.description
    return text
