//! The sandbox: an in-process simulated registry, the default backend.
//!
//! It knows which names are taken (a configured list plus every name it registered),
//! registers, renews and changes nameservers, and reports delegation. Its state lives
//! in its own part of the gateway's store ([`Registry`]), apart from the gateway's
//! records, so it survives restarts and is written to the same log as the orders (a
//! crash never leaves it ahead of what `lookup` can find).
//!
//! Each delivery writes one key with one `insert`: an order that changes the registry
//! records itself inside the changed record (its key and answer, in `by`), so the
//! change and the order that made it cannot be separated by a crash; an order that
//! changes nothing (refused, pending, a licence's address) writes its own record. One
//! `insert` also keeps the sandbox off sled's batch path: in sled 0.34 `apply_batch`
//! takes a store-wide write lock, which waits for the committer's flush to end (a flush
//! holds the lock shared) and, while it waits, stalls every other read and write.
//!
//! For integration harnesses it injects faults on purpose ([`SandboxFaults`], the
//! `REGWAY_SANDBOX_*` knobs): latency, refusals, answers lost after the work is done,
//! and "pending" answers whose work is done later and found by `lookup`. The sandbox
//! control API (`protocol/sandbox.md`) changes the taken names and the faults while it
//! runs, answers a pending order at once ([`Sandbox::settle`]) and empties it
//! ([`Sandbox::reset`]).

use super::{Backend, Done, Trouble, TroubleKind, UpstreamOrder, UpstreamResult};
use crate::config::SandboxFaults;
use crate::error::{Code, Error, Result};
use crate::store::records::{Arrival, Effect};
use crate::store::Registry;
use crate::types::clock::{add_years, Clock};
use crate::types::names::Name;
use async_trait::async_trait;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, RwLock};

pub struct Sandbox {
    state: Arc<dyn Registry>,
    taken: RwLock<HashSet<String>>,
    /// The taken names configured at start, which a reset brings back.
    start_taken: HashSet<String>,
    clock: Clock,
    /// Serialises check-then-write on the registry; held for microseconds, never
    /// across an await.
    lock: Mutex<()>,
    faults: Mutex<Faults>,
}

/// The faults in force: the start-up knobs, or those the control API set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Faults {
    /// In force when `next` is not.
    base: SandboxFaults,
    /// Set for the next N new orders: these faults and how many orders are left.
    next: Option<(SandboxFaults, u32)>,
    /// The start-up knobs, which a reset brings back.
    start: SandboxFaults,
}

impl Faults {
    fn current(&self) -> SandboxFaults {
        self.next.map_or(self.base, |(f, _)| f)
    }
}

/// What the control API's `GET /state` shows of the faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultsView {
    pub latency_ms: u64,
    pub fail_percent: u8,
    pub timeout_percent: u8,
    pub pending_percent: u8,
    pub pending_ms: u64,
    /// New orders these faults still apply to, when they were set for a number of
    /// them; then the faults before them apply again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<u32>,
}

/// What the fault dice decided for a new order.
enum Fault {
    None,
    Fail,
    Timeout,
    Pending,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RegistryDomain {
    expires: NaiveDate,
    ns: Vec<String>,
    /// The orders that changed this record and what each was answered, oldest first.
    /// (Stores written before this field keep those in order records.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    by: Vec<(String, Performed)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Performed {
    Done {
        expires: Option<NaiveDate>,
        delegated: bool,
    },
    Failed {
        code: Code,
        reason: String,
    },
    /// Answered "pending"; carried out when asked again at or after `due` (Unix ms).
    Pending {
        due: u64,
    },
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn domain_key(name: &str) -> Vec<u8> {
    [b"n\0", name.as_bytes()].concat()
}

/// A registry record an order changes, not yet written: the order adds itself to `by`.
enum Change {
    Domain(String, RegistryDomain),
    License(u64, RegistryLicense),
}

impl Change {
    /// The key and value to insert: the new record with `key`'s answer in it.
    fn encode(self, key: &str, p: &Performed) -> Result<(Vec<u8>, Vec<u8>)> {
        let entry = (key.to_string(), p.clone());
        // Only the latest orders are kept: the gateway lets one order at a time be
        // open for a domain or licence, so an order older than these has settled and is
        // never asked about again.
        let push = |by: &mut Vec<(String, Performed)>| {
            by.push(entry);
            if by.len() > BY_KEPT {
                by.drain(..by.len() - BY_KEPT);
            }
        };
        Ok(match self {
            Change::Domain(name, mut d) => {
                push(&mut d.by);
                (domain_key(&name), serde_json::to_vec(&d)?)
            }
            Change::License(id, mut l) => {
                push(&mut l.by);
                (license_key(id), serde_json::to_vec(&l)?)
            }
        })
    }
}

/// Orders remembered per registry record (`by`).
const BY_KEPT: usize = 16;

/// What an order's registry record says it was answered, when the order changed it.
fn answered(by: &[(String, Performed)], key: &str) -> Option<Performed> {
    by.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, p)| p.clone())
}

fn license_key(id: u64) -> Vec<u8> {
    [b"l\0".as_slice(), &id.to_be_bytes()].concat()
}

/// What the sandbox's licensing service knows of a licence.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RegistryLicense {
    expires: NaiveDate,
    /// As [`RegistryDomain::by`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    by: Vec<(String, Performed)>,
}

fn order_key(key: &str) -> Vec<u8> {
    [b"k\0", key.as_bytes()].concat()
}

impl Sandbox {
    pub fn new(
        state: Arc<dyn Registry>,
        taken: &[String],
        clock: Clock,
        faults: SandboxFaults,
    ) -> Result<Sandbox> {
        let mut set = HashSet::new();
        for t in taken {
            let n = crate::types::names::parse_name("sandbox.taken", t)
                .map_err(|e| Error::syntax(format!("sandbox.taken: {}", e.message)))?;
            set.insert(n.ascii().to_string());
        }
        let faults = faults.clamped();
        Ok(Sandbox {
            state,
            taken: RwLock::new(set.clone()),
            start_taken: set,
            clock,
            lock: Mutex::new(()),
            faults: Mutex::new(Faults {
                base: faults,
                next: None,
                start: faults,
            }),
        })
    }

    fn registered(&self, name: &str) -> Result<Option<RegistryDomain>> {
        Ok(match self.state.get(&domain_key(name))? {
            Some(v) => Some(serde_json::from_slice(&v)?),
            None => None,
        })
    }

    fn license(&self, id: u64) -> Result<Option<RegistryLicense>> {
        Ok(match self.state.get(&license_key(id))? {
            Some(v) => Some(serde_json::from_slice(&v)?),
            None => None,
        })
    }

    fn performed(&self, key: &str) -> Result<Option<Performed>> {
        Ok(match self.state.get(&order_key(key))? {
            Some(v) => Some(serde_json::from_slice(&v)?),
            None => None,
        })
    }

    /// What `order`'s registry record says it was answered, when the order changed it.
    fn answered_in_registry(&self, order: &UpstreamOrder) -> Result<Option<Performed>> {
        // A licence order changes its licence's record; every other order its domain's.
        Ok(match order.kind.license() {
            Some(license) => self
                .license(license)?
                .and_then(|l| answered(&l.by, &order.key)),
            None => self
                .registered(&order.domain)?
                .and_then(|d| answered(&d.by, &order.key)),
        })
    }

    /// What carrying out `order` does: its result and the registry change, not yet written.
    fn perform(&self, order: &UpstreamOrder) -> Result<(Performed, Option<Change>)> {
        let name = &order.domain;
        let fail = |code, reason: String| Ok((Performed::Failed { code, reason }, None));
        match order.kind.spec().effect {
            Effect::NewDomain {
                arrival: Arrival::Registered,
                years,
                ns,
                ..
            } => {
                if self.is_taken(name) || self.registered(name)?.is_some() {
                    return fail(Code::Exists, format!("{name} is already registered"));
                }
                let expires = add_years(self.clock.today(), years)
                    .ok_or_else(|| Error::internal("date overflow"))?;
                let d = RegistryDomain {
                    expires,
                    ns: ns.to_vec(),
                    by: Vec::new(),
                };
                Ok((
                    Performed::Done {
                        expires: Some(expires),
                        delegated: !ns.is_empty(),
                    },
                    Some(Change::Domain(name.clone(), d)),
                ))
            }
            Effect::NewDomain {
                arrival: Arrival::Transferred,
                years,
                ns,
                ..
            } => {
                // The sandbox holds what came through the gateway; `taken` is what
                // other registrars hold, and only that can be transferred in.
                if self.registered(name)?.is_some() {
                    return fail(Code::Exists, format!("{name} is already registered here"));
                }
                if !self.is_taken(name) {
                    return fail(
                        Code::NotFound,
                        format!("{name} is not registered: there is nothing to transfer"),
                    );
                }
                let expires = add_years(self.clock.today(), years)
                    .ok_or_else(|| Error::internal("date overflow"))?;
                let d = RegistryDomain {
                    expires,
                    ns: ns.to_vec(),
                    by: Vec::new(),
                };
                Ok((
                    Performed::Done {
                        expires: Some(expires),
                        delegated: !ns.is_empty(),
                    },
                    Some(Change::Domain(name.clone(), d)),
                ))
            }
            Effect::ExtendDomain { years, from } => {
                let Some(mut d) = self.registered(name)? else {
                    return fail(Code::NotFound, format!("{name} is not registered"));
                };
                if d.expires != from {
                    return fail(
                        Code::NotRenewable,
                        format!("{name} expires on {}, not on {from}", d.expires),
                    );
                }
                d.expires =
                    add_years(d.expires, years).ok_or_else(|| Error::internal("date overflow"))?;
                Ok((
                    Performed::Done {
                        expires: Some(d.expires),
                        delegated: !d.ns.is_empty(),
                    },
                    Some(Change::Domain(name.clone(), d)),
                ))
            }
            Effect::NewLicense {
                license, period, ..
            } => {
                let expires = period
                    .after(self.clock.today())
                    .ok_or_else(|| Error::internal("date overflow"))?;
                // A new licence id each time: nothing earlier to keep.
                let l = RegistryLicense {
                    expires,
                    by: Vec::new(),
                };
                Ok((
                    Performed::Done {
                        expires: Some(expires),
                        delegated: false,
                    },
                    Some(Change::License(license, l)),
                ))
            }
            Effect::ExtendLicense {
                license,
                period,
                from,
            } => {
                let Some(mut l) = self.license(license)? else {
                    return fail(Code::NotFound, format!("licence {license} is not known"));
                };
                if l.expires != from {
                    return fail(
                        Code::NotRenewable,
                        format!("licence {license} expires on {}, not on {from}", l.expires),
                    );
                }
                l.expires = period
                    .after(l.expires)
                    .ok_or_else(|| Error::internal("date overflow"))?;
                Ok((
                    Performed::Done {
                        expires: Some(l.expires),
                        delegated: false,
                    },
                    Some(Change::License(license, l)),
                ))
            }
            Effect::SetIp { license, .. } => {
                let Some(l) = self.license(license)? else {
                    return fail(Code::NotFound, format!("licence {license} is not known"));
                };
                Ok((
                    Performed::Done {
                        expires: Some(l.expires),
                        delegated: false,
                    },
                    None,
                ))
            }
            Effect::SetNs { ns } => {
                let Some(mut d) = self.registered(name)? else {
                    return fail(Code::NotFound, format!("{name} is not registered"));
                };
                d.ns = ns.to_vec();
                Ok((
                    Performed::Done {
                        expires: Some(d.expires),
                        delegated: !d.ns.is_empty(),
                    },
                    Some(Change::Domain(name.clone(), d)),
                ))
            }
        }
    }
}

fn to_result(p: Performed) -> UpstreamResult {
    match p {
        Performed::Done { expires, delegated } => UpstreamResult::Done(Done {
            expires,
            delegated: Some(delegated),
            service: None,
        }),
        Performed::Failed { code, reason } => UpstreamResult::Failed { code, reason },
        Performed::Pending { .. } => UpstreamResult::Pending,
    }
}

#[async_trait]
impl Backend for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn check(&self, names: &[Name]) -> Result<Vec<bool>> {
        names
            .iter()
            .map(|n| Ok(!self.is_taken(n.ascii()) && self.registered(n.ascii())?.is_none()))
            .collect()
    }

    async fn submit(&self, order: &UpstreamOrder) -> UpstreamResult {
        self.delay().await;
        match self.deliver(order, true) {
            Ok(Some((p, Fault::Timeout))) => {
                // The work is done and recorded; the answer never comes. The caller's
                // timeout ends the wait.
                drop(p);
                std::future::pending::<()>().await;
                UpstreamResult::Unknown(Trouble::new(TroubleKind::Timeout, "sandbox: no answer"))
            }
            Ok(Some((p, _))) => to_result(p),
            Ok(None) => UpstreamResult::Unknown(Trouble::new(
                TroubleKind::Closed,
                "sandbox: a submit found nothing",
            )),
            Err(e) => UpstreamResult::Unknown(Trouble::new(
                TroubleKind::Closed,
                format!("sandbox: {}", e.message),
            )),
        }
    }

    async fn lookup(&self, order: &UpstreamOrder) -> UpstreamResult {
        self.delay().await;
        match self.deliver(order, false) {
            Ok(Some((p, _))) => to_result(p),
            Ok(None) => UpstreamResult::NotFound,
            Err(e) => UpstreamResult::Unknown(Trouble::new(
                TroubleKind::Closed,
                format!("sandbox: {}", e.message),
            )),
        }
    }
}

impl Sandbox {
    async fn delay(&self) {
        let latency = self.faults().latency_ms;
        if latency > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
        }
    }

    /// The fault for a new order, and its pending time; counts the order against
    /// faults set for the next N orders.
    fn roll(&self) -> (Fault, u64) {
        let f = {
            let mut all = self.faults.lock().unwrap_or_else(|p| p.into_inner());
            let f = all.current();
            if let Some((_, n)) = &mut all.next {
                *n -= 1;
                if *n == 0 {
                    all.next = None;
                }
            }
            f
        };
        (self.dice(&f), f.pending_ms)
    }

    fn dice(&self, f: &SandboxFaults) -> Fault {
        if f.fail_percent == 0 && f.timeout_percent == 0 && f.pending_percent == 0 {
            return Fault::None;
        }
        let r: u8 = rand::Rng::gen_range(&mut rand::thread_rng(), 0..100);
        let (fail, timeout) = (f.fail_percent, f.fail_percent + f.timeout_percent);
        if r < fail {
            Fault::Fail
        } else if r < timeout {
            Fault::Timeout
        } else if r < timeout + f.pending_percent {
            Fault::Pending
        } else {
            Fault::None
        }
    }

    /// A delivery of `order`: its recorded result when it was seen before (a pending one
    /// carried out once due), else — for a submit — a new result, faults included; for
    /// a lookup, `None` when the order was never seen.
    fn deliver(&self, order: &UpstreamOrder, submit: bool) -> Result<Option<(Performed, Fault)>> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let recorded = self.performed(&order.key)?;
        match recorded {
            Some(Performed::Pending { due }) if unix_ms() < due => {
                return Ok(Some((Performed::Pending { due }, Fault::None)))
            }
            Some(Performed::Pending { .. }) | None => {}
            Some(p) => return Ok(Some((p, Fault::None))),
        }
        // An order that changed the registry is recorded in the record it changed (a
        // pending one keeps its stale "pending" order record beside it).
        if let Some(p) = self.answered_in_registry(order)? {
            return Ok(Some((p, Fault::None)));
        }
        let (fault, pending_ms) = match recorded {
            Some(_) => (Fault::None, 0),
            None if !submit => return Ok(None),
            None => self.roll(),
        };
        let (p, change) = match fault {
            Fault::Fail => (
                Performed::Failed {
                    code: Code::Failed,
                    reason: "the sandbox refused the order (injected failure)".into(),
                },
                None,
            ),
            Fault::Pending => (
                Performed::Pending {
                    due: unix_ms() + pending_ms,
                },
                None,
            ),
            Fault::None | Fault::Timeout => self.perform(order)?,
        };
        // One key, one insert: the changed record with this order in it, or the
        // order's own record when it changes nothing. A crash can never leave a name
        // registered by no order.
        let (k, v) = match change {
            Some(c) => c.encode(&order.key, &p)?,
            None => (order_key(&order.key), serde_json::to_vec(&p)?),
        };
        self.state.insert(&k, &v)?;
        Ok(Some((p, fault)))
    }
}

/// What the sandbox control API changes at run time.
impl Sandbox {
    fn is_taken(&self, name: &str) -> bool {
        self.taken
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(name)
    }

    /// The names treated as registered elsewhere, sorted.
    pub fn taken(&self) -> Vec<String> {
        let t = self.taken.read().unwrap_or_else(|p| p.into_inner());
        t.iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// Adds and removes names treated as registered elsewhere (in their ASCII form);
    /// nothing changes when one of them is not a domain name.
    pub fn change_taken(&self, add: &[String], remove: &[String]) -> Result<Vec<String>> {
        let parse = |t: &String| {
            crate::types::names::parse_name("taken", t)
                .map(|n| n.ascii().to_string())
                .map_err(|e| Error::new(e.code, format!("taken {t:?}: {}", e.message)))
        };
        let add: Vec<String> = add.iter().map(parse).collect::<Result<_>>()?;
        let remove: Vec<String> = remove.iter().map(parse).collect::<Result<_>>()?;
        {
            let mut t = self.taken.write().unwrap_or_else(|p| p.into_inner());
            for n in remove {
                t.remove(&n);
            }
            t.extend(add);
        }
        Ok(self.taken())
    }

    /// The faults in force.
    pub fn faults(&self) -> FaultsView {
        let f = *self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let c = f.current();
        FaultsView {
            latency_ms: c.latency_ms,
            fail_percent: c.fail_percent,
            timeout_percent: c.timeout_percent,
            pending_percent: c.pending_percent,
            pending_ms: c.pending_ms,
            next: f.next.map(|(_, n)| n),
        }
    }

    /// Puts `faults` in force: for the next `next` new orders (then the faults before
    /// them apply again), or until changed.
    pub fn set_faults(&self, faults: SandboxFaults, next: Option<u32>) -> FaultsView {
        {
            let mut f = self.faults.lock().unwrap_or_else(|p| p.into_inner());
            match next {
                Some(n) => f.next = (n > 0).then_some((faults.clamped(), n)),
                None => {
                    f.base = faults.clamped();
                    f.next = None;
                }
            }
        }
        self.faults()
    }

    /// Records held in the registry (domains, licences, orders that changed nothing).
    pub fn records(&self) -> usize {
        self.state.len()
    }

    /// Empties the registry, and brings back the taken names and faults of the start.
    pub fn reset(&self) -> Result<()> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.state.clear()?;
        *self.taken.write().unwrap_or_else(|p| p.into_inner()) = self.start_taken.clone();
        let mut f = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        f.base = f.start;
        f.next = None;
        Ok(())
    }

    /// Answers now an order the sandbox holds as pending: carried out (whatever
    /// carrying it out gives: a name taken meanwhile still fails), or refused. The
    /// gateway learns it when it next asks (`lookup`).
    pub fn settle(&self, order: &UpstreamOrder, completed: bool) -> Result<UpstreamResult> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let held = matches!(self.performed(&order.key)?, Some(Performed::Pending { .. }))
            && self.answered_in_registry(order)?.is_none();
        if !held {
            return Err(Error::new(
                Code::StatusProhibits,
                "the sandbox does not hold this order as pending (it was answered already, \
                 or never pending)",
            ));
        }
        let (p, change) = if completed {
            // Due now first: should what follows not be written, the next lookup
            // carries the order out all the same.
            let due = serde_json::to_vec(&Performed::Pending { due: 0 })?;
            self.state.insert(&order_key(&order.key), &due)?;
            self.perform(order)?
        } else {
            (
                Performed::Failed {
                    code: Code::Failed,
                    reason: "the sandbox refused the order (settled as failed)".into(),
                },
                None,
            )
        };
        let (k, v) = match change {
            Some(c) => c.encode(&order.key, &p)?,
            None => (order_key(&order.key), serde_json::to_vec(&p)?),
        };
        self.state.insert(&k, &v)?;
        Ok(to_result(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::OrderKind;

    fn sandbox(faults: SandboxFaults) -> Sandbox {
        let state = crate::store::temporary_registry().unwrap();
        let clock = Clock::Fixed("2026-01-15T10:00:00Z".parse().unwrap());
        Sandbox::new(state, &[], clock, faults).unwrap()
    }

    fn order(key: &str, kind: OrderKind) -> UpstreamOrder {
        UpstreamOrder {
            key: key.into(),
            domain: "example.ru".into(),
            kind,
            contact: None,
            service: None,
            upstream: None,
        }
    }

    fn register(key: &str) -> UpstreamOrder {
        order(
            key,
            OrderKind::Register {
                period: 1,
                client: "1/RW-P".into(),
                ns: vec!["ns1.example.net".into()],
                auto_renew: false,
            },
        )
    }

    fn done(expires: &str) -> UpstreamResult {
        UpstreamResult::Done(Done {
            expires: Some(expires.parse().unwrap()),
            delegated: Some(true),
            service: None,
        })
    }

    /// A record changed again and again keeps its latest orders only.
    #[tokio::test]
    async fn a_records_history_is_bounded() {
        let s = sandbox(SandboxFaults::default());
        assert_eq!(s.submit(&register("demo:R0")).await, done("2027-01-15"));
        for i in 1..=40 {
            let set = order(
                &format!("demo:N{i}"),
                OrderKind::SetNs {
                    ns: vec![format!("ns{i}.example.net"), "ns.example.org".into()],
                },
            );
            assert!(matches!(s.submit(&set).await, UpstreamResult::Done(_)));
        }
        let d = s.registered("example.ru").unwrap().unwrap();
        assert_eq!(d.by.len(), BY_KEPT);
        assert_eq!(d.by.last().unwrap().0, "demo:N40");
        let last = order(
            "demo:N40",
            OrderKind::SetNs {
                ns: vec!["ns40.example.net".into(), "ns.example.org".into()],
            },
        );
        assert!(matches!(s.lookup(&last).await, UpstreamResult::Done(_)));
    }

    #[tokio::test]
    async fn a_change_and_its_order_are_one_key() {
        let s = sandbox(SandboxFaults::default());
        let r = register("demo:R1");
        assert_eq!(s.lookup(&r).await, UpstreamResult::NotFound);
        assert_eq!(s.submit(&r).await, done("2027-01-15"));
        // One record in all: the domain, naming the order that registered it.
        assert_eq!(s.state.len(), 1);
        let d = s.registered("example.ru").unwrap().unwrap();
        assert_eq!(d.by.len(), 1);
        assert_eq!(d.by[0].0, "demo:R1");
        // Delivered again or looked up: the same answer, nothing done twice.
        assert_eq!(s.submit(&r).await, done("2027-01-15"));
        assert_eq!(s.lookup(&r).await, done("2027-01-15"));
        let renew = |key: &str| {
            order(
                key,
                OrderKind::Renew {
                    period: 1,
                    expires: "2027-01-15".parse().unwrap(),
                },
            )
        };
        assert_eq!(s.submit(&renew("demo:R2")).await, done("2028-01-15"));
        assert_eq!(s.submit(&renew("demo:R2")).await, done("2028-01-15"));
        // Each order keeps its own answer.
        assert_eq!(s.lookup(&r).await, done("2027-01-15"));
        // A refusal changes nothing and is recorded on its own.
        let again = register("demo:R3");
        assert!(matches!(
            s.submit(&again).await,
            UpstreamResult::Failed {
                code: Code::Exists,
                ..
            }
        ));
        assert_eq!(s.state.len(), 2);
        assert!(matches!(
            s.lookup(&again).await,
            UpstreamResult::Failed { .. }
        ));
    }

    #[tokio::test]
    async fn a_pending_order_is_carried_out_once() {
        let s = sandbox(SandboxFaults {
            pending_percent: 100,
            pending_ms: 0,
            ..Default::default()
        });
        let r = register("demo:R1");
        assert_eq!(s.submit(&r).await, UpstreamResult::Pending);
        // Due at once: the first lookup carries it out, later ones find it done
        // (the order's own record still says pending).
        assert_eq!(s.lookup(&r).await, done("2027-01-15"));
        assert_eq!(s.lookup(&r).await, done("2027-01-15"));
        assert_eq!(s.submit(&r).await, done("2027-01-15"));
        let renew = order(
            "demo:R2",
            OrderKind::Renew {
                period: 2,
                expires: "2027-01-15".parse().unwrap(),
            },
        );
        assert_eq!(s.submit(&renew).await, UpstreamResult::Pending);
        assert_eq!(s.lookup(&renew).await, done("2029-01-15"));
        assert_eq!(s.lookup(&renew).await, done("2029-01-15"));
        assert_eq!(s.lookup(&r).await, done("2027-01-15"));
    }

    /// A transfer brings in a name another registrar holds (`taken`), for one year;
    /// a name registered nowhere, or already here, is refused; a repeat of its key
    /// gets the same answer and changes nothing.
    #[tokio::test]
    async fn a_transfer_takes_a_name_held_elsewhere() {
        let state = crate::store::temporary_registry().unwrap();
        let clock = Clock::Fixed("2026-01-15T10:00:00Z".parse().unwrap());
        let s = Sandbox::new(
            state,
            &["example.ru".to_string()],
            clock,
            SandboxFaults::default(),
        )
        .unwrap();
        let transfer = |key: &str, domain: &str| UpstreamOrder {
            domain: domain.into(),
            ..order(
                key,
                OrderKind::Transfer {
                    client: "1/RW-P".into(),
                    authcode: "code".into(),
                    ns: vec![],
                    auto_renew: false,
                },
            )
        };
        let nowhere = s.submit(&transfer("demo:T0", "nowhere.ru")).await;
        assert!(
            matches!(&nowhere, UpstreamResult::Failed { code: Code::NotFound, reason } if reason.contains("nothing to transfer")),
            "{nowhere:?}"
        );
        let t = transfer("demo:T1", "example.ru");
        let done = UpstreamResult::Done(Done {
            expires: Some("2027-01-15".parse().unwrap()),
            delegated: Some(false),
            service: None,
        });
        assert_eq!(s.submit(&t).await, done);
        assert_eq!(s.submit(&t).await, done);
        assert_eq!(s.lookup(&t).await, done);
        assert!(matches!(
            s.submit(&transfer("demo:T2", "example.ru")).await,
            UpstreamResult::Failed {
                code: Code::Exists,
                ..
            }
        ));
        assert!(matches!(
            s.submit(&register("demo:R1")).await,
            UpstreamResult::Failed {
                code: Code::Exists,
                ..
            }
        ));
    }

    #[test]
    fn records_written_before_by_still_read() {
        let d: RegistryDomain =
            serde_json::from_str(r#"{"expires":"2027-01-15","ns":["ns1.example.net"]}"#).unwrap();
        assert!(d.by.is_empty());
        let l: RegistryLicense = serde_json::from_str(r#"{"expires":"2027-01-15"}"#).unwrap();
        assert!(l.by.is_empty());
    }
}
