"""The listener's taste as a small feed-forward network."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# The original project's architecture: three hidden layers narrowing 64 -> 32 -> 16, LeakyReLU,
# dropout after each hidden layer, one logit out.
ORIGINAL_HIDDEN_SIZES: tuple[int, ...] = (64, 32, 16)


class PreferenceNet(nn.Module):
    def __init__(
        self,
        input_size: int,
        hidden_sizes: Sequence[int] = ORIGINAL_HIDDEN_SIZES,
        dropout: float = 0.2,
        input_dropout: float = 0.0,
    ):
        super().__init__()
        # Dropping whole input features makes the network spread its trust over many of them.
        layers: list[nn.Module] = [nn.Dropout(input_dropout)] if input_dropout else []
        width = input_size
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)
        self.input_size = input_size
        self.hidden_sizes = tuple(hidden_sizes)
        self.dropout = dropout
        self.input_dropout = input_dropout

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits of "liked"; apply a sigmoid for probabilities."""
        return self.layers(features).squeeze(-1)

    def linear_layers(self) -> list[nn.Linear]:
        return [module for module in self.layers if isinstance(module, nn.Linear)]

    @torch.no_grad()
    def like_probability(self, features: torch.Tensor) -> torch.Tensor:
        was_training = self.training
        self.eval()
        probabilities = torch.sigmoid(self(features))
        self.train(was_training)
        return probabilities
