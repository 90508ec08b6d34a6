//! The store's typed operations over ordered keys: each names its keys ([`keys`]) and
//! encodes its records as JSON, once, here. Both implementations keep the same
//! (key, value) rows: sled in one tree, PostgreSQL in one table with the key as its
//! primary key; each gives the raw reads, scans and writes below.

pub(super) mod keys;

use crate::error::{Error, Result};
use crate::store::records::{
    Client, CommissionEntry, DayTotals, Delivery, DeliveryState, Domain, Event, LedgerEntry,
    License, OperatorRequest, Order, Partner, ServiceCounts, User, Webhooks,
};
use crate::store::{
    ClientServices, Expiry, Iter, Migration, PartnerRemoved, Read, RequestHead, Rows, Scan, Txn,
    Write,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::ops::Bound;

/// Point reads of encoded records.
pub(super) trait RawGet {
    fn raw_get(&self, key: &[u8]) -> Result<Option<impl AsRef<[u8]>>>;
}

/// A key range: (from, to).
pub(super) type Range = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// Encoded rows, in key order.
pub(super) type RawIter<'a, B> = Box<dyn Iterator<Item = Result<(B, B)>> + 'a>;

/// Scans of the committed state (or of a quiet one).
pub(super) trait RawScan {
    type Bytes: AsRef<[u8]>;
    /// The rows in `range`, ascending or (`newest_first`) descending.
    fn raw_range(&self, range: Range, newest_first: bool) -> RawIter<'_, Self::Bytes>;
}

/// Writes of encoded records (`None`: removed).
pub(super) trait RawPut {
    fn raw_put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>);
}

/// What a write job needs besides reads and writes.
pub(super) trait RawTxn: RawGet + RawPut {
    /// Every (key, value) under `prefix` as this job sees it. For rare jobs over a
    /// whole prefix (removing the demo partner), not for requests.
    fn scan_raw(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Writes rows built outside the job.
    fn put_raw_rows(&mut self, rows: Rows) -> Result<()>;
}

pub(super) fn decode<T: DeserializeOwned>(v: &[u8]) -> Result<T> {
    Ok(serde_json::from_slice(v)?)
}

/// The range of keys under `prefix` strictly after `after` in the listing's direction.
pub(super) fn scan_range(prefix: &[u8], after: Option<&[u8]>, newest_first: bool) -> Range {
    use std::ops::Bound::*;
    let end = match prefix_end(prefix) {
        Some(e) => Excluded(e),
        None => Unbounded,
    };
    match (after, newest_first) {
        (None, _) => (Included(prefix.to_vec()), end),
        (Some(a), false) => (Excluded(a.to_vec()), end),
        (Some(a), true) => (Included(prefix.to_vec()), Excluded(a.to_vec())),
    }
}

/// The first key after every key that starts with `prefix`.
pub(super) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Decoded rows under `prefix`, after the full key `after`.
fn scan_tree<'t, T: DeserializeOwned + 't, S: RawScan + ?Sized>(
    s: &'t S,
    prefix: &[u8],
    after: Option<&[u8]>,
    newest_first: bool,
) -> impl Iterator<Item = Result<(S::Bytes, T)>> + 't {
    s.raw_range(scan_range(prefix, after, newest_first), newest_first)
        .map(|r| {
            let (k, v) = r?;
            let v = decode(v.as_ref())?;
            Ok((k, v))
        })
}

/// The raw rows under `prefix`.
fn scan_prefix<'t, S: RawScan + ?Sized>(s: &'t S, prefix: &[u8]) -> RawIter<'t, S::Bytes> {
    s.raw_range(scan_range(prefix, None, false), false)
}

fn get<T: DeserializeOwned>(r: &(impl RawGet + ?Sized), key: &[u8]) -> Result<Option<T>> {
    match r.raw_get(key)? {
        Some(v) => Ok(Some(decode(v.as_ref())?)),
        None => Ok(None),
    }
}

fn put<T: Serialize + ?Sized>(w: &mut (impl RawPut + ?Sized), key: Vec<u8>, v: &T) -> Result<()> {
    w.raw_put(key, Some(serde_json::to_vec(v)?));
    Ok(())
}

fn meta_name(m: Migration) -> &'static str {
    match m {
        Migration::DayTotals => "day-totals",
        Migration::ExpiryIndex => "expiry-index",
        Migration::ServiceCounts => "service-counts",
    }
}

fn expiry_key(e: &Expiry) -> Vec<u8> {
    keys::expiry(e.date, &e.login, &e.object)
}

impl<R: RawGet> Read for R {
    fn partner(&self, login: &str) -> Result<Option<Partner>> {
        get(self, &keys::partner(login))
    }
    fn has_partner(&self, login: &str) -> Result<bool> {
        Ok(self.raw_get(&keys::partner(login))?.is_some())
    }
    fn domain_owner(&self, name: &str) -> Result<Option<String>> {
        get(self, &keys::domain_owner(name))
    }
    fn domain(&self, login: &str, name: &str) -> Result<Option<Domain>> {
        get(self, &keys::domain(login, name))
    }
    fn client_owner(&self, number: u64) -> Result<Option<String>> {
        get(self, &keys::client_owner(number))
    }
    fn client(&self, login: &str, number: u64) -> Result<Option<Client>> {
        get(self, &keys::client(login, number))
    }
    fn order_owner(&self, id: u64) -> Result<Option<String>> {
        get(self, &keys::order_owner(id))
    }
    fn order(&self, login: &str, id: u64) -> Result<Option<Order>> {
        get(self, &keys::order(login, id))
    }
    fn is_open(&self, id: u64) -> Result<bool> {
        Ok(self.raw_get(&keys::open_order(id))?.is_some())
    }
    fn in_flight(&self, object: &str) -> Result<Option<u64>> {
        get(self, &keys::in_flight(object))
    }
    fn ledger_entry(&self, login: &str, id: u64) -> Result<Option<LedgerEntry>> {
        get(self, &keys::ledger_entry(login, id))
    }
    fn day_totals(&self, login: &str, day: NaiveDate) -> Result<Option<DayTotals>> {
        get(self, &keys::day_totals(login, day))
    }
    fn service_counts(&self, login: &str) -> Result<Option<ServiceCounts>> {
        get(self, &keys::service_counts(login))
    }
    fn client_services(&self, login: &str, number: u64) -> Result<Option<ClientServices>> {
        get(self, &keys::client_services(login, number))
    }
    fn has_expiry(&self, e: &Expiry) -> Result<bool> {
        Ok(self.raw_get(&expiry_key(e))?.is_some())
    }
    fn license_owner(&self, id: u64) -> Result<Option<String>> {
        get(self, &keys::license_owner(id))
    }
    fn license(&self, login: &str, id: u64) -> Result<Option<License>> {
        get(self, &keys::license(login, id))
    }
    fn user(&self, partner: &str, name: &str) -> Result<Option<User>> {
        get(self, &keys::user(partner, name))
    }
    fn request_bytes(&self, login: &str, request_id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .raw_get(&keys::request(login, request_id))?
            .map(|v| v.as_ref().to_vec()))
    }
    fn operator_request(&self, login: &str, request_id: &str) -> Result<Option<OperatorRequest>> {
        get(self, &keys::operator_request(login, request_id))
    }
    fn counter(&self, name: &str) -> Result<u64> {
        Ok(get::<u64>(self, &keys::counter(name))?.unwrap_or(0))
    }
    fn demo(&self) -> Result<Option<String>> {
        get(self, &keys::meta("demo"))
    }
    fn migrated(&self, m: Migration) -> Result<Option<String>> {
        Ok(
            get::<serde_json::Value>(self, &keys::meta(meta_name(m)))?.map(|v| match v {
                serde_json::Value::String(s) => s,
                _ => String::new(),
            }),
        )
    }
    fn webhooks(&self, login: &str) -> Result<Option<Webhooks>> {
        get(self, &keys::webhooks(login))
    }
    fn event(&self, login: &str, id: u64) -> Result<Option<Event>> {
        get(self, &keys::event(login, id))
    }
    fn delivery(&self, login: &str, event: u64, endpoint: u64) -> Result<Option<Delivery>> {
        get(self, &keys::delivery(login, event, endpoint))
    }
}

/// Decoded values under `prefix`, after the full key `after`.
fn values<'t, T: DeserializeOwned + 't, S: RawScan + ?Sized>(
    tree: &'t S,
    prefix: &[u8],
    after: Option<Vec<u8>>,
    newest_first: bool,
) -> Iter<'t, T> {
    Box::new(
        scan_tree::<T, _>(tree, prefix, after.as_deref(), newest_first).map(|r| r.map(|(_, v)| v)),
    )
}

/// The part of a request record pruning reads.
#[derive(Deserialize)]
struct Head {
    request_id: String,
    created: DateTime<Utc>,
    #[serde(default)]
    order: Option<u64>,
    #[serde(default)]
    outcome: Option<serde::de::IgnoredAny>,
}

/// The login in a request record's key (`r\0{login}\0{request-id}`).
fn login_of(k: &[u8]) -> Option<&str> {
    let rest = k.strip_prefix(b"r\0")?;
    let end = rest.iter().position(|b| *b == 0)?;
    std::str::from_utf8(&rest[..end]).ok()
}

impl<S: RawScan> Scan for S {
    fn partners(&self) -> Iter<'_, Partner> {
        values(self, &keys::partners(), None, false)
    }
    fn domains(&self, login: &str, after: Option<&str>) -> Iter<'_, Domain> {
        let after = after.map(|c| keys::domain(login, c));
        values(self, &keys::domains(login), after, false)
    }
    fn client_domains(&self, login: &str, number: u64, after: Option<&str>) -> Iter<'_, String> {
        let prefix = keys::client_domains(login, number);
        let after = after.map(|c| keys::client_domain(login, number, c));
        let len = prefix.len();
        Box::new(
            scan_tree::<(), _>(self, &prefix, after.as_deref(), false)
                .map(move |r| r.map(|(k, ())| keys::suffix_str(k.as_ref(), len))),
        )
    }
    fn clients(&self, login: &str, after: Option<u64>) -> Iter<'_, Client> {
        let after = after.map(|n| keys::client(login, n));
        values(self, &keys::clients(login), after, false)
    }
    fn client_count(&self, login: &str) -> Result<u64> {
        let mut n = 0;
        for r in scan_prefix(self, &keys::clients(login)) {
            r?;
            n += 1;
        }
        Ok(n)
    }
    fn licenses(&self, login: &str, after: Option<u64>) -> Iter<'_, License> {
        let after = after.map(|id| keys::license(login, id));
        values(self, &keys::licenses(login), after, false)
    }
    fn users(&self, partner: &str) -> Iter<'_, User> {
        values(self, &keys::users(partner), None, false)
    }
    fn orders(&self, login: &str, after: Option<u64>, newest_first: bool) -> Iter<'_, Order> {
        let after = after.map(|id| keys::order(login, id));
        values(self, &keys::orders(login), after, newest_first)
    }
    fn ledger(&self, login: &str, after: Option<u64>, newest_first: bool) -> Iter<'_, LedgerEntry> {
        let after = after.map(|id| keys::ledger_entry(login, id));
        values(self, &keys::ledger(login), after, newest_first)
    }
    fn commissions(
        &self,
        login: &str,
        after: Option<u64>,
        newest_first: bool,
    ) -> Iter<'_, CommissionEntry> {
        let after = after.map(|id| keys::commission_entry(login, id));
        values(self, &keys::commissions(login), after, newest_first)
    }
    fn day_totals_of(&self, login: &str, newest_first: bool) -> Iter<'_, (NaiveDate, DayTotals)> {
        Box::new(
            scan_tree::<DayTotals, _>(self, &keys::day_totals_all(login), None, newest_first).map(
                |r| {
                    let (k, t) = r?;
                    let day =
                        std::str::from_utf8(&k.as_ref()[k.as_ref().len().saturating_sub(10)..])
                            .ok()
                            .and_then(|d| d.parse::<NaiveDate>().ok())
                            .ok_or_else(|| Error::internal("malformed day-totals key"))?;
                    Ok((day, t))
                },
            ),
        )
    }
    fn all_client_services(&self, login: &str) -> Iter<'_, (u64, ClientServices)> {
        Box::new(
            scan_tree::<ClientServices, _>(self, &keys::all_client_services(login), None, false)
                .map(|r| r.map(|(k, m)| (keys::trailing_id(k.as_ref()), m))),
        )
    }
    fn expiries(&self) -> Iter<'_, Option<Expiry>> {
        Box::new(scan_prefix(self, &keys::expiries()).map(|r| {
            let (k, _) = r?;
            Ok(
                keys::parse_expiry(k.as_ref()).map(|(date, login, object)| Expiry {
                    date,
                    login,
                    object,
                }),
            )
        }))
    }
    fn open_orders(&self) -> Iter<'_, (u64, String)> {
        Box::new(
            scan_tree::<String, _>(self, &keys::open_orders(), None, false)
                .map(|r| r.map(|(k, login)| (keys::trailing_id(k.as_ref()), login))),
        )
    }
    fn locks(&self) -> Iter<'_, (String, u64)> {
        Box::new(
            scan_tree::<u64, _>(self, &keys::in_flight_all(), None, false)
                .map(|r| r.map(|(k, id)| (keys::suffix_str(k.as_ref(), 2), id))),
        )
    }
    fn request_heads(&self, after: Option<(&str, &str)>) -> Iter<'_, RequestHead> {
        let after = after.map(|(login, rid)| keys::request(login, rid));
        Box::new(
            scan_tree::<Head, _>(self, &keys::all_requests(), after.as_deref(), false).map(|r| {
                let (k, h) = r?;
                Ok(RequestHead {
                    login: login_of(k.as_ref()).unwrap_or_default().to_string(),
                    request_id: h.request_id,
                    created: h.created,
                    order: h.order,
                    answered: h.outcome.is_some(),
                })
            }),
        )
    }
    fn request_bytes_of(&self, login: &str) -> Iter<'_, Vec<u8>> {
        Box::new(scan_prefix(self, &keys::requests(login)).map(|r| Ok(r?.1.as_ref().to_vec())))
    }
    fn pending_deliveries(&self) -> Iter<'_, (u64, u64, String)> {
        Box::new(
            scan_tree::<String, _>(self, &keys::pendings(), None, false).map(|r| {
                r.map(|(k, login)| {
                    let (ev, ep) = keys::trailing_pair(k.as_ref());
                    (ev, ep, login)
                })
            }),
        )
    }
    fn deliveries(
        &self,
        login: &str,
        after: Option<(u64, u64)>,
        newest_first: bool,
    ) -> Iter<'_, Delivery> {
        let after = after.map(|(ev, ep)| keys::delivery(login, ev, ep));
        values(self, &keys::deliveries(login), after, newest_first)
    }
}

impl<W: RawPut> Write for W {
    fn put_partner(&mut self, p: &Partner) -> Result<()> {
        put(self, keys::partner(&p.login), p)
    }
    fn add_domain(&mut self, login: &str, client: u64, d: &Domain) -> Result<()> {
        put(self, keys::domain_owner(&d.name), login)?;
        put(self, keys::client_domain(login, client, &d.name), &())?;
        self.put_domain(login, d)
    }
    fn put_domain(&mut self, login: &str, d: &Domain) -> Result<()> {
        put(self, keys::domain(login, &d.name), d)
    }
    fn add_client(&mut self, login: &str, c: &Client) -> Result<()> {
        put(self, keys::client_owner(c.number), login)?;
        self.put_client(login, c)
    }
    fn put_client(&mut self, login: &str, c: &Client) -> Result<()> {
        put(self, keys::client(login, c.number), c)
    }
    fn remove_client(&mut self, login: &str, number: u64) {
        self.raw_put(keys::client(login, number), None);
    }
    fn add_order(&mut self, login: &str, o: &Order) -> Result<()> {
        self.put_order(login, o)?;
        put(self, keys::order_owner(o.id), login)
    }
    fn accept_order(&mut self, login: &str, o: &Order) -> Result<()> {
        self.add_order(login, o)?;
        put(self, keys::open_order(o.id), login)?;
        put(self, keys::in_flight(&o.domain), &o.id)
    }
    fn put_order(&mut self, login: &str, o: &Order) -> Result<()> {
        put(self, keys::order(login, o.id), o)
    }
    fn close_order(&mut self, o: &Order) {
        self.raw_put(keys::open_order(o.id), None);
        self.raw_put(keys::in_flight(&o.domain), None);
    }
    fn append_ledger(
        &mut self,
        login: &str,
        e: &LedgerEntry,
        day: Option<(NaiveDate, &DayTotals)>,
    ) -> Result<()> {
        if let Some((date, t)) = day {
            self.put_day_totals(login, date, t)?;
        }
        put(self, keys::ledger_entry(login, e.id), e)
    }
    fn put_day_totals(&mut self, login: &str, day: NaiveDate, t: &DayTotals) -> Result<()> {
        put(self, keys::day_totals(login, day), t)
    }
    fn remove_day_totals(&mut self, login: &str, day: NaiveDate) {
        self.raw_put(keys::day_totals(login, day), None);
    }
    fn append_commission(&mut self, login: &str, e: &CommissionEntry) -> Result<()> {
        put(self, keys::commission_entry(login, e.id), e)
    }
    fn put_service_counts(&mut self, login: &str, c: &ServiceCounts) -> Result<()> {
        put(self, keys::service_counts(login), c)
    }
    fn remove_service_counts(&mut self, login: &str) {
        self.raw_put(keys::service_counts(login), None);
    }
    fn put_client_services(&mut self, login: &str, number: u64, s: &ClientServices) -> Result<()> {
        put(self, keys::client_services(login, number), s)
    }
    fn remove_client_services(&mut self, login: &str, number: u64) {
        self.raw_put(keys::client_services(login, number), None);
    }
    fn put_expiry(&mut self, e: &Expiry) -> Result<()> {
        put(self, expiry_key(e), &())
    }
    fn remove_expiry(&mut self, e: &Expiry) {
        self.raw_put(expiry_key(e), None);
    }
    fn add_license(&mut self, login: &str, l: &License) -> Result<()> {
        put(self, keys::license_owner(l.id), login)?;
        self.put_license(login, l)
    }
    fn put_license(&mut self, login: &str, l: &License) -> Result<()> {
        put(self, keys::license(login, l.id), l)
    }
    fn put_user(&mut self, u: &User) -> Result<()> {
        put(self, keys::user(&u.partner, u.name()), u)
    }
    fn remove_user(&mut self, u: &User) {
        self.raw_put(keys::user(&u.partner, u.name()), None);
    }
    fn put_request_bytes(&mut self, login: &str, request_id: &str, r: Vec<u8>) -> Result<()> {
        self.raw_put(keys::request(login, request_id), Some(r));
        Ok(())
    }
    fn remove_request(&mut self, login: &str, request_id: &str) {
        self.raw_put(keys::request(login, request_id), None);
    }
    fn put_operator_request(&mut self, login: &str, r: &OperatorRequest) -> Result<()> {
        put(self, keys::operator_request(login, &r.request_id), r)
    }
    fn set_counter(&mut self, name: &str, value: u64) -> Result<()> {
        put(self, keys::counter(name), &value)
    }
    fn set_demo(&mut self, login: Option<&str>) -> Result<()> {
        match login {
            Some(l) => put(self, keys::meta("demo"), l),
            None => {
                self.raw_put(keys::meta("demo"), None);
                Ok(())
            }
        }
    }
    fn set_migrated(&mut self, m: Migration, version: Option<&str>) -> Result<()> {
        let key = keys::meta(meta_name(m));
        match (m, version) {
            (_, None) => {
                self.raw_put(key, None);
                Ok(())
            }
            (Migration::ServiceCounts, Some(v)) => put(self, key, v),
            (_, Some(_)) => put(self, key, &true),
        }
    }
    fn put_webhooks(&mut self, login: &str, w: &Webhooks) -> Result<()> {
        put(self, keys::webhooks(login), w)
    }
    fn put_event(&mut self, login: &str, e: &Event) -> Result<()> {
        put(self, keys::event(login, e.id), e)
    }
    fn put_delivery(&mut self, login: &str, d: &Delivery) -> Result<()> {
        let pending = keys::pending(d.event, d.endpoint);
        if d.state == DeliveryState::Pending {
            put(self, pending, login)?;
        } else {
            self.raw_put(pending, None);
        }
        put(self, keys::delivery(login, d.event, d.endpoint), d)
    }
}

impl<T: RawTxn> Txn for T {
    fn next_id(&mut self, counter: &str) -> Result<u64> {
        let n = self.counter(counter)? + 1;
        self.set_counter(counter, n)?;
        Ok(n)
    }

    fn put_rows(&mut self, rows: Rows) -> Result<()> {
        self.put_raw_rows(rows)
    }

    fn remove_partner(&mut self, login: &str) -> Result<PartnerRemoved> {
        let mut out = PartnerRemoved::default();
        // The partner and its service counts are keyed by the login alone.
        let mut removed: Vec<Vec<u8>> = vec![keys::partner(login)];
        if self.service_counts(login)?.is_some() {
            removed.push(keys::service_counts(login));
        }
        // Every record of the partner's own is under `TAG\0login\0` (keys.rs): one scan
        // per tag finds them, whatever the tag.
        let mut own: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for tag in 0x21u8..0x7f {
            let mut prefix = vec![tag, 0];
            prefix.extend_from_slice(login.as_bytes());
            prefix.push(0);
            own.extend(self.scan_raw(&prefix)?);
        }
        for (k, v) in &own {
            let rest = &k[k.len().min(login.len() + 3)..];
            match k[0] {
                b'd' => {
                    out.domains += 1;
                    let name = String::from_utf8_lossy(rest).into_owned();
                    removed.push(keys::domain_owner(&name));
                    if self.in_flight(&name)?.is_some() {
                        return Ok(PartnerRemoved {
                            open: true,
                            ..PartnerRemoved::default()
                        });
                    }
                }
                b'c' => {
                    out.clients += 1;
                    removed.push(keys::client_owner(keys::trailing_id(k)));
                }
                b's' => {
                    out.licenses += 1;
                    removed.push(keys::license_owner(keys::trailing_id(k)));
                }
                b'o' => {
                    out.orders += 1;
                    let o: Order = decode(v)?;
                    if !o.state.is_terminal() {
                        return Ok(PartnerRemoved {
                            open: true,
                            ..PartnerRemoved::default()
                        });
                    }
                    removed.push(keys::order_owner(o.id));
                    removed.push(keys::open_order(o.id));
                }
                b'w' => {
                    let (ev, ep) = keys::trailing_pair(k);
                    removed.push(keys::pending(ev, ep));
                }
                _ => {}
            }
            removed.push(k.clone());
        }
        for (k, _) in self.scan_raw(&keys::expiries())? {
            if keys::parse_expiry(&k).is_some_and(|(_, l, _)| l == login) {
                removed.push(k);
            }
        }
        out.records = removed.len() as u64;
        for k in removed {
            self.raw_put(k, None);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefix_end_handles_ff() {
        assert_eq!(super::prefix_end(b"a\0"), Some(b"a\x01".to_vec()));
        assert_eq!(super::prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(super::prefix_end(b"\xff"), None);
    }
}
