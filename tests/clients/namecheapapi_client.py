"""Drives a running regway with namecheapapi 0.2.1 from PyPI, a Namecheap client nobody
here wrote, unchanged: only its base URL (`url`, which it keeps with a trailing `?`) is
pointed at regway.

Usage: python namecheapapi_client.py BASE_URL   (e.g. http://127.0.0.1:8080)
The demo partner must have more than 100 domains already (the Rust test registers
them) and enough money for one .com registration and one renewal.

Commands it runs, each through the client's own method: domains.check,
domains.create (register), domains.renew, domains.dns.setCustom (set_nameservers),
domains.dns.getList (get_nameservers), domains.getInfo, domains.getContacts,
domains.getList (get_list: one call for TotalItems, then pages of 100),
domains.getTldList. It has no method for users.getBalances. The client prints every
URL and answer it gets; the lines this script prints start with `RESULT`.
"""
import sys
from datetime import datetime

from namecheapapi import DomainAPI
from namecheapapi.api.exceptions import NCApiError

base = sys.argv[1]
api = DomainAPI("demo", "demo-password", "demo", "127.0.0.1", sandbox=True)
api.url = base + "/xml.response?"

address = {
    "FirstName": "Peter",
    "LastName": "Griffin",
    "Address1": "31 Spooner St.",
    "City": "Quahog",
    "StateProvince": "RI",
    "PostalCode": "00093",
    "Country": "US",
    "Phone": "+1.4015550100",
    "EmailAddress": "peter@griffin.example.net",
}

# check
r = api.check(["apiclient.com", "taken.com"])
assert r == {"apiclient.com": True, "taken.com": False}, r

# register: all four contacts from one address, WhoisGuard flags on (ignored)
r = api.register("apiclient.com", years=1, address=address,
                 nameservers=["ns1.example.org", "ns2.example.org"])
assert r["Success"] is True and r["Domain"] == "apiclient.com", r
assert r["ChargedAmount"] == 1290.0, r
assert r["WhoisGuardEnabled"] is False and r["NonRealTimeDomain"] is False, r
assert api.check("apiclient.com") == {"apiclient.com": False}

# an error is the client's NCApiError with our number
try:
    api.register("apiclient.com", years=1, address=address)
    raise SystemExit("a second registration of the same name succeeded")
except NCApiError as e:
    assert "Error 3052302" in str(e), str(e)

# renew: the client parses DomainDetails/ExpiredDate as "%m/%d/%Y %I:%M:%S %p"
r = api.renew("apiclient.com", years=1)
assert r["Success"] is True, r
assert r["ChargedAmount"] == 1490.0, r
assert r["Expiration"] == datetime(2028, 1, 15), r

# nameservers
assert api.set_nameservers("apiclient.com", ["ns1.example.net", "ns2.example.net"]) is True
r = api.get_nameservers("apiclient.com")
assert r["Nameservers"] == ["ns1.example.net", "ns2.example.net"], r
assert r["Namecheap DNS"] is False and r["Premium DNS"] is False, r

# info: every element the client reads must be there
r = api.get_info("apiclient.com")
assert r["Domain"] == "apiclient.com" and r["Owner"] == "demo" and r["IsOwner"], r
assert r["Creation"] == datetime(2026, 1, 15), r
assert r["Expiration"] == datetime(2028, 1, 15), r
assert r["WhoisGuard"]["Enabled"] is False, r
assert r["DNS"]["Nameservers"] == ["ns1.example.net", "ns2.example.net"], r
assert r["Full modification rights"] is True, r

# contacts: four roles with every field the client reads
r = api.get_contacts("apiclient.com")
for role in ["Registrant", "Tech", "Admin", "AuxBilling"]:
    assert r[role]["FirstName"] == "Peter" and r[role]["PostalCode"] == "00093", r[role]
    assert r[role]["EmailAddress"] == "peter@griffin.example.net", r[role]

# list: TotalItems first, then pages of 100
domains = api.get_list()
names = [d["Domain"] for d in domains]
assert len(names) > 100, len(names)
assert len(names) == len(set(names)), "a domain came twice"
assert "apiclient.com" in names

# zones
tlds = api.get_tld_list()
assert tlds["com"]["MaxRegisterYears"] == 10 and tlds["com"]["IsApiRenewable"] is True, tlds["com"]
assert tlds["ru"]["Type"] == "CCTLD", tlds["ru"]

print("RESULT DOMAINS", len(names))
print("RESULT OK")
