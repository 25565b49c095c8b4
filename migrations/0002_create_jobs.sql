-- Snapshot jobs: every ICE SnapshotJob field, plus what the worker needs (attempts, lease, results).

CREATE TABLE jobs (
    job_id          text PRIMARY KEY,
    name            text,
    status          text        NOT NULL DEFAULT 'Init'
                    CHECK (status IN ('Init', 'Processing', 'Success', 'Fail')),
    type            text        NOT NULL CHECK (type IN ('Normal', 'Sprite', 'WebVtt')),
    -- {"Type": "OSS", "Media": "oss://bucket/key"} as submitted
    input           jsonb       NOT NULL,
    output          jsonb       NOT NULL,
    template_id     text        NOT NULL,
    -- effective config: the template merged with OverwriteParams
    template_config jsonb       NOT NULL,
    pipeline_id     text        NOT NULL REFERENCES pipelines (pipeline_id),
    priority        integer     NOT NULL,
    user_data       text,
    trigger_source  text        NOT NULL DEFAULT 'API',
    code            text,
    message         text,
    -- number of images produced (ICE's Count)
    count           integer     NOT NULL DEFAULT 0,
    -- per-image results and dropped slots, as the engine reported them
    images          jsonb       NOT NULL DEFAULT '[]',
    dropped         jsonb       NOT NULL DEFAULT '[]',
    -- stored objects: [{"Key", "ContentType", "Bytes"}]
    artifacts       jsonb       NOT NULL DEFAULT '[]',
    stats           jsonb       NOT NULL DEFAULT '{}',
    attempts        integer     NOT NULL DEFAULT 0,
    -- a worker owns a Processing job until its lease expires; it renews the lease while it runs
    lease_owner     text,
    lease_expires_at timestamptz,
    create_time     timestamptz NOT NULL DEFAULT now(),
    submit_time     timestamptz NOT NULL DEFAULT now(),
    modified_time   timestamptz NOT NULL DEFAULT now(),
    start_time      timestamptz,
    finish_time     timestamptz
);

-- ListSnapshotJobs pages by (create_time, job_id) with optional status filter
CREATE INDEX jobs_by_create_time ON jobs (create_time, job_id);
CREATE INDEX jobs_by_status_create_time ON jobs (status, create_time, job_id);
-- sweeps for expired leases and unfinished jobs of a pipeline
CREATE INDEX jobs_unfinished ON jobs (pipeline_id, status) WHERE status IN ('Init', 'Processing');
