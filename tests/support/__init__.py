"""Helpers shared by the tests: loopback servers, the CLI runner, fixture paths, builders.

Start here: ``paths.FIXTURES`` is the top-level fixtures/ directory; ``cli.Cli`` runs the real
CLI (the ``cli`` fixture in tests/conftest.py makes one per test) and ``cli.fetch`` is
the one way tests call ``bsarchive fetch`` in-process; ``feed_server.FeedServer``
serves feeds and pages on 127.0.0.1 (Mastodon-like instances: ``bsarchive.demo.FixtureMastodon``,
started by the ``servers`` fixture); ``cli_archive`` builds a small archive through the CLI.
"""
