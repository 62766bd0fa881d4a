"""The tutorial's Flask server, rebuilt from its description: the baseline of bench/serving.py.

What the Vertex custom-container tutorial deploys: the model class and its state dict
loaded at import, one forward pass per request under `torch.no_grad()`, served by
gunicorn with 1 worker and 4 threads (its Dockerfile's CMD). The answer carries what the
bundled servers' classification handler returns (label, confidence, probabilities), so
both sides do the same work per instance. Torch threads follow BENCH_TORCH_THREADS so the
baseline and the containers are compared at the same setting.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
from flask import Flask, jsonify, request

torch.set_num_threads(int(os.environ.get("BENCH_TORCH_THREADS", "1")))
ARTIFACTS = Path(os.environ["AIP_STORAGE_URI"])
sys.path.insert(0, str(ARTIFACTS))
from model import SentimentModel  # noqa: E402

model = SentimentModel()
model.load_state_dict(torch.load(ARTIFACTS / "weights.pt", map_location="cpu"))
model.eval()
labels = json.loads((ARTIFACTS / "index_to_name.json").read_text())

app = Flask(__name__)


@app.route(os.environ.get("AIP_HEALTH_ROUTE", "/health"), methods=["GET"])
def health():
    return {"status": "healthy"}


@app.route(os.environ.get("AIP_PREDICT_ROUTE", "/predict"), methods=["POST"])
def predict():
    instances = request.get_json()["instances"]
    inputs = torch.tensor(instances, dtype=torch.long)
    with torch.no_grad():
        probs = torch.softmax(model(inputs), dim=1)
    predictions = []
    for row in probs.tolist():
        best = max(range(len(row)), key=row.__getitem__)
        predictions.append(
            {
                "label": labels[str(best)],
                "confidence": row[best],
                "probabilities": {labels[str(i)]: p for i, p in enumerate(row)},
            }
        )
    return jsonify({"predictions": predictions})
