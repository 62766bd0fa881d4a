"""The Vertex custom-container tutorial's sentiment model, at the tutorial's size.

Embedding(50 000, 128) -> bidirectional LSTM(128, 256) -> Linear(512, 128) -> ReLU ->
Dropout -> Linear(128, 3): about 7.2 M parameters, 3 ms per forward pass of one 64-token
instance on one CPU thread. This is the model users arrive with; `examples/sentiment` is a
smaller one that keeps the test suite quick. Shipped next to the weights as the user's
model code (state dict + `build_model()`), the way the tutorial deploys it.
"""

from __future__ import annotations

import torch
from torch import nn

LABELS = ["negative", "neutral", "positive"]
VOCAB_SIZE = 50_000
SEQ_LEN = 64


class SentimentModel(nn.Module):
    """Token ids [batch, seq] (int64) -> logits [batch, 3]."""

    def __init__(self, vocab_size: int = VOCAB_SIZE, embed_dim: int = 128, hidden: int = 256):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True, bidirectional=True)
        self.fc1 = nn.Linear(2 * hidden, 128)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.3)
        self.fc2 = nn.Linear(128, len(LABELS))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(self.embedding(tokens))
        features = torch.cat([h_n[-2], h_n[-1]], dim=1)
        return self.fc2(self.dropout(self.relu(self.fc1(features))))


def build_model() -> SentimentModel:
    """The factory vxserve calls for a state dict (model_class "model:build_model")."""
    return SentimentModel()
