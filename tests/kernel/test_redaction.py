import pytest

from pxos_kernel import redact_url


@pytest.mark.parametrize("text, shown", [
    ("https://bob:hunter2@api.example.com/v1", "https://***@api.example.com/v1"),
    ("http://token@127.0.0.1:8000/v1?x=1", "http://***@127.0.0.1:8000/v1?x=1"),
    ("https://h/v1?api_key=abc&x=1&token=t", "https://h/v1?api_key=***&x=1&token=***"),
    ("cannot reach postgresql://u:pw@db/pxos (refused)", "cannot reach postgresql://***@db/pxos (refused)"),
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
])
def test_credentials_in_urls_are_redacted(text, shown):
    assert redact_url(text) == shown
