"""The sandbox answers the doctor's calls as Mailchimp does: the API root, a refused key, an unknown list."""

import requests

from connector.sandbox.server import SandboxHandle
from tests.doctor.conftest import GOOD_KEY

PROBLEM = "application/problem+json"


def test_the_api_root_names_the_account_and_its_data_centre(sandbox: SandboxHandle) -> None:
    answer = requests.get(f"{sandbox.base_url}/", auth=("any", GOOD_KEY), timeout=10)
    assert answer.status_code == 200
    root = answer.json()
    assert root["account_name"] == "consent-sync sandbox"
    assert root["_links"][0] == {
        "rel": "self",
        "href": "https://us1.api.mailchimp.com/3.0/",
        "method": "GET",
        "targetSchema": "https://us1.api.mailchimp.com/schema/3.0/Definitions/Root/Response.json",
    }


def test_a_key_not_accepted_and_a_key_for_another_data_centre_get_the_same_401(
    sandbox: SandboxHandle,
) -> None:
    for key in ("fedcba9876543210-us1", GOOD_KEY.replace("-us1", "-us6")):
        for path in ("/", "/ping", "/lists"):
            answer = requests.get(f"{sandbox.base_url}{path}", auth=("any", key), timeout=10)
            assert answer.status_code == 401
            assert answer.headers["content-type"].startswith(PROBLEM)
            assert answer.json()["title"] == "API Key Invalid"
            assert "wrong datacenter" in answer.json()["detail"]


def test_an_unknown_list_is_a_404_problem(sandbox: SandboxHandle) -> None:
    answer = requests.get(f"{sandbox.base_url}/lists/ab12cd34ef", auth=("any", GOOD_KEY), timeout=10)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert answer.json()["title"] == "Resource Not Found"
