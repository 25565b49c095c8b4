"""Request parameters are read from the raw query (and form bodies) with form semantics by yarl's parser;
it must read every query, hostile ones included, exactly as `urllib.parse.parse_qsl` (what the SDKs'
encoding and the signature's canonical form assume) reads it."""

from __future__ import annotations

import random
from urllib.parse import parse_qsl

import pytest

from service.api.actions.params import form_pairs

HOSTILE = [
    "",
    "a",
    "=b",
    "a==b",
    "&&a=1&&",
    "a=1;b=2",
    "a=+b+",
    "a=%2B",
    "a=%",
    "a=%2",
    "%ZZ=1",
    "a=%E9",
    "%E9%80=%FF%FE",
    "x=%C3%A9",
    "a=%00",
    "a=%25",
    "a%3Db=c",
    "a=%u00e9",
    "Input=%7B%22Media%22%3A%22oss%3A%2F%2Fb%2Fa%2Bb%20c.mp4%22%7D",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_a_hostile_query_reads_as_parse_qsl_reads_it(query: str) -> None:
    assert form_pairs(query) == parse_qsl(query, keep_blank_values=True)


def test_random_queries_read_as_parse_qsl_reads_them() -> None:
    rng = random.Random(12)
    alphabet = ["%", "&", "=", "+", ";", "a", "Z", "2", "B", "é", "%2B", "%C3", "%A9", "%FF", "%%", " "]
    for _ in range(5_000):
        query = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert form_pairs(query) == parse_qsl(query, keep_blank_values=True), query


def test_a_plus_is_a_space_and_an_escaped_plus_is_a_plus() -> None:
    assert form_pairs("Title=a+b%2Bc") == [("Title", "a b+c")]
