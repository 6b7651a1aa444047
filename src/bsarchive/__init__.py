"""bsarchive: archive an event's hashtag conversation into one SQLite file."""

# The one place the version is written: pyproject.toml reads it from here (setuptools
# dynamic version), and reading it here costs nothing at start-up, where
# importlib.metadata took ~40 ms of every run.
__version__ = "0.1.0"
