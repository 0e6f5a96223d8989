"""The HTTP API (FastAPI): :func:`~vidstruct.service.api.app.create_app` builds it from service settings."""
