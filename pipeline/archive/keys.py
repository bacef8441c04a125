"""Archive lookup keys: the SURT form (Sort-friendly URI Reordering Transform, the ``surt``
package, as Common Crawl's ``url_surtkey`` and pywb's CDX ``urlkey``) of the URL as
submitted (pipeline.urls keeps the submitted query byte for byte for this)."""

from __future__ import annotations

import surt


def surt_key(url: str) -> str:
    """``http://www.Example.com/a?b=1&a=2`` -> ``com,example)/a?a=2&b=1``."""
    return surt.surt(url)
