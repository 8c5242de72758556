"""Upload a photo to a running ``emostyle app`` the way a browser does, and wait for the page.

Speaks Streamlit's own protocol (protobuf messages over ``/_stcore/stream``, the file itself
PUT to ``/_stcore/upload_file/...`` with the XSRF cookie), so the photo page runs in the app's
process exactly as for a person: decode, analysis, painting, the download files. What this
client does not do is fetch the images the page then shows (served from the media URLs).
Written against Streamlit 1.67; ``benchmarks/mirror_load.py --uploads`` uses it.
"""

from __future__ import annotations

import time
import urllib.request
import uuid

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState


class PhotoPage:
    """One browser session on the photo page of ``http://localhost:port``."""

    def __init__(self, port: int, timeout: float = 300.0) -> None:
        from websockets.sync.client import connect

        self.base = f"http://localhost:{port}"
        self.timeout = timeout
        with urllib.request.urlopen(f"{self.base}/_stcore/health", timeout=30) as reply:
            self.cookie = reply.headers["Set-Cookie"].split(";")[0]  # _streamlit_xsrf=...
        self.ws = connect(f"ws://localhost:{port}/_stcore/stream", subprotocols=["streamlit"],
                          max_size=None, open_timeout=30)
        seen = self._run()
        self.session_id = next(m.new_session.initialize.session_id for m in seen
                               if m.WhichOneof("type") == "new_session")
        self.uploader_id = next(e.file_uploader.id for e in elements(seen)
                                if e.WhichOneof("type") == "file_uploader")
        self.uploads = 0

    def close(self) -> None:
        self.ws.close()

    def upload(self, name: str, data: bytes) -> float:
        """Upload ``data`` as ``name``; seconds until the page finished running with it.

        Raises ``RuntimeError`` when the page shows an exception or an error instead of its
        downloads, ``TimeoutError`` when it does not finish within ``timeout``.
        """
        started = time.monotonic()
        self.uploads += 1
        ask = BackMsg()
        ask.file_urls_request.request_id = str(self.uploads)
        ask.file_urls_request.session_id = self.session_id
        ask.file_urls_request.file_names.append(name)
        self._send(ask)
        urls = self._until("file_urls_response")[-1].file_urls_response.file_urls[0]
        boundary = uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{name}"\r\nContent-Type: image/jpeg\r\n\r\n').encode() + data + \
            f"\r\n--{boundary}--\r\n".encode()
        put = urllib.request.Request(
            self.base + urls.upload_url, data=body, method="PUT",
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                     "Cookie": self.cookie, "X-Xsrftoken": self.cookie.split("=", 1)[1]})
        with urllib.request.urlopen(put, timeout=self.timeout):
            pass
        state = WidgetState(id=self.uploader_id)
        info = state.file_uploader_state_value.uploaded_file_info.add()
        info.name, info.size, info.file_id = name, len(data), urls.file_id
        info.file_urls.CopyFrom(urls)
        shown = list(elements(self._run(state)))
        failed = [e.exception.message for e in shown if e.WhichOneof("type") == "exception"]
        failed += [e.alert.body for e in shown
                   if e.WhichOneof("type") == "alert" and e.alert.format == e.alert.ERROR]
        if failed or not any(e.WhichOneof("type") == "download_button" for e in shown):
            raise RuntimeError(f"the photo page did not show {name}'s results: {failed}")
        return time.monotonic() - started

    def _send(self, message: BackMsg) -> None:
        self.ws.send(message.SerializeToString())

    def _run(self, *widgets: WidgetState) -> list[ForwardMsg]:
        """Rerun the page with these widget values (the others at their defaults)."""
        rerun = BackMsg()
        rerun.rerun_script.widget_states.SetInParent()
        rerun.rerun_script.widget_states.widgets.extend(widgets)
        self._send(rerun)
        return self._until("script_finished")

    def _until(self, kind: str) -> list[ForwardMsg]:
        """The messages up to and including the next one of ``kind``."""
        seen = []
        deadline = time.monotonic() + self.timeout
        while True:
            message = ForwardMsg()
            message.ParseFromString(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            seen.append(message)
            if message.WhichOneof("type") == kind:
                return seen


def elements(messages: list[ForwardMsg]):  # noqa: ANN201 - Iterator[Element]
    """The page elements these messages add."""
    for m in messages:
        if m.WhichOneof("type") == "delta" and m.delta.WhichOneof("type") == "new_element":
            yield m.delta.new_element
