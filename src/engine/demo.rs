//! The demo partner: a partner with a published password and free money, made on first
//! start so that `regway serve` does something at once. It must never become a door:
//! it is made only when the gateway listens on loopback with the sandbox behind it, it
//! is marked in the store as the demo, a gateway with a real upstream refuses to start
//! while the store holds it, and `regway demo remove` takes it away with everything
//! it owns.

use super::Engine;
use crate::error::{Error, Result};
use crate::store::keys;
use crate::store::records::{LedgerEntry, Order, Partner};
use serde::{Deserialize, Serialize};

/// The note on the demo partner's first ledger entry (how stores made before the demo
/// was marked are recognised).
pub const STARTING_NOTE: &str = "demo starting balance";

/// What `regway demo remove` took away.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct DemoRemoved {
    /// The demo partner's login, when there was one.
    pub login: Option<String>,
    pub domains: u64,
    pub clients: u64,
    pub orders: u64,
    pub licenses: u64,
    /// Store records removed in all.
    pub records: u64,
}

fn marker() -> Vec<u8> {
    keys::meta("demo")
}

impl Engine {
    /// The login of the demo partner this store holds, if any.
    pub fn demo_partner(&self) -> Result<Option<String>> {
        let Some(login) = self.store.get::<String>(&marker())? else {
            return Ok(None);
        };
        Ok(self.store.get_bytes(&keys::partner(&login))?.map(|_| login))
    }

    /// Marks `login` as the demo partner.
    pub async fn mark_demo(&self, login: &str) -> Result<()> {
        let login = login.to_string();
        self.store.write(move |tx| tx.put(marker(), &login)).await
    }

    /// Marks the demo partner of a store made before the demo was marked: the partner
    /// `login` whose first ledger entry is the demo's starting balance.
    pub async fn mark_old_demo(&self, login: &str) -> Result<()> {
        if self.store.get_bytes(&marker())?.is_some()
            || self.store.get_bytes(&keys::partner(login))?.is_none()
        {
            return Ok(());
        }
        let first = self
            .store
            .scan::<LedgerEntry>(&keys::ledger(login), None, false)
            .next()
            .transpose()?;
        if first.is_some_and(|(_, e)| e.note == STARTING_NOTE) {
            self.mark_demo(login).await?;
        }
        Ok(())
    }

    /// Removes the demo partner and everything it owns (clients, domains, orders,
    /// licences, ledger, request records) in one write. Refused while one of its orders
    /// is still open. Nothing to do when there is no demo partner.
    pub async fn remove_demo(&self) -> Result<DemoRemoved> {
        let Some(login) = self.store.get::<String>(&marker())? else {
            return Ok(DemoRemoved::default());
        };
        self.store
            .write(move |tx| {
                let mut out = DemoRemoved {
                    login: Some(login.clone()),
                    ..DemoRemoved::default()
                };
                let mut removed: Vec<Vec<u8>> = vec![marker()];
                if tx.get::<Partner>(&keys::partner(&login))?.is_none() {
                    tx.remove(marker());
                    out.login = None;
                    return Ok(out);
                }
                removed.push(keys::partner(&login));
                // Every record of the partner's own is under `TAG\0login\0` (store/keys.rs):
                // one scan per tag finds them, whatever the tag.
                let mut own: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
                for tag in 0x21u8..0x7f {
                    let mut prefix = vec![tag, 0];
                    prefix.extend_from_slice(login.as_bytes());
                    prefix.push(0);
                    for row in tx.scan_raw(&prefix)? {
                        own.push(row);
                    }
                }
                for (k, v) in &own {
                    let rest = &k[k.len().min(login.len() + 3)..];
                    match k[0] {
                        b'd' => {
                            out.domains += 1;
                            let name = String::from_utf8_lossy(rest).into_owned();
                            removed.push(keys::domain_owner(&name));
                            if tx.get::<u64>(&keys::in_flight(&name))?.is_some() {
                                return Err(open_order(&login));
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
                            let o: Order = serde_json::from_slice(v)?;
                            if !o.state.is_terminal() {
                                return Err(open_order(&login));
                            }
                            removed.push(keys::order_owner(o.id));
                            removed.push(keys::open_order(o.id));
                        }
                        _ => {}
                    }
                    removed.push(k.clone());
                }
                for (k, _) in tx.scan_raw(&keys::expiries())? {
                    if keys::parse_expiry(&k).is_some_and(|(_, l, _)| l == login) {
                        removed.push(k);
                    }
                }
                out.records = removed.len() as u64;
                for k in removed {
                    tx.remove(k);
                }
                Ok(out)
            })
            .await
    }
}

fn open_order(login: &str) -> Error {
    Error::new(
        crate::error::Code::StatusProhibits,
        format!(
            "the demo partner {login} has an order still open; let it settle (the gateway \
             on the sandbox settles it within seconds), then remove the demo"
        ),
    )
}
