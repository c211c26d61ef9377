"""Aurum's version, in a module of its own so that anything may import it without importing the
package face (``aurum/__init__.py``) and, through it, the client or the ingest pipeline."""

__version__ = "0.1.0"
