//! The demo partner: a partner with a published password and free money, made on first
//! start so that `regway serve` does something at once. It must never become a door:
//! it is made only when the gateway listens on loopback with the sandbox behind it, it
//! is marked in the store as the demo, a gateway with a real upstream refuses to start
//! while the store holds it, and `regway demo remove` takes it away with everything
//! it owns.

use super::Engine;
use crate::error::{Error, Result};
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

impl Engine {
    /// The login of the demo partner this store holds, if any.
    pub fn demo_partner(&self) -> Result<Option<String>> {
        let Some(login) = self.store.demo()? else {
            return Ok(None);
        };
        Ok(self.store.has_partner(&login)?.then_some(login))
    }

    /// Marks `login` as the demo partner.
    pub async fn mark_demo(&self, login: &str) -> Result<()> {
        let login = login.to_string();
        self.store.write(move |tx| tx.set_demo(Some(&login))).await
    }

    /// Marks the demo partner of a store made before the demo was marked: the partner
    /// `login` whose first ledger entry is the demo's starting balance.
    pub async fn mark_old_demo(&self, login: &str) -> Result<()> {
        if self.store.demo()?.is_some() || !self.store.has_partner(login)? {
            return Ok(());
        }
        let first = self.store.ledger(login, None, false).next().transpose()?;
        if first.is_some_and(|e| e.note == STARTING_NOTE) {
            self.mark_demo(login).await?;
        }
        Ok(())
    }

    /// Removes the demo partner and everything it owns (clients, domains, orders,
    /// licences, ledger, request records) in one write. Refused while one of its orders
    /// is still open. Nothing to do when there is no demo partner.
    pub async fn remove_demo(&self) -> Result<DemoRemoved> {
        let Some(login) = self.store.demo()? else {
            return Ok(DemoRemoved::default());
        };
        self.store
            .write(move |tx| {
                tx.set_demo(None)?;
                if !tx.has_partner(&login)? {
                    return Ok(DemoRemoved::default());
                }
                let gone = tx.remove_partner(&login)?;
                if gone.open {
                    return Err(open_order(&login));
                }
                Ok(DemoRemoved {
                    login: Some(login),
                    domains: gone.domains,
                    clients: gone.clients,
                    orders: gone.orders,
                    licenses: gone.licenses,
                    // The demo's mark too.
                    records: gone.records + 1,
                })
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
