"""Weaviate: a collection with self-provided vectors, near-vector search, deletion."""

from __future__ import annotations

import pytest
from weaviate import WeaviateClient
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.query import MetadataQuery

pytestmark = pytest.mark.integration


def test_it_finds_an_object_by_its_vector(
    weaviate_client: WeaviateClient, weaviate_collection: str
) -> None:
    crops = weaviate_client.collections.create(
        weaviate_collection,
        vector_config=Configure.Vectors.self_provided(),
        properties=[Property(name="label", data_type=DataType.TEXT)],
    )
    person = crops.data.insert({"label": "person"}, vector=[0.9, 0.1, 0.0, 0.1])
    crops.data.insert({"label": "car"}, vector=[0.0, 0.2, 0.9, 0.1])

    result = crops.query.near_vector(
        [0.8, 0.2, 0.1, 0.1], limit=1, return_metadata=MetadataQuery(distance=True)
    )

    assert [obj.uuid for obj in result.objects] == [person]
    assert result.objects[0].properties["label"] == "person"
    assert result.objects[0].metadata.distance is not None
    assert result.objects[0].metadata.distance < 0.1
    weaviate_client.collections.delete(weaviate_collection)
    assert not weaviate_client.collections.exists(weaviate_collection)
