"""Templates: list, get, delete."""

from .client import Client


def list_templates(api_url=None, api_key=None, client=None):
    client = client or Client(api_url, api_key)
    return client.request("GET", "/v1/templates")["templates"]


def get_template(name, api_url=None, api_key=None, client=None):
    client = client or Client(api_url, api_key)
    return client.request("GET", f"/v1/templates/{name}", what="template")


def delete_template(name, api_url=None, api_key=None, client=None):
    """Deletes a template (Conflict while sandboxes use it)."""
    client = client or Client(api_url, api_key)
    client.request("DELETE", f"/v1/templates/{name}", expect=(204,), what="template")
