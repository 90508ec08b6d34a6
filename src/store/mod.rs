//! The store: what the gateway keeps, behind one narrow, typed interface.
//!
//! Nothing outside this module knows how records are laid out, encoded or kept: the
//! engine and the commands read and write partners, orders, ledger entries and the
//! rest through the operations of [`Read`], [`Scan`], [`Write`] and [`Txn`], and run
//! every change as a write job ([`Store::write`]) that sees one consistent state.
//! sled is the embedded implementation (`store/sled/`), PostgreSQL the one for several
//! nodes on one database (`store/pg/`); both keep the same ordered (key, value) rows
//! and share the typed operations over them (`store/kv/`).
//!
//! An implementation is a [`Backend`] and must provide:
//! - every operation of [`Read`] and [`Scan`] on the committed state, of [`Read`],
//!   [`Write`] and [`Txn`] inside a write job, and of [`Read`] and [`Scan`] on a quiet
//!   state ([`Backend::submit_quiet`]);
//! - write jobs that are serialisable and atomic: a job sees exactly what the jobs
//!   before it left, its writes are kept all or none (none when it fails), and a job
//!   is answered only once its writes are durable ([`Backend::submit`]);
//! - fail-stop: a change that may or may not have reached the disk is never answered
//!   as failed (the process stops, [`EXIT_STORE_FAILED`]);
//! - request records kept as the bytes [`Requests`] and [`RequestWrites`] give
//!   (their outcome's type belongs to the layer above), by partner and request-id;
//! - gapless, restart-safe counters ([`Txn::next_id`]);
//! - the watch on order states ([`Backend::watch_orders`]), the partner cache's rule
//!   ([`Backend::partner_shared`]: never stale), bulk rows ([`Backend::rows`],
//!   [`Backend::migrate`], [`Txn::put_rows`]), the demo removal
//!   ([`Txn::remove_partner`]) and the sandbox registry's own state
//!   ([`Backend::registry`]);
//! - listings whose cost depends on the rows read (one partner's, from a cursor),
//!   never on the size of the whole store.

mod kv;
mod pg;
pub mod records;
pub mod requests;
mod sled;

use crate::error::{Error, Result};
use chrono::NaiveDate;
use records::{
    Client, CommissionEntry, DayTotals, Delivery, Domain, Event, LedgerEntry, License,
    OperatorRequest, Order, OrderState, Partner, RequestRecord, ServiceCounts, User, Webhooks,
};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::oneshot;

pub use self::pg::schema_version as postgres_schema_version;
pub use self::sled::{format_key, EXIT_STORE_FAILED, FAIL_FLUSH_ENV, FORMAT};

/// Rows of a listing, in the listing's order.
pub type Iter<'a, T> = Box<dyn Iterator<Item = Result<T>> + 'a>;

/// What a write job sees and changes ([`Store::write`]).
pub type Tx<'a> = dyn Txn + 'a;

/// A consistent read-only state ([`Store::quiet`]).
pub type Quiet<'a> = dyn View + 'a;

/// One client's active services, per category.
pub type ClientServices = BTreeMap<String, u64>;

/// An active domain or licence by its expiry date (the expiry index).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expiry {
    pub date: NaiveDate,
    pub login: String,
    /// The domain name, or `license/ID` ([`records::license_object`]).
    pub object: String,
}

/// What pruning reads of a request record.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub login: String,
    pub request_id: String,
    pub created: chrono::DateTime<chrono::Utc>,
    pub order: Option<u64>,
    /// Its answer is stored.
    pub answered: bool,
}

/// Once-only rebuilds at start-up, each remembered as done (with the version it was
/// done under, where it has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migration {
    /// Per-day payment and turnover totals built from the ledger.
    DayTotals,
    /// The expiry index built from the active services.
    ExpiryIndex,
    /// The counts of active services, under a mapping of categories (its version).
    ServiceCounts,
}

/// Point reads, from the committed state, inside a write job, or on a quiet state.
pub trait Read {
    fn partner(&self, login: &str) -> Result<Option<Partner>>;
    fn has_partner(&self, login: &str) -> Result<bool>;
    /// The login of the domain's owner (names are unique).
    fn domain_owner(&self, name: &str) -> Result<Option<String>>;
    fn domain(&self, login: &str, name: &str) -> Result<Option<Domain>>;
    /// The login of the client's owner.
    fn client_owner(&self, number: u64) -> Result<Option<String>>;
    fn client(&self, login: &str, number: u64) -> Result<Option<Client>>;
    /// The login of the order's owner.
    fn order_owner(&self, id: u64) -> Result<Option<String>>;
    fn order(&self, login: &str, id: u64) -> Result<Option<Order>>;
    /// Whether the order is in the open-order queue.
    fn is_open(&self, id: u64) -> Result<bool>;
    /// The order in flight for a domain or licence (`object`), which locks it.
    fn in_flight(&self, object: &str) -> Result<Option<u64>>;
    fn ledger_entry(&self, login: &str, id: u64) -> Result<Option<LedgerEntry>>;
    fn day_totals(&self, login: &str, day: NaiveDate) -> Result<Option<DayTotals>>;
    fn service_counts(&self, login: &str) -> Result<Option<ServiceCounts>>;
    fn client_services(&self, login: &str, number: u64) -> Result<Option<ClientServices>>;
    fn has_expiry(&self, e: &Expiry) -> Result<bool>;
    /// The login of the licence's owner.
    fn license_owner(&self, id: u64) -> Result<Option<String>>;
    fn license(&self, login: &str, id: u64) -> Result<Option<License>>;
    /// The partner's user `partner.name`.
    fn user(&self, partner: &str, name: &str) -> Result<Option<User>>;
    /// A request record as [`Requests`] encodes it.
    fn request_bytes(&self, login: &str, request_id: &str) -> Result<Option<Vec<u8>>>;
    fn operator_request(&self, login: &str, request_id: &str) -> Result<Option<OperatorRequest>>;
    /// The last value a counter gave (0: none yet).
    fn counter(&self, name: &str) -> Result<u64>;
    /// The login marked as the demo partner.
    fn demo(&self) -> Result<Option<String>>;
    /// `None` when the migration has not run; else the version it ran under (empty
    /// when it has none).
    fn migrated(&self, m: Migration) -> Result<Option<String>>;
    /// The partner's webhook endpoints and threshold.
    fn webhooks(&self, login: &str) -> Result<Option<Webhooks>>;
    fn event(&self, login: &str, id: u64) -> Result<Option<Event>>;
    fn delivery(&self, login: &str, event: u64, endpoint: u64) -> Result<Option<Delivery>>;
}

/// Listings, from the committed state or a quiet one.
pub trait Scan {
    fn partners(&self) -> Iter<'_, Partner>;
    /// One partner's domains by name, after `after`.
    fn domains(&self, login: &str, after: Option<&str>) -> Iter<'_, Domain>;
    /// The names of one client's domains, after `after`.
    fn client_domains(&self, login: &str, number: u64, after: Option<&str>) -> Iter<'_, String>;
    /// One partner's clients by number, after `after`.
    fn clients(&self, login: &str, after: Option<u64>) -> Iter<'_, Client>;
    /// How many client records a partner has.
    fn client_count(&self, login: &str) -> Result<u64>;
    fn licenses(&self, login: &str, after: Option<u64>) -> Iter<'_, License>;
    /// The partner's users, by name.
    fn users(&self, partner: &str) -> Iter<'_, User>;
    /// One partner's orders by id, strictly after `after` in the listing's direction.
    fn orders(&self, login: &str, after: Option<u64>, newest_first: bool) -> Iter<'_, Order>;
    fn ledger(&self, login: &str, after: Option<u64>, newest_first: bool) -> Iter<'_, LedgerEntry>;
    fn commissions(
        &self,
        login: &str,
        after: Option<u64>,
        newest_first: bool,
    ) -> Iter<'_, CommissionEntry>;
    /// One partner's per-day totals by day.
    fn day_totals_of(&self, login: &str, newest_first: bool) -> Iter<'_, (NaiveDate, DayTotals)>;
    /// One partner's live clients with active services: (number, services).
    fn all_client_services(&self, login: &str) -> Iter<'_, (u64, ClientServices)>;
    /// The expiry index, by date; `None` for an entry that cannot be read as one.
    fn expiries(&self) -> Iter<'_, Option<Expiry>>;
    /// The open-order queue, by id: (order, login).
    fn open_orders(&self) -> Iter<'_, (u64, String)>;
    /// Every lock: (domain or licence object, order).
    fn locks(&self) -> Iter<'_, (String, u64)>;
    /// Every partner's request records, by login and request-id, after `after`
    /// (login, request-id).
    fn request_heads(&self, after: Option<(&str, &str)>) -> Iter<'_, RequestHead>;
    /// One partner's request records, by request-id, as [`Requests`] encodes them.
    fn request_bytes_of(&self, login: &str) -> Iter<'_, Vec<u8>>;
    /// Every pending delivery, by event and endpoint: (event, endpoint, login).
    fn pending_deliveries(&self) -> Iter<'_, (u64, u64, String)>;
    /// One partner's deliveries by event and endpoint, strictly after `after` in the
    /// listing's direction.
    fn deliveries(
        &self,
        login: &str,
        after: Option<(u64, u64)>,
        newest_first: bool,
    ) -> Iter<'_, Delivery>;
}

/// Changes, inside a write job or into bulk [`Rows`].
pub trait Write {
    fn put_partner(&mut self, p: &Partner) -> Result<()>;
    /// A domain the partner now holds: its record, its owner, its client's index.
    fn add_domain(&mut self, login: &str, client: u64, d: &Domain) -> Result<()>;
    fn put_domain(&mut self, login: &str, d: &Domain) -> Result<()>;
    /// A new client: its owner and its record.
    fn add_client(&mut self, login: &str, c: &Client) -> Result<()>;
    fn put_client(&mut self, login: &str, c: &Client) -> Result<()>;
    /// Takes a client's record away (its owner stays).
    fn remove_client(&mut self, login: &str, number: u64);
    /// An order born settled (refused before it was accepted): its record, its owner.
    fn add_order(&mut self, login: &str, o: &Order) -> Result<()>;
    /// An accepted order: its record, its owner, its place in the open-order queue, and
    /// the lock of its object.
    fn accept_order(&mut self, login: &str, o: &Order) -> Result<()>;
    fn put_order(&mut self, login: &str, o: &Order) -> Result<()>;
    /// A settled order leaves the open-order queue and lets go of its object.
    fn close_order(&mut self, o: &Order);
    /// A ledger entry, with the day's totals as they are after it (when it moved them).
    fn append_ledger(
        &mut self,
        login: &str,
        e: &LedgerEntry,
        day: Option<(NaiveDate, &DayTotals)>,
    ) -> Result<()>;
    fn put_day_totals(&mut self, login: &str, day: NaiveDate, t: &DayTotals) -> Result<()>;
    fn remove_day_totals(&mut self, login: &str, day: NaiveDate);
    fn append_commission(&mut self, login: &str, e: &CommissionEntry) -> Result<()>;
    fn put_service_counts(&mut self, login: &str, c: &ServiceCounts) -> Result<()>;
    fn remove_service_counts(&mut self, login: &str);
    fn put_client_services(&mut self, login: &str, number: u64, s: &ClientServices) -> Result<()>;
    fn remove_client_services(&mut self, login: &str, number: u64);
    fn put_expiry(&mut self, e: &Expiry) -> Result<()>;
    fn remove_expiry(&mut self, e: &Expiry);
    /// A licence the partner now holds: its owner and its record.
    fn add_license(&mut self, login: &str, l: &License) -> Result<()>;
    fn put_license(&mut self, login: &str, l: &License) -> Result<()>;
    fn put_user(&mut self, u: &User) -> Result<()>;
    fn remove_user(&mut self, u: &User);
    /// A request record as [`Requests`] encodes it.
    fn put_request_bytes(&mut self, login: &str, request_id: &str, r: Vec<u8>) -> Result<()>;
    fn remove_request(&mut self, login: &str, request_id: &str);
    fn put_operator_request(&mut self, login: &str, r: &OperatorRequest) -> Result<()>;
    /// Sets a counter (bulk loads only; write jobs take numbers with [`Txn::next_id`]).
    fn set_counter(&mut self, name: &str, value: u64) -> Result<()>;
    fn set_demo(&mut self, login: Option<&str>) -> Result<()>;
    /// Marks a migration done under `version` (ignored by those without one), or not
    /// done (`None`).
    fn set_migrated(&mut self, m: Migration, version: Option<&str>) -> Result<()>;
    fn put_webhooks(&mut self, login: &str, w: &Webhooks) -> Result<()>;
    fn put_event(&mut self, login: &str, e: &Event) -> Result<()>;
    /// A delivery, and its place in the queue of pending deliveries (there exactly
    /// while it is pending).
    fn put_delivery(&mut self, login: &str, d: &Delivery) -> Result<()>;
}

/// What a write job sees and changes: the committed state, plus the writes of the jobs
/// before it, plus its own.
pub trait Txn: Read + Write {
    /// Next value of a named counter (1, 2, 3, …), gapless and restart-safe.
    fn next_id(&mut self, counter: &str) -> Result<u64>;
    /// Writes rows built outside the job ([`Backend::rows`]).
    fn put_rows(&mut self, rows: Rows) -> Result<()>;
    /// Removes a partner and everything it owns: its clients, domains, orders,
    /// licences, ledger, commission account, counts, expiry entries and request
    /// records. Refused (nothing removed) while one of its orders is open.
    fn remove_partner(&mut self, login: &str) -> Result<PartnerRemoved>;
}

/// Request records: their outcome's type `O` belongs to the layer that answers
/// requests, so every implementation keeps them as the bytes given here (JSON).
pub trait Requests: Read {
    fn request<O: DeserializeOwned>(
        &self,
        login: &str,
        request_id: &str,
    ) -> Result<Option<RequestRecord<O>>> {
        match self.request_bytes(login, request_id)? {
            Some(b) => Ok(Some(serde_json::from_slice(&b)?)),
            None => Ok(None),
        }
    }
}
impl<T: Read + ?Sized> Requests for T {}

/// Listing request records ([`Requests`]).
pub trait RequestScans: Scan {
    fn requests<O: DeserializeOwned>(&self, login: &str) -> Iter<'_, RequestRecord<O>> {
        Box::new(
            self.request_bytes_of(login)
                .map(|b| Ok(serde_json::from_slice(&b?)?)),
        )
    }
}
impl<T: Scan + ?Sized> RequestScans for T {}

/// Writing request records ([`Requests`]).
pub trait RequestWrites: Write {
    fn put_request<O: Serialize>(&mut self, login: &str, r: &RequestRecord<O>) -> Result<()> {
        self.put_request_bytes(login, &r.request_id, serde_json::to_vec(r)?)
    }
}
impl<T: Write + ?Sized> RequestWrites for T {}

/// What [`Txn::remove_partner`] removed; `open` when it refused.
#[derive(Debug, Default, Clone)]
pub struct PartnerRemoved {
    pub clients: u64,
    pub domains: u64,
    pub orders: u64,
    pub licenses: u64,
    /// Records removed in all.
    pub records: u64,
    /// It has an open order, and nothing was removed.
    pub open: bool,
}

/// A consistent read-only state.
pub trait View: Read + Scan {}
impl<T: Read + Scan + ?Sized> View for T {}

/// Rows built outside a write job, to be written at once ([`Backend::rows`]).
pub type Rows = Box<dyn Batch>;

/// Bulk rows of one implementation.
pub trait Batch: Write + Send {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send>;
}

/// The state of the sandbox registry, kept apart from the gateway's records: its own
/// keys and values, which only the sandbox reads.
pub trait Registry: Send + Sync {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Written at once (not through the write jobs).
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()>;
    /// Removes every key (the sandbox control API's reset).
    fn clear(&self) -> Result<()>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Every (key, value), for moving a store.
    fn entries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
}

/// A registry state of its own, in memory, gone when dropped (tests).
pub fn temporary_registry() -> Result<Arc<dyn Registry>> {
    Ok(Arc::new(self::sled::SledRegistry::temporary()?))
}

/// Told of every committed change of an order's state: (before, after).
pub type OrderWatch = Box<dyn Fn(Option<OrderState>, Option<OrderState>) + Send + Sync>;

/// A write job as an implementation runs it: whether it succeeded (its writes are
/// kept), and what to tell its caller once they are durable.
pub type WriteJob = Box<dyn FnOnce(&mut Tx<'_>) -> (bool, Deliver) + Send>;
pub type Deliver = Box<dyn FnOnce(Result<()>) + Send>;
pub type QuietJob = Box<dyn FnOnce(&Quiet<'_>) + Send>;

/// One implementation of the store.
pub trait Backend: Read + Scan + Send + Sync {
    /// A random id made when the store was created and kept in it.
    fn id(&self) -> &str;
    /// The partner as stored now, shared: decoded once and used again while the stored
    /// record is the same (never stale).
    fn partner_shared(&self, login: &str) -> Result<Option<Arc<Partner>>>;
    /// Queues a write job (see the rules above).
    fn submit(&self, job: WriteJob) -> Result<()>;
    /// Queues a job run on a quiet state: after every earlier write, before any later.
    fn submit_quiet(&self, job: QuietJob) -> Result<()>;
    /// Calls `f` for every committed change of an order's state, in commit order.
    fn watch_orders(&self, f: OrderWatch);
    /// Empty bulk rows.
    fn rows(&self) -> Rows;
    /// Writes `rows` at once, bypassing the write jobs: only for start-up migrations,
    /// before the store takes any other write.
    fn migrate(&self, rows: Rows) -> Result<()>;
    /// Batches written and made durable since the store was opened.
    fn batches(&self) -> u64;
    /// The store's size on disk in bytes, when the backend can tell.
    fn size_on_disk(&self) -> Option<u64> {
        None
    }
    fn flush(&self) -> Result<()>;
    /// The sandbox registry's state, under `name`.
    fn registry(&self, name: &str) -> Result<Arc<dyn Registry>>;
    /// Takes the lease `name` for this process for `ttl`, or renews its own; `false`
    /// while another process holds it. Processes sharing one store (several nodes on
    /// PostgreSQL) share work by leases: what a process that died held is taken over
    /// when its lease ends. A store that one process alone opens grants every lease.
    fn lease(&self, name: &str, ttl: std::time::Duration) -> Result<bool> {
        let _ = (name, ttl);
        Ok(true)
    }
    /// Gives up this process's lease `name` (nothing when it holds none).
    fn release(&self, name: &str) {
        let _ = name;
    }
    /// Every record as stored, (key, value) in key order, but the store's own identity:
    /// for moving a store to another implementation ([`Store::copy_into`]).
    fn dump(&self) -> Iter<'_, (Vec<u8>, Vec<u8>)>;
    /// Writes records as [`Backend::dump`] gives them, at once and durably: only for
    /// moving a store into an empty one.
    fn load(&self, rows: Vec<(Vec<u8>, Vec<u8>)>) -> Result<()>;
}

/// What [`Store::copy_into`] moved.
#[derive(Debug, Default, Clone, Copy)]
pub struct Copied {
    pub records: u64,
    pub registry_entries: u64,
}

/// The store as the rest of the gateway holds it.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn Backend>,
}

impl std::ops::Deref for Store {
    type Target = dyn Backend;
    fn deref(&self) -> &(dyn Backend + 'static) {
        &*self.inner
    }
}

impl Store {
    /// Opens (or makes) the sled store in `path`.
    pub fn open(path: &Path) -> Result<Store> {
        Store::open_with(
            path,
            crate::config::DEFAULT_STORE_MAX_BATCH,
            crate::config::DEFAULT_STORE_CACHE_MB,
        )
    }

    /// `max_batch` 1 turns group commit off: one flush per write (for measurements).
    /// `cache_mb` is sled's cache.
    pub fn open_with(path: &Path, max_batch: usize, cache_mb: u64) -> Result<Store> {
        Ok(Store {
            inner: Arc::new(self::sled::SledStore::open_with(path, max_batch, cache_mb)?),
        })
    }

    /// Connects to the PostgreSQL database at `url` (`store/pg/`), migrating its schema.
    /// `max_batch` 1 turns group commit off.
    pub fn open_postgres(url: &str, max_batch: usize) -> Result<Store> {
        Ok(Store {
            inner: Arc::new(self::pg::PgStore::open(url, max_batch)?),
        })
    }

    /// The store's point reads, as the helpers shared with write jobs take them.
    pub fn reader(&self) -> &dyn Read {
        &*self.inner
    }

    /// Runs `f` as a write job, atomically with the other jobs of its batch, and
    /// returns once its writes are durable. If `f` fails nothing it wrote is kept.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel::<Result<T>>();
        let job: WriteJob = Box::new(move |tx: &mut Tx<'_>| {
            let r = f(tx);
            let ok = r.is_ok();
            let deliver: Deliver = Box::new(move |committed: Result<()>| {
                let _ = reply.send(committed.and(r));
            });
            (ok, deliver)
        });
        self.inner.submit(job)?;
        rx.await
            .map_err(|_| Error::internal("committer dropped a job"))?
    }

    /// Runs `f` on a quiet store: after every earlier write is applied and before any
    /// later one. For checks that must see one consistent state (`verify`).
    pub async fn quiet<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Quiet<'_>) -> T + Send + 'static,
    {
        let (reply, rx) = oneshot::channel::<T>();
        self.inner.submit_quiet(Box::new(move |v: &Quiet<'_>| {
            let _ = reply.send(f(v));
        }))?;
        rx.await
            .map_err(|_| Error::internal("committer dropped a job"))
    }

    /// Copies every record and the sandbox registry's state into `to`, which must hold
    /// no record yet (`regway migrate`). Nothing may write to either meanwhile.
    pub fn copy_into(&self, to: &Store) -> Result<Copied> {
        if to.dump().next().is_some() {
            return Err(Error::new(
                crate::error::Code::Failed,
                "the target store is not empty: moving a store goes into an empty one only",
            ));
        }
        let mut copied = Copied::default();
        let mut chunk = Vec::new();
        for row in self.dump() {
            chunk.push(row?);
            if chunk.len() >= 5000 {
                copied.records += chunk.len() as u64;
                to.load(std::mem::take(&mut chunk))?;
            }
        }
        copied.records += chunk.len() as u64;
        if !chunk.is_empty() {
            to.load(chunk)?;
        }
        let (from_reg, to_reg) = (self.registry("sandbox")?, to.registry("sandbox")?);
        for (k, v) in from_reg.entries()? {
            to_reg.insert(&k, &v)?;
            copied.registry_entries += 1;
        }
        Ok(copied)
    }

    /// Makes everything written so far durable.
    pub async fn flush(&self) -> Result<()> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.flush())
            .await
            .map_err(Error::internal)?
    }
}
