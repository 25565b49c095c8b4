-- Pipelines (ICE/MPS queues) and snapshot templates. IDs are 32 lowercase hex like ICE's.

CREATE TABLE pipelines (
    pipeline_id   text PRIMARY KEY,
    name          text        NOT NULL,
    speed         text        NOT NULL DEFAULT 'Standard',
    -- AMQP message priority of the pipeline's jobs; larger runs first (ICE: 1..10, default 6)
    priority      integer     NOT NULL DEFAULT 6 CHECK (priority BETWEEN 1 AND 10),
    status        text        NOT NULL DEFAULT 'Active' CHECK (status IN ('Active', 'Paused')),
    is_default    boolean     NOT NULL DEFAULT false,
    create_time   timestamptz NOT NULL DEFAULT now(),
    modified_time timestamptz NOT NULL DEFAULT now()
);
-- exactly one default pipeline at most
CREATE UNIQUE INDEX pipelines_single_default ON pipelines (is_default) WHERE is_default;

CREATE TABLE templates (
    template_id   text PRIMARY KEY,
    name          text        NOT NULL,
    -- ICE template type: 2 = snapshot
    type          integer     NOT NULL DEFAULT 2,
    -- snapshot subtype: 1 Normal, 2 Sprite, 3 WebVtt
    subtype       integer     NOT NULL CHECK (subtype IN (1, 2, 3)),
    is_system     boolean     NOT NULL DEFAULT false,
    is_default    boolean     NOT NULL DEFAULT false,
    status        text        NOT NULL DEFAULT 'Normal',
    -- the ICE TemplateConfig object, validated by the service before it is stored
    config        jsonb       NOT NULL,
    create_time   timestamptz NOT NULL DEFAULT now(),
    modified_time timestamptz NOT NULL DEFAULT now()
);
