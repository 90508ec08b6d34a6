"""Drives a running regway with PyNamecheap, an open-source Namecheap client nobody
here wrote, unchanged: only its endpoint is pointed at regway.

Usage: python namecheap_client.py BASE_URL   (e.g. http://127.0.0.1:8080)
The demo partner must have more than 100 domains already (the Rust test registers
them) and enough money for two .com registrations and one renewal.
PyNamecheap 0.0.3 has no method for renew, getInfo, dns.getList or getBalances: those
go through its own generic `_call`, so the request and the error handling are still
the client's. Commands it runs: domains.check, domains.create, domains.renew,
domains.dns.setCustom, domains.getInfo, domains.getContacts, domains.dns.getList,
domains.getList (paged), users.getBalances.
"""
import sys

import namecheap

NS = "{http://api.namecheap.com/xml.response}"

base = sys.argv[1]
api = namecheap.Api("demo", "demo-password", "demo", "127.0.0.1", sandbox=True, debug=False)
api.endpoint = base + "/xml.response"

# check
assert api.domains_check("pyclient.com") is True
r = api.domains_check(["pyclient.com", "taken.com"])
assert r == {"pyclient.com": True, "taken.com": False}, r

# register (contact fields for all four roles; lower-case `years`; POST body)
api.domains_create(
    DomainName="pyclient.com",
    FirstName="Guido", LastName="Rossum", Address1="1 Main St", City="Amsterdam",
    StateProvince="NH", PostalCode="1011", Country="NL", Phone="+31.201234567",
    EmailAddress="guido@example.net",
)
assert api.domains_check("pyclient.com") is False

# an error comes back as the client's ApiError with our number
try:
    api.domains_create(
        DomainName="pyclient.com",
        FirstName="Guido", LastName="Rossum", Address1="1 Main St", City="Amsterdam",
        StateProvince="NH", PostalCode="1011", Country="NL", Phone="+31.201234567",
        EmailAddress="guido@example.net",
    )
    raise SystemExit("a second registration of the same name succeeded")
except namecheap.ApiError as e:
    assert e.number == "3052302", (e.number, e.text)

# renew
xml = api._call("namecheap.domains.renew", {"DomainName": "pyclient.com", "Years": 1})
res = xml.find(f".//{NS}DomainRenewResult")
assert res.attrib["Renew"] == "true", res.attrib
assert res.attrib["ChargedAmount"] == "1490.00", res.attrib
assert res.find(f"{NS}DomainDetails/{NS}ExpiredDate").text == "01/15/2028 12:00:00 AM"
assert res.find(f"{NS}DomainDetails/{NS}NumYears").text == "1"

# nameservers
api.domains_dns_setCustom("pyclient.com", {"Nameservers": "ns1.example.org,ns2.example.org"})
xml = api._call("namecheap.domains.getinfo", {"DomainName": "pyclient.com"})
ns = [n.text for n in xml.findall(f".//{NS}DnsDetails/{NS}Nameserver")]
assert ns == ["ns1.example.org", "ns2.example.org"], ns

# contacts: the client's own method; all four roles come back (one person for all)
contacts = api.domains_getContacts("pyclient.com")
for role in ["Registrant", "Tech", "Admin", "AuxBilling"]:
    assert contacts[role]["FirstName"] == "Guido", (role, contacts[role])
    assert contacts[role]["EmailAddress"] == "guido@example.net", contacts[role]
    assert contacts[role]["Address2"] is None, contacts[role]

# the nameservers as dns.getList gives them (no method of its own: the generic call)
xml = api._call("namecheap.domains.dns.getList", {"SLD": "pyclient", "TLD": "com"})
res = xml.find(f".//{NS}DomainDNSGetListResult")
assert res.attrib["IsUsingOurDNS"] == "false", res.attrib
assert [n.text for n in res.findall(f"{NS}Nameserver")] == ["ns1.example.org", "ns2.example.org"]

# page through every domain: the iterator asks page after page until one is empty
names = [d["Name"] for d in api.domains_getList()]
assert len(names) > 100, len(names)
assert len(names) == len(set(names)), "a domain came twice"
assert "pyclient.com" in names
assert names == sorted(names)
sized = [d["Name"] for d in api.domains_getList(PageSize=100)]
assert sized == names

# balance
xml = api._call("namecheap.users.getBalances")
bal = xml.find(f".//{NS}UserGetBalancesResult").attrib
assert bal["Currency"] == "RUB", bal
print("BALANCE", bal["AvailableBalance"])
print("DOMAINS", len(names))
print("OK")
