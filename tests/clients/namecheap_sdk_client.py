"""Drives a running regway with namecheap-sdk 0.1.1 from PyPI, a Namecheap client
nobody here wrote, unchanged but for its base URL.

The SDK has no setting for its base URL: it always asks
https://api.sandbox.namecheap.com/xml.response (or the production one). So its HTTP
client is given a transport that sends each request to BASE_URL instead, path and
query untouched; what the SDK sends and how it reads the answers are its own.

Usage: python namecheap_sdk_client.py BASE_URL   (e.g. http://127.0.0.1:8080)
The demo partner must have more than 100 domains already (the Rust test registers
them) and enough money for one .com registration and one renewal.

Commands it runs, through the SDK's own methods: domains.check, domains.create
(register, by GET with every contact field in the query string), domains.renew,
domains.getList (list), users.getBalances (user.get_balance), and two commands regway
does not support, to see the SDK's error for them: domains.setRegistrarLock (lock)
and domains.setContacts (set_contacts). The SDK has no method for getInfo,
getContacts, dns.setCustom or dns.getList.
"""
import sys
from urllib.parse import urlsplit

import httpx
from namecheap_sdk import Namecheap, NamecheapError

base = urlsplit(sys.argv[1])


class ToRegway(httpx.HTTPTransport):
    """Sends every request to regway: only the scheme, host and port change."""

    def handle_request(self, request):
        request.url = request.url.copy_with(scheme=base.scheme, host=base.hostname, port=base.port)
        return super().handle_request(request)


nc = Namecheap(api_key="demo-password", username="demo", api_user="demo",
               client_ip="127.0.0.1", sandbox=True)
nc._client = httpx.Client(transport=ToRegway(), timeout=30.0)

contact = {
    "FirstName": "Ada",
    "LastName": "Lovelace",
    "Address1": "12 St James's Square",
    "City": "London",
    "StateProvince": "London",
    "PostalCode": "SW1Y 4JH",
    "Country": "GB",
    "Phone": "+44.2075550100",
    "EmailAddress": "ada@example.net",
}

# check
r = nc.domains.check("sdkclient.com", "taken.com")
assert [(c.domain, c.available, c.premium) for c in r] == [
    ("sdkclient.com", True, False), ("taken.com", False, False)], r

# register
r = nc.domains.register("sdkclient.com", years=1, contact=contact,
                        nameservers=["ns1.example.org", "ns2.example.org"])
assert r["@Domain"] == "sdkclient.com" and r["@Registered"] == "true", r
assert r["@ChargedAmount"] == "1290.00", r
r = nc.domains.check("sdkclient.com")
assert r[0].available is False, r

# an error is the SDK's NamecheapError with our number
try:
    nc.domains.register("sdkclient.com", years=1, contact=contact)
    raise SystemExit("a second registration of the same name succeeded")
except NamecheapError as e:
    assert e.code == "3052302", (e.code, e.message)

# renew
r = nc.domains.renew("sdkclient.com", years=1)
assert r["@Renew"] == "true" and r["@ChargedAmount"] == "1490.00", r
assert r["DomainDetails"]["ExpiredDate"] == "01/15/2028 12:00:00 AM", r
assert r["DomainDetails"]["NumYears"] == "1", r

# list: the SDK reads one page at a time and gives no total; page while pages are full
# (it cannot read an empty page, Namecheap's answer past the end: `<DomainGetListResult/>`
# parses to nothing and the SDK fails on it, so a client of it stops at a short page)
rows = []
page = 1
while True:
    got = nc.domains.list(page=page, page_size=100)
    rows += got
    if len(got) < 100:
        break
    page += 1
names = [d.name for d in rows]
assert len(names) > 100, len(names)
assert len(names) == len(set(names)), "a domain came twice"
mine = [d for d in rows if d.name == "sdkclient.com"]
assert len(mine) == 1 and mine[0].expires.year == 2028 and mine[0].user == "demo", mine

# balance
b = nc.user.get_balance()
assert b.currency == "RUB", b

# commands regway does not support: the SDK's own error, with our number
for call in (lambda: nc.domains.lock("sdkclient.com"),
             lambda: nc.domains.set_contacts("sdkclient.com", contact)):
    try:
        call()
        raise SystemExit("an unsupported command succeeded")
    except NamecheapError as e:
        assert e.code == "3052000", (e.code, e.message)
        assert "not supported" in e.message, e.message

print("RESULT BALANCE", b.available_balance)
print("RESULT DOMAINS", len(names))
print("RESULT OK")
