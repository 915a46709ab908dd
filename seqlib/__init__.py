"""seqlib: learn streams of 16-bit values and measure how predictable they are."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("seqlib")
except PackageNotFoundError:  # a checkout on sys.path that was never installed
    __version__ = "0+unknown"
