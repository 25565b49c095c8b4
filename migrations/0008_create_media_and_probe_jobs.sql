-- Media assets (ICE's MediaInfo: basic info + the probed file and streams) and the probe jobs that fill
-- them (ICE's MediaInfoJob), run by the workers from the jobs queue like snapshot jobs.

CREATE TABLE media (
    media_id        text PRIMARY KEY,
    -- InputURL as registered, and the object it names in one spelling (oss://bucket/key, or the http(s)
    -- URL as given): `oss://b/k`, `s3://b/k` and the OSS-hosted https URL are one asset
    input_url       text        NOT NULL,
    source          text        NOT NULL,
    media_type      text        NOT NULL CHECK (media_type IN ('video', 'audio', 'image')),
    -- ICE's MediaBasicInfo.Status; PrepareFail keeps why in code/message
    status          text        NOT NULL DEFAULT 'Init' CHECK (status IN ('Init', 'Normal', 'PrepareFail')),
    code            text,
    message         text,
    title           text        NOT NULL DEFAULT '',
    description     text        NOT NULL DEFAULT '',
    cover_url       text        NOT NULL DEFAULT '',
    -- comma-separated, as ICE returns MediaTags
    media_tags      text        NOT NULL DEFAULT '',
    user_data       text        NOT NULL DEFAULT '',
    business_type   text        NOT NULL DEFAULT '',
    category        text        NOT NULL DEFAULT '',
    reference_id    text,
    client_token    text,
    -- the probe's findings (`domain/media.py` Probe as JSON); NULL until a probe succeeded
    probe           jsonb,
    create_time     timestamptz NOT NULL DEFAULT now(),
    modified_time   timestamptz NOT NULL DEFAULT now(),
    -- DeleteMediaInfos is a soft delete: snapshot jobs keep naming the asset; the files are never touched
    deleted_at      timestamptz
);
-- one live asset per object: a second RegisterMediaInfo of it finds the first (or, with Overwrite, replaces it)
CREATE UNIQUE INDEX media_live_source ON media (source) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX media_live_reference ON media (reference_id) WHERE deleted_at IS NULL AND reference_id IS NOT NULL;
-- ClientToken is an idempotency key for as long as the row lives
CREATE UNIQUE INDEX media_client_token ON media (client_token) WHERE client_token IS NOT NULL;
-- ListMediaBasicInfos pages by (create_time, media_id)
CREATE INDEX media_by_create_time ON media (create_time, media_id) WHERE deleted_at IS NULL;

CREATE TABLE probe_jobs (
    job_id          text PRIMARY KEY,
    name            text,
    status          text        NOT NULL DEFAULT 'Init'
                    CHECK (status IN ('Init', 'Processing', 'Success', 'Fail')),
    -- {"Type": "OSS" | "Media", "Media": url or MediaId} as submitted
    input           jsonb       NOT NULL,
    -- the asset the result is written to (Input.Type Media, and every RegisterMediaInfo probe)
    media_id        text        REFERENCES media (media_id),
    pipeline_id     text        NOT NULL REFERENCES pipelines (pipeline_id),
    priority        integer     NOT NULL,
    user_data       text,
    -- API (SubmitMediaInfoJob) or RegisterMediaInfo
    trigger_source  text        NOT NULL DEFAULT 'API',
    code            text,
    message         text,
    -- the Probe as JSON once it succeeded
    result          jsonb,
    attempts        integer     NOT NULL DEFAULT 0,
    lease_owner     text,
    lease_expires_at timestamptz,
    create_time     timestamptz NOT NULL DEFAULT now(),
    submit_time     timestamptz NOT NULL DEFAULT now(),
    modified_time   timestamptz NOT NULL DEFAULT now(),
    finish_time     timestamptz
);
CREATE INDEX probe_jobs_by_create_time ON probe_jobs (create_time, job_id);
CREATE INDEX probe_jobs_by_lease_expiry ON probe_jobs (lease_expires_at) WHERE status = 'Processing';

-- Snapshot jobs on an asset (Input.Type Media): held in Init while the asset is still probing, dispatched
-- by the probe's finish, and listed on the asset (GetMediaInfo's Snapshots / SpriteImages) once finished.
ALTER TABLE jobs ADD COLUMN media_id text REFERENCES media (media_id);
CREATE INDEX jobs_by_media ON jobs (media_id, create_time) WHERE media_id IS NOT NULL;
