//! The sled implementation of the store.
//!
//! All writes go through one committer thread. It takes every write job waiting in its
//! queue, runs them one after the other against an overlay of the batch so far, applies
//! the whole batch as one atomic sled batch, flushes once, and only then answers the
//! jobs. So:
//! - a job reads exactly the state the jobs before it left (no lost updates, no
//!   overspending, without optimistic retries);
//! - a job that fails leaves nothing behind (its own writes are dropped);
//! - every acknowledged change is on disk, and concurrent changes share one flush
//!   (group commit).
//!
//! A batch that cannot be written or flushed stops the process (fail-stop, exit status
//! [`EXIT_STORE_FAILED`]): its writers are never answered, since the batch may still
//! reach the disk later, and "it failed" would then be a lie about money. The orders it
//! held are settled at the next start like those of a crash. For tests,
//! `REGWAY_STORE_FAIL_FLUSH_FILE=PATH` makes every flush fail while `PATH` exists.
//!
//! Reads that do not decide a write go straight to sled from any task. Records are
//! JSON (`serde_json`), under the keys of [`keys`].

use super::kv::{self, keys, RawGet, RawIter, RawPut, RawScan, RawTxn};
use super::{Deliver, OrderWatch, QuietJob, Registry, Rows, WriteJob};
use crate::error::{Error, Fault, Result};
use crate::store::records::{OrderState, Partner};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;

/// A sled failure as the store's callers see it: an internal error (the store maps its
/// own errors; the error type knows no store).
pub(super) fn sled_error(e: sled::Error) -> Error {
    Error::internal(format!("store: {e}"))
}

/// Told of every committed write under its prefix: (key, value before, value after).
type Observer = Box<dyn Fn(&[u8], Option<&[u8]>, Option<&[u8]>) + Send + Sync>;

/// Observers by key prefix, shared with the committer.
type Observers = Arc<std::sync::RwLock<Vec<(Vec<u8>, Observer)>>>;

enum Job {
    Write(WriteJob),
    /// Runs between batches, on a state no half-applied batch can touch.
    Quiet(QuietJob),
}

/// Partner records kept decoded; past this many the cache starts again empty.
const PARTNER_CACHE: usize = 4096;

pub struct SledStore {
    db: sled::Db,
    state: sled::Tree,
    /// This store's identity.
    id: String,
    observers: Observers,
    /// `None` only while dropping.
    jobs: Option<mpsc::Sender<Job>>,
    committer: Option<std::thread::JoinHandle<()>>,
    /// Batches written and flushed since the store was opened.
    batches: Arc<std::sync::atomic::AtomicU64>,
    /// Partner records as last decoded, by login, with the bytes they came from.
    partners: std::sync::Mutex<std::collections::HashMap<String, (sled::IVec, Arc<Partner>)>>,
}

impl Drop for SledStore {
    /// Closes the queue and waits for the committer to finish its last batch and let
    /// go of the database, so the store can be opened again as soon as this returns.
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(h) = self.committer.take() {
            let _ = h.join();
        }
    }
}

/// The exit status of a process whose store could not write or flush a batch.
pub const EXIT_STORE_FAILED: i32 = 75;

/// The test knob: while the file it names exists, every flush fails.
pub const FAIL_FLUSH_ENV: &str = "REGWAY_STORE_FAIL_FLUSH_FILE";

impl SledStore {
    /// `max_batch` 1 turns group commit off: one flush per write (for measurements).
    /// `cache_mb` is sled's cache.
    pub fn open_with(path: &Path, max_batch: usize, cache_mb: u64) -> Result<SledStore> {
        let max_batch = max_batch.max(1);
        create_private_dir(path)?;
        let open = || {
            sled::Config::new()
                .path(path.join("store"))
                .cache_capacity(cache_mb.max(1) * 1024 * 1024)
                .flush_every_ms(None)
                .open()
        };
        let locked = |e: &sled::Error| match e {
            sled::Error::Io(io) => {
                io.kind() == std::io::ErrorKind::WouldBlock
                    || io.to_string().contains("could not acquire lock")
            }
            _ => false,
        };
        // The lock of a store just closed in this process (a restart) can outlive the
        // close by a few milliseconds while sled's IO threads finish; another process
        // holding it keeps it, and is named after a short wait.
        let mut tries = 0;
        let db = loop {
            match open() {
                Err(e) if locked(&e) && tries < 150 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) if locked(&e) => {
                    return Err(Error::fatal(
                        Fault::Store,
                        format!(
                            "another regway process holds {}; stop it or use another --data",
                            path.display()
                        ),
                    ))
                }
                Err(sled::Error::Io(e)) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Err(not_writable(path, &e))
                }
                Err(e) => {
                    return Err(Error::fatal(
                        Fault::Store,
                        format!(
                            "cannot open the store in {}: {e}; check the directory, or \
                             restore it from a backup",
                            path.display()
                        ),
                    ))
                }
                Ok(db) => break db,
            }
        };
        let state = db.open_tree("state").map_err(sled_error)?;
        check_format(&state, path)?;
        let id_key = keys::meta("store-id");
        let id: String = match state.get(&id_key).map_err(sled_error)? {
            Some(v) => decode(&v)?,
            None => {
                let bytes: [u8; 16] = rand::random();
                let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                state
                    .insert(id_key, serde_json::to_vec(&id)?)
                    .map_err(sled_error)?;
                db.flush().map_err(sled_error)?;
                id
            }
        };
        tighten_permissions(path);
        let (tx, rx) = mpsc::channel::<Job>();
        let committer_db = db.clone();
        let committer_state = state.clone();
        let observers: Observers = Arc::default();
        let committer_observers = observers.clone();
        let fail_flush = std::env::var_os(FAIL_FLUSH_ENV).map(std::path::PathBuf::from);
        if let Some(p) = &fail_flush {
            tracing::warn!(file = %p.display(), "store fault injection is on ({FAIL_FLUSH_ENV}): flushes fail while the file exists");
        }
        let batches = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = batches.clone();
        let handle = std::thread::Builder::new()
            .name("regway-committer".into())
            .spawn(move || {
                committer(
                    committer_db,
                    committer_state,
                    rx,
                    max_batch,
                    committer_observers,
                    fail_flush,
                    counted,
                )
            })
            .map_err(|e| Error::internal(format!("starting committer: {e}")))?;
        Ok(SledStore {
            db,
            state,
            id,
            observers,
            jobs: Some(tx),
            batches,
            committer: Some(handle),
            partners: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    fn sender(&self) -> Result<&mpsc::Sender<Job>> {
        self.jobs
            .as_ref()
            .ok_or_else(|| Error::internal("store is closing"))
    }
}

impl super::Backend for SledStore {
    fn id(&self) -> &str {
        &self.id
    }

    /// Decoding a record is a good part of a small request's cost, so the last decoded
    /// copy is kept with the bytes it came from and used again while the stored bytes
    /// are the same; they are read and compared on every call, so it is never stale.
    fn partner_shared(&self, login: &str) -> Result<Option<Arc<Partner>>> {
        let Some(bytes) = self.state.get(keys::partner(login)).map_err(sled_error)? else {
            return Ok(None);
        };
        if let Some((b, p)) = self
            .partners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(login)
        {
            if *b == bytes {
                return Ok(Some(p.clone()));
            }
        }
        let p: Arc<Partner> = Arc::new(decode(&bytes)?);
        let mut cache = self.partners.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= PARTNER_CACHE && !cache.contains_key(login) {
            cache.clear();
        }
        cache.insert(login.to_string(), (bytes, p.clone()));
        Ok(Some(p))
    }

    fn submit(&self, job: WriteJob) -> Result<()> {
        self.sender()?
            .send(Job::Write(job))
            .map_err(|_| Error::internal("committer is gone"))
    }

    fn submit_quiet(&self, job: QuietJob) -> Result<()> {
        self.sender()?
            .send(Job::Quiet(job))
            .map_err(|_| Error::internal("committer is gone"))
    }

    fn watch_orders(&self, f: OrderWatch) {
        let state = |v: Option<&[u8]>| v.and_then(OrderState::of_stored);
        let observer: Observer = Box::new(move |_, old, new| f(state(old), state(new)));
        self.observers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((keys::all_orders(), observer));
    }

    fn rows(&self) -> Rows {
        Box::<SledRows>::default()
    }

    fn migrate(&self, rows: Rows) -> Result<()> {
        let rows = SledRows::of(rows)?;
        let mut batch = sled::Batch::default();
        for (k, v) in rows.rows {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        self.state.apply_batch(batch).map_err(sled_error)?;
        self.db.flush().map_err(sled_error)?;
        Ok(())
    }

    fn batches(&self) -> u64 {
        self.batches.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn size_on_disk(&self) -> Option<u64> {
        self.db.size_on_disk().ok()
    }

    fn flush(&self) -> Result<()> {
        self.db.flush().map_err(sled_error)?;
        Ok(())
    }

    fn registry(&self, name: &str) -> Result<Arc<dyn Registry>> {
        Ok(Arc::new(SledRegistry(
            self.db.open_tree(name).map_err(sled_error)?,
        )))
    }

    fn dump(&self) -> super::Iter<'_, (Vec<u8>, Vec<u8>)> {
        use std::ops::Bound::Unbounded;
        let id = keys::meta("store-id");
        Box::new(
            tree_range(&self.state, (Unbounded, Unbounded), false)
                .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
                .filter(move |r| !matches!(r, Ok((k, _)) if *k == id)),
        )
    }

    fn load(&self, rows: Vec<(Vec<u8>, Vec<u8>)>) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (k, v) in rows {
            batch.insert(k, v);
        }
        self.state.apply_batch(batch).map_err(sled_error)?;
        self.db.flush().map_err(sled_error)?;
        Ok(())
    }
}

/// The sandbox registry's state: a tree of its own in the same log.
pub struct SledRegistry(sled::Tree);

impl SledRegistry {
    /// A registry in a temporary store of its own (tests).
    pub fn temporary() -> Result<SledRegistry> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(sled_error)?;
        Ok(SledRegistry(db.open_tree("sandbox").map_err(sled_error)?))
    }
}

impl Registry for SledRegistry {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(key).map_err(sled_error)?.map(|v| v.to_vec()))
    }

    /// `insert` keeps the registry off sled's batch path.
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.0.insert(key, value).map_err(sled_error)?;
        Ok(())
    }

    fn clear(&self) -> Result<()> {
        self.0.clear().map_err(sled_error)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn entries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.0
            .iter()
            .map(|r| {
                let (k, v) = r.map_err(sled_error)?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }
}

/// Rows built outside the committer, already encoded, in key order (a later write of
/// a key replaces an earlier one).
#[derive(Default)]
pub struct SledRows {
    rows: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl SledRows {
    fn of(rows: Rows) -> Result<SledRows> {
        rows.into_any()
            .downcast::<SledRows>()
            .map(|b| *b)
            .map_err(|_| Error::internal("rows of another store"))
    }
}

impl super::Batch for SledRows {
    fn len(&self) -> usize {
        self.rows.len()
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

/// Creates the state directory readable by its owner only (0700).
fn create_private_dir(path: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(path).map_err(|e| not_writable(path, &e))?;
    // sled opens an existing store even when it cannot write to it, and fails later:
    // find out now.
    let probe = path.join(".regway-write-test");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| not_writable(path, &e))
}

/// The data directory cannot be made or written to.
fn not_writable(path: &Path, e: &std::io::Error) -> Error {
    Error::fatal(
        Fault::Store,
        format!(
            "the data directory {} is not writable ({}); give the user running regway \
             write access to it or use another --data",
            path.display(),
            crate::config::io_reason(e)
        ),
    )
}

/// The state directory and everything in it for its owner only: directories 0700,
/// files 0600 (stores made before this rule, or under a loose umask, are tightened at
/// every open). Symbolic links are left alone. A failure is logged, not fatal.
fn tighten_permissions(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fn walk(p: &Path, depth: usize) -> std::io::Result<()> {
            let m = std::fs::symlink_metadata(p)?;
            let mode = if m.is_dir() {
                0o700
            } else if m.is_file() {
                0o600
            } else {
                return Ok(());
            };
            if m.permissions().mode() & 0o777 != mode {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
            }
            if m.is_dir() && depth < 4 {
                for e in std::fs::read_dir(p)? {
                    walk(&e?.path(), depth + 1)?;
                }
            }
            Ok(())
        }
        if let Err(e) = walk(path, 0) {
            tracing::warn!(error = %e, "could not make {} private to its owner", path.display());
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

use kv::decode;

/// The format of the store this build writes. A store without one (written before the
/// format was kept) is format 1. Each new format comes with its forward migration at
/// open; a store of a newer format than this is refused, never read.
pub const FORMAT: u32 = 1;

/// Where the store keeps its format (in the `state` tree, as a JSON number).
pub fn format_key() -> Vec<u8> {
    keys::meta("format")
}

/// Refuses a store of a newer format; brings an older one up to [`FORMAT`].
fn check_format(state: &sled::Tree, path: &Path) -> Result<()> {
    let found: u32 = match state.get(format_key()).map_err(sled_error)? {
        Some(v) => decode(&v)?,
        None => 1,
    };
    if found > FORMAT {
        return Err(Error::fatal(
            Fault::Store,
            format!(
                "the store in {} is of format {found}, newer than this regway knows \
                 ({FORMAT}): run the regway that wrote it (or a newer one), or restore a \
                 backup made before the upgrade",
                path.display()
            ),
        ));
    }
    // Forward migrations from `found` to FORMAT go here, one per format, each in the
    // same flush as the new format number. Format 1 needs none.
    if found < FORMAT || state.get(format_key()).map_err(sled_error)?.is_none() {
        state
            .insert(format_key(), serde_json::to_vec(&FORMAT)?)
            .map_err(sled_error)?;
        state.flush().map_err(sled_error)?;
    }
    Ok(())
}

/// What a write job sees: the committed state, plus the writes of the jobs before it
/// in this batch, plus its own.
pub struct Tx<'a> {
    tree: &'a sled::Tree,
    batch: &'a mut BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    own: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Tx<'_> {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.own.get(key).or_else(|| self.batch.get(key)) {
            return Ok(v.clone());
        }
        Ok(self.tree.get(key).map_err(sled_error)?.map(|v| v.to_vec()))
    }

    /// Every (key, value) under `prefix` as this job sees it: committed, then the
    /// batch's writes, then its own.
    fn scan_raw_rows(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut rows: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        for r in self.tree.scan_prefix(prefix) {
            let (k, v) = r.map_err(sled_error)?;
            rows.insert(k.to_vec(), Some(v.to_vec()));
        }
        for layer in [&*self.batch, &self.own] {
            for (k, v) in layer
                .range(prefix.to_vec()..)
                .take_while(|(k, _)| k.starts_with(prefix))
            {
                rows.insert(k.clone(), v.clone());
            }
        }
        Ok(rows
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect())
    }
}

/// A consistent read-only view for quiet jobs.
pub struct QuietView<'a> {
    tree: &'a sled::Tree,
}

fn committer(
    db: sled::Db,
    tree: sled::Tree,
    rx: mpsc::Receiver<Job>,
    max_batch: usize,
    observers: Observers,
    fail_flush: Option<std::path::PathBuf>,
    batches: Arc<std::sync::atomic::AtomicU64>,
) {
    let mut pending: Option<Job> = None;
    loop {
        let first = match pending.take() {
            Some(j) => j,
            None => match rx.recv() {
                Ok(j) => j,
                Err(_) => break,
            },
        };
        let first = match first {
            Job::Quiet(f) => {
                f(&QuietView { tree: &tree });
                continue;
            }
            Job::Write(w) => w,
        };
        let mut batch: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        let mut delivers: Vec<Deliver> = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            let mut tx = Tx {
                tree: &tree,
                batch: &mut batch,
                own: BTreeMap::new(),
            };
            let (ok, deliver) = job(&mut tx);
            let own = std::mem::take(&mut tx.own);
            if ok {
                batch.extend(own);
            }
            delivers.push(deliver);
            if delivers.len() >= max_batch {
                break;
            }
            match rx.try_recv() {
                Ok(Job::Write(w)) => next = Some(w),
                Ok(q @ Job::Quiet(_)) => pending = Some(q),
                Err(_) => {}
            }
        }
        let writes = batch.len();
        if let Err(e) = commit(&db, &tree, batch, &observers, fail_flush.as_deref()) {
            fail_stop(&e, delivers.len(), writes);
        }
        if writes > 0 {
            batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        for d in delivers {
            d(Ok(()));
        }
    }
    let _ = db.flush();
}

/// Stops the process after a batch could not be made durable. Its writers are not
/// answered: the batch may or may not be on disk, and only a restart (which reads what
/// is) can tell; the connections waiting for it close with the process.
fn fail_stop(e: &str, jobs: usize, writes: usize) -> ! {
    tracing::error!(error = %e, jobs, writes,
        "the store could not make a batch durable; stopping now (fail-stop) so that no \
         answer claims what the disk may not hold; restart the gateway to settle from what is on disk");
    eprintln!("regway: store failure, stopping: {e}");
    std::process::exit(EXIT_STORE_FAILED)
}

fn commit(
    db: &sled::Db,
    tree: &sled::Tree,
    batch: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    observers: &Observers,
    fail_flush: Option<&Path>,
) -> std::result::Result<(), String> {
    if batch.is_empty() {
        return Ok(());
    }
    let observers = observers.read().unwrap_or_else(|p| p.into_inner());
    // The values observed keys had before this batch: (observer, key, before, after).
    type Seen = (usize, Vec<u8>, Option<sled::IVec>, Option<Vec<u8>>);
    let mut seen: Vec<Seen> = Vec::new();
    for (i, (prefix, _)) in observers.iter().enumerate() {
        for (k, v) in batch
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            let old = tree.get(k).map_err(|e| format!("store read failed: {e}"))?;
            seen.push((i, k.clone(), old, v.clone()));
        }
    }
    let mut b = sled::Batch::default();
    for (k, v) in batch {
        match v {
            Some(v) => b.insert(k, v),
            None => b.remove(k),
        }
    }
    tree.apply_batch(b)
        .map_err(|e| format!("store write failed: {e}"))?;
    if fail_flush.is_some_and(|p| p.exists()) {
        return Err(format!("store flush failed: injected by {FAIL_FLUSH_ENV}"));
    }
    db.flush().map_err(|e| format!("store flush failed: {e}"))?;
    for (i, k, old, new) in seen {
        (observers[i].1)(&k, old.as_deref(), new.as_deref());
    }
    Ok(())
}

/// A sled range scan as the shared operations read it.
fn tree_range(tree: &sled::Tree, range: kv::Range, newest_first: bool) -> RawIter<'_, sled::IVec> {
    let iter = tree.range(range);
    let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if newest_first {
        Box::new(iter.rev())
    } else {
        Box::new(iter)
    };
    Box::new(iter.map(|r| r.map_err(sled_error)))
}

impl RawGet for SledStore {
    fn raw_get(&self, key: &[u8]) -> Result<Option<impl AsRef<[u8]>>> {
        self.state.get(key).map_err(sled_error)
    }
}

impl RawScan for SledStore {
    type Bytes = sled::IVec;
    fn raw_range(&self, range: kv::Range, newest_first: bool) -> RawIter<'_, sled::IVec> {
        tree_range(&self.state, range, newest_first)
    }
}

impl RawGet for QuietView<'_> {
    fn raw_get(&self, key: &[u8]) -> Result<Option<impl AsRef<[u8]>>> {
        self.tree.get(key).map_err(sled_error)
    }
}

impl RawScan for QuietView<'_> {
    type Bytes = sled::IVec;
    fn raw_range(&self, range: kv::Range, newest_first: bool) -> RawIter<'_, sled::IVec> {
        tree_range(self.tree, range, newest_first)
    }
}

impl RawGet for Tx<'_> {
    fn raw_get(&self, key: &[u8]) -> Result<Option<impl AsRef<[u8]>>> {
        self.get_raw(key)
    }
}

impl RawPut for Tx<'_> {
    fn raw_put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.own.insert(key, value);
    }
}

impl RawTxn for Tx<'_> {
    fn scan_raw(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.scan_raw_rows(prefix)
    }
    fn put_raw_rows(&mut self, rows: Rows) -> Result<()> {
        self.own.extend(SledRows::of(rows)?.rows);
        Ok(())
    }
}

impl RawPut for SledRows {
    fn raw_put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.rows.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn failed_jobs_leave_nothing_and_batches_see_earlier_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut handles = Vec::new();
        for i in 0..100u64 {
            let s = store.clone();
            handles.push(tokio::spawn(async move {
                s.write(move |tx| {
                    let n = tx.next_id("c")?;
                    tx.set_counter(&format!("k{i}"), n)?;
                    if i % 2 == 0 {
                        return Err(Error::billing("odd one out"));
                    }
                    Ok(n)
                })
                .await
            }));
        }
        let mut ok = Vec::new();
        for h in handles {
            if let Ok(n) = h.await.unwrap() {
                ok.push(n);
            }
        }
        ok.sort();
        assert_eq!(ok, (1..=50).collect::<Vec<u64>>());
        let count = (0..100)
            .filter(|i| store.counter(&format!("k{i}")).unwrap() > 0)
            .count();
        assert_eq!(count, 50);
    }
}
