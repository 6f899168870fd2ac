# pixelproof fallback shim: prints one document with WeasyPrint.
#
# This script decides nothing about what a document may load. Every URL WeasyPrint wants
# is sent to pixelproof (one JSON line on the protocol stdout) and pixelproof answers (one
# JSON line on stdin) with the bytes, a refusal, or permission to decode a data: URL.
# It also reports each @font-face and whether it loaded ({"face": ...}).
# argv[1] is a JSON job file: html, base_url, out, title, pages (1-based list or null), zoom,
# media ("print" or "screen").
import base64
import json
import logging
import os
import sys

# The protocol owns fds 0 and 1; anything WeasyPrint or Python prints goes to stderr.
proto_in = os.fdopen(os.dup(0), "rb")
proto_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)

import weasyprint  # noqa: E402
from weasyprint.logger import LOGGER  # noqa: E402
from weasyprint.text.fonts import FontConfiguration  # noqa: E402
from weasyprint.urls import default_url_fetcher  # noqa: E402

# WeasyPrint's warnings (ignored CSS, refused URLs) go to stderr: pixelproof quotes its tail.
_stderr = logging.StreamHandler(sys.stderr)
_stderr.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
LOGGER.addHandler(_stderr)

with open(sys.argv[1], encoding="utf-8") as f:
    job = json.load(f)


def tell(message):
    proto_out.write(json.dumps(message) + "\n")
    proto_out.flush()


def ask(url):
    tell({"url": url})
    line = proto_in.readline()
    if not line:
        raise RuntimeError("pixelproof closed the request pipe")
    return json.loads(line)


def fetch(url, timeout=10, ssl_context=None):
    answer = ask(url)
    if answer.get("serve") is not None:
        mime, _, params = answer.get("mime", "application/octet-stream").partition(";")
        result = {"string": base64.b64decode(answer["serve"]), "mime_type": mime.strip(), "redirected_url": url}
        if "charset=" in params:
            result["encoding"] = params.split("charset=", 1)[1].strip()
        return result
    if answer.get("decode_data") and url[:5].lower() == "data:":
        return default_url_fetcher(url)
    raise ValueError("refused by pixelproof: " + answer.get("refuse", "no reason given"))


class _FaceFailed(logging.Filter):
    """Notices WeasyPrint's "Font-face ... cannot be loaded" warning."""

    failed = False

    def filter(self, record):
        if record.msg == "Font-face %r cannot be loaded":
            self.failed = True
        return True


_add_font_face = FontConfiguration.add_font_face


def add_font_face(self, rule_descriptors, url_fetcher):
    """Reports every @font-face and whether it loaded (like Chromium's document.fonts)."""
    watch = _FaceFailed()
    LOGGER.addFilter(watch)
    try:
        return _add_font_face(self, rule_descriptors, url_fetcher)
    finally:
        LOGGER.removeFilter(watch)
        tell({"face": {
            "family": str(rule_descriptors.get("font_family", "")),
            "style": str(rule_descriptors.get("font_style", "normal")),
            "weight": str(rule_descriptors.get("font_weight", "normal")),
            "status": "error" if watch.failed else "loaded",
        }})


FontConfiguration.add_font_face = add_font_face

with open(job["html"], encoding="utf-8") as f:
    html = f.read()
document = weasyprint.HTML(
    string=html, base_url=job["base_url"], url_fetcher=fetch, media_type=job.get("media", "print")
).render()
if job.get("title"):
    document.metadata.title = job["title"]
if job.get("pages") is not None:
    count = len(document.pages)
    wanted = [n for n in job["pages"] if 1 <= n <= count]
    if not wanted:
        sys.stderr.write("page ranges select none of the document's %d page(s)\n" % count)
        sys.exit(3)
    document = document.copy([document.pages[n - 1] for n in wanted])
document.write_pdf(job["out"], zoom=job.get("zoom", 1))
tell({"done": len(document.pages)})
