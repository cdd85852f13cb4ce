"""The test suite; a package so that its development fakes run as `python -m tests.fakes...`."""
