"""The paths that answer without a request signature and without PostgreSQL, in one place.

Probes must answer a kubelet that signs nothing, also while the database is away; the documents and
the error reference are static; `/files/` URLs carry their own signature and are served from storage,
and `/assets/` holds the preview page's public, versioned player files.
"""

from __future__ import annotations

from service.api.docs.asyncapi import PATH as ASYNCAPI_PATH
from service.api.docs.errors_page import PATH as ERRORS_PATH
from service.api.docs.openapi import PATH as OPENAPI_PATH
from service.api.files.preview import ASSETS_PREFIX
from service.storage.signed_urls import FILES_PREFIX

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", OPENAPI_PATH, ASYNCAPI_PATH, ERRORS_PATH})
OPEN_PREFIXES = (FILES_PREFIX, ASSETS_PREFIX)


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)
