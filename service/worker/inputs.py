"""The media asset a job names, resolved when it runs (its file is then read like any input: `storage/inputs.py`)."""

from __future__ import annotations

from service.domain.media import MediaStatus, Probe
from service.errors import MediaAssetNotFound, error_of
from service.store.media import MediaRecord, MediaStore


async def live_asset(media: MediaStore, media_id: str, field: str) -> MediaRecord:
    """The asset a job names, or the error the job fails with: unknown or deleted."""
    asset = await media.get(media_id)
    if asset is None or asset.deleted_at is not None:
        raise MediaAssetNotFound.named(field, media_id)
    return asset


async def probed_asset(media: MediaStore, media_id: str, field: str) -> tuple[MediaRecord, Probe | None]:
    """A snapshot's asset and its probe; an asset whose probe failed fails the job with the probe's reason."""
    asset = await live_asset(media, media_id, field)
    if asset.status is MediaStatus.PREPARE_FAIL:
        reason = asset.message or "its file could not be read"
        raise error_of(asset.code, f'The media asset "{media_id}" failed its probe: {reason}')
    return asset, asset.probe
