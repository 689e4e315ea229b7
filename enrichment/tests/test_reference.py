"""Reference data: shipped with its origin, replaced whole by a validated CSV upload."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from enrichment.models import HousePriceIndex, PostcodeArea, ReferenceDataset
from enrichment.selectors import house_price_index_frame, postcode_area_lookup
from enrichment.services.reference import house_price_index_replace, postcode_areas_replace, reference_data_ensure

pytestmark = pytest.mark.django_db

INDEX = """# Test figures, made up for this test.
region,region_name,year,quarter,index,basis
PV26,Utrecht,2024,1,131.9,cbs
PV26,Utrecht,2024,2,136.0,approximation
"""


def test_the_shipped_files_load_with_their_origin_and_cover_every_postcode():
    loaded = reference_data_ensure()
    assert {dataset.kind for dataset in loaded} == {"postcode_areas", "house_price_index"}
    assert "CBS" in ReferenceDataset.objects.get(kind="house_price_index").origin
    assert "NOT the official table" in ReferenceDataset.objects.get(kind="postcode_areas").origin
    lookup, areas = postcode_area_lookup()
    assert (lookup[1000:] >= 0).all()  # every four-digit postcode has an area
    regions_with_index = set(house_price_index_frame()["region"])
    assert set(areas["region"]) <= regions_with_index
    amsterdam = areas.loc[lookup[1015]]
    assert (amsterdam["municipality"], amsterdam["region"]) == ("Amsterdam", "PV27")
    assert areas.loc[lookup[1370]]["province"] == "Flevoland"
    assert reference_data_ensure() == []  # already loaded: nothing replaced


def test_a_valid_file_replaces_the_whole_index():
    house_price_index_replace(text=INDEX, file_name="a.csv")
    house_price_index_replace(text=INDEX.replace("136.0", "137.5"), file_name="b.csv")
    assert list(HousePriceIndex.objects.values_list("index", flat=True)) == [Decimal("131.90"), Decimal("137.50")]
    dataset = ReferenceDataset.objects.get(kind="house_price_index")
    assert (dataset.file_name, dataset.rows, dataset.origin) == ("b.csv", 2, "Test figures, made up for this test.")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (INDEX.split("\n", 1)[1], "where its figures come from"),
        (INDEX.replace("index,basis", "value,basis"), "columns must be exactly"),
        (INDEX + "PV26,Utrecht,2024,5,140,x\n", "Line 5"),
        (INDEX + "PV26,Utrecht,2024,2,140,x\n", "occur twice"),
        (INDEX + "PV26,Utrecht,2024,3,-1,x\n", "positive"),
    ],
)
def test_a_bad_file_replaces_nothing_and_says_why(text, message):
    house_price_index_replace(text=INDEX, file_name="good.csv")
    with pytest.raises(ValidationError) as refused:
        house_price_index_replace(text=text, file_name="bad.csv")
    assert any(message in error for error in refused.value.messages)
    assert HousePriceIndex.objects.count() == 2
    assert ReferenceDataset.objects.get(kind="house_price_index").file_name == "good.csv"


def test_postcode_ranges_are_checked():
    with pytest.raises(ValidationError):
        postcode_areas_replace(
            text="# x\npc4_from,pc4_to,municipality,province,region\n3600,3500,,Utrecht,PV26\n", file_name="x"
        )
    assert not PostcodeArea.objects.exists()


def test_an_admin_replaces_the_index_by_upload(client, admin):
    from django.core.files.uploadedfile import SimpleUploadedFile

    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    url = reverse("admin:enrichment_housepriceindex_replace")
    response = client.post(url, {"file": SimpleUploadedFile("cbs.csv", INDEX.encode())})
    assert response.status_code == 302
    assert HousePriceIndex.objects.count() == 2
    bad = client.post(url, {"file": SimpleUploadedFile("bad.csv", b"region,index\n")})
    assert bad.status_code == 200 and "where its figures come from" in bad.content.decode()
    assert HousePriceIndex.objects.count() == 2


def test_back_office_cannot_replace_reference_data(client, back_office):
    client.force_login(back_office)
    response = client.get(reverse("admin:enrichment_housepriceindex_replace"))
    assert response.status_code in (302, 403)
