"""HttpHealthProbe: asks a health check URL once (urllib, a timeout per request)."""

from __future__ import annotations

from strategies.text import one_line

READ = 64 * 1024  # of the body, to look for expect_body


class HttpHealthProbe:
    def probe(
        self, url: str, *, expect_status: int, expect_body: str | None, timeout: float
    ) -> tuple[bool, str]:
        # urllib loads on the first probe: a deploy without a health gate (and
        # shipbot plan) does not pay its ~10 ms import (http.client, email, ssl).
        import http.client
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:
                status, body = answer.status, answer.read(READ).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read(READ).decode("utf-8", "replace")
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            return False, f"no answer from {url} ({one_line(str(reason))[:120]})"
        said = f"HTTP {status} {one_line(body.strip())[:80]!r}"
        if status != expect_status:
            return False, f"{said} (want {expect_status})"
        if expect_body is not None and expect_body not in body:
            return False, f"{said} (want a body containing {expect_body!r})"
        return True, said
