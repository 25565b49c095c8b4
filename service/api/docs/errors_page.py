"""`GET /docs/errors`: every error Code, its HTTP status, whether a retry can help and what it means.

Every error's `Recommend` links its entry here (`#<Code>`), unless `SNAPSHOTD_DOCS_URL` points at a page
of your own. Rendered from `errors.error_codes()`, the list the README's table is made from too.
"""

from __future__ import annotations

import functools
from html import escape

from aiohttp import web

from service.errors import error_codes

PATH = "/docs/errors"


@functools.cache
def errors_page() -> bytes:
    rows = "".join(
        f'<tr id="{escape(code)}"><td><code>{escape(code)}</code></td><td>{status}</td>'
        f"<td>{'yes' if retryable else 'no'}</td><td>{escape(' '.join(meanings))}</td></tr>"
        for code, (status, retryable, meanings) in error_codes().items()
    )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>snapshotd errors</title>"
        "<style>body{font:15px system-ui;margin:2em}td,th{padding:.3em .8em;text-align:left;vertical-align:top}"
        "tr:target{background:#ffd}</style><h1>snapshotd errors</h1>"
        "<p>Every error is a non-2xx JSON body with <code>RequestId</code>, <code>HostId</code>, <code>Code</code>, "
        "<code>Message</code> (naming the field at fault) and <code>Recommend</code> (a link here). "
        "A failed job carries the same codes.</p>"
        f"<table><tr><th>Code</th><th>HTTP</th><th>retry</th><th>meaning</th></tr>{rows}</table></html>"
    ).encode()


async def errors_handler(request: web.Request) -> web.Response:
    return web.Response(body=errors_page(), content_type="text/html", charset="utf-8")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(PATH, errors_handler)
