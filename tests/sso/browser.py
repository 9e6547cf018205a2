"""A headless stand-in for the system browser: follows the provider's redirects over HTTP.

The provider's sign-in pages complete by themselves (see oidc/provider.mjs), so a browser
session is a chain of GET redirects; the device-flow confirmation is one form POST. Run as
a script (`python browser.py URL`), it is what `webbrowser.open` launches via $BROWSER.
"""

from __future__ import annotations

import re
import sys
from urllib.parse import urljoin

import requests

_REDIRECTS = {301, 302, 303, 307, 308}
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"\s*/?>')
_FORM = re.compile(r'<form[^>]*method="post"[^>]*action="([^"]+)"(.*?)</form>', re.S)


def authorize(url: str, *, stop_at: str | None = None) -> str:
    """Follow redirects from `url`; return the first URL starting with `stop_at` (unvisited),
    or the URL of the page the chain ends on."""
    with requests.Session() as http:
        for _ in range(20):
            response = http.get(url, allow_redirects=False, timeout=10)
            if response.status_code not in _REDIRECTS:
                response.raise_for_status()
                return url
            url = urljoin(url, response.headers["Location"])
            if stop_at is not None and url.startswith(stop_at):
                return url
    raise RuntimeError("too many redirects")


def approve_device(verification_uri_complete: str) -> str:
    """Confirm a device sign-in as the signed-in account; the provider's final page text.

    Each page's form is submitted as is (what its script or the "Continue" button does).
    """
    with requests.Session() as http:
        page = http.get(verification_uri_complete, timeout=10)
        for _ in range(5):
            page.raise_for_status()
            form = _FORM.search(page.text)
            if form is None:
                return page.text
            fields = dict(_HIDDEN.findall(form.group(2)))
            page = http.post(urljoin(page.url, form.group(1)), data=fields, timeout=10)
    raise RuntimeError("too many forms")


if __name__ == "__main__":
    authorize(sys.argv[1])
