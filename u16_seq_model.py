"""The original guide's entry point: `python u16_seq_model.py train|evaluate|predict ...` (same as `python -m seqlib`)."""
import sys

from seqlib.cli import main

if __name__ == "__main__":
    sys.exit(main())
