"""API keys for live-exchange: from the environment or a 0600 file, never from argv or a config file.

`BITUNIX_CREDENTIALS_FILE` (the variable's name is configurable) names a JSON file
`{"api_key": "...", "api_secret": "..."}` readable by its owner only; otherwise, under systemd with
`LoadCredential=bitunix_api_key:...` and `LoadCredential=bitunix_api_secret:...`, the files of those names in
`$CREDENTIALS_DIRECTORY`; otherwise `BITUNIX_API_KEY` and `BITUNIX_API_SECRET` hold them. Every error names
what is missing and how to fix it, never a value.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

import orjson

from laptop_agents.base import scrub
from laptop_agents.config.models import ExchangeConfig
from laptop_agents.core.errors import ConfigError
from laptop_agents.exchange.bitunix.rest import Credentials


def load_credentials(config: ExchangeConfig, environ: Mapping[str, str]) -> Credentials:
    """The keys, registered with `scrub` at once: from here on neither value leaves the process."""
    credentials = _load(config, environ)
    scrub.register(credentials.api_key, credentials.secret)
    return credentials


def _load(config: ExchangeConfig, environ: Mapping[str, str]) -> Credentials:
    path = environ.get(config.credentials_file_env, "").strip()
    if path:
        return _from_file(Path(path), config.credentials_file_env)
    loaded = _from_systemd(config, environ.get("CREDENTIALS_DIRECTORY", "").strip())
    if loaded is not None:
        return loaded
    key = environ.get(config.api_key_env, "").strip()
    secret = environ.get(config.api_secret_env, "").strip()
    missing = [name for name, value in ((config.api_key_env, key), (config.api_secret_env, secret)) if not value]
    if missing:
        raise ConfigError(
            [
                f"live-exchange needs API keys: set {' and '.join(missing)} in the environment, "
                f"or {config.credentials_file_env} to a 0600 JSON file with api_key and api_secret"
            ]
        )
    return Credentials(key, secret)


def _from_systemd(config: ExchangeConfig, directory: str) -> Credentials | None:
    """systemd's `LoadCredential=` files (a private, read-only directory only this service can read)."""
    if not directory:
        return None
    names = (config.api_key_env.lower(), config.api_secret_env.lower())
    paths = [Path(directory) / name for name in names]
    if not any(p.is_file() for p in paths):
        return None
    values = []
    for p in paths:
        try:
            values.append(p.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError([f"$CREDENTIALS_DIRECTORY/{p.name}: cannot read it ({exc.strerror}); "
                               f"check LoadCredential={p.name}:... in the unit"]) from None  # fmt: skip
    if not all(values):
        empty = [p.name for p, v in zip(paths, values, strict=True) if not v]
        raise ConfigError([f"$CREDENTIALS_DIRECTORY: {', '.join(empty)} empty or missing; the unit needs both "
                           f"LoadCredential={names[0]}:... and LoadCredential={names[1]}:..."])  # fmt: skip
    return Credentials(values[0], values[1])


def _from_file(path: Path, variable: str) -> Credentials:
    where = f"{variable}={path}"
    try:
        info = path.stat()
    except OSError as exc:
        raise ConfigError([f"{where}: cannot read it ({exc.strerror}); point it at your credentials file"]) from None
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        mode = stat.S_IMODE(info.st_mode)
        raise ConfigError([f"{where}: readable by others (mode {mode:o}); run: chmod 600 {path}"])
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        raise ConfigError([f'{where}: not a JSON object {{"api_key": "...", "api_secret": "..."}}']) from None
    key = doc.get("api_key") if isinstance(doc, dict) else None
    secret = doc.get("api_secret") if isinstance(doc, dict) else None
    if not isinstance(key, str) or not key.strip() or not isinstance(secret, str) or not secret.strip():
        raise ConfigError([f"{where}: needs non-empty string fields api_key and api_secret"])
    return Credentials(key.strip(), secret.strip())
