"""Stage 2 logic: fetch the pages that links point to, safely and politely.

safety.py      which addresses may be contacted; the guarded DNS resolver (+ --resolve rules)
content.py     media types, content decoding with a bomb guard, charset, binary sniffing
politeness.py  per-host concurrency and delay, robots.txt
client.py      the asyncio client: redirects, retries, caps, timeouts, one outcome per URL
warc.py        the archive path: responses read from / written to WARC files
records.py     outcomes -> rows of the pages/ schema
"""
