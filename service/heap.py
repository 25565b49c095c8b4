"""The cyclic garbage collector in a long-running server: what start-up built is never scanned again.

A full collection walks every tracked object, and most of those are the modules, the app and its pools,
alive for the whole run. Under load, requests in flight outlive the young collections and pile up in the
oldest generation, so full collections come every few seconds: measured in the API at 1,300 signed
submits/s on 2 cores, 15 in 40 s of about 57 ms each (87,000 objects; the p99 of a 20 ms request).
Frozen, those objects sit in a permanent generation the collector skips: the same full collections take
about 5 ms. Nothing is leaked: a frozen object that dies is freed by reference counting as before, and
only cycles among start-up objects would wait (there are none to speak of once start-up is done).
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect start-up's garbage, then keep every object alive now out of later collections."""
    gc.collect()
    gc.freeze()
