//! Key layout. Every listing is a prefix scan under one partner, so its cost depends on
//! that partner's rows only, never on the size of the whole store.
//!
//! ```text
//! P\0{login}                       partner record
//! D\0{domain}                      login of the domain's owner (names are unique)
//! d\0{login}\0{domain}             domain record
//! x\0{login}\0{client#8}{domain}   domains of one client (empty value)
//! C\0{client#8}                    login of the client's owner
//! c\0{login}\0{client#8}           client record
//! O\0{order#8}                     login of the order's owner
//! o\0{login}\0{order#8}            order record
//! l\0{login}\0{entry#8}            ledger entry
//! r\0{login}\0{request-id}         idempotency record
//! K\0{login}\0{request-id}         an operator's money movement under its request-id
//! F\0{domain}                      id of the order in flight for the domain
//! q\0{order#8}                     login, for every order not yet completed or failed
//! S\0{license#8}                   login of the licence's owner
//! s\0{login}\0{license#8}          licence record
//! a\0{login}\0{name}               the partner's user `login.name`
//! N\0{counter}                     counters
//! H\0{login}\0                     webhook endpoints
//! e\0{login}\0{event#8}            event (outbox)
//! w\0{login}\0{event#8}{endpoint#8} delivery of an event to an endpoint
//! h\0{event#8}{endpoint#8}          login, for every pending delivery
//! ```
//! `#8` is a big-endian u64, so numeric order is key order. Logins, domain names and
//! request-ids never contain a NUL byte.

fn key(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    k.push(tag);
    k.push(0);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p);
    }
    k
}

pub fn partner(login: &str) -> Vec<u8> {
    key(b'P', &[login.as_bytes()])
}
pub fn partners() -> Vec<u8> {
    key(b'P', &[])
}
pub fn domain_owner(domain: &str) -> Vec<u8> {
    key(b'D', &[domain.as_bytes()])
}
pub fn domain(login: &str, domain: &str) -> Vec<u8> {
    key(b'd', &[login.as_bytes(), domain.as_bytes()])
}
pub fn domains(login: &str) -> Vec<u8> {
    key(b'd', &[login.as_bytes(), b""])
}
pub fn client_domain(login: &str, client: u64, domain: &str) -> Vec<u8> {
    let mut k = client_domains(login, client);
    k.extend_from_slice(domain.as_bytes());
    k
}
pub fn client_domains(login: &str, client: u64) -> Vec<u8> {
    key(b'x', &[login.as_bytes(), &client.to_be_bytes()])
}
pub fn client_owner(client: u64) -> Vec<u8> {
    key(b'C', &[&client.to_be_bytes()])
}
pub fn client(login: &str, client: u64) -> Vec<u8> {
    key(b'c', &[login.as_bytes(), &client.to_be_bytes()])
}
pub fn clients(login: &str) -> Vec<u8> {
    key(b'c', &[login.as_bytes(), b""])
}
pub fn order_owner(order: u64) -> Vec<u8> {
    key(b'O', &[&order.to_be_bytes()])
}
pub fn order(login: &str, order: u64) -> Vec<u8> {
    key(b'o', &[login.as_bytes(), &order.to_be_bytes()])
}
/// Every partner's orders.
pub fn all_orders() -> Vec<u8> {
    key(b'o', &[])
}
pub fn orders(login: &str) -> Vec<u8> {
    key(b'o', &[login.as_bytes(), b""])
}
pub fn ledger_entry(login: &str, entry: u64) -> Vec<u8> {
    key(b'l', &[login.as_bytes(), &entry.to_be_bytes()])
}
pub fn ledger(login: &str) -> Vec<u8> {
    key(b'l', &[login.as_bytes(), b""])
}
/// What one partner's ledger moved in one UTC day (`DayTotals`), by date.
pub fn day_totals(login: &str, date: chrono::NaiveDate) -> Vec<u8> {
    key(
        b'T',
        &[
            login.as_bytes(),
            date.format("%Y-%m-%d").to_string().as_bytes(),
        ],
    )
}
pub fn day_totals_all(login: &str) -> Vec<u8> {
    key(b'T', &[login.as_bytes(), b""])
}

/// An active domain or licence (`object`: the name, or `license/ID`) by its expiry
/// date, so the daily work reads only what is due.
pub fn expiry(date: chrono::NaiveDate, login: &str, object: &str) -> Vec<u8> {
    key(
        b'E',
        &[
            date.format("%Y-%m-%d").to_string().as_bytes(),
            login.as_bytes(),
            object.as_bytes(),
        ],
    )
}
pub fn expiries() -> Vec<u8> {
    key(b'E', &[])
}
/// (date, login, object) of an expiry key.
pub fn parse_expiry(k: &[u8]) -> Option<(chrono::NaiveDate, String, String)> {
    let rest = k.strip_prefix(b"E\0")?;
    let mut parts = rest.splitn(3, |b| *b == 0);
    let date = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let login = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let object = String::from_utf8(parts.next()?.to_vec()).ok()?;
    Some((date, login, object))
}

/// A partner's counts of active services (`ServiceCounts`).
pub fn service_counts(login: &str) -> Vec<u8> {
    key(b'U', &[login.as_bytes()])
}
/// One live client's active services per category, while it has any.
pub fn client_services(login: &str, client: u64) -> Vec<u8> {
    key(b'u', &[login.as_bytes(), &client.to_be_bytes()])
}
pub fn all_client_services(login: &str) -> Vec<u8> {
    key(b'u', &[login.as_bytes(), b""])
}

/// The commission account's entries, apart from the ledger of the prepaid balance.
pub fn commission_entry(login: &str, entry: u64) -> Vec<u8> {
    key(b'm', &[login.as_bytes(), &entry.to_be_bytes()])
}
pub fn commissions(login: &str) -> Vec<u8> {
    key(b'm', &[login.as_bytes(), b""])
}
pub fn request(login: &str, request_id: &str) -> Vec<u8> {
    key(b'r', &[login.as_bytes(), request_id.as_bytes()])
}
/// Every partner's request records.
pub fn all_requests() -> Vec<u8> {
    key(b'r', &[])
}
pub fn requests(login: &str) -> Vec<u8> {
    key(b'r', &[login.as_bytes(), b""])
}
/// An operator's top-up or withdrawal for `login` under the operator's `request_id`
/// (apart from the partner's own request-ids, which the partner chooses).
pub fn operator_request(login: &str, request_id: &str) -> Vec<u8> {
    key(b'K', &[login.as_bytes(), request_id.as_bytes()])
}
pub fn in_flight(domain: &str) -> Vec<u8> {
    key(b'F', &[domain.as_bytes()])
}
pub fn in_flight_all() -> Vec<u8> {
    key(b'F', &[])
}
pub fn open_order(order: u64) -> Vec<u8> {
    key(b'q', &[&order.to_be_bytes()])
}
pub fn open_orders() -> Vec<u8> {
    key(b'q', &[])
}
pub fn license_owner(license: u64) -> Vec<u8> {
    key(b'S', &[&license.to_be_bytes()])
}
pub fn license(login: &str, license: u64) -> Vec<u8> {
    key(b's', &[login.as_bytes(), &license.to_be_bytes()])
}
pub fn licenses(login: &str) -> Vec<u8> {
    key(b's', &[login.as_bytes(), b""])
}
/// A partner's additional login `PARTNER.NAME`, by the partner and the name (removed
/// with the partner, as every `TAG\0login\0` row).
pub fn user(partner: &str, name: &str) -> Vec<u8> {
    key(b'a', &[partner.as_bytes(), name.as_bytes()])
}
pub fn users(partner: &str) -> Vec<u8> {
    key(b'a', &[partner.as_bytes(), b""])
}
/// A fact about the store itself (which start-up migrations have run).
pub fn meta(name: &str) -> Vec<u8> {
    key(b'M', &[name.as_bytes()])
}
pub fn counter(name: &str) -> Vec<u8> {
    key(b'N', &[name.as_bytes()])
}

pub fn webhooks(login: &str) -> Vec<u8> {
    key(b'H', &[login.as_bytes(), b""])
}
pub fn event(login: &str, id: u64) -> Vec<u8> {
    key(b'e', &[login.as_bytes(), &id.to_be_bytes()])
}
pub fn delivery(login: &str, event: u64, endpoint: u64) -> Vec<u8> {
    let mut k = deliveries(login);
    k.extend_from_slice(&event.to_be_bytes());
    k.extend_from_slice(&endpoint.to_be_bytes());
    k
}
pub fn deliveries(login: &str) -> Vec<u8> {
    key(b'w', &[login.as_bytes(), b""])
}
pub fn pending(event: u64, endpoint: u64) -> Vec<u8> {
    let mut k = pendings();
    k.extend_from_slice(&event.to_be_bytes());
    k.extend_from_slice(&endpoint.to_be_bytes());
    k
}
pub fn pendings() -> Vec<u8> {
    key(b'h', &[])
}
/// The (event, endpoint) ids that end a delivery's or a pending delivery's key.
pub fn trailing_pair(k: &[u8]) -> (u64, u64) {
    (trailing_id(&k[..k.len() - 8]), trailing_id(k))
}

/// The last 8 bytes of a key, as the id they encode.
pub fn trailing_id(k: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&k[k.len() - 8..]);
    u64::from_be_bytes(b)
}

/// What follows `prefix` in a key, as text.
pub fn suffix_str(k: &[u8], prefix_len: usize) -> String {
    String::from_utf8_lossy(&k[prefix_len..]).into_owned()
}
