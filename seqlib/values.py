"""16-bit values and their bytes: the constants and helpers that tokenizers, predictions, models and baselines share."""
import math

import numpy as np

BYTE = 256  # a 16-bit value v = BYTE * first + second byte of its token
N_VALUES = BYTE * BYTE
BITS = 16
LN2 = math.log(2)


def swap_bytes(values: np.ndarray) -> np.ndarray:
    """16-bit values with high and low byte exchanged (int64)."""
    values = np.asarray(values, dtype=np.int64)
    return (values % BYTE) * BYTE + values // BYTE
