-- A default pipeline always exists, and a few system snapshot templates so TemplateId always resolves.
-- IDs follow ICE's shapes: 32 hex for pipelines, S00000002-00000N for system templates.

INSERT INTO pipelines (pipeline_id, name, speed, priority, status, is_default)
VALUES ('00000000000000000000000000000001', 'default', 'Standard', 6, 'Active', true)
ON CONFLICT DO NOTHING;

INSERT INTO templates (template_id, name, type, subtype, is_system, status, config) VALUES
    ('S00000002-000001', 'Normal snapshot', 2, 1, true, 'Normal',
     '{"Type": "Normal", "FrameType": "intra", "Time": 0, "Count": 1}'),
    ('S00000002-000002', 'Normal snapshot, exact frame', 2, 1, true, 'Normal',
     '{"Type": "Normal", "FrameType": "normal", "Time": 0, "Count": 1}'),
    ('S00000002-000003', 'Sprite 10x10 of 160px cells', 2, 2, true, 'Normal',
     '{"Type": "Sprite", "FrameType": "intra", "Time": 0, "Count": 100, "Interval": 10, "Width": 160,
       "SpriteSnapshotConfig": {"Columns": 10, "Lines": 10, "Padding": 0, "Margin": 0, "Color": "#000000"}}'),
    ('S00000002-000004', 'WebVTT storyboard, sprite sheets', 2, 3, true, 'Normal',
     '{"Type": "WebVtt", "FrameType": "intra", "Time": 0, "Count": 100, "Interval": 10, "Width": 160,
       "IsSptFrag": true}')
ON CONFLICT DO NOTHING;
