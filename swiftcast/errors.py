"""Errors that mean "the user asked for something that cannot work" (bad path, bad file, bad option).

The command line prints these as one line without a traceback; everything else is a bug and keeps its traceback.
"""


class SwiftcastError(Exception):
    """A user-facing error: the message alone must tell the user what to fix."""


class CheckpointError(SwiftcastError):
    """A checkpoint is missing, corrupted, unsafe, or built for another architecture."""


class DataError(SwiftcastError):
    """A dataset folder, image or bag is missing or not in the expected layout."""


class SetupError(SwiftcastError):
    """A setting that cannot work; ``settings`` names it (or the settings that clash), as the node parameters of the
    same names, so a node can point its user at the parameter to fix."""

    def __init__(self, setting: str | tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.settings: tuple[str, ...] = (setting,) if isinstance(setting, str) else tuple(setting)
        self.setting = self.settings[0]
