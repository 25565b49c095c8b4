"""The media library's bookkeeping through the API (no worker: the assets stay Init): ListMediaBasicInfos
paging across 250 registered assets, its filters and order, registration rules (one asset per file,
ClientToken, Overwrite, ReferenceId), UpdateMediaInfo, BatchGetMediaInfos and DeleteMediaInfos."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.ice import call

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

ASSETS = 250


async def ok(api: TestClient, action: str, **params: Any) -> dict[str, Any]:
    status, body = await call(api, action, **params)
    assert status == 200, (action, body)
    return body


async def pages(api: TestClient, **params: Any) -> list[list[dict[str, Any]]]:
    found, token = [], None
    while True:
        body = await ok(api, "ListMediaBasicInfos", **params, **({"NextToken": token} if token else {}))
        found.append(body["MediaInfos"])
        assert body["TotalCount"] == ASSETS
        token = body["NextToken"]
        if not token:
            return found


async def test_paging_across_250_assets(api: TestClient) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    gate = asyncio.Semaphore(8)

    async def register(n: int) -> str:
        async with gate:
            body = await ok(api, "RegisterMediaInfo", InputURL=f"oss://media/v/{n:03d}.mp4", Title=f"t{n}")
            return str(body["MediaId"])

    ids = await asyncio.gather(*(register(n) for n in range(ASSETS)))

    newest_first = await pages(api, MaxResults=100)
    oldest_first = await pages(api, MaxResults=100, SortBy="asc")
    default = await ok(api, "ListMediaBasicInfos")
    flat = [info["MediaId"] for page in newest_first for info in page]
    times = [info["MediaBasicInfo"]["CreateTime"] for page in newest_first for info in page]

    assert [len(page) for page in newest_first] == [100, 100, 50]
    assert sorted(flat) == sorted(ids) and len(set(flat)) == ASSETS
    assert [info["MediaId"] for page in oldest_first for info in page] == flat[::-1]
    assert times == sorted(times, reverse=True)
    assert len(default["MediaInfos"]) == 10 and "FileInfoList" not in default["MediaInfos"][0]
    assert {info["MediaBasicInfo"]["Status"] for page in newest_first for info in page} == {"Init"}

    later = datetime.now(UTC) + timedelta(seconds=1)
    window = await ok(api, "ListMediaBasicInfos", StartTime=_iso(before), EndTime=_iso(later), MaxResults=1)
    after_all = await ok(api, "ListMediaBasicInfos", StartTime=_iso(later))
    normal = await ok(api, "ListMediaBasicInfos", Status="Normal")
    images = await ok(api, "ListMediaBasicInfos", MediaType="image")
    bad_token = await call(api, "ListMediaBasicInfos", NextToken="not-a-token")
    too_many = await call(api, "ListMediaBasicInfos", MaxResults=101)
    assert window["TotalCount"] == ASSETS and window["NextToken"]
    assert after_all["TotalCount"] == normal["TotalCount"] == images["TotalCount"] == 0
    assert (bad_token[0], bad_token[1]["Code"]) == (400, "InvalidParameter") and "NextToken" in bad_token[1]["Message"]
    assert (too_many[0], too_many[1]["Code"]) == (400, "InvalidParameter")


async def test_registration_rules(api: TestClient) -> None:
    first = (await ok(api, "RegisterMediaInfo", InputURL="oss://media/a.mp4", ClientToken="tok-1"))["MediaId"]
    spelt_otherwise = await ok(api, "RegisterMediaInfo", InputURL="https://media.oss-cn-shanghai.aliyuncs.com/a.mp4")
    same_token = await ok(api, "RegisterMediaInfo", InputURL="oss://media/a.mp4", ClientToken="tok-1")
    token_reused = await call(api, "RegisterMediaInfo", InputURL="oss://media/b.mp4", ClientToken="tok-1")
    overwritten = (await ok(api, "RegisterMediaInfo", InputURL="oss://media/a.mp4", Overwrite=True))["MediaId"]
    old = await call(api, "GetMediaInfo", MediaId=first)
    by_url = await ok(api, "GetMediaInfo", InputURL="s3://media/a.mp4")
    image = await ok(
        api, "GetMediaInfo", MediaId=(await ok(api, "RegisterMediaInfo", InputURL="oss://media/p.png"))["MediaId"]
    )

    assert spelt_otherwise["MediaId"] == same_token["MediaId"] == first
    assert (token_reused[0], token_reused[1]["Code"]) == (400, "InvalidParameter")
    assert "ClientToken" in token_reused[1]["Message"]
    assert overwritten != first and by_url["MediaInfo"]["MediaId"] == overwritten
    assert (old[0], old[1]["Code"]) == (404, "InvalidParameter.ResourceNotFound")
    assert image["MediaInfo"]["MediaBasicInfo"]["MediaType"] == "image"

    with_ref = await ok(api, "RegisterMediaInfo", InputURL="oss://media/c.mp4", ReferenceId="ref-0001")
    taken = await call(api, "RegisterMediaInfo", InputURL="oss://media/d.mp4", ReferenceId="ref-0001")
    short = await call(api, "RegisterMediaInfo", InputURL="oss://media/d.mp4", ReferenceId="r1")
    too_many_tags = await call(
        api, "RegisterMediaInfo", InputURL="oss://media/d.mp4", MediaTags=",".join(f"t{n}" for n in range(17))
    )
    assert with_ref["MediaId"]
    for status, body in (taken, short, too_many_tags):
        assert (status, body["Code"]) == (400, "InvalidParameter"), body
    assert "ReferenceId" in taken[1]["Message"] and "MediaTags" in too_many_tags[1]["Message"]


async def test_update_batch_get_and_delete(api: TestClient) -> None:
    a = (await ok(api, "RegisterMediaInfo", InputURL="oss://media/a.mp4", MediaTags="x,y"))["MediaId"]
    b = (await ok(api, "RegisterMediaInfo", InputURL="oss://media/b.mp4"))["MediaId"]

    await ok(api, "UpdateMediaInfo", MediaId=a, Title="new", MediaTags="y,z", AppendTags=True, Description="d")
    await ok(api, "UpdateMediaInfo", InputURL="oss://media/b.mp4", MediaTags="only", CoverURL="https://c/x.jpg")
    batch = await ok(api, "BatchGetMediaInfos", MediaIds=f"{a},{b},missing")
    basics = {info["MediaId"]: info["MediaBasicInfo"] for info in batch["MediaInfos"]}
    assert (basics[a]["Title"], basics[a]["MediaTags"], basics[a]["Description"]) == ("new", "x,y,z", "d")
    assert (basics[b]["MediaTags"], basics[b]["CoverURL"]) == ("only", "https://c/x.jpg")
    assert batch["IgnoredList"] == ["missing"]

    physical = await call(api, "DeleteMediaInfos", MediaIds=a, DeletePhysicalFiles=True)
    deleted = await ok(api, "DeleteMediaInfos", MediaIds=a, InputURLs="oss://media/b.mp4,oss://media/none.mp4")
    again = await ok(api, "DeleteMediaInfos", MediaIds=a)
    unknown_update = await call(api, "UpdateMediaInfo", MediaId=a, Title="x")
    assert (physical[0], physical[1]["Code"]) == (400, "InvalidParameter.NotSupport")
    assert deleted == {**deleted, "IgnoredList": ["oss://media/none.mp4"], "ForbiddenList": []}
    assert again["IgnoredList"] == [a]
    assert (unknown_update[0], unknown_update[1]["Code"]) == (404, "InvalidParameter.ResourceNotFound")
    assert (await ok(api, "BatchGetMediaInfos", MediaIds=f"{a},{b}"))["IgnoredList"] == [a, b]


async def test_the_rest_resources(api: TestClient) -> None:
    created = await api.post("/v1/media", json={"InputURL": "oss://media/r.mp4", "Title": "rest"})
    media_id = (await created.json())["MediaId"]
    got = await api.get(f"/v1/media/{media_id}")
    patched = await api.patch(f"/v1/media/{media_id}", json={"Title": "renamed"})
    listed = await api.get("/v1/media", params={"MaxResults": "5"})
    batch = await api.get("/v1/media:batch", params={"MediaIds": media_id})
    deleted = await api.delete(f"/v1/media/{media_id}")
    gone = await api.get(f"/v1/media/{media_id}")

    assert created.status == got.status == patched.status == listed.status == batch.status == deleted.status == 200
    assert (await got.json())["MediaInfo"]["MediaBasicInfo"]["Title"] == "rest"
    assert (await listed.json())["MediaInfos"][0]["MediaBasicInfo"]["Title"] == "renamed"
    assert (await batch.json())["MediaInfos"][0]["MediaId"] == media_id
    assert gone.status == 404


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
