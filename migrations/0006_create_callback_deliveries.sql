-- HTTP callbacks: one delivery per (event, target URL), written in the same transaction as the job's
-- final state, retried with back-off for hours, every attempt recorded. A delivery that used up its
-- attempts stays as Failed and can be replayed.

CREATE TABLE callback_deliveries (
    delivery_id     text PRIMARY KEY,
    job_id          text        NOT NULL,
    -- the event's MessageId: receivers de-duplicate on it
    message_id      text        NOT NULL,
    url             text        NOT NULL,
    body            jsonb       NOT NULL,
    -- '' when the callback is not signed (AuthSwitch off, or a per-job NotifyAddress)
    auth_key        text        NOT NULL DEFAULT '',
    status          text        NOT NULL DEFAULT 'Pending' CHECK (status IN ('Pending', 'Delivered', 'Failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    -- due time of the next attempt; a sender pushes it forward while it tries (its claim)
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX callback_deliveries_due ON callback_deliveries (next_attempt_at) WHERE status = 'Pending';
CREATE INDEX callback_deliveries_by_job ON callback_deliveries (job_id);

CREATE TABLE callback_attempts (
    id          bigserial PRIMARY KEY,
    delivery_id text        NOT NULL REFERENCES callback_deliveries (delivery_id),
    attempted_at timestamptz NOT NULL DEFAULT now(),
    -- HTTP status, or NULL when no response came back
    status_code integer,
    error       text        NOT NULL DEFAULT '',
    duration_ms integer     NOT NULL
);
CREATE INDEX callback_attempts_by_delivery ON callback_attempts (delivery_id, id);
