"""TEMPORARY placeholder until the extract branch lands."""
import dataclasses

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding
from resiliparse.parse.html import HTMLTree

from stages.base import Drop, Params, Stage


@dataclasses.dataclass
class ExtractParams(Params):
    min_chars: int = 1

class ExtractStage(Stage):
    name = "extract"
    Params = ExtractParams
    def process(self, doc):
        if "html" not in doc:
            return doc
        body = doc.pop("html")
        doc.pop("content_type", None)
        text = extract_plain_text(HTMLTree.parse(bytes_to_str(body, detect_encoding(body))), main_content=True)
        if not text.strip():
            return Drop("empty_text")
        doc["text"] = text
        return doc
