"""Write the tutorial-sized model's artifacts: a state dict plus the model code.

    make_model.py [--out DIR] [--force]

Untrained weights from a fixed seed (deterministic, no download), written the way the
Vertex tutorial ships them: `weights.pt` (a state dict), `model.py` (the code), the
labels, and a `vxserve.json` naming the input so every bundled container (the TensorRT
one exports ONNX from it) can serve it. `bench/serving.py` serves this model; the tests
use the smaller `examples/sentiment` to stay quick. Idempotent through a stamp file.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
from model import LABELS, SEQ_LEN, VOCAB_SIZE, build_model  # noqa: E402

SEED = 2024


def example_instances(n: int, seed: int = 7) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, VOCAB_SIZE, (n, SEQ_LEN), generator=g).tolist()


def write(folder: Path) -> None:
    torch.manual_seed(SEED)
    model = build_model().eval()
    folder.mkdir(parents=True)
    torch.save(model.state_dict(), folder / "weights.pt")
    shutil.copy(HERE / "model.py", folder / "model.py")
    (folder / "index_to_name.json").write_text(
        json.dumps({str(i): name for i, name in enumerate(LABELS)}, indent=1) + "\n"
    )
    manifest = {
        "format": "state_dict",
        "model_file": "weights.pt",
        "model_class": "model:build_model",
        "handler": "classification",
        "input": {"dtype": "int64", "shape": [None], "min": 0, "max": VOCAB_SIZE - 1},
        "example_instances": example_instances(2),
    }
    (folder / "vxserve.json").write_text(json.dumps(manifest, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "artifacts")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    h = hashlib.sha256()
    for path in (Path(__file__).resolve(), HERE / "model.py"):
        h.update(path.read_bytes())
    h.update(f"{SEED}:{torch.__version__}".encode())
    wanted = h.hexdigest()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with (args.out.parent / ".artifacts.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = args.out / ".stamp"
        if not args.force and stamp.exists() and stamp.read_text() == wanted:
            print(f"tutorial model is up to date in {args.out}")
            return 0
        tmp = args.out.with_name(f".{args.out.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        write(tmp)
        (tmp / ".stamp").write_text(wanted)
        shutil.rmtree(args.out, ignore_errors=True)
        tmp.rename(args.out)
    print(f"tutorial model written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
