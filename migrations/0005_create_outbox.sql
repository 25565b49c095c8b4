-- Transactional outbox: a message to publish is written in the same transaction as the state change
-- it announces (a job accepted, a job finished). A relay publishes rows with broker confirms and
-- deletes them; until then they survive any crash or broker outage.

CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    -- 'dispatch' goes to the jobs exchange, 'event' to the events topic exchange
    kind         text        NOT NULL CHECK (kind IN ('dispatch', 'event')),
    routing_key  text        NOT NULL,
    body         jsonb       NOT NULL,
    priority     integer     NOT NULL DEFAULT 0,
    -- AMQP message id: the job id for dispatches, the event's MessageId for events (consumers de-duplicate)
    message_id   text        NOT NULL,
    attempts     integer     NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- publishing failed: the relay leaves the row alone until then (back-off)
    available_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_by_available_at ON outbox (available_at, id);

-- the lease sweeper looks for Processing jobs whose worker stopped renewing
CREATE INDEX jobs_by_lease_expiry ON jobs (lease_expires_at) WHERE status = 'Processing';
