"""Load a script of `scripts/` as a module (scripts/ is not a package), for the stress tests that run them."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.conftest import REPO


def load_script(name: str) -> ModuleType:
    """`scripts/<name>.py`, imported as `<name>` (scripts/ on the path too: one script may import another)."""
    if str(REPO / "scripts") not in sys.path:
        sys.path.insert(0, str(REPO / "scripts"))
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
