"""A TorchServe user's model as the Vertex custom-container tutorial writes it.

`MODEL_CODE` and `HANDLER_CODE` are the user's files, unchanged by vxdeploy: an
embedding → bidirectional LSTM → Linear → ReLU → Dropout → Linear sentiment classifier
saved as a state dict, and a handler subclassing TorchServe's own BaseHandler that loads
the weights and a vocabulary from `model_dir` and tokenizes text. The vocabulary is small
(the tutorial's 50 000 words would only slow the tests).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

MODEL_CODE = '''
import torch
from torch import nn


class SentimentClassifier(nn.Module):
    def __init__(self, vocab_size=500, embed_dim=32, hidden=64, num_labels=3):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True, bidirectional=True)
        self.fc1 = nn.Linear(2 * hidden, 32)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.2)
        self.fc2 = nn.Linear(32, num_labels)

    def forward(self, tokens):
        _, (h_n, _) = self.lstm(self.embedding(tokens))
        features = torch.cat([h_n[-2], h_n[-1]], dim=1)
        return self.fc2(self.dropout(self.relu(self.fc1(features))))
'''

HANDLER_CODE = '''
import json
import os

import torch
from ts.torch_handler.base_handler import BaseHandler

from model import SentimentClassifier

LABELS = ["negative", "neutral", "positive"]


class SentimentHandler(BaseHandler):
    def initialize(self, context):
        properties = context.system_properties
        model_dir = properties.get("model_dir")
        with open(os.path.join(model_dir, "vocab.json")) as f:
            self.vocab = json.load(f)
        self.model = SentimentClassifier(vocab_size=len(self.vocab) + 2)
        state = torch.load(os.path.join(model_dir, "model.pth"), map_location="cpu",
                           weights_only=True)
        self.model.load_state_dict(state)
        self.model.eval()
        self.initialized = True

    def preprocess(self, data):
        texts = []
        for row in data:
            text = row.get("data") or row.get("body") if isinstance(row, dict) else row
            if isinstance(text, (bytes, bytearray)):
                text = text.decode("utf-8")
            if not isinstance(text, str):
                raise ValueError("each instance must be text or {\\"data\\": text}")
            texts.append(text)
        ids = [[self.vocab.get(w, 1) for w in t.lower().split()] or [1] for t in texts]
        longest = max(len(i) for i in ids)
        return torch.tensor([i + [0] * (longest - len(i)) for i in ids])

    def inference(self, data, *args, **kwargs):
        with torch.no_grad():
            return self.model(data)

    def postprocess(self, data):
        probs = torch.softmax(data, dim=1)
        return [{"label": LABELS[int(p.argmax())], "confidence": float(p.max())}
                for p in probs]
'''

WORDS = ["good", "bad", "great", "awful", "fine", "movie", "plot", "acting", "boring", "fun"]


def write_sources(folder: Path) -> Path:
    """model.py, handler.py, vocab.json and model.pth (fixed seed) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(MODEL_CODE)
    (folder / "handler.py").write_text(HANDLER_CODE)
    (folder / "vocab.json").write_text(json.dumps({w: i + 2 for i, w in enumerate(WORDS)}))
    subprocess.run(
        [sys.executable, "-c",
         "import sys, torch; sys.path.insert(0, sys.argv[1]); from model import "
         "SentimentClassifier as C; torch.manual_seed(0); m = C(vocab_size=12); "
         "torch.save(m.state_dict(), sys.argv[1] + '/model.pth')", str(folder)],
        check=True, timeout=120,
    )
    return folder


def make_mar(sources: Path, out: Path, name: str = "sentiment") -> Path:
    """`torch-model-archiver` exactly as the tutorial runs it."""
    out.mkdir(parents=True, exist_ok=True)
    archiver = Path(sys.executable).with_name("torch-model-archiver")
    subprocess.run(
        [str(archiver), "--model-name", name, "--version", "1.0",
         "--model-file", str(sources / "model.py"),
         "--serialized-file", str(sources / "model.pth"),
         "--handler", str(sources / "handler.py"),
         "--extra-files", str(sources / "vocab.json"),
         "--export-path", str(out)],
        check=True, timeout=120,
    )
    return out / f"{name}.mar"


def eager_predictions(sources: Path, texts: list[str]) -> list[dict[str, object]]:
    """What the handler answers when run by hand, one text at a time, for comparison."""
    code = (
        "import json, sys, torch; sys.path.insert(0, sys.argv[1]);"
        "from model import SentimentClassifier as C;"
        "vocab = json.load(open(sys.argv[1] + '/vocab.json'));"
        "m = C(vocab_size=len(vocab) + 2);"
        "m.load_state_dict(torch.load(sys.argv[1] + '/model.pth', weights_only=True)); m.eval();"
        "labels = ['negative', 'neutral', 'positive']; out = [];\n"
        "for t in json.loads(sys.argv[2]):\n"
        "    ids = [vocab.get(w, 1) for w in t.lower().split()] or [1]\n"
        "    p = torch.softmax(m(torch.tensor([ids])), dim=1)[0]\n"
        "    out.append({'label': labels[int(p.argmax())], 'confidence': float(p.max())})\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(sources), json.dumps(texts)],
                          check=True, capture_output=True, text=True, timeout=120)
    return json.loads(done.stdout)
