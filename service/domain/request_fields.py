"""The ICE actions' own parameters (paging, ordering, names, priorities, URL lifetimes), declared once.

The actions read them (`Params.field`), the REST routes document them (`api/rest/routes.py`), and the OpenAPI
document shows the same bounds, defaults and help. Snapshot-config fields are in `snapshot_fields.py`.
Bounds are ICE's documented ones unless a comment says otherwise.
"""

from __future__ import annotations

from service.domain.fields import Field, Kind
from service.domain.media import MediaStatus, MediaType
from service.domain.models import DeliveryStatus, JobStatus, PipelineStatus
from service.domain.templates import ORDERS, SNAPSHOT_TYPE, SNAPSHOT_TYPE_NAME, SUBTYPE_NAMES, SYSTEM_STATUSES

#: ICE's Name limit for jobs, templates and pipelines
NAME = Field("Name", Kind.STRING, "a name of your choosing", max_length=128)

# --- ListSnapshotJobs
JOB_PAGE_SIZE = Field("PageSize", Kind.INTEGER, "jobs per page", 20, low=1, high=100)
JOB_STATUS = Field("Status", Kind.CHOICE, "only jobs in this state", choices=tuple(s.value for s in JobStatus))
JOB_ORDER = Field(
    "OrderBy", Kind.CHOICE, "creation-time order", "CreateTimeDesc", choices=("CreateTimeDesc", "CreateTimeAsc")
)
PAGE_TOKEN = Field("NextPageToken", Kind.STRING, "the previous page's NextPageToken")
JOB_ID_FILTER = Field("JobId", Kind.STRING, "only this job")
START_OF_CREATE_TIME = Field(
    "StartOfCreateTime", Kind.STRING, "jobs created at or after, UTC, e.g. 2024-01-02T00:00:00Z", format="date-time"
)
END_OF_CREATE_TIME = Field("EndOfCreateTime", Kind.STRING, "jobs created at or before, UTC", format="date-time")

# --- GetSnapshotUrls
#: PageNumber is an int32 in ICE's API; any page past the last one is simply empty
URL_PAGE_NUMBER = Field("PageNumber", Kind.INTEGER, "1-based page of URLs", 1, low=1, high=2**31 - 1)
URL_PAGE_SIZE = Field("PageSize", Kind.INTEGER, "URLs per page", 10, low=1, high=30)
URL_ORDER = Field("OrderBy", Kind.CHOICE, "image order", "Asc", choices=("Asc", "Desc"))
URL_TIMEOUT = Field("Timeout", Kind.INTEGER, "how long the URLs stay valid", 3600, low=1, high=129_600, unit="s")

# --- templates
#: ICE documents no PageNumber ceiling; this one keeps the OFFSET sane
TEMPLATE_PAGE_NUMBER = Field("PageNumber", Kind.INTEGER, "1-based page", 1, low=1, high=1_000_000)
TEMPLATE_PAGE_SIZE = Field("PageSize", Kind.INTEGER, "templates per page", 20, low=1, high=100)
#: checked by `api/templates.parse_type` (other ICE types get NotSupport); declared for the documents
TEMPLATE_TYPE = Field(
    "Type",
    Kind.CHOICE,
    "template type: only snapshot templates exist here",
    str(SNAPSHOT_TYPE),
    choices=(str(SNAPSHOT_TYPE), SNAPSHOT_TYPE_NAME),
)
SUBTYPE = Field(
    "Subtype",
    Kind.CHOICE,
    "snapshot subtype, by number or name",
    choices=(*map(str, SUBTYPE_NAMES), *SUBTYPE_NAMES.values()),
)
TEMPLATE_ID_FILTER = Field("TemplateId", Kind.STRING, "only this template")
NAME_FILTER = Field("Name", Kind.STRING, "a substring of the template name, any case")
TEMPLATE_ORDER = Field("OrderBy", Kind.CHOICE, "creation-time order", "CreationTime:Desc", choices=tuple(ORDERS))
SYSTEM_STATUS = Field("Status", Kind.CHOICE, "which presets", "Normal", choices=tuple(SYSTEM_STATUSES))

# --- pipelines
#: ICE: Priority 1..10, default 6, larger runs first; it is the AMQP priority of the pipeline's jobs
PRIORITY = Field("Priority", Kind.INTEGER, "the pipeline's job priority; larger runs first", 6, low=1, high=10)
#: ICE's Speed values; all run on the same workers here
SPEED = Field("Speed", Kind.CHOICE, "ICE's pipeline speed class", choices=("Standard", "Boost", "NarrowBandHDV2"))
PIPELINE_STATUS = Field(
    "Status", Kind.CHOICE, "Paused holds new jobs in Init", choices=tuple(s.value for s in PipelineStatus)
)

# --- callback deliveries
DELIVERY_JOB_FILTER = Field("JobId", Kind.STRING, "only this job's deliveries")
DELIVERY_STATUS = Field(
    "Status", Kind.CHOICE, "only deliveries in this state", choices=tuple(s.value for s in DeliveryStatus)
)

# --- media assets (RegisterMediaInfo, GetMediaInfo, ListMediaBasicInfos, UpdateMediaInfo, …): the SDK's limits
MEDIA_TYPE_CHOICES = tuple(t.value for t in MediaType)
#: ICE's BusinessType values for media assets
BUSINESS_TYPES = ("subtitles", "font", "watermark", "opening", "ending", "general")
#: ICE: at most 16 tags of at most 32 bytes each, comma-separated
MAX_TAGS, MAX_TAG_BYTES = 16, 32
#: an InputURL is a URL of at most an object key's 1024 bytes plus its bucket and scheme
INPUT_URL = Field(
    "InputURL", Kind.STRING, "the file: oss://bucket/key, s3://bucket/key or an http(s) URL", max_length=2048
)
MEDIA_ID = Field("MediaId", Kind.STRING, "the media asset's id", max_length=64)
MEDIA_TYPE = Field(
    "MediaType",
    Kind.CHOICE,
    "video, audio or image; by default what the file's extension says",
    choices=MEDIA_TYPE_CHOICES,
)
MEDIA_TITLE = Field("Title", Kind.STRING, "the asset's title; by default the registration time", max_length=128)
MEDIA_DESCRIPTION = Field("Description", Kind.STRING, "the asset's description", max_length=1024)
COVER_URL = Field("CoverURL", Kind.STRING, "a cover image URL", max_length=128)
MEDIA_TAGS = Field(
    "MediaTags", Kind.STRING, f"comma-separated tags, at most {MAX_TAGS} of {MAX_TAG_BYTES} bytes", max_length=1024
)
BUSINESS_TYPE = Field("BusinessType", Kind.CHOICE, "what the asset is for", choices=BUSINESS_TYPES)
CATEGORY = Field("Category", Kind.STRING, "a category of your choosing", max_length=64)
#: ICE: 6-64 characters of letters, digits, '-' and '_', unique per account (checked in `actions/media.py`)
REFERENCE_ID = Field("ReferenceId", Kind.STRING, "your own unique id: 6-64 of A-Z a-z 0-9 - _", max_length=64)
OVERWRITE = Field("Overwrite", Kind.BOOLEAN, "an InputURL registered already: delete that asset, register anew", False)
CLIENT_TOKEN = Field(
    "ClientToken", Kind.STRING, "an idempotency key: the same token answers the same MediaId", max_length=64
)
APPEND_TAGS = Field("AppendTags", Kind.BOOLEAN, "add MediaTags to the asset's tags instead of replacing them", False)
MEDIA_IDS = Field("MediaIds", Kind.STRING, "comma-separated MediaIds, at most 100", max_length=100 * 65)
INPUT_URLS = Field("InputURLs", Kind.STRING, "comma-separated InputURLs, at most 100", max_length=100 * 2049)
DELETE_PHYSICAL_FILES = Field(
    "DeletePhysicalFiles", Kind.BOOLEAN, "not supported: the files of deleted assets are always kept", False
)
MEDIA_STATUS = Field("Status", Kind.CHOICE, "only assets in this state", choices=tuple(s.value for s in MediaStatus))
MEDIA_START_TIME = Field(
    "StartTime",
    Kind.STRING,
    "assets created after this time (exclusive), UTC, e.g. 2024-01-02T00:00:00Z",
    format="date-time",
)
MEDIA_END_TIME = Field("EndTime", Kind.STRING, "assets created at or before this time, UTC", format="date-time")
MEDIA_SORT = Field("SortBy", Kind.CHOICE, "creation-time order", "desc", choices=("desc", "asc"))
MAX_RESULTS = Field("MaxResults", Kind.INTEGER, "assets per page", 10, low=1, high=100)
NEXT_TOKEN = Field("NextToken", Kind.STRING, "the previous page's NextToken")
INCLUDE_FILE_BASIC_INFO = Field(
    "IncludeFileBasicInfo", Kind.BOOLEAN, "add each asset's FileInfoList with its FileBasicInfo", False
)

# --- probe jobs (SubmitMediaInfoJob, GetMediaInfoJob, ListMediaInfoJobs)
PROBE_PAGE_SIZE = Field("PageSize", Kind.INTEGER, "jobs per page", 10, low=1, high=100)
PROBE_PRIORITY = Field("Priority", Kind.INTEGER, "the job's priority; larger runs first", low=1, high=10)
