"""Create the example model's artifacts in every format vxserve serves, in seconds.

No download: weights come from a fixed seed (the classifier is untrained; its outputs
are deterministic, which is what deploys, rollouts and tests need). Idempotent: a stamp
records the inputs (this script, model.py, seed, torch version) and a re-run with the
same inputs does nothing.

    make_model.py              both versions below
    make_model.py --version 1  v1 -> artifacts/{torchscript,export,state_dict}
    make_model.py --version 2  v2 -> artifacts/torchscript-v2 (another seed, for rollouts)
    make_model.py --force      rebuild even if up to date
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import shutil
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
from model import LABELS, SEQ_LEN, VOCAB_SIZE, SentimentClassifier  # noqa: E402

SEEDS = {1: 1234, 2: 5678}
STAMP = ".stamp"


def manifest(fmt: str, seq_len: int | None = None, **extra: object) -> dict[str, object]:
    """vxserve.json: what the artifact is and what a valid instance looks like."""
    return {
        "format": fmt,
        "handler": "classification",
        "input": {"dtype": "int64", "shape": [seq_len], "min": 0, "max": VOCAB_SIZE - 1},
        "example_instances": example_instances(2),
        **extra,
    }


def example_instances(n: int, seed: int = 7) -> list[list[int]]:
    """n deterministic 64-token instances (ids 1..VOCAB_SIZE-1, no padding)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, VOCAB_SIZE, (n, SEQ_LEN), generator=g).tolist()


def build(seed: int) -> SentimentClassifier:
    torch.manual_seed(seed)
    return SentimentClassifier().eval()


def fingerprint(version: int) -> str:
    h = hashlib.sha256()
    for path in (Path(__file__).resolve(), HERE / "model.py"):
        h.update(path.read_bytes())
    h.update(f"{version}:{SEEDS[version]}:{torch.__version__}".encode())
    return h.hexdigest()


def write_common(folder: Path, fmt: str, seq_len: int | None = None, **extra: object) -> None:
    (folder / "index_to_name.json").write_text(
        json.dumps({str(i): name for i, name in enumerate(LABELS)}, indent=1) + "\n"
    )
    text = json.dumps(manifest(fmt, seq_len, **extra), indent=1)
    (folder / "vxserve.json").write_text(text + "\n")


def save_torchscript(model: SentimentClassifier, folder: Path) -> None:
    folder.mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # jit.script; still a served format
        torch.jit.script(model).save(str(folder / "model.pt"))
    write_common(folder, "torchscript")


def save_export(model: SentimentClassifier, folder: Path) -> None:
    folder.mkdir(parents=True)
    # torch.export specializes nn.LSTM to the traced sequence length, so the program takes
    # a dynamic batch of exactly SEQ_LEN tokens; the manifest says so and vxserve enforces it.
    batch = torch.export.Dim("batch", min=1, max=4096)
    example = torch.randint(1, VOCAB_SIZE, (2, SEQ_LEN))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # LSTM's _flat_weights notice
        program = torch.export.export(model, (example,), dynamic_shapes={"tokens": {0: batch}})
    torch.export.save(program, str(folder / "model.pt2"))
    write_common(folder, "export", SEQ_LEN)


def save_state_dict(model: SentimentClassifier, folder: Path) -> None:
    folder.mkdir(parents=True)
    torch.save(model.state_dict(), folder / "weights.pt")
    shutil.copy(HERE / "model.py", folder / "model.py")
    write_common(folder, "state_dict", model_file="weights.pt", model_class="model:build_model")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", type=int, choices=sorted(SEEDS), default=None)
    parser.add_argument("--out", type=Path, default=HERE / "artifacts")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    versions = [args.version] if args.version else sorted(SEEDS)
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    args.out.mkdir(parents=True, exist_ok=True)
    # Test runs in parallel may all call this at once: one builds, the others then find
    # the stamp up to date.
    with (args.out / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for version in versions:
            make(version, args.out, args.force)
    return 0


def make(version: int, out: Path, force: bool) -> None:
    """Write one version's artifacts unless its stamp says they are up to date."""
    stamp = out / (STAMP if version == 1 else f"{STAMP}-v{version}")
    wanted = fingerprint(version)
    if not force and stamp.exists() and stamp.read_text() == wanted:
        print(f"example model v{version} is up to date in {out}")
        return
    started = time.monotonic()
    model = build(SEEDS[version])
    steps = (
        [
            ("torchscript", save_torchscript),
            ("export", save_export),
            ("state_dict", save_state_dict),
        ]
        if version == 1
        else [(f"torchscript-v{version}", save_torchscript)]
    )
    out.mkdir(parents=True, exist_ok=True)
    for name, save in steps:
        folder = out / name
        tmp = out / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        save(model, tmp)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)  # a reader never sees a half-written folder
    stamp.write_text(wanted)
    names = ", ".join(name for name, _ in steps)
    print(f"example model v{version}: {names} in {out} ({time.monotonic() - started:.1f}s)")


if __name__ == "__main__":
    raise SystemExit(main())
