"""The example sentiment classifier: token ids -> negative / neutral / positive.

The shape the Vertex custom-container tutorials use (embedding, bidirectional LSTM, a
small classifier), sized so one forward pass costs about what a small production text
model does on CPU. This file is also shipped next to the state-dict artifact as the
"user's model code" that vxserve imports to rebuild the module.
"""

from __future__ import annotations

import torch
from torch import nn

LABELS = ["negative", "neutral", "positive"]
VOCAB_SIZE = 20_000
PAD_ID = 0
SEQ_LEN = 64  # the length instances.json and the benchmark use


class SentimentClassifier(nn.Module):
    """Token ids [batch, seq] (int64, 0 = padding) -> logits [batch, 3]."""

    def __init__(
        self,
        vocab_size: int = VOCAB_SIZE,
        embed_dim: int = 128,
        hidden: int = 128,
        num_labels: int = len(LABELS),
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True, bidirectional=True)
        self.classifier = nn.Sequential(
            nn.Linear(2 * hidden, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, num_labels)
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        embedded = self.embedding(tokens)
        _, (h_n, _) = self.lstm(embedded)
        # Final states of the forward and the backward direction, side by side.
        features = torch.cat([h_n[-2], h_n[-1]], dim=1)
        return self.classifier(features)


def build_model(**kwargs: int) -> SentimentClassifier:
    """Factory vxserve calls for the state-dict format (model_class "model:build_model")."""
    return SentimentClassifier(**kwargs)
