"""The tutorial's TorchServe handler: instances in, label and probabilities out.

Written against stock TorchServe (`ts.torch_handler.base_handler.BaseHandler`, eager
mode: model.py + a state dict in the .mar). It handles a TorchServe batch (one entry per
request) the way TorchServe's docs show, so the same handler serves stock TorchServe with
batching off (the tutorial's config.properties) and on (registered through the
management API).
"""

import json

import torch
from ts.torch_handler.base_handler import BaseHandler


class SentimentHandler(BaseHandler):
    def preprocess(self, data):
        self.counts = []
        rows = []
        for entry in data:
            body = entry.get("body") or entry.get("data")
            if isinstance(body, (bytes, bytearray)):
                body = json.loads(body)
            instances = body["instances"]
            self.counts.append(len(instances))
            rows.extend(instances)
        return torch.tensor(rows, dtype=torch.long)

    def postprocess(self, data):
        labels = self.mapping or {"0": "negative", "1": "neutral", "2": "positive"}
        out, start = [], 0
        rows = torch.softmax(data, dim=1).tolist()
        for n in self.counts:
            predictions = []
            for row in rows[start : start + n]:
                best = max(range(len(row)), key=row.__getitem__)
                predictions.append(
                    {
                        "label": labels[str(best)],
                        "confidence": row[best],
                        "probabilities": {labels[str(i)]: p for i, p in enumerate(row)},
                    }
                )
            out.append({"predictions": predictions})
            start += n
        return out
