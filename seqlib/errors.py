"""User-facing errors: each message is one line that names the problem and the fix."""


class SeqlibError(ValueError):
    """Base class of every error a user can cause with a bad input."""


class DataError(SeqlibError):
    """A stream file or a data parameter that cannot be used."""


class CheckpointError(SeqlibError):
    """A checkpoint that is missing, unreadable, refused, from another configuration or that cannot be written."""


class ConfigError(SeqlibError):
    """A hyperparameter value that cannot work."""


class LockError(SeqlibError):
    """Another live process holds the run folder (it is training into it)."""
