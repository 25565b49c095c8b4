"""The ICE actions, their parameters and views.

`ACTIONS` is the one table of every action this service answers: the ICE endpoint (`POST /`) and the
REST routes run actions only through it (`ActionRegistry.run`), so an action is served exactly when it
is listed here.
"""

from __future__ import annotations

from service.api.actions import (
    callbacks,
    deliveries,
    jobs,
    media,
    media_jobs,
    pipelines,
    plan,
    snapshot_urls,
    templates,
)
from service.api.actions.registry import ActionRegistry

ACTIONS = ActionRegistry(
    {
        "SubmitSnapshotJob": jobs.submit_snapshot_job,
        "GetSnapshotJob": jobs.get_snapshot_job,
        "ListSnapshotJobs": jobs.list_snapshot_jobs,
        "GetSnapshotUrls": snapshot_urls.get_snapshot_urls,
        "PlanSnapshotJob": plan.plan_snapshot_job,
        "RegisterMediaInfo": media.register_media_info,
        "GetMediaInfo": media.get_media_info,
        "BatchGetMediaInfos": media.batch_get_media_infos,
        "ListMediaBasicInfos": media.list_media_basic_infos,
        "UpdateMediaInfo": media.update_media_info,
        "DeleteMediaInfos": media.delete_media_infos,
        "SubmitMediaInfoJob": media_jobs.submit_media_info_job,
        "GetMediaInfoJob": media_jobs.get_media_info_job,
        "ListMediaInfoJobs": media_jobs.list_media_info_jobs,
        "CreateCustomTemplate": templates.create_custom_template,
        "GetCustomTemplate": templates.get_custom_template,
        "ListCustomTemplates": templates.list_custom_templates,
        "UpdateCustomTemplate": templates.update_custom_template,
        "DeleteCustomTemplate": templates.delete_custom_template,
        "SetDefaultCustomTemplate": templates.set_default_custom_template,
        "ListSystemTemplates": templates.list_system_templates,
        "GetSystemTemplate": templates.get_system_template,
        "CreatePipeline": pipelines.create_pipeline,
        "GetPipeline": pipelines.get_pipeline,
        "ListPipelines": pipelines.list_pipelines,
        "UpdatePipeline": pipelines.update_pipeline,
        "DeletePipeline": pipelines.delete_pipeline,
        "SetEventCallback": callbacks.set_event_callback,
        "GetEventCallback": callbacks.get_event_callback,
        "ListCallbackDeliveries": deliveries.list_callback_deliveries,
        "ReplayCallbackDelivery": deliveries.replay_callback_delivery,
    }
)
