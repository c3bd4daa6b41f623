"""Conformance suites every backend of a family must pass.

Import a suite's tests into a test module and provide its fixture: the tracking suite needs
a ``client`` fixture (a :class:`treadle.Client` on the backend under test); the blob suite a
``blob_store`` fixture. See ``tests/conformance/`` for how treadle runs them on SQLite,
PostgreSQL, the HTTP remote, local disk, memory and S3.
"""
