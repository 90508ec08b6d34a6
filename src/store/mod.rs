//! The store: sled behind one narrow interface.
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
//! Reads that do not decide a write go straight to sled from any task.

pub mod keys;
pub mod records;
pub mod requests;

use crate::error::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use tokio::sync::oneshot;

type Deliver = Box<dyn FnOnce(Result<()>) + Send>;

/// Told of every committed write under its prefix: (key, value before, value after).
pub type Observer = Box<dyn Fn(&[u8], Option<&[u8]>, Option<&[u8]>) + Send + Sync>;

/// Observers by key prefix, shared with the committer.
type Observers = Arc<std::sync::RwLock<Vec<(Vec<u8>, Observer)>>>;
type WriteJob = Box<dyn FnOnce(&mut Tx<'_>) -> Deliver + Send>;
type ReadJob = Box<dyn FnOnce(&sled::Tree) + Send>;

enum Job {
    Write(WriteJob),
    /// Runs between batches, on a state no half-applied batch can touch.
    Quiet(ReadJob),
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    state: sled::Tree,
    /// This store's identity ([`Store::id`]).
    id: String,
    observers: Observers,
    /// `None` only while dropping.
    jobs: Option<mpsc::Sender<Job>>,
    committer: Option<std::thread::JoinHandle<()>>,
    /// Batches written and flushed since the store was opened.
    batches: Arc<std::sync::atomic::AtomicU64>,
}

impl Drop for Inner {
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

impl Store {
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
                    return Err(Error::internal(format!(
                        "the store in {} is in use by another regway process",
                        path.display()
                    )))
                }
                Err(e) => {
                    return Err(Error::internal(format!(
                        "opening store in {}: {e}",
                        path.display()
                    )))
                }
                Ok(db) => break db,
            }
        };
        let state = db.open_tree("state")?;
        let id_key = keys::meta("store-id");
        let id: String = match state.get(&id_key)? {
            Some(v) => decode(&v)?,
            None => {
                let bytes: [u8; 16] = rand::random();
                let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                state.insert(id_key, serde_json::to_vec(&id)?)?;
                db.flush()?;
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
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                state,
                id,
                observers,
                jobs: Some(tx),
                batches,
                committer: Some(handle),
            }),
        })
    }

    /// A random id made when the store was created and kept in it: what ties the
    /// operator channel's `admin.json` to the store it belongs to.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Calls `f` for every write under `prefix` once its batch is on disk, with the
    /// value before and after (in commit order, on the committer thread: keep it
    /// short). What it maintains from the writes, it can count on exactly, with no scan.
    pub fn observe(&self, prefix: Vec<u8>, f: Observer) {
        self.inner
            .observers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((prefix, f));
    }

    /// A tree of its own, for a component that keeps its own state in the same log
    /// (the sandbox registry).
    pub fn tree(&self, name: &str) -> Result<sled::Tree> {
        Ok(self.inner.db.open_tree(name)?)
    }

    /// Writes `rows` at once and flushes, bypassing the committer: only for start-up
    /// migrations, before the store takes any other write.
    pub fn migrate(&self, rows: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (k, v) in rows {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        self.inner.state.apply_batch(batch)?;
        self.inner.db.flush()?;
        Ok(())
    }

    pub fn db(&self) -> &sled::Db {
        &self.inner.db
    }

    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        decode_opt(self.inner.state.get(key)?)
    }

    /// A record's stored bytes, not decoded; [`Store::decode`] decodes them.
    pub fn get_bytes(&self, key: &[u8]) -> Result<Option<sled::IVec>> {
        Ok(self.inner.state.get(key)?)
    }

    /// Decodes bytes from [`Store::get_bytes`].
    pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
        decode(bytes)
    }

    /// Records whose keys start with `prefix`, strictly after `after` (a full key) in
    /// the direction of the scan. Cost depends on what is read, not on the store size.
    pub fn scan<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        newest_first: bool,
    ) -> impl Iterator<Item = Result<(sled::IVec, T)>> + '_ {
        let range = scan_range(prefix, after, newest_first);
        let iter = self.inner.state.range(range);
        let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if newest_first
        {
            Box::new(iter.rev())
        } else {
            Box::new(iter)
        };
        iter.map(|r| {
            let (k, v) = r?;
            Ok((k, decode(&v)?))
        })
    }

    /// Runs `f` in the committer, atomically with the other jobs of its batch, and
    /// returns once its writes are flushed to disk. If `f` fails nothing it wrote is kept.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel::<Result<T>>();
        let job: WriteJob = Box::new(move |tx: &mut Tx<'_>| {
            let r = tx.run(f);
            Box::new(move |committed: Result<()>| {
                let _ = reply.send(committed.and(r));
            })
        });
        self.sender()?
            .send(Job::Write(job))
            .map_err(|_| Error::internal("committer is gone"))?;
        rx.await
            .map_err(|_| Error::internal("committer dropped a job"))?
    }

    /// Runs `f` on a quiet store: after every earlier write is applied and before any
    /// later one. For checks that must see one consistent state (`verify`).
    pub async fn quiet<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&QuietView<'_>) -> T + Send + 'static,
    {
        let (reply, rx) = oneshot::channel::<T>();
        let job: ReadJob = Box::new(move |tree: &sled::Tree| {
            let _ = reply.send(f(&QuietView { tree }));
        });
        self.sender()?
            .send(Job::Quiet(job))
            .map_err(|_| Error::internal("committer is gone"))?;
        rx.await
            .map_err(|_| Error::internal("committer dropped a job"))
    }

    fn sender(&self) -> Result<&mpsc::Sender<Job>> {
        self.inner
            .jobs
            .as_ref()
            .ok_or_else(|| Error::internal("store is closing"))
    }

    /// Batches written and flushed since the store was opened (a write that changes
    /// nothing costs none).
    pub fn batches(&self) -> u64 {
        self.inner
            .batches
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub async fn flush(&self) -> Result<()> {
        self.inner.db.flush_async().await?;
        Ok(())
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
    b.create(path)
        .map_err(|e| Error::internal(format!("creating {}: {e}", path.display())))
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

fn scan_range(
    prefix: &[u8],
    after: Option<&[u8]>,
    newest_first: bool,
) -> (std::ops::Bound<Vec<u8>>, std::ops::Bound<Vec<u8>>) {
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
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn decode<T: DeserializeOwned>(v: &[u8]) -> Result<T> {
    Ok(serde_json::from_slice(v)?)
}

fn decode_opt<T: DeserializeOwned>(v: Option<sled::IVec>) -> Result<Option<T>> {
    v.map(|v| decode(&v)).transpose()
}

/// What a write job sees: the committed state, plus the writes of the jobs before it
/// in this batch, plus its own.
pub struct Tx<'a> {
    tree: &'a sled::Tree,
    batch: &'a mut BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    own: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Tx<'_> {
    fn run<T>(&mut self, f: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        self.own.clear();
        let r = f(self);
        if r.is_ok() {
            let own = std::mem::take(&mut self.own);
            self.batch.extend(own);
        } else {
            self.own.clear();
        }
        r
    }

    pub fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.own.get(key).or_else(|| self.batch.get(key)) {
            return Ok(v.clone());
        }
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        self.get_raw(key)?.map(|v| decode(&v)).transpose()
    }

    pub fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) -> Result<()> {
        self.own.insert(key, Some(serde_json::to_vec(value)?));
        Ok(())
    }

    /// A value already encoded as the store encodes records (the bulk loader builds
    /// its rows outside the committer).
    pub fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.own.insert(key, Some(value));
    }

    pub fn remove(&mut self, key: Vec<u8>) {
        self.own.insert(key, None);
    }

    /// Every (key, value) under `prefix` as this job sees it: committed, then the
    /// batch's writes, then its own. For rare jobs over a whole prefix (removing the
    /// demo partner), not for requests.
    pub fn scan_raw(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut rows: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        for r in self.tree.scan_prefix(prefix) {
            let (k, v) = r?;
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

    /// Next value of a named counter (1, 2, 3, …), gapless and restart-safe.
    pub fn next_id(&mut self, counter: &str) -> Result<u64> {
        let key = keys::counter(counter);
        let n: u64 = self.get(&key)?.unwrap_or(0) + 1;
        self.put(key, &n)?;
        Ok(n)
    }
}

/// A consistent read-only view for [`Store::quiet`].
pub struct QuietView<'a> {
    tree: &'a sled::Tree,
}

impl QuietView<'_> {
    pub fn scan<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(sled::IVec, T)>> + '_ {
        self.tree.scan_prefix(prefix).map(|r| {
            let (k, v) = r?;
            Ok((k, decode(&v)?))
        })
    }

    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        decode_opt(self.tree.get(key)?)
    }
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
                f(&tree);
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
            delivers.push(job(&mut tx));
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

/// Point reads, from the committed store or from inside a write job alike.
pub trait Read {
    fn read<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>>;
}

impl Read for Store {
    fn read<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        self.get(key)
    }
}

impl Read for Tx<'_> {
    fn read<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        self.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                    tx.put(format!("k{i}").into_bytes(), &n)?;
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
        let count = store.scan::<u64>(b"k", None, false).count();
        assert_eq!(count, 50);
    }

    #[test]
    fn prefix_end_handles_ff() {
        assert_eq!(prefix_end(b"a\0"), Some(b"a\x01".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff"), None);
    }
}
