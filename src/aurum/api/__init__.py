"""The REST API (FastAPI): ``create_app()`` in ``aurum.api.app``; ``aurum serve`` runs it."""
