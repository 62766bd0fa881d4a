"""Load a torch model in any of the supported artifact formats.

Formats: TorchScript (`torch.jit.load`), torch.export programs (`.pt2`,
`torch.export.load(...).module()`), AOTInductor packages (also `.pt2`, see
vxserve.compiled), and a state dict plus the user's model code. Pickled
weights are only ever read with `weights_only=True`: an artifact bucket is not a trusted
source of arbitrary Python objects.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import warnings
from pathlib import Path
from typing import Any

from .artifacts import MANIFEST_NAME, Manifest
from .errors import ConfigError


def load_torch_model(manifest: Manifest, device: Any) -> Any:
    """Return a callable model on `device`, in eval mode where that applies."""
    import torch

    path = manifest.model_file
    if manifest.format == "torchscript":
        with warnings.catch_warnings():
            # Deprecated in favour of torch.export, yet TorchScript is what many teams ship.
            warnings.simplefilter("ignore", DeprecationWarning)
            model = torch.jit.load(str(path), map_location=device)
    elif manifest.format == "export":
        program = torch.export.load(str(path))
        model = program.module()
        model = model.to(device)
    elif manifest.format == "aoti":
        from .compiled import load_aoti_package

        return load_aoti_package(path, device)  # compiled code: no .to() or .eval()
    elif manifest.format == "state_dict":
        model = build_from_code(manifest)
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        if (
            isinstance(state, dict)
            and "state_dict" in state
            and isinstance(state["state_dict"], dict)
        ):
            state = state["state_dict"]  # checkpoints that wrap the weights
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise ConfigError(f"{path}: weights do not fit {manifest.model_class}: {exc}") from None
        model = model.to(device)
    else:
        raise ConfigError(
            f"{path}: format {manifest.format!r} is not a torch format "
            "(torchscript, export, aoti, state_dict); use a backend-specific handler"
        )
    if hasattr(model, "eval") and manifest.format != "export":
        model.eval()  # exported modules reject .eval(); they are traced in eval mode
    return model


def build_from_code(manifest: Manifest) -> Any:
    """Instantiate the user's nn.Module from `model_class` ("module:Name")."""
    module_name, _, attr = manifest.model_class.partition(":")
    if not attr:
        raise ConfigError(f"model_class {manifest.model_class!r} must look like 'model:ClassName'")
    module = import_file(manifest.directory / f"{module_name.replace('.', '/')}.py")
    try:
        factory = getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{module.__file__} defines no {attr!r}") from None
    try:
        inspect.signature(factory).bind(**manifest.model_kwargs)
    except TypeError as exc:
        raise ConfigError(
            f"{module.__file__}: {attr}(**model_kwargs) cannot be called ({exc}); give the "
            f"constructor defaults, set model_kwargs in {MANIFEST_NAME}, or define build_model()"
        ) from None
    except ValueError:
        pass  # no signature to check (a builtin); let the call itself say what is wrong
    return factory(**manifest.model_kwargs)


def import_file(path: Path) -> Any:
    """Import a Python file from the artifact directory under a private module name."""
    if not path.exists():
        raise ConfigError(f"{path} does not exist")
    name = f"vxserve_user_{path.stem}_{abs(hash(str(path.resolve())))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # Sibling imports in user code (e.g. handler.py importing model.py) resolve from here.
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception:
        sys.modules.pop(name, None)
        raise
    finally:
        sys.path.remove(str(path.parent))
    return module
