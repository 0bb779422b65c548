"""A customer's website for the browser tests and the site script's measurements: Start
Bootstrap's landing page theme, from its npm package, on an origin of its own."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LANDING = ROOT / "node_modules" / "startbootstrap-landing-page" / "dist"
BOOTSTRAP_JS = ROOT / "node_modules" / "bootstrap" / "dist" / "js" / "bootstrap.bundle.min.js"
# The theme's page loads fonts, icons and forms from CDNs this machine cannot reach: its own
# Bootstrap is served locally, the rest left out.
CDN = {
    '<link href="https://cdn.jsdelivr.net/npm/bootstrap-icons@1.5.0/font/bootstrap-icons.css"'
    ' rel="stylesheet" type="text/css" />': "",
    '<link href="https://fonts.googleapis.com/css?family=Lato:300,400,700,300italic,400italic,'
    '700italic" rel="stylesheet" type="text/css" />': "",
    '<script src="https://cdn.jsdelivr.net/npm/bootstrap@5.2.3/dist/js/bootstrap.bundle.min.js">'
    "</script>": '<script src="/vendor/bootstrap.bundle.min.js"></script>',
    '<script src="https://cdn.startbootstrap.com/sb-forms-latest.js"></script>': "",
}


class LandingSite:
    """A customer's website on an origin of its own: Start Bootstrap's landing page theme (from
    its npm package), with the site script's tag where `tag` puts it. Every path serves the
    page, so that a single-page app's routes are page views too."""

    def __init__(self) -> None:
        page = (LANDING / "index.html").read_text()
        for cdn, local in CDN.items():
            assert cdn in page, cdn
            page = page.replace(cdn, local)
        self.page = page
        self.head = self.body = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                asset = LANDING / path.lstrip("/")
                if path == "/vendor/bootstrap.bundle.min.js":
                    self.answer(BOOTSTRAP_JS.read_bytes(), "text/javascript")
                elif path != "/" and asset.is_file() and LANDING in asset.resolve().parents:
                    kinds = {".css": "text/css", ".js": "text/javascript", ".jpg": "image/jpeg"}
                    self.answer(asset.read_bytes(), kinds.get(asset.suffix, "image/x-icon"))
                else:
                    self.answer(site.html().encode(), "text/html; charset=utf-8")

            def answer(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"

    def html(self) -> str:
        return self.page.replace("</head>", f"{self.head}</head>").replace(
            "</body>", f"{self.body}</body>"
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
