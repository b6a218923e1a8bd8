"""The test suite, a package: test modules import their support code from ``tests.support``, never via sys.path."""
