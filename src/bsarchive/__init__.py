"""bsarchive: archive an event's hashtag conversation into one SQLite file."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bsarchive")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"
