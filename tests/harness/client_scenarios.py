"""The Python client (clients/python) against real gateways (tests/clients.rs).

stdin: {"plain": url, "lossy": url, "pending": url, "limited": url}; stdout: one JSON
object with what each scenario saw. The Rust test checks it and the gateways' state.
"""

import json
import sys
import time

import regway

urls = json.load(sys.stdin)
out = {}
PASSWORD = "demo-password"


def contact(rid, rw):
    return rw.client_create(
        rid,
        type="person",
        name="Ivan Petrov",
        email="ivan@example.net",
        phone="+7.4951234567",
        country="RU",
        address="Moscow",
    )


# Lost answers: the proxy loses the first two answers to LOST- requests; the retries replay.
retries = []
rw = regway.Client(urls["lossy"], "demo", PASSWORD, backoff=0.05, on_retry=lambda a, r, d: retries.append(r))
holder = contact("C-LOST", rw)
r = rw.domain_register("LOST-R1", "lost-answer.ru", client=holder.id, ns=["ns1.hosting.net", "ns2.hosting.net"])
out["lost"] = {
    "replayed": r.replayed,
    "pending": r.pending,
    "retries": len(retries),
    "order": r.order_id,
    "state": r.order_state,
    "charged": str(r.charged),
    "expires": r.domain.expires if r.domain else None,
}

# Pending then completed: wait_for polls request.status until the final answer.
rw = regway.Client(urls["pending"], "demo", PASSWORD, poll_interval=0.2)
holder = contact("C-PEND", rw)
r = rw.domain_register("PEND-R1", "pending-order.ru", client=holder.id)
first = {"pending": r.pending, "state": r.order.state if r.order else None}
try:
    rw.wait_for("PEND-R1", deadline=0.3)
    short = "answered"
except regway.PendingError as e:
    short = {"code": e.code, "temporary": e.temporary}
start = time.monotonic()
final = rw.wait_for("PEND-R1", deadline=30)
done = regway.OrderResult.from_answer(final)
out["pending"] = {
    "first": first,
    "short_deadline": short,
    "final_code": final.code,
    "final_state": done.order_state,
    "expires": done.domain.expires if done.domain else None,
    "waited": round(time.monotonic() - start, 2),
    "order_state": rw.order_info(request_id="PEND-R1").state,
}

# Rate limits: 2502 with Retry-After, waited out, then carried out.
delays = []
rw = regway.Client(
    urls["limited"], "demo", PASSWORD, retries=6, on_retry=lambda a, r, d: delays.append((r, d))
)
handles = [contact("C-RATE-%d" % n, rw).id for n in range(5)]
limited = [d for r, d in delays if r.startswith("rate limited")]
out["limited"] = {
    "created": len(set(handles)),
    "rate_limited_retries": len(limited),
    "min_delay": min(limited) if limited else None,
}

# Paging: every domain once, in order, page by page.
rw = regway.Client(urls["plain"], "demo", PASSWORD)
names = [d.name for d in rw.domains(page_size=100, match="page-")]
out["paging"] = {
    "count": len(names),
    "unique": len(set(names)),
    "sorted": names == sorted(names),
    "first": names[0],
    "last": names[-1],
    "ledger": sum(1 for _ in rw.ledger(page_size=64)),
}

# Typed errors and request-ids.
errors = {}
try:
    regway.Client(urls["plain"], "demo", "wrong-password").balance()
except regway.AuthError as e:
    errors["auth"] = [e.code, e.http_status, e.message, e.temporary, e.object]
try:
    rw.domain_info("never-registered.ru")
except regway.NotFoundError as e:
    errors["not_found"] = [e.code, e.http_status, e.message, e.object]
try:
    rw.order_info("999999")
except regway.NotFoundError as e:
    errors["no_order"] = [e.code, e.http_status, e.message, e.object]
try:
    rw.order_info(request_id="NEVER-SENT-1")
except regway.NotFoundError as e:
    errors["no_order_for_request"] = [e.code, e.http_status, e.message, e.object]
try:
    rw.request_status("NEVER-SENT-2")
except regway.NotFoundError as e:
    errors["no_request"] = [e.code, e.http_status, e.message, e.object]
try:
    rw.domain_renew("REN-1", "page-000.ru", expires="2030-01-15")
except regway.ConflictError as e:
    errors["conflict"] = [e.code, e.http_status, e.object]
try:
    regway.Client("http://127.0.0.1:9", "demo", PASSWORD, retries=1, backoff=0.01).balance()
except regway.TransportError as e:
    errors["transport"] = [e.code, e.temporary, e.object]
out["errors"] = errors
out["request_ids"] = [
    regway.request_id("bm", 117, "open"),
    regway.request_id("whmcs", 42, "renew", "2027-01-15"),
    regway.request_id("panel", "invoice 117"),
]
b = rw.balance()
out["balance"] = [str(b.balance), b.currency]

json.dump(out, sys.stdout)
