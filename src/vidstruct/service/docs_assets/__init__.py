"""Swagger UI, vendored so that ``/docs`` loads nothing from the network.

Swagger UI 5.33.1 (npm ``swagger-ui-dist``; Apache-2.0: ``swagger-ui.LICENSE``; the licenses of the code bundled
into it: ``swagger-ui-bundle.js.LICENSE.txt``): ``swagger-ui-bundle.js``, ``swagger-ui.css``,
``favicon-32x32.png``, unchanged copies of the files the ``drf-spectacular-sidecar`` 2026.10.1 wheel on PyPI
ships. It renders OpenAPI 3.1 (the schema FastAPI makes). ReDoc is not vendored: its bundle loads a logo from its
vendor's CDN that no option turns off. :data:`ASSETS` maps each servable file to its media type.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
    "swagger-ui.LICENSE": "text/plain",
    "swagger-ui-bundle.js.LICENSE.txt": "text/plain",
}
