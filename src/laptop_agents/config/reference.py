"""Render the configuration reference (docs/CONFIG.md) from the models, so the docs cannot drift.

python -m laptop_agents.config.reference > docs/CONFIG.md
"""

from __future__ import annotations

from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel

from laptop_agents.config.models import Settings

HEADER = """# Configuration reference

Generated from `src/laptop_agents/config/models.py` by `python -m laptop_agents.config.reference`
(a test fails when this file is stale). Units: `_pct` percent (1.0 = 1 %), `_bps` basis points, `_s`
seconds, `_ms` milliseconds; prices in quote currency (USDT), quantities in base (BTC).

Precedence, strongest first: `--set section.key=value` > environment `LA_SECTION__KEY` (values parsed as
JSON when they can be) > `--config FILE` > `--profile NAME` (`config/profiles/NAME.json`) >
`config/default.json`. Unknown keys are errors. Secrets never live in the config: the exchange section
names the environment variables that hold them.
"""


def _range(info: Any) -> str:
    parts = []
    for meta in info.metadata:
        if isinstance(meta, Gt):
            parts.append(f"> {meta.gt}")
        elif isinstance(meta, Ge):
            parts.append(f">= {meta.ge}")
        elif isinstance(meta, Lt):
            parts.append(f"< {meta.lt}")
        elif isinstance(meta, Le):
            parts.append(f"<= {meta.le}")
    return ", ".join(parts)


def _type(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in get_args(annotation))
    if origin in (Union, UnionType):
        return " or ".join(_type(a) for a in get_args(annotation))
    if annotation is type(None):
        return "none"
    return str(getattr(annotation, "__name__", annotation))


def config_reference_markdown() -> str:
    lines = [HEADER]
    defaults = Settings().model_dump(mode="json")
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type)
        assert issubclass(model, BaseModel)
        lines.append(f"\n## `{section}`\n")
        lines.append("| key | type | default | range | meaning |")
        lines.append("|---|---|---|---|---|")
        for name, info in model.model_fields.items():
            default = defaults[section][name]
            shown = "none" if default is None else f"`{default}`"
            meaning = (info.description or "").replace("|", "\\|")
            lines.append(f"| `{section}.{name}` | {_type(info.annotation)} | {shown} | {_range(info)} | {meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(config_reference_markdown(), end="")
