-- A job fanned out across workers (`service/worker/fanout.py`): its shards, each a run of the job's targets
-- that any worker captures, leased like jobs. The job stays Processing with no lease while its shards run;
-- the worker that finishes the last shard takes the job's lease in the same transaction and assembles.

CREATE TABLE job_shards (
    job_id          text        NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    number          integer     NOT NULL CHECK (number >= 0),
    -- slice bounds into the job's target list
    start_index     integer     NOT NULL CHECK (start_index >= 0),
    stop_index      integer     NOT NULL CHECK (stop_index > start_index),
    status          text        NOT NULL DEFAULT 'Init'
                    CHECK (status IN ('Init', 'Processing', 'Success', 'Fail')),
    attempts        integer     NOT NULL DEFAULT 0,
    lease_owner     text,
    lease_expires_at timestamptz,
    -- the shard's images as stored under the job's scratch prefix (`media/shards.py` ShardResult as JSON)
    result          jsonb,
    modified_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, number)
);
CREATE INDEX job_shards_by_lease_expiry ON job_shards (lease_expires_at) WHERE status = 'Processing';

-- the plan a fanned-out job was cut by (duration, bytes the plan read), and its shard counts for `Progress`
ALTER TABLE jobs ADD COLUMN fanout jsonb;
ALTER TABLE jobs ADD COLUMN shards_total integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN shards_done integer NOT NULL DEFAULT 0;
