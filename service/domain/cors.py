"""What a page on another origin may do with a delivered object: one list, used by the API's own
CORS answers (`api/files/cors.py`) and by the CORS rule it gives an S3 bucket (`storage/s3.py`)."""

from __future__ import annotations

#: a player only reads
ALLOWED_METHODS = ("GET", "HEAD")
#: what a player sends beyond the CORS-safelisted headers: byte ranges and cache validators
ALLOWED_HEADERS = ("Range", "If-None-Match", "If-Modified-Since", "If-Range")
#: what a player's script may read beyond the safelisted response headers (byte ranges, validators)
EXPOSED_HEADERS = ("Content-Range", "Content-Length", "Accept-Ranges", "ETag")
#: how long a browser may reuse a preflight; Chromium caps it at 2 hours (Firefox at 24)
PREFLIGHT_MAX_AGE_S = 7200
