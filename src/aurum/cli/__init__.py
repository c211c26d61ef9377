"""The ``aurum`` command line: the composition root for batch work."""
