"""seqlib: learn streams of 16-bit values and measure how predictable they are."""
