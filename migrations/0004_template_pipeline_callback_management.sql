-- Management actions for templates, pipelines and the event callback (ICE §5, §6, §8.1).

-- DeletePipeline is a soft delete: jobs.pipeline_id references pipelines, and finished jobs must keep
-- answering GetSnapshotJob with the PipelineId they ran in, so the row stays and is hidden instead.
ALTER TABLE pipelines ADD COLUMN deleted_at timestamptz;

-- SetDefaultCustomTemplate: at most one default custom template per Type + Subtype. The service
-- serialises the switch itself; this index is the backstop against a lost race.
CREATE UNIQUE INDEX templates_single_default ON templates (type, subtype) WHERE is_default;

-- ListCustomTemplates / ListSystemTemplates page by creation time within one type.
CREATE INDEX templates_by_create_time ON templates (type, is_system, create_time, template_id);

-- SetEventCallback: one configuration per service (ICE has one per account and region). The boolean
-- key pinned to true makes a second row impossible. Fields that do not apply to the callback type
-- are stored as '' so GetEventCallback shows the effective configuration.
CREATE TABLE event_callback (
    singleton           boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    callback_type       text        NOT NULL CHECK (callback_type IN ('HTTP', 'MNS')),
    callback_url        text        NOT NULL DEFAULT '',
    callback_queue_name text        NOT NULL DEFAULT '',
    -- comma-separated event names, as given (normalised: trimmed, no duplicates)
    event_type_list     text        NOT NULL DEFAULT '',
    auth_switch         text        NOT NULL DEFAULT '' CHECK (auth_switch IN ('', 'on', 'off')),
    auth_key            text        NOT NULL DEFAULT '',
    modified_time       timestamptz NOT NULL DEFAULT now()
);
