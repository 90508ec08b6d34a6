"""regway client for Python: the native protocol (protocol/native.md), standard library only.

    from regway import Client, request_id

    rw = Client("http://127.0.0.1:8080/api", "demo", "demo-password")
    print(rw.balance().available)
    rid = request_id("shop", "invoice", 117)
    result = rw.domain_register(rid, "example-shop.ru", client="1000/RW-P")
    if result.pending:
        final = rw.wait_for(rid, deadline=600)

What the client does for you:

- retries, with exponential back-off and jitter, when the gateway cannot be reached or
  the answer is lost, when it answers 2502 (waiting at least ``Retry-After``), and on a
  2400 that left nothing done (HTTP 500/504). Every changing command carries a
  request-id, so a retry of a request whose answer was lost gets the stored answer
  (``replayed``), never a second charge;
- raises a typed exception (``RegwayError`` and its subclasses) for every result code of
  2000 and above, with the gateway's message, code and HTTP status, and the ``object``
  it is about where one code covers several cases (2303: "domain", "client", "order",
  "request", ...; None when the answer names none);
- returns a pending order (1001) as a result with ``pending`` set; ``wait_for()`` polls
  ``request.status`` with back-off until the final answer or a deadline;
- walks paged listings (``domains()``, ``clients()``, ``orders()``, ``ledger()``,
  ``licenses()``) as iterators that follow ``next-cursor``.

Money is ``decimal.Decimal``, never float.
"""

from .client import (
    Answer,
    AuthError,
    Balance,
    BillingError,
    Check,
    Client,
    CommandFailedError,
    ConflictError,
    Contact,
    Domain,
    InputError,
    LedgerEntry,
    License,
    NotFoundError,
    Order,
    OrderResult,
    PendingError,
    RateLimitError,
    RegwayError,
    RequestStatus,
    TransportError,
    request_id,
)

__version__ = "1.0.0"

__all__ = [
    "Answer",
    "AuthError",
    "Balance",
    "BillingError",
    "Check",
    "Client",
    "CommandFailedError",
    "ConflictError",
    "Contact",
    "Domain",
    "InputError",
    "LedgerEntry",
    "License",
    "NotFoundError",
    "Order",
    "OrderResult",
    "PendingError",
    "RateLimitError",
    "RegwayError",
    "RequestStatus",
    "TransportError",
    "request_id",
]
