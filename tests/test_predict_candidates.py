"""The candidates of a prediction (notebook 04's explorer, `seqlib predict`) are values: never UNK, never MASK."""
import numpy as np
import torch

from seqlib.model import ModelConfig
from seqlib.prediction import DensePrediction
from seqlib.predict import predict_at
from seqlib.tokenize import Tokenizer


class UnkLover(torch.nn.Module):
    """A model whose most probable class is UNK, then the values in descending order."""

    def __init__(self, tokenizer: Tokenizer, seq_len: int = 4) -> None:
        super().__init__()
        self.cfg = ModelConfig(vocab_size=tokenizer.vocab_size, seq_len=seq_len, d_model=8, nhead=2)
        self.logits = torch.nn.Parameter(torch.zeros(tokenizer.vocab_size))
        with torch.no_grad():
            self.logits[: tokenizer.n_values] = -torch.arange(tokenizer.n_values, dtype=torch.float32)
            self.logits[tokenizer.unk_token] = 5.0

    linear = None  # no linear inputs

    def predict(self, x, start=0):
        return DensePrediction(self.logits.expand(x.shape[0] * (x.shape[1] - start), 1, -1))


def test_unk_is_never_a_candidate_and_ranks_count_values_only():
    tokenizer = Tokenizer("exact", [10, 20, 30], [10, 20, 30])
    values = np.array([10, 20, 30, 10, 20, 999, 30], dtype=np.uint16)  # 999 was never seen: its token is UNK
    table = predict_at(UnkLover(tokenizer), tokenizer, values, idx=4, topk=10)
    assert list(table["value"]) == ["10", "20", "30"]  # all three values, UNK and MASK left out
    assert table["true_rank"].iloc[0] == 2 and list(table["is_true"]) == [False, True, False]
    unseen = predict_at(UnkLover(tokenizer), tokenizer, values, idx=5, topk=2)
    assert list(unseen["value"]) == ["10", "20"] and not unseen["is_true"].any()
