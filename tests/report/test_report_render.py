"""report.html as text: the embedded document, escaping, the video's URL, inlined thumbnails, errors, the CLI.

What the page does in a browser is tested in test_report_browser.py.
"""

from __future__ import annotations

import base64
import html.parser
import json
import os
from pathlib import Path

import pytest
from reportkit import HOSTILE, Analysis, make_analysis, make_bare_analysis

from vidstruct.cli.main import main
from vidstruct.errors import VidstructError
from vidstruct.structure.errors import StructureError
from vidstruct.structure.report import render_report, write_report
from vidstruct.structure.report.writer import json_for_html, timeline_duration, video_src


class _Scripts(html.parser.HTMLParser):
    """The ``<script>`` elements of a page as (attributes, text), as an HTML parser splits them."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._open = dict(attrs)
            self.scripts.append((self._open, ""))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


def scripts_of(page: str) -> list[tuple[dict[str, str | None], str]]:
    parser = _Scripts()
    parser.feed(page)
    return parser.scripts


def embedded_payload(page: str) -> dict:
    data = [text for attrs, text in scripts_of(page) if attrs.get("id") == "vidstruct-data"]
    assert len(data) == 1
    return json.loads(data[0])


def test_json_for_html_escapes_what_ends_a_script_block() -> None:
    value = {"label": "</script><!-- & \u2028 > x", "n": [1, 2.5, None]}
    text = json_for_html(value)
    for bad in ("<", ">", "&", "\u2028"):
        assert bad not in text
    assert json.loads(text) == value


def test_hostile_text_stays_inside_the_data_block(tmp_path: Path) -> None:
    """A label holding "</script><script>..." neither ends the data block nor adds a script: the page has
    exactly its two scripts, and the block parses back to the whole document."""
    analysis = make_analysis(tmp_path, hostile=True)
    page = write_report(analysis.structure).read_text(encoding="utf-8")
    scripts = scripts_of(page)
    assert [attrs.get("type") for attrs, _ in scripts] == ["application/json", None]
    payload = embedded_payload(page)
    assert payload["document"] == analysis.document
    assert HOSTILE in {seg["label"] for seg in payload["document"]["segments"]}
    assert HOSTILE not in page  # only its escaped form is in the file


def test_report_embeds_the_document_and_inlines_thumbnails(analysis: Analysis) -> None:
    page = (analysis.folder / "report.html").read_text(encoding="utf-8")
    payload = embedded_payload(page)
    assert payload["document"] == json.loads(analysis.structure.read_text(encoding="utf-8"))
    view = payload["report"]
    assert view["duration_s"] == 4.0
    assert view["notes"] == []
    rels = {s["thumbnail"] for s in analysis.document["shots"]} | {
        s["thumbnail"] for s in analysis.document["segments"] if s["thumbnail"]
    }
    assert set(view["thumbnails"]) == rels and len(rels) == 5
    for rel, uri in view["thumbnails"].items():
        prefix = "data:image/jpeg;base64,"
        assert uri.startswith(prefix)
        assert base64.b64decode(uri[len(prefix) :]) == (analysis.folder / rel).read_bytes()


def test_page_references_nothing_outside_but_the_video(analysis: Analysis) -> None:
    page = (analysis.folder / "report.html").read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    csp = page.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"', 1)[0]
    assert "default-src 'none'" in csp and "img-src data:" in csp and "'unsafe-inline'" not in csp


def test_timeline_spans_the_video_or_the_last_result(tmp_path: Path, analysis: Analysis) -> None:
    assert timeline_duration(analysis.document) == 4.0
    bare = make_bare_analysis(tmp_path).document
    assert bare["video"]["duration_s"] is None and timeline_duration(bare) == 4.0
    late_actor = dict(bare, shots=[], actors=[dict(analysis.document["actors"][0], time_s=2.5)])
    assert timeline_duration(late_actor) == 2.5
    assert timeline_duration(dict(bare, shots=[])) == 0.0


def test_video_url_is_relative_to_the_report(analysis: Analysis) -> None:
    payload = embedded_payload((analysis.folder / "report.html").read_text(encoding="utf-8"))
    assert payload["report"]["video_src"] == "../../videos/clip.mp4"
    elsewhere = write_report(analysis.structure, analysis.folder.parent.parent / "pages" / "r.html")
    assert embedded_payload(elsewhere.read_text(encoding="utf-8"))["report"]["video_src"] == "../videos/clip.mp4"


def test_video_url_is_percent_encoded(tmp_path: Path) -> None:
    video = tmp_path / "my videos" / "a b#1?.mp4"
    video.parent.mkdir()
    video.write_bytes(b"\0")
    src, note = video_src(str(video), tmp_path, tmp_path / "out")
    assert (src, note) == ("../my%20videos/a%20b%231%3F.mp4", None)


def test_video_url_without_relative_path_is_an_absolute_file_uri(tmp_path: Path, monkeypatch) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0")

    def other_drive(path: str, start: str) -> str:
        raise ValueError("path is on mount 'D:', start on mount 'C:'")

    monkeypatch.setattr(os.path, "relpath", other_drive)
    assert video_src(str(video), tmp_path, tmp_path) == (video.as_uri(), None)


def test_relative_video_path_is_found_from_the_document_folder(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "out" / "clip"
    folder.mkdir(parents=True)
    (folder / "v.mp4").write_bytes(b"\0")
    monkeypatch.chdir(tmp_path)  # "v.mp4" is not in the current folder
    assert video_src("v.mp4", folder, folder) == ("v.mp4", None)


def test_missing_video_is_noted_and_video_option_overrides(tmp_path: Path, analysis: Analysis) -> None:
    document = dict(analysis.document, video=dict(analysis.document["video"], path=str(tmp_path / "gone.mp4")))
    payload = embedded_payload(render_report(document, document_dir=analysis.folder, report_dir=tmp_path))
    assert payload["report"]["video_src"] == "gone.mp4"
    assert payload["report"]["notes"] == [f"video file {tmp_path / 'gone.mp4'} not found when the report was written"]
    page = render_report(document, document_dir=analysis.folder, report_dir=tmp_path, video_path=analysis.video)
    payload = embedded_payload(page)
    assert payload["report"]["video_src"] == os.path.relpath(analysis.video, tmp_path)
    assert payload["report"]["notes"] == []


def test_bad_thumbnails_are_left_out_with_a_note(tmp_path: Path) -> None:
    analysis = make_analysis(tmp_path)
    (analysis.folder / "thumbs" / "shot_0.jpg").unlink()
    (analysis.folder / "thumbs" / "shot_1.jpg").write_text("not an image")
    secret = tmp_path / "secret.jpg"
    secret.write_bytes((analysis.folder / "thumbs" / "shot_2.jpg").read_bytes())
    (analysis.folder / "thumbs" / "shot_2.jpg").unlink()
    (analysis.folder / "thumbs" / "shot_2.jpg").symlink_to(secret)
    view = embedded_payload(write_report(analysis.structure).read_text(encoding="utf-8"))["report"]
    assert sorted(view["thumbnails"]) == ["thumbs/segment_0.jpg", "thumbs/segment_3.jpg"]
    assert view["notes"] == [
        "thumbnail thumbs/shot_0.jpg not found: not shown",
        "thumbnail thumbs/shot_1.jpg is not a JPEG, PNG, GIF or WebP image: not shown",
        "thumbnail thumbs/shot_2.jpg lies outside the document's folder: not shown",
    ]


def test_report_path_defaults_and_folders(analysis: Analysis, tmp_path: Path) -> None:
    assert write_report(analysis.folder) == analysis.folder / "report.html"
    assert write_report(analysis.structure, tmp_path) == tmp_path / "report.html"
    assert (tmp_path / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_missing_structure_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(VidstructError, match=r"structure\.json.*not found"):
        write_report(tmp_path / "structure.json")
    assert not (tmp_path / "report.html").exists()


def test_wrong_format_is_a_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "structure.json"
    bad.write_text(json.dumps({"format": "something/else"}), encoding="utf-8")
    with pytest.raises(StructureError, match=r"\$\.format.*'vidstruct\.structure/1'"):
        write_report(bad)
    assert not (tmp_path / "report.html").exists()


def test_cli_writes_the_report(analysis: Analysis, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(analysis.structure), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"out": str(out)}
    assert embedded_payload(out.read_text(encoding="utf-8"))["document"] == analysis.document


def test_cli_missing_structure_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nope" / "structure.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "structure file not found" in err
