"""The client, its typed results and its errors."""

import base64
import hashlib
import http.client
import random
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

VERSION = "1.0.0"

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

Param = Union[str, int, bool, Sequence[str]]


def request_id(*parts: Union[str, int]) -> str:
    """A request-id built from a panel's own stable ids.

    ``request_id("bm", 117, "open")`` is ``bm-117-open``. Parts are joined with ``-``; when
    the result has a character the protocol does not allow (``A-Z a-z 0-9 . _ : -``) or
    is longer than 64, it is ``h-`` and 62 hexadecimal digits of its SHA-256 instead, so
    the same parts always give the same request-id.
    """
    if not parts:
        raise ValueError("a request-id needs at least one part")
    joined = "-".join(str(p) for p in parts)
    if _REQUEST_ID.match(joined):
        return joined
    return "h-" + hashlib.sha256(joined.encode("utf-8")).hexdigest()[:62]


# ---------------------------------------------------------------------------- answers


@dataclass
class Answer:
    """One answer of the gateway."""

    code: int
    message: str
    http_status: int
    request_id: Optional[str] = None
    replayed: bool = False
    retry_after: Optional[int] = None
    data: Optional[ET.Element] = None
    body: str = ""
    #: what a 2201, 2303 or 2304 is about (``<result object="...">``): "domain", "client",
    #: "order", "request", "license", "statement", "address", "account"; None when absent.
    object: Optional[str] = None

    @property
    def pending(self) -> bool:
        """1001: the order was accepted and is still in progress."""
        return self.code == 1001

    @property
    def success(self) -> bool:
        return self.code in (1000, 1001)

    @classmethod
    def parse(cls, body: bytes, http_status: int, headers: Mapping[str, str]) -> "Answer":
        """Reads a native answer; TransportError when it is not a regway <response>."""
        text = body.decode("utf-8", errors="replace")
        if "<!DOCTYPE" in text or "<!ENTITY" in text:
            raise TransportError("the gateway's answer has a DTD", 0, http_status)
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            root = None
        if root is None or root.tag != "response" or root.find("result") is None:
            raise TransportError(
                "the gateway answered HTTP %d without a regway response" % http_status,
                0,
                http_status,
            )
        return cls.from_element(root, text, http_status, headers)

    @classmethod
    def from_element(
        cls, root: ET.Element, body: str, http_status: int, headers: Mapping[str, str]
    ) -> "Answer":
        result = root.find("result")
        assert result is not None
        retry = headers.get("retry-after", "").strip()
        return cls(
            code=int(result.get("code", "0")),
            message=result.text or "",
            http_status=http_status,
            object=result.get("object"),
            request_id=root.findtext("request-id"),
            replayed=headers.get("idempotent-replayed", "").strip() == "true",
            retry_after=int(retry) if retry.isdigit() else None,
            data=root.find("data"),
            body=body,
        )


# ----------------------------------------------------------------------------- errors


class RegwayError(Exception):
    """A result code of 2000 and above, a transport failure, or a deadline passed while pending."""

    def __init__(
        self,
        message: str,
        code: int,
        http_status: int = 0,
        request_id: Optional[str] = None,
        answer: Optional[Answer] = None,
        object: Optional[str] = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.request_id = request_id
        self.answer = answer
        #: what the error is about, when one code covers several cases (2201, 2303,
        #: 2304; protocol/errors.md): for 2303 "domain", "client", "order", "request"
        #: (nothing was done under that request-id), "license" or "statement". None when
        #: the answer names no object, and for errors without an answer.
        self.object = object if object is not None else (answer.object if answer else None)

    def __str__(self) -> str:
        return "%s (%d)" % (self.message, self.code)

    @property
    def temporary(self) -> bool:
        """True when the same request (same request-id) may succeed later."""
        return (
            self.code in (0, 1001, 2502)
            or (self.code == 2400 and self.http_status in (500, 504))
        )

    @staticmethod
    def from_answer(a: Answer) -> "RegwayError":
        cls = _ERRORS.get(a.code, RegwayError)
        e = cls(a.message, a.code, a.http_status, a.request_id, a)
        if isinstance(e, RateLimitError):
            e.retry_after = a.retry_after
        return e


class TransportError(RegwayError):
    """The gateway could not be reached, the answer was lost or was not a regway answer (code 0)."""


class AuthError(RegwayError):
    """2200 (wrong login or password, or locked out), 2201 (not allowed)."""


class InputError(RegwayError):
    """2000, 2001, 2003, 2004, 2005, 2306: fix the request."""


class BillingError(RegwayError):
    """2104: not enough balance and credit."""


class ConflictError(RegwayError):
    """2105 (wrong current expiry), 2302 (exists), 2304 (order in progress), 2308 (request-id reused)."""


class NotFoundError(RegwayError):
    """2303: no such domain, client, order, request-id, licence or statement (``object`` says which)."""


class RateLimitError(RegwayError):
    """2502 after the client's own retries; ``retry_after`` is what the gateway asked."""

    retry_after: Optional[int] = None


class CommandFailedError(RegwayError):
    """2400: the command failed and nothing was charged."""


class PendingError(RegwayError):
    """The order was still pending (1001) when the deadline passed; ask again later."""


_ERRORS = {
    2200: AuthError,
    2201: AuthError,
    2000: InputError,
    2001: InputError,
    2003: InputError,
    2004: InputError,
    2005: InputError,
    2306: InputError,
    2104: BillingError,
    2105: ConflictError,
    2302: ConflictError,
    2304: ConflictError,
    2308: ConflictError,
    2303: NotFoundError,
    2502: RateLimitError,
    2400: CommandFailedError,
}


# ------------------------------------------------------------------------ typed results


def _money(v: Optional[str]) -> Optional[Decimal]:
    return Decimal(v) if v is not None else None


def _bool(v: Optional[str]) -> bool:
    return v == "true"


@dataclass
class Balance:
    balance: Decimal
    credit_limit: Decimal
    available: Decimal
    currency: str

    @classmethod
    def from_data(cls, data: ET.Element) -> "Balance":
        b = data.find("balance")
        assert b is not None
        return cls(
            balance=Decimal(b.text or "0"),
            credit_limit=Decimal(data.findtext("credit-limit") or "0"),
            available=Decimal(data.findtext("available") or "0"),
            currency=b.get("currency", ""),
        )


@dataclass
class Check:
    name: str
    available: bool
    unicode: Optional[str] = None
    price: Optional[Decimal] = None
    currency: Optional[str] = None
    reason: Optional[str] = None

    @classmethod
    def from_element(cls, e: ET.Element) -> "Check":
        return cls(
            name=e.get("name", ""),
            available=_bool(e.get("available")),
            unicode=e.get("unicode"),
            price=_money(e.get("price")),
            currency=e.get("currency"),
            reason=e.get("reason"),
        )


@dataclass
class Domain:
    """A domain; the short form in order answers has name, expires and state only."""

    name: str
    state: str
    unicode: Optional[str] = None
    client: Optional[str] = None
    created: Optional[str] = None
    expires: Optional[str] = None
    delegated: bool = False
    auto_renew: bool = False
    ns: List[str] = field(default_factory=list)

    @classmethod
    def from_element(cls, e: ET.Element) -> "Domain":
        return cls(
            name=e.get("name", ""),
            state=e.get("state", ""),
            unicode=e.get("unicode"),
            client=e.get("client"),
            created=e.get("created"),
            expires=e.get("expires"),
            delegated=_bool(e.get("delegated")),
            auto_renew=_bool(e.get("auto-renew")),
            ns=[n.text or "" for n in e.findall("ns")],
        )


@dataclass
class Contact:
    """A client (registrant); ``id`` is its handle, like 1000/RW-P."""

    id: str
    type: str
    created: str
    name: str
    email: str
    phone: str
    country: str
    address: str
    deleted: Optional[str] = None
    extra: Dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_element(cls, e: ET.Element) -> "Contact":
        return cls(
            id=e.get("id", ""),
            type=e.get("type", ""),
            created=e.get("created", ""),
            deleted=e.get("deleted"),
            name=e.findtext("name") or "",
            email=e.findtext("email") or "",
            phone=e.findtext("phone") or "",
            country=e.findtext("country") or "",
            address=e.findtext("address") or "",
            extra={x.get("name", ""): x.text or "" for x in e.findall("extra")},
        )


@dataclass
class Order:
    id: str
    command: str
    state: str
    amount: Decimal
    currency: str
    created: str
    updated: str
    domain: Optional[str] = None
    license: Optional[str] = None
    request_id: Optional[str] = None
    reason: Optional[str] = None
    transitions: List[Tuple[str, str]] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.state in ("completed", "failed")

    @classmethod
    def from_element(cls, e: ET.Element) -> "Order":
        return cls(
            id=e.get("id", ""),
            command=e.get("command", ""),
            state=e.get("state", ""),
            amount=Decimal(e.get("amount", "0")),
            currency=e.get("currency", ""),
            created=e.get("created", ""),
            updated=e.get("updated", ""),
            domain=e.get("domain"),
            license=e.get("license"),
            request_id=e.get("request-id"),
            reason=e.get("reason"),
            transitions=[(t.get("state", ""), t.get("at", "")) for t in e.findall("transition")],
        )


@dataclass
class License:
    id: str
    product: str
    period: str
    ip: str
    client: str
    state: str
    created: str
    expires: str
    auto_renew: bool

    @classmethod
    def from_element(cls, e: ET.Element) -> "License":
        return cls(
            id=e.get("id", ""),
            product=e.get("product", ""),
            period=e.get("period", ""),
            ip=e.get("ip", ""),
            client=e.get("client", ""),
            state=e.get("state", ""),
            created=e.get("created", ""),
            expires=e.get("expires", ""),
            auto_renew=_bool(e.get("auto-renew")),
        )


@dataclass
class LedgerEntry:
    id: str
    time: str
    kind: str
    amount: Decimal
    balance_after: Decimal
    currency: str
    order: Optional[str] = None
    note: Optional[str] = None

    @classmethod
    def from_element(cls, e: ET.Element) -> "LedgerEntry":
        return cls(
            id=e.get("id", ""),
            time=e.get("time", ""),
            kind=e.get("kind", ""),
            amount=Decimal(e.get("amount", "0")),
            balance_after=Decimal(e.get("balance-after", "0")),
            currency=e.get("currency", ""),
            order=e.get("order"),
            note=e.get("note"),
        )


@dataclass
class OrderResult:
    """The answer of an order command: completed (1000), or pending (1001) with ``order``."""

    answer: Answer
    pending: bool
    order_id: Optional[str] = None
    order_state: Optional[str] = None
    order: Optional[Order] = None
    domain: Optional[Domain] = None
    license: Optional[License] = None
    charged: Optional[Decimal] = None
    balance: Optional[Decimal] = None
    currency: Optional[str] = None

    @property
    def replayed(self) -> bool:
        return self.answer.replayed

    @classmethod
    def from_answer(cls, a: Answer) -> "OrderResult":
        r = cls(answer=a, pending=a.pending)
        d = a.data
        if d is None:
            return r
        o = d.find("order")
        if o is not None:
            r.order_id = o.get("id")
            r.order_state = o.get("state")
            if o.get("command") is not None:
                r.order = Order.from_element(o)
        dom = d.find("domain")
        if dom is not None:
            r.domain = Domain.from_element(dom)
        lic = d.find("license")
        if lic is not None:
            r.license = License.from_element(lic)
        charged = d.find("charged")
        if charged is not None:
            r.charged = Decimal(charged.text or "0")
            r.currency = charged.get("currency")
        r.balance = _money(d.findtext("balance"))
        return r


@dataclass
class RequestStatus:
    request_id: str
    command: str
    state: str
    answer: Answer
    order: Optional[str] = None

    @property
    def done(self) -> bool:
        return self.state == "done"


# ------------------------------------------------------------------------------ client

_TRANSPORT_ERRORS = (
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    socket.timeout,
    TimeoutError,
    OSError,
)


class Client:
    """A regway client for one gateway and one partner login.

    ``url`` is the API endpoint (``https://host/api``; a bare ``https://host`` gets
    ``/api``). Options:

    - ``timeout`` (30): seconds for one HTTP exchange
    - ``retries`` (4): extra attempts after a transport failure, a 2502 or a 2400 that did nothing
    - ``backoff`` (0.5): seconds before the first retry; doubled each time, with jitter
    - ``max_backoff`` (30), ``deadline`` (120): seconds one call may take with its retries
    - ``poll_interval`` (1.0), ``poll_max_interval`` (30): ``wait_for()``'s polling
    - ``on_retry``: called as ``on_retry(attempt, reason, delay)`` before each wait
    """

    def __init__(
        self,
        url: str,
        login: str,
        password: str,
        *,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        deadline: float = 120.0,
        poll_interval: float = 1.0,
        poll_max_interval: float = 30.0,
        on_retry: Optional[Callable[[int, str, float], None]] = None,
        user_agent: str = "regway-python/" + VERSION,
    ):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("the URL must be http:// or https://")
        if parts.path in ("", "/"):
            url = url.rstrip("/") + "/api"
        self.url = url
        self._auth = "Basic " + base64.b64encode(
            ("%s:%s" % (login, password)).encode("utf-8")
        ).decode("ascii")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.deadline = deadline
        self.poll_interval = poll_interval
        self.poll_max_interval = poll_max_interval
        self.on_retry = on_retry
        self.user_agent = user_agent
        # No proxies from the environment, no redirects: the gateway is called directly.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), _NoRedirect()
        )

    def __repr__(self) -> str:
        # The credentials stay out of logs and tracebacks.
        return "Client(%r)" % self.url

    # -------------------------------------------------------------------- raw calls

    def send(self, command: str, params: Optional[Mapping[str, Param]] = None) -> Answer:
        """Sends a command and returns the answer whatever its code, after the retries.

        Raises TransportError when no answer came. A list value is a repeated parameter.
        """
        params = dict(params or {})
        body = _encode([("command", command)] + list(params.items()))
        rid = params.get("request-id")
        start = time.monotonic()
        attempt = 0
        answer: Optional[Answer] = None
        error: Optional[TransportError] = None
        while True:
            attempt += 1
            try:
                answer = self._exchange(body)
                error = None
                if answer.code == 2502:
                    reason = "rate limited (2502)"
                elif answer.code == 2400 and answer.http_status in (500, 504):
                    reason = "command failed, nothing done (2400, HTTP %d)" % answer.http_status
                else:
                    return answer
            except TransportError as e:
                answer = None
                error = e
                error.request_id = str(rid) if rid is not None else None
                reason = e.message
            if attempt > self.retries:
                break
            delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
            delay *= 0.5 + random.random() / 2
            if answer is not None and answer.retry_after is not None:
                delay = max(delay, float(answer.retry_after))
            if time.monotonic() - start + delay > self.deadline:
                break
            if self.on_retry is not None:
                self.on_retry(attempt, reason, delay)
            time.sleep(delay)
        if answer is not None:
            return answer
        assert error is not None
        raise error

    def call(self, command: str, params: Optional[Mapping[str, Param]] = None) -> Answer:
        """Sends a command; raises the typed RegwayError for result codes of 2000 and above.

        A pending answer (1001) is returned, not raised.
        """
        a = self.send(command, params)
        if a.code >= 2000:
            raise RegwayError.from_answer(a)
        return a

    # -------------------------------------------------------------------- commands

    def balance(self) -> Balance:
        return Balance.from_data(_data(self.call("balance.get")))

    def domain_check(self, names: Sequence[str]) -> List[Check]:
        data = _data(self.call("domain.check", {"domain": list(names)}))
        return [Check.from_element(e) for e in data.findall("domain")]

    def client_create(
        self,
        request_id: str,
        *,
        type: str,
        name: str,
        email: str,
        phone: str,
        country: str,
        address: str,
        extra: Optional[Mapping[str, str]] = None,
    ) -> Contact:
        params: Dict[str, Param] = {
            "request-id": request_id,
            "type": type,
            "name": name,
            "email": email,
            "phone": phone,
            "country": country,
            "address": address,
        }
        for k, v in (extra or {}).items():
            params[k if k.startswith("x-") else "x-" + k] = v
        e = _data(self.call("client.create", params)).find("client")
        assert e is not None
        return Contact.from_element(e)

    def client_info(self, handle: str) -> Contact:
        e = _data(self.call("client.info", {"client": handle})).find("client")
        assert e is not None
        return Contact.from_element(e)

    def domain_register(
        self,
        request_id: str,
        domain: str,
        *,
        client: str,
        period: int = 1,
        ns: Sequence[str] = (),
        auto_renew: bool = False,
    ) -> OrderResult:
        params: Dict[str, Param] = {
            "request-id": request_id,
            "domain": domain,
            "period": period,
            "client": client,
            "auto-renew": auto_renew,
        }
        if ns:
            params["ns"] = list(ns)
        return OrderResult.from_answer(self.call("domain.register", params))

    def domain_renew(
        self, request_id: str, domain: str, *, expires: str, period: int = 1
    ) -> OrderResult:
        """``expires`` is the domain's current expiry date, YYYY-MM-DD."""
        return OrderResult.from_answer(
            self.call(
                "domain.renew",
                {"request-id": request_id, "domain": domain, "period": period, "expires": expires},
            )
        )

    def domain_set_ns(self, request_id: str, domain: str, ns: Sequence[str]) -> OrderResult:
        return OrderResult.from_answer(
            self.call("domain.set-ns", {"request-id": request_id, "domain": domain, "ns": list(ns)})
        )

    def domain_set_autorenew(self, request_id: str, domain: str, auto_renew: bool) -> Domain:
        a = self.call(
            "domain.set-autorenew",
            {"request-id": request_id, "domain": domain, "auto-renew": auto_renew},
        )
        e = _data(a).find("domain")
        assert e is not None
        return Domain.from_element(e)

    def domain_info(self, domain: str) -> Domain:
        e = _data(self.call("domain.info", {"domain": domain})).find("domain")
        assert e is not None
        return Domain.from_element(e)

    def order_info(self, order: Optional[str] = None, *, request_id: Optional[str] = None) -> Order:
        params: Dict[str, Param] = (
            {"order": order} if order is not None else {"request-id": str(request_id)}
        )
        e = _data(self.call("order.info", params)).find("order")
        assert e is not None
        return Order.from_element(e)

    def request_status(self, request_id: str) -> RequestStatus:
        a = self.call("request.status", {"request-id": request_id})
        data = _data(a)
        req = data.find("request")
        stored = data.find("response")
        assert req is not None and stored is not None
        return RequestStatus(
            request_id=req.get("request-id", ""),
            command=req.get("command", ""),
            state=req.get("state", ""),
            order=req.get("order"),
            answer=Answer.from_element(
                stored, ET.tostring(stored, encoding="unicode"), a.http_status, {}
            ),
        )

    def license_order(
        self,
        request_id: str,
        *,
        product: str,
        period: str,
        ip: str,
        client: str,
        auto_renew: bool = False,
    ) -> OrderResult:
        return OrderResult.from_answer(
            self.call(
                "license.order",
                {
                    "request-id": request_id,
                    "product": product,
                    "period": period,
                    "ip": ip,
                    "client": client,
                    "auto-renew": auto_renew,
                },
            )
        )

    def license_renew(self, request_id: str, license: str, *, period: str, expires: str) -> OrderResult:
        return OrderResult.from_answer(
            self.call(
                "license.renew",
                {"request-id": request_id, "license": license, "period": period, "expires": expires},
            )
        )

    def license_set_ip(self, request_id: str, license: str, ip: str) -> OrderResult:
        return OrderResult.from_answer(
            self.call("license.set-ip", {"request-id": request_id, "license": license, "ip": ip})
        )

    def license_info(self, license: str) -> License:
        e = _data(self.call("license.info", {"license": license})).find("license")
        assert e is not None
        return License.from_element(e)

    # ------------------------------------------------------------------- pending

    def wait_for(self, request_id: str, deadline: float = 600.0) -> Answer:
        """Waits for the final answer of an earlier request.

        Polls ``request.status``, first after ``poll_interval`` seconds, then half again
        as long each time up to ``poll_max_interval``, until the request is done or
        ``deadline`` seconds have passed (PendingError, temporary: ask again later). The
        final answer is returned as ``call()`` returns one: codes of 2000 and above raise.
        """
        start = time.monotonic()
        interval = self.poll_interval
        while True:
            status = self.request_status(request_id)
            if status.done:
                if status.answer.code >= 2000:
                    raise RegwayError.from_answer(status.answer)
                return status.answer
            left = deadline - (time.monotonic() - start)
            if left <= 0:
                raise PendingError(
                    "the order for request-id %s is still pending" % request_id,
                    1001,
                    status.answer.http_status,
                    request_id,
                    status.answer,
                )
            time.sleep(min(interval, left))
            interval = min(interval * 1.5, self.poll_max_interval)

    # -------------------------------------------------------------------- paging

    def pages(
        self, command: str, row: str, filters: Optional[Mapping[str, Param]] = None, page_size: int = 100
    ) -> Iterator[ET.Element]:
        """The rows of a paged listing, following ``next-cursor`` to the end."""
        cursor: Optional[str] = None
        while True:
            params: Dict[str, Param] = dict(filters or {})
            params["limit"] = page_size
            if cursor is not None:
                params["cursor"] = cursor
            a = self.call(command, params)
            if a.data is None:
                return
            for e in a.data.findall(row):
                yield e
            cursor = a.data.findtext("next-cursor")
            if cursor is None:
                return

    def domains(self, page_size: int = 100, **filters: Param) -> Iterator[Domain]:
        """``match``, ``client``, ``state``, ``auto_renew`` filter the listing."""
        for e in self.pages("domain.list", "domain", _filters(filters), page_size):
            yield Domain.from_element(e)

    def clients(self, page_size: int = 100, **filters: Param) -> Iterator[Contact]:
        for e in self.pages("client.list", "client", _filters(filters), page_size):
            yield Contact.from_element(e)

    def orders(self, page_size: int = 100, **filters: Param) -> Iterator[Order]:
        """Newest first; ``state`` and ``type`` filter."""
        for e in self.pages("order.list", "order", _filters(filters), page_size):
            yield Order.from_element(e)

    def ledger(self, page_size: int = 100) -> Iterator[LedgerEntry]:
        """Newest first."""
        for e in self.pages("ledger.list", "entry", {}, page_size):
            yield LedgerEntry.from_element(e)

    def licenses(self, page_size: int = 100, **filters: Param) -> Iterator[License]:
        for e in self.pages("license.list", "license", _filters(filters), page_size):
            yield License.from_element(e)

    # -------------------------------------------------------------------- transport

    def _exchange(self, body: bytes) -> Answer:
        req = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Authorization": self._auth,
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/xml",
                "User-Agent": self.user_agent,
            },
        )
        try:
            try:
                with self._opener.open(req, timeout=self.timeout) as resp:
                    status, headers, raw = resp.status, resp.headers, resp.read()
            except urllib.error.HTTPError as e:
                # 4xx and 5xx answers still carry the regway <response>.
                status, headers, raw = e.code, e.headers, e.read()
        except _TRANSPORT_ERRORS as e:
            raise TransportError(
                "could not reach the gateway (%s)" % type(e).__name__, 0
            ) from None
        lower = {k.lower(): v for k, v in headers.items()}
        return Answer.parse(raw, status, lower)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


def _encode(pairs: List[Tuple[str, Param]]) -> bytes:
    out: List[Tuple[str, str]] = []
    for k, v in pairs:
        values = v if isinstance(v, (list, tuple)) else [v]
        for one in values:
            if isinstance(one, bool):
                one = "true" if one else "false"
            out.append((k, str(one)))
    return urllib.parse.urlencode(out, quote_via=urllib.parse.quote).encode("ascii")


def _filters(filters: Mapping[str, Param]) -> Dict[str, Param]:
    return {k.replace("_", "-"): v for k, v in filters.items()}


def _data(a: Answer) -> ET.Element:
    if a.data is None:
        raise TransportError("the answer to a %d has no data" % a.code, 0, a.http_status, a.request_id, a)
    return a.data
