"""Sessions, requests and the mapping of every transport failure to our exceptions."""

from __future__ import annotations

import http.client
import http.cookiejar
import netrc
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.auth

from rangetui import __version__
from rangetui.core.errors import FatalError, Garbled, Refused, RetriableError, Unreachable
from rangetui.core.http.headers import number, printable, retry_after_seconds
from rangetui.core.types import HttpOptions
from rangetui.core.urls import host_of, redact

MAX_REDIRECTS = 10
RETRIABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class _Session(requests.Session):
    """Headers the user gave (``--header``) go to the host of the URL they gave and to
    no other, as curl does without ``--location-trusted``: a redirect to another host
    drops them all (requests itself drops only Authorization), and one back to the
    first host, or to the same host, keeps them, Cookie included (requests replaces
    Cookie with its jar's on every redirect)."""

    user_headers: tuple[tuple[str, str], ...] = ()
    _origin = ""

    def resolve_redirects(self, resp: Any, req: Any, *args: Any, **kwargs: Any) -> Any:
        self._origin = req.url or ""  # the request the chain started from
        return super().resolve_redirects(resp, req, *args, **kwargs)

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        super().rebuild_auth(prepared_request, response)  # type: ignore[no-untyped-call]
        origin = self._origin or response.request.url or ""
        headers = prepared_request.headers
        if self.should_strip_auth(origin, prepared_request.url or ""):  # type: ignore[no-untyped-call]
            for name in ("Cookie", *(name for name, _ in self.user_headers)):
                headers.pop(name, None)
            return
        for name, value in self.user_headers:
            jar = headers.get(name) if name.lower() == "cookie" else None
            headers[name] = f"{value}; {jar}" if jar and jar != value else value

    def merge_environment_settings(
        self,
        url: str | bytes | None,
        proxies: Any,
        stream: Any,
        verify: Any,
        cert: Any,
    ) -> Any:
        """The environment's proxies and CA bundle, read once per origin, not per request.

        requests scans every environment variable for proxy settings on each request
        (0.17 ms of a 0.6 ms HEAD here); the environment does not change while we run,
        so one answer per scheme and host serves every later request. A --no-proxy list
        travels as the request's own, as requests reads it only there.
        """
        if "no_proxy" in self.proxies:
            proxies = {**(proxies or {}), "no_proxy": self.proxies["no_proxy"]}
        parts = urlsplit(url if isinstance(url, str) else (url or b"").decode("latin-1"))
        key = (
            parts.scheme,
            parts.netloc,
            _frozen(proxies),
            _frozen(self.proxies),
            stream,
            verify,
            cert,
            self.trust_env,
        )
        cached: Any = _ENV_SETTINGS.get(key)
        if cached is None:
            cached = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if len(_ENV_SETTINGS) >= _ENV_SETTINGS_MAX:
                _ENV_SETTINGS.clear()
            _ENV_SETTINGS[key] = cached
        return {**cached, "proxies": dict(cached["proxies"])}


_ENV_SETTINGS: dict[tuple[Any, ...], Any] = {}
_ENV_SETTINGS_MAX = 256


def _frozen(mapping: Any) -> tuple[tuple[Any, Any], ...]:
    return tuple(sorted(mapping.items())) if mapping else ()


def new_session(options: HttpOptions) -> requests.Session:
    """One session per connection: its own socket, no pool contention between threads."""
    session = _Session()
    session.max_redirects = MAX_REDIRECTS
    session.verify = options.verify
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update(
        {"User-Agent": f"rangetui/{__version__}", "Accept-Encoding": "identity", "Accept": "*/*"}
    )
    session.headers.update(dict(options.headers))
    session.user_headers = options.headers
    _conventions(session, options)
    return session


def _conventions(session: requests.Session, options: HttpOptions) -> None:
    """Proxy, cookies and netrc as curl, wget and aria2 users bring them. Cookies of a
    cookies.txt carry their domains (never sent to another host); netrc credentials are
    looked up per host, so a redirect to another host gets only its own, if any."""
    if options.proxy:
        session.proxies.update({"http": options.proxy, "https": options.proxy})
    if options.no_proxy:
        session.proxies["no_proxy"] = options.no_proxy
    if options.cookies_file:
        session.cookies = load_cookies(options.cookies_file)  # type: ignore[assignment]
    if options.netrc_file:
        session.auth = NetrcAuth(options.netrc_file)


def load_cookies(path: str) -> http.cookiejar.MozillaCookieJar:
    """Raises ValueError with one sentence for a file that is not a cookies.txt."""
    jar = http.cookiejar.MozillaCookieJar(path)
    try:
        jar.load(ignore_discard=True, ignore_expires=True)
    except (OSError, http.cookiejar.LoadError) as e:
        raise ValueError(f"cannot read the cookies file {path}: {e}") from None
    for cookie in jar:
        if cookie.expires == 0:  # curl and browsers write 0 for a session cookie
            cookie.expires, cookie.discard = None, True
    return jar


class NetrcAuth(requests.auth.AuthBase):
    """Basic credentials for the request's own host from a netrc file, if it has some."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.netrc = netrc.netrc(path)
        except (OSError, netrc.NetrcParseError) as e:
            raise ValueError(f"cannot read the netrc file {path}: {e}") from None

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        creds = self.netrc.authenticators(urlsplit(r.url or "").hostname or "")
        if creds and creds[2] is not None and "Authorization" not in r.headers:
            signed: requests.PreparedRequest = requests.auth.HTTPBasicAuth(creds[0], creds[2])(r)
            return signed
        return r


def timeouts(options: HttpOptions) -> tuple[float, float]:
    return (min(10.0, options.timeout), options.timeout)


def success(resp: requests.Response) -> bool:
    """2xx only: a 3xx that was not followed (no Location) is not the file."""
    return 200 <= resp.status_code < 300


def status_error(resp: requests.Response) -> Exception:
    status = resp.status_code
    reason = printable(resp.reason or http.client.responses.get(status, ""))
    text = f"the server answered {status} {reason}".rstrip()
    if 300 <= status < 400:
        return FatalError(text + " without a usable redirect")
    if status in RETRIABLE_STATUSES or status >= 500:
        retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
        return RetriableError(text, retry_after, status)
    hint = {
        401: " (authentication required: pass credentials with --header)",
        403: " (access denied)",
        404: " (no such file on the server)",
        410: " (the file is gone)",
    }.get(status)
    if hint is not None:
        return Refused(text + hint, status)
    return FatalError(text)


def request(
    session: requests.Session, method: str, url: str, options: HttpOptions, **kw: Any
) -> requests.Response:
    """One request with every transport failure mapped to our exceptions."""
    try:
        return session.request(
            method, url, timeout=timeouts(options), stream=True, verify=options.verify, **kw
        )
    except requests.exceptions.TooManyRedirects:
        raise FatalError(f"more than {MAX_REDIRECTS} redirects for {redact(url)}") from None
    except (requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema):
        raise FatalError(
            f"a redirect or URL leads to an unsupported scheme: {redact(url)}"
        ) from None
    except requests.exceptions.InvalidURL:
        raise FatalError(f"invalid URL: {redact(url)}") from None
    except (requests.exceptions.InvalidHeader, ValueError) as e:
        raise FatalError(f"invalid URL or header: {first_line(e)}") from None
    except requests.exceptions.SSLError as e:
        raise FatalError(tls_problem(_failed_host(e, url), e)) from None
    except requests.exceptions.ConnectTimeout as e:
        raise RetriableError(f"timed out connecting to {_failed_host(e, url)}") from None
    except requests.exceptions.ReadTimeout as e:
        raise RetriableError(f"no answer from {_failed_host(e, url)} (timed out)") from None
    except requests.exceptions.ConnectionError as e:
        host = _failed_host(e, url)
        if _no_such_host(e):  # a typo in the host name does not fix itself
            raise FatalError(f"cannot connect to {host}: host not found") from None
        oversized = _oversized_header(e)
        if oversized:  # the same server sends the same headers again: final
            raise Garbled(f"{host} sent {oversized}; giving up") from None
        raise Unreachable(f"cannot connect to {host}: {_cause(e)}") from None
    except requests.exceptions.RequestException as e:
        raise RetriableError(f"request failed: {first_line(e)}") from None


TLS_REASONS = (
    ("self-signed certificate in certificate chain", "a self-signed certificate in the chain"),
    ("self-signed certificate", "a self-signed certificate"),
    ("certificate has expired", "the certificate has expired"),
    ("certificate is not yet valid", "the certificate is not valid yet"),
    ("hostname mismatch", "the certificate is for another host name"),
    ("ip address mismatch", "the certificate is for another address"),
    ("unable to get local issuer certificate", "the certificate's issuer is not a trusted CA"),
    ("unable to get issuer certificate", "the certificate's issuer is not a trusted CA"),
    ("certificate has been revoked", "the certificate has been revoked"),
)


def tls_problem(host: str, error: BaseException) -> str:
    """What failed, in words, and what to do (curl: "SSL certificate problem: ...")."""
    text = str(error).lower().replace("self signed", "self-signed")
    for needle, reason in TLS_REASONS:
        if needle in text:
            return (
                f"TLS certificate problem with {host}: {reason}"
                " (--ca-bundle FILE trusts another CA; --insecure skips the check)"
            )
    if "certificate verify failed" in text:
        return f"TLS certificate problem with {host}: the certificate could not be verified"
    return f"the TLS handshake with {host} failed (is it an https server?)"


def first_line(e: BaseException) -> str:
    return printable(str(e).splitlines()[0]) if str(e) else type(e).__name__


def _failed_host(e: requests.exceptions.RequestException, url: str) -> str:
    """The host of the request that failed: after a redirect, the target's, not ours."""
    failed = getattr(e.request, "url", None) if e.request is not None else None
    return host_of(failed or url)


def _oversized_header(e: BaseException) -> str | None:
    """A header block http.client refuses (a line over 64 KiB, over 100 headers), in
    words; None for any other connection failure."""
    seen: set[int] = set()
    todo: list[object] = [e]
    while todo:
        item = todo.pop()
        if id(item) in seen or not isinstance(item, BaseException):
            continue
        seen.add(id(item))
        if isinstance(item, http.client.LineTooLong):
            return "a response header line longer than http.client accepts (64 KiB)"
        if isinstance(item, http.client.HTTPException) and "100 headers" in str(item):
            return "more than 100 response headers"
        todo += [*item.args, item.__cause__, item.__context__]
    return None


def _no_such_host(e: BaseException) -> bool:
    """NXDOMAIN is final; "temporary failure in name resolution" is worth a retry."""
    text = str(e)
    return "Name or service not known" in text or "nodename nor servname" in text


def _cause(e: BaseException) -> str:
    text = str(e)
    for needle, said in (
        ("Name or service not known", "host not found"),
        ("nodename nor servname", "host not found"),
        ("Temporary failure in name resolution", "host not found"),
        ("Connection refused", "connection refused"),
        ("Connection reset", "connection reset"),
        ("timed out", "timed out"),
    ):
        if needle in text:
            return said
    return first_line(e)


def length(resp: requests.Response) -> int | None:
    """The body's announced length; None when not announced. One that is announced but
    is not a number we accept (21 digits, signs, junk) is an error, not "unknown":
    read to the end instead, a body cut short would be saved as complete (L13)."""
    value = resp.headers.get("Content-Length")
    if value is None:
        return None
    parsed = number(value)
    if parsed is None:
        raise FatalError(f"{host_of(resp.url or '')} sent an invalid Content-Length")
    return parsed


def withheld(options: HttpOptions) -> dict[str, str | None]:
    """Request headers that remove, for a request to another host than the user's URL,
    every credential and every header the user gave (None removes a session header)."""
    names = ("Authorization", "Cookie", *(name for name, _ in options.headers))
    return dict.fromkeys(names)


def strips_auth(first_url: str, final_url: str) -> bool:
    """Would requests drop credentials between these two URLs (another host)?"""
    if first_url == final_url:
        return False
    return bool(_JUDGE.should_strip_auth(first_url, final_url))  # type: ignore[no-untyped-call]


_JUDGE = _Session()
"""Asked only for requests' own rule on redirects, which reads no session state: one
for the process, where a new one per probe cost 30 us (adapters and pools built)."""
