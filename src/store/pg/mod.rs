//! The PostgreSQL implementation of the store, for several gateway nodes on one
//! database.
//!
//! Records are the same (key, value) rows as sled's ([`super::kv`]), in one table whose
//! primary key is the key. Write jobs keep the rules of the store ([`super`]):
//! - each node runs its write jobs on one committer thread, in batches (group commit):
//!   one transaction per batch, under READ COMMITTED, that first locks the one row of
//!   `regway_writer` (`SELECT … FOR UPDATE`). So write transactions of all nodes run
//!   one at a time; every statement of a job sees what the transactions before it
//!   committed, and the jobs before it in the batch are overlaid in memory, so a job
//!   sees exactly the state the jobs before it left. No serialisation failures, no
//!   retries; a conditional change (a charge within the credit line) is decided on a
//!   state nobody else can change until the commit;
//! - a job that fails leaves nothing (its writes are dropped); a batch whose
//!   statements fail is rolled back, and its jobs are answered with the error: nothing
//!   was written;
//! - nothing is answered before its COMMIT returns. A COMMIT whose answer is lost (the
//!   connection broke) is resolved by reading the node's row in `regway_commits`,
//!   written in the same transaction: in, or not in. When the database cannot be
//!   reached to tell, the process stops (fail-stop, [`super::EXIT_STORE_FAILED`]).
//!
//! Reads outside write jobs go to the database through a connection pool, from any
//! thread: the queries run on the store's own runtime, and the caller waits for them.
//! Listings read pages of [`PAGE`] rows by key, so their cost is the rows read.
//!
//! TLS is used when the URL asks for it (`sslmode=require`): the connection is
//! encrypted; as with libpq's `require`, the server's certificate is not verified.

mod schema;

use super::kv::{self, keys, RawGet, RawIter, RawPut, RawScan, RawTxn};
use super::{Deliver, OrderWatch, QuietJob, Registry, Rows, WriteJob};
use crate::error::{Error, Result};
use crate::store::records::{OrderState, Partner};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::runtime::Handle;

pub use schema::latest as schema_version;

/// Rows a listing reads at a time.
pub const PAGE: i64 = 256;

/// Connections of one node's pool (reads), besides the committer's own.
const POOL_SIZE: usize = 16;

/// How long a read waits for a connection, and a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a node tries to learn the fate of a COMMIT whose answer was lost.
const RESOLVE_FOR: Duration = Duration::from_secs(60);

/// A database failure as the store's callers see it: an internal error (2400), logged
/// with its cause; the cause never reaches a partner.
pub(super) fn pg_error(e: tokio_postgres::Error) -> Error {
    // No SQLSTATE: the connection broke or could not be made (the server restarting,
    // the network); 2400 with HTTP 503, and the pool connects again.
    // So is a connection the server ends (class 57: shut down, restarting) or loses
    // (class 08).
    let class = e.code().map(|c| &c.code()[..2]);
    if e.is_closed() || class.is_none() || matches!(class, Some("57" | "08")) {
        return Error::unavailable(format!("database: {e}"));
    }
    Error::internal(format!("database: {e}"))
}

fn pool_error(e: deadpool_postgres::PoolError) -> Error {
    Error::unavailable(format!("database: {e}"))
}

/// A failure while opening the store, for the operator starting the node: its cause is
/// said in full (a connection error names no password).
pub(super) fn open_error(e: impl std::fmt::Display) -> Error {
    Error::new(crate::error::Code::Failed, format!("database: {e}"))
}

type Kv = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

enum Job {
    Write(WriteJob),
    Quiet(QuietJob),
}

/// The database: a pool of connections and the runtime their queries run on.
#[derive(Clone)]
struct Db {
    handle: Handle,
    pool: Pool,
}

impl Db {
    /// Runs `f` on the store's runtime and waits for it, from any thread (inside a
    /// runtime or not).
    fn block<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        if Handle::try_current().is_err() {
            return self.handle.block_on(f);
        }
        let (tx, rx) = mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv()
            .map_err(|_| Error::internal("database: the query's task stopped"))?
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let pool = self.pool.clone();
        let key = key.to_vec();
        self.block(async move {
            let c = pool.get().await.map_err(pool_error)?;
            let st = c
                .prepare_cached("SELECT v FROM regway_kv WHERE k = $1")
                .await
                .map_err(pg_error)?;
            let row = c.query_opt(&st, &[&key]).await.map_err(pg_error)?;
            Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
        })
    }

    fn page(&self, range: kv::Range, newest_first: bool) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let pool = self.pool.clone();
        self.block(async move {
            let c = pool.get().await.map_err(pool_error)?;
            let (sql, params) = range_query(&range, newest_first);
            let st = c.prepare_cached(&sql).await.map_err(pg_error)?;
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                .iter()
                .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            let rows = c.query(&st, &refs).await.map_err(pg_error)?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }
}

/// The query for one page of a range scan, and its parameters (the bounds).
fn range_query(range: &kv::Range, newest_first: bool) -> (String, Vec<Vec<u8>>) {
    let mut sql = String::from("SELECT k, v FROM regway_kv WHERE TRUE");
    let mut params = Vec::new();
    for (bound, inc, exc) in [(&range.0, ">=", ">"), (&range.1, "<=", "<")] {
        let (op, k) = match bound {
            Bound::Included(k) => (inc, k),
            Bound::Excluded(k) => (exc, k),
            Bound::Unbounded => continue,
        };
        params.push(k.clone());
        sql.push_str(&format!(" AND k {op} ${}", params.len()));
    }
    sql.push_str(if newest_first {
        " ORDER BY k DESC"
    } else {
        " ORDER BY k"
    });
    sql.push_str(&format!(" LIMIT {PAGE}"));
    (sql, params)
}

/// Pages of a range scan, read as the listing goes: the next page starts after the
/// last key read.
struct Pager<F> {
    fetch: F,
    range: kv::Range,
    newest_first: bool,
    rows: VecDeque<(Vec<u8>, Vec<u8>)>,
    done: bool,
}

impl<F: FnMut(kv::Range, bool) -> Result<Vec<(Vec<u8>, Vec<u8>)>>> Iterator for Pager<F> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rows.is_empty() && !self.done {
            match (self.fetch)(self.range.clone(), self.newest_first) {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(rows) => {
                    self.done = (rows.len() as i64) < PAGE;
                    if let Some((last, _)) = rows.last() {
                        if self.newest_first {
                            self.range.1 = Bound::Excluded(last.clone());
                        } else {
                            self.range.0 = Bound::Excluded(last.clone());
                        }
                    }
                    self.rows = rows.into();
                }
            }
        }
        self.rows.pop_front().map(Ok)
    }
}

fn pager<'a, F>(fetch: F, range: kv::Range, newest_first: bool) -> RawIter<'a, Vec<u8>>
where
    F: FnMut(kv::Range, bool) -> Result<Vec<(Vec<u8>, Vec<u8>)>> + 'a,
{
    Box::new(Pager {
        fetch,
        range,
        newest_first,
        rows: VecDeque::new(),
        done: false,
    })
}

/// Partner records kept decoded; past this many the cache starts again empty.
const PARTNER_CACHE: usize = 4096;

type Watchers = Arc<RwLock<Vec<OrderWatch>>>;

/// Decoded partner records, by login, with the bytes they came from.
type PartnerCache = HashMap<String, (Vec<u8>, Arc<Partner>)>;

pub struct PgStore {
    db: Db,
    /// This node: its row in `regway_commits`, the holder of its leases.
    node: String,
    /// `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    id: String,
    jobs: Option<mpsc::Sender<Job>>,
    committer: Option<std::thread::JoinHandle<()>>,
    batches: Arc<AtomicU64>,
    watchers: Watchers,
    partners: Mutex<PartnerCache>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(h) = self.committer.take() {
            let _ = h.join();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A connection URL's TLS: `sslmode=require` encrypts (see the module's notes).
fn manager(url: &str) -> Result<Manager> {
    let cfg: tokio_postgres::Config = url
        .parse()
        .map_err(|e| Error::syntax(format!("database_url is not a valid PostgreSQL URL: {e}")))?;
    let mut cfg = cfg;
    if cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(CONNECT_TIMEOUT);
    }
    let mc = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    Ok(match cfg.get_ssl_mode() {
        tokio_postgres::config::SslMode::Require => {
            Manager::from_config(cfg, tls::connector()?, mc)
        }
        _ => {
            cfg.ssl_mode(tokio_postgres::config::SslMode::Disable);
            Manager::from_config(cfg, tokio_postgres::NoTls, mc)
        }
    })
}

mod tls {
    use crate::error::{Error, Result};
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};
    use std::sync::Arc;

    /// libpq's `sslmode=require`: encrypted, the certificate not checked against a CA.
    #[derive(Debug)]
    struct Unverified(Arc<CryptoProvider>);

    impl ServerCertVerifier for Unverified {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> std::result::Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    pub fn connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::internal(format!("TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth();
        Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
    }
}

impl PgStore {
    /// Connects to the database at `url`, brings its schema up to date (or refuses a
    /// newer one), and starts the committer. `max_batch` 1 turns group commit off.
    pub fn open(url: &str, max_batch: usize) -> Result<PgStore> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("regway-pg")
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("starting the database runtime: {e}")))?;
        match PgStore::start(&runtime, url, max_batch) {
            Ok(mut store) => {
                store.runtime = Some(runtime);
                Ok(store)
            }
            Err(e) => {
                // Dropping a runtime may not block where this is called from.
                runtime.shutdown_background();
                Err(e)
            }
        }
    }

    fn start(runtime: &tokio::runtime::Runtime, url: &str, max_batch: usize) -> Result<PgStore> {
        let manager = manager(url)?;
        let pool = {
            let _guard = runtime.enter();
            Pool::builder(manager)
                .max_size(POOL_SIZE)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(CONNECT_TIMEOUT))
                .create_timeout(Some(CONNECT_TIMEOUT))
                .build()
                .map_err(|e| Error::internal(format!("database pool: {e}")))?
        };
        let db = Db {
            handle: runtime.handle().clone(),
            pool,
        };
        let node: String = {
            let bytes: [u8; 12] = rand::random();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        };
        let id = {
            let pool = db.pool.clone();
            let node = node.clone();
            db.block(async move {
                let mut c = pool.get().await.map_err(open_error)?;
                schema::migrate(&mut c).await?;
                let fresh: [u8; 16] = rand::random();
                let fresh: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
                c.execute(
                    "INSERT INTO regway_meta (name, value) VALUES ('store-id', $1) \
                     ON CONFLICT (name) DO NOTHING",
                    &[&fresh],
                )
                .await
                .map_err(open_error)?;
                c.execute(
                    "INSERT INTO regway_commits (node, seq, seen) VALUES ($1, 0, now())",
                    &[&node],
                )
                .await
                .map_err(open_error)?;
                // Rows of nodes gone for a week are of no use to anyone.
                c.execute(
                    "DELETE FROM regway_commits WHERE seen < now() - INTERVAL '7 days'",
                    &[],
                )
                .await
                .map_err(open_error)?;
                let row = c
                    .query_one("SELECT value FROM regway_meta WHERE name = 'store-id'", &[])
                    .await
                    .map_err(open_error)?;
                Ok(row.get::<_, String>(0))
            })?
        };
        let (tx, rx) = mpsc::channel::<Job>();
        let watchers: Watchers = Arc::default();
        let batches = Arc::new(AtomicU64::new(0));
        let committer = Committer {
            db: db.clone(),
            node: node.clone(),
            seq: 0,
            max_batch: max_batch.max(1),
            watchers: watchers.clone(),
            batches: batches.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("regway-committer".into())
            .spawn(move || committer.run(rx))
            .map_err(|e| Error::internal(format!("starting committer: {e}")))?;
        Ok(PgStore {
            db,
            node,
            runtime: None,
            id,
            jobs: Some(tx),
            committer: Some(handle),
            batches,
            watchers,
            partners: Mutex::new(HashMap::new()),
        })
    }

    fn sender(&self) -> Result<&mpsc::Sender<Job>> {
        self.jobs
            .as_ref()
            .ok_or_else(|| Error::internal("store is closing"))
    }
}

impl RawGet for PgStore {
    fn raw_get(&self, key: &[u8]) -> Result<Option<impl AsRef<[u8]>>> {
        self.db.get(key)
    }
}

impl RawScan for PgStore {
    type Bytes = Vec<u8>;
    fn raw_range(&self, range: kv::Range, newest_first: bool) -> RawIter<'_, Vec<u8>> {
        pager(move |r, d| self.db.page(r, d), range, newest_first)
    }
}

impl super::Backend for PgStore {
    fn id(&self) -> &str {
        &self.id
    }

    /// As sled's: the stored bytes are read on every call and the decoded copy used
    /// again while they are the same, so it is never stale, whichever node wrote.
    fn partner_shared(&self, login: &str) -> Result<Option<Arc<Partner>>> {
        let Some(bytes) = self.db.get(&keys::partner(login))? else {
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
        let p: Arc<Partner> = Arc::new(kv::decode(&bytes)?);
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

    /// Changes this node commits; another node's are seen by its own watchers.
    fn watch_orders(&self, f: OrderWatch) {
        self.watchers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(f);
    }

    fn rows(&self) -> Rows {
        Box::<PgRows>::default()
    }

    fn migrate(&self, rows: Rows) -> Result<()> {
        self.write_now(PgRows::of(rows)?.rows)
    }

    /// One statement: the row is taken when it is missing, expired or already this
    /// node's, atomically against every other node's attempt.
    fn lease(&self, name: &str, ttl: Duration) -> Result<bool> {
        let (pool, name, node) = (self.db.pool.clone(), name.to_string(), self.node.clone());
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        self.db.block(async move {
            let c = pool.get().await.map_err(pool_error)?;
            let st = c
                .prepare_cached(
                    "INSERT INTO regway_leases (name, holder, until) \
                     VALUES ($1, $2, now() + $3::INT8 * INTERVAL '1 millisecond') \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
                     WHERE regway_leases.until < now() OR regway_leases.holder = excluded.holder \
                     RETURNING holder",
                )
                .await
                .map_err(pg_error)?;
            Ok(c.query_opt(&st, &[&name, &node, &ms])
                .await
                .map_err(pg_error)?
                .is_some())
        })
    }

    fn release(&self, name: &str) {
        let (pool, name, node) = (self.db.pool.clone(), name.to_string(), self.node.clone());
        let r = self.db.block(async move {
            let c = pool.get().await.map_err(pool_error)?;
            c.execute(
                "DELETE FROM regway_leases WHERE name = $1 AND holder = $2",
                &[&name, &node],
            )
            .await
            .map_err(pg_error)?;
            Ok(())
        });
        if let Err(e) = r {
            tracing::warn!(error = %e.message, "a lease is kept until it ends");
        }
    }

    fn dump(&self) -> super::Iter<'_, (Vec<u8>, Vec<u8>)> {
        pager(
            move |r, d| self.db.page(r, d),
            (Bound::Unbounded, Bound::Unbounded),
            false,
        )
    }

    fn load(&self, rows: Vec<(Vec<u8>, Vec<u8>)>) -> Result<()> {
        self.write_now(rows.into_iter().map(|(k, v)| (k, Some(v))).collect())
    }

    fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Every batch is durable when its COMMIT returns.
    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn registry(&self, name: &str) -> Result<Arc<dyn Registry>> {
        Ok(Arc::new(PgRegistry {
            db: self.db.clone(),
            name: name.to_string(),
        }))
    }
}

impl PgStore {
    /// Writes `rows` in one transaction of their own, bypassing the write jobs.
    fn write_now(&self, rows: Kv) -> Result<()> {
        let pool = self.db.pool.clone();
        self.db.block(async move {
            let mut c = pool.get().await.map_err(pool_error)?;
            let tx = c.transaction().await.map_err(pg_error)?;
            tx.query("SELECT id FROM regway_writer WHERE id = 1 FOR UPDATE", &[])
                .await
                .map_err(pg_error)?;
            write_rows(&tx, rows).await?;
            tx.commit().await.map_err(pg_error)
        })
    }
}

/// Writes `rows` in the transaction `c` is in: upserts and deletes, a statement each.
async fn write_rows(c: &impl deadpool_postgres::GenericClient, rows: Kv) -> Result<()> {
    let mut put_k: Vec<Vec<u8>> = Vec::new();
    let mut put_v: Vec<Vec<u8>> = Vec::new();
    let mut del: Vec<Vec<u8>> = Vec::new();
    for (k, v) in rows {
        match v {
            Some(v) => {
                put_k.push(k);
                put_v.push(v);
            }
            None => del.push(k),
        }
    }
    if !put_k.is_empty() {
        let st = c
            .prepare_cached(
                "INSERT INTO regway_kv (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                 ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            )
            .await
            .map_err(pg_error)?;
        c.execute(&st, &[&put_k, &put_v]).await.map_err(pg_error)?;
    }
    if !del.is_empty() {
        let st = c
            .prepare_cached("DELETE FROM regway_kv WHERE k = ANY($1)")
            .await
            .map_err(pg_error)?;
        c.execute(&st, &[&del]).await.map_err(pg_error)?;
    }
    Ok(())
}

/// The sandbox registry's state, in `regway_registry` under its name.
pub struct PgRegistry {
    db: Db,
    name: String,
}

impl Registry for PgRegistry {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let (pool, name, key) = (self.db.pool.clone(), self.name.clone(), key.to_vec());
        self.db.block(async move {
            let c = pool.get().await.map_err(pool_error)?;
            let row = c
                .query_opt(
                    "SELECT v FROM regway_registry WHERE name = $1 AND k = $2",
                    &[&name, &key],
                )
                .await
                .map_err(pg_error)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let (pool, name) = (self.db.pool.clone(), self.name.clone());
        let (key, value) = (key.to_vec(), value.to_vec());
        self.db.block(async move {
            let c = pool.get().await.map_err(pool_error)?;
            c.execute(
                "INSERT INTO regway_registry (name, k, v) VALUES ($1, $2, $3) \
                 ON CONFLICT (name, k) DO UPDATE SET v = excluded.v",
                &[&name, &key, &value],
            )
            .await
            .map_err(pg_error)?;
            Ok(())
        })
    }

    fn clear(&self) -> Result<()> {
        let (pool, name) = (self.db.pool.clone(), self.name.clone());
        self.db.block(async move {
            let c = pool.get().await.map_err(pool_error)?;
            c.execute("DELETE FROM regway_registry WHERE name = $1", &[&name])
                .await
                .map_err(pg_error)?;
            Ok(())
        })
    }

    fn len(&self) -> usize {
        let (pool, name) = (self.db.pool.clone(), self.name.clone());
        self.db
            .block(async move {
                let c = pool.get().await.map_err(pool_error)?;
                let n: i64 = c
                    .query_one(
                        "SELECT count(*) FROM regway_registry WHERE name = $1",
                        &[&name],
                    )
                    .await
                    .map_err(pg_error)?
                    .get(0);
                Ok(n as usize)
            })
            .unwrap_or(0)
    }

    fn entries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let (pool, name) = (self.db.pool.clone(), self.name.clone());
        self.db.block(async move {
            let c = pool.get().await.map_err(pool_error)?;
            let rows = c
                .query(
                    "SELECT k, v FROM regway_registry WHERE name = $1 ORDER BY k",
                    &[&name],
                )
                .await
                .map_err(pg_error)?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }
}

/// Rows built outside the committer, already encoded, in key order.
#[derive(Default)]
pub struct PgRows {
    rows: Kv,
}

impl PgRows {
    fn of(rows: Rows) -> Result<PgRows> {
        rows.into_any()
            .downcast::<PgRows>()
            .map(|b| *b)
            .map_err(|_| Error::internal("rows of another store"))
    }
}

impl super::Batch for PgRows {
    fn len(&self) -> usize {
        self.rows.len()
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

impl RawPut for PgRows {
    fn raw_put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.rows.insert(key, value);
    }
}

/// The committer's connection, in a transaction, used from the committer thread.
struct Conn {
    handle: Handle,
    client: deadpool_postgres::Object,
}

impl Conn {
    fn run<T>(
        &self,
        f: impl Future<Output = std::result::Result<T, tokio_postgres::Error>>,
    ) -> Result<T> {
        self.handle.block_on(f).map_err(pg_error)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let key = key.to_vec();
        self.handle
            .block_on(async {
                let st = self
                    .client
                    .prepare_cached("SELECT v FROM regway_kv WHERE k = $1")
                    .await?;
                self.client.query_opt(&st, &[&key]).await
            })
            .map(|r| r.map(|r| r.get::<_, Vec<u8>>(0)))
            .map_err(pg_error)
    }

    fn page(&self, range: kv::Range, newest_first: bool) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let (sql, params) = range_query(&range, newest_first);
        self.handle
            .block_on(async {
                let st = self.client.prepare_cached(&sql).await?;
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                self.client.query(&st, &refs).await
            })
            .map(|rows| rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
            .map_err(pg_error)
    }
}

/// What a write job sees: the committed state, plus the writes of the jobs before it
/// in this batch, plus its own.
pub struct Tx<'a> {
    conn: Option<&'a Conn>,
    batch: &'a Kv,
    own: Kv,
    /// The first database failure of the batch: the transaction is then aborted and
    /// every job of the batch fails.
    failed: &'a Mutex<Option<Error>>,
}

impl Tx<'_> {
    fn conn(&self) -> Result<&Conn> {
        if let Some(e) = self
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Err(e);
        }
        self.conn
            .ok_or_else(|| Error::unavailable("database: no connection"))
    }

    fn note<T>(&self, r: Result<T>) -> Result<T> {
        if let Err(e) = &r {
            self.failed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert_with(|| e.clone());
        }
        r
    }
}

impl RawGet for Tx<'_> {
    fn raw_get(&self, key: &[u8]) -> Result<Option<impl AsRef<[u8]>>> {
        if let Some(v) = self.own.get(key).or_else(|| self.batch.get(key)) {
            return Ok(v.clone());
        }
        let r = self.conn()?.get(key);
        self.note(r)
    }
}

impl RawPut for Tx<'_> {
    fn raw_put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.own.insert(key, value);
    }
}

impl RawTxn for Tx<'_> {
    fn scan_raw(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let conn = self.conn()?;
        let mut rows: Kv = BTreeMap::new();
        for r in pager(
            |r, d| conn.page(r, d),
            kv::scan_range(prefix, None, false),
            false,
        ) {
            let (k, v) = self.note(r)?;
            rows.insert(k, Some(v));
        }
        for layer in [self.batch, &self.own] {
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

    fn put_raw_rows(&mut self, rows: Rows) -> Result<()> {
        self.own.extend(PgRows::of(rows)?.rows);
        Ok(())
    }
}

/// A consistent read-only state: one REPEATABLE READ transaction.
pub struct QuietView<'a> {
    conn: Result<&'a Conn>,
}

impl QuietView<'_> {
    fn conn(&self) -> Result<&Conn> {
        self.conn.as_ref().map(|c| *c).map_err(Clone::clone)
    }
}

impl RawGet for QuietView<'_> {
    fn raw_get(&self, key: &[u8]) -> Result<Option<impl AsRef<[u8]>>> {
        self.conn()?.get(key)
    }
}

impl RawScan for QuietView<'_> {
    type Bytes = Vec<u8>;
    fn raw_range(&self, range: kv::Range, newest_first: bool) -> RawIter<'_, Vec<u8>> {
        match self.conn() {
            Ok(c) => pager(move |r, d| c.page(r, d), range, newest_first),
            Err(e) => Box::new(std::iter::once(Err(e))),
        }
    }
}

struct Committer {
    db: Db,
    /// This node's row in `regway_commits`.
    node: String,
    /// The last batch this node committed.
    seq: i64,
    max_batch: usize,
    watchers: Watchers,
    batches: Arc<AtomicU64>,
}

/// Stops the process: a batch may or may not be committed and nobody can tell now.
fn fail_stop(e: &Error, jobs: usize) -> ! {
    tracing::error!(error = %e.message, jobs,
        "could not learn whether a batch was committed; stopping now (fail-stop) so that no \
         answer claims what the database may not hold");
    eprintln!("regway: store failure, stopping: {e}");
    std::process::exit(super::EXIT_STORE_FAILED)
}

impl Committer {
    fn connect(&self) -> Result<Conn> {
        let pool = self.db.pool.clone();
        let client = self
            .db
            .handle
            .block_on(async move { pool.get().await })
            .map_err(pool_error)?;
        Ok(Conn {
            handle: self.db.handle.clone(),
            client,
        })
    }

    fn run(mut self, rx: mpsc::Receiver<Job>) {
        let mut conn: Option<Conn> = None;
        let mut pending: Option<Job> = None;
        loop {
            let first = match pending.take() {
                Some(j) => j,
                None => match rx.recv() {
                    Ok(j) => j,
                    Err(_) => break,
                },
            };
            if conn.as_ref().is_none_or(|c| c.client.is_closed()) {
                conn = None;
                match self.connect() {
                    Ok(c) => conn = Some(c),
                    Err(e) => tracing::warn!(error = %e.message, "database unreachable"),
                }
            }
            let first = match first {
                Job::Quiet(f) => {
                    self.quiet(conn.as_ref(), f);
                    continue;
                }
                Job::Write(w) => w,
            };
            let mut jobs = vec![first];
            while jobs.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(Job::Write(w)) => jobs.push(w),
                    Ok(q @ Job::Quiet(_)) => {
                        pending = Some(q);
                        break;
                    }
                    Err(_) => break,
                }
            }
            if !self.batch(conn.as_ref(), jobs) {
                conn = None;
            }
        }
    }

    fn quiet(&self, conn: Option<&Conn>, f: QuietJob) {
        let began = conn
            .ok_or_else(|| Error::unavailable("database: no connection"))
            .and_then(|c| {
                c.run(
                    c.client
                        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
                )?;
                Ok(c)
            });
        let ok = began.is_ok();
        f(&QuietView { conn: began });
        if let (true, Some(c)) = (ok, conn) {
            if let Err(e) = c.run(c.client.batch_execute("COMMIT")) {
                tracing::warn!(error = %e.message, "ending a read-only transaction");
            }
        }
    }

    /// Runs one batch of jobs in one transaction. `false` when the connection is to be
    /// dropped.
    fn batch(&mut self, conn: Option<&Conn>, jobs: Vec<WriteJob>) -> bool {
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        let set_failed = |e: Error| {
            failed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(e);
        };
        match conn {
            None => set_failed(Error::unavailable("database: no connection")),
            Some(c) => {
                if let Err(e) = c.run(c.client.batch_execute(
                    "BEGIN ISOLATION LEVEL READ COMMITTED; \
                     SELECT id FROM regway_writer WHERE id = 1 FOR UPDATE",
                )) {
                    set_failed(e);
                }
            }
        }
        let mut batch: Kv = BTreeMap::new();
        let mut delivers: Vec<Deliver> = Vec::with_capacity(jobs.len());
        for job in jobs {
            let mut tx = Tx {
                conn,
                batch: &batch,
                own: BTreeMap::new(),
                failed: &failed,
            };
            let (ok, deliver) = job(&mut tx);
            let own = std::mem::take(&mut tx.own);
            if ok {
                batch.extend(own);
            }
            delivers.push(deliver);
        }
        let failure = failed.lock().unwrap_or_else(|p| p.into_inner()).take();
        let c = match (conn, failure) {
            (Some(c), None) => c,
            (c, f) => {
                if let Some(c) = c {
                    let _ = c.run(c.client.batch_execute("ROLLBACK"));
                }
                let e = f.unwrap_or_else(|| Error::unavailable("database: no connection"));
                for d in delivers {
                    d(Err(e.clone()));
                }
                return c.is_some_and(|c| !c.client.is_closed());
            }
        };
        if batch.is_empty() {
            let r = c.run(c.client.batch_execute("COMMIT"));
            let ok = r.is_ok();
            for d in delivers {
                d(r.clone());
            }
            return ok;
        }
        match self.write(c, &batch) {
            Err(e) => {
                let _ = c.run(c.client.batch_execute("ROLLBACK"));
                for d in delivers {
                    d(Err(e.clone()));
                }
                !c.client.is_closed()
            }
            Ok(seen) => {
                let committed = match c.run(c.client.batch_execute("COMMIT")) {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(error = %e.message, "COMMIT failed; finding out whether it was kept");
                        self.resolve(delivers.len())
                    }
                };
                if committed {
                    self.batches.fetch_add(1, Ordering::Relaxed);
                    let watchers = self.watchers.read().unwrap_or_else(|p| p.into_inner());
                    for (old, new) in seen {
                        let state = |v: Option<&Vec<u8>>| v.and_then(|v| OrderState::of_stored(v));
                        for w in watchers.iter() {
                            w(state(old.as_ref()), state(new.as_ref()));
                        }
                    }
                    for d in delivers {
                        d(Ok(()));
                    }
                    true
                } else {
                    let e = Error::internal("database: the batch was not committed");
                    for d in delivers {
                        d(Err(e.clone()));
                    }
                    false
                }
            }
        }
    }

    /// Writes the batch in the open transaction; returns the order records it changes,
    /// as (before, after).
    #[allow(clippy::type_complexity)]
    fn write(&mut self, c: &Conn, batch: &Kv) -> Result<Vec<(Option<Vec<u8>>, Option<Vec<u8>>)>> {
        let prefix = keys::all_orders();
        let orders: Vec<Vec<u8>> = batch
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        let mut seen = Vec::new();
        if !orders.is_empty()
            && !self
                .watchers
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
        {
            let rows = c.run(
                c.client
                    .query("SELECT k, v FROM regway_kv WHERE k = ANY($1)", &[&orders]),
            )?;
            let old: HashMap<Vec<u8>, Vec<u8>> =
                rows.into_iter().map(|r| (r.get(0), r.get(1))).collect();
            for k in &orders {
                seen.push((old.get(k).cloned(), batch.get(k).cloned().flatten()));
            }
        }
        let seq = self.seq + 1;
        let rows = batch.clone();
        self.db.handle.block_on(write_rows(&c.client, rows))?;
        c.run(c.client.execute(
            "UPDATE regway_commits SET seq = $2, seen = now() WHERE node = $1",
            &[&self.node, &seq],
        ))?;
        self.seq = seq;
        Ok(seen)
    }

    /// After a COMMIT whose answer was lost: whether the batch `self.seq` is in, read
    /// from this node's row on a new connection. Stops the process when it cannot tell.
    fn resolve(&mut self, jobs: usize) -> bool {
        let until = std::time::Instant::now() + RESOLVE_FOR;
        loop {
            let pool = self.db.pool.clone();
            let node = self.node.clone();
            let r = self.db.handle.block_on(async move {
                let c = pool.get().await.map_err(pool_error)?;
                let row = c
                    .query_one("SELECT seq FROM regway_commits WHERE node = $1", &[&node])
                    .await
                    .map_err(pg_error)?;
                Ok::<i64, Error>(row.get(0))
            });
            match r {
                Ok(seq) => {
                    let committed = seq == self.seq;
                    if !committed {
                        self.seq -= 1;
                    }
                    return committed;
                }
                Err(e) if std::time::Instant::now() >= until => fail_stop(&e, jobs),
                Err(_) => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    }
}
