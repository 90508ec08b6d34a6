//! The demo partner: a partner with a published password and free money, made on first
//! start so that `regway serve` does something at once. It must never become a door:
//! it is made only when the gateway listens on loopback with the sandbox behind it, it
//! is marked in the store as the demo, a gateway with a real upstream refuses to start
//! while the store holds it, and `regway demo remove` takes it away with everything
//! it owns.

use super::operator::NewPartner;
use super::Engine;
use crate::config::{Config, UpstreamKind};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

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

    /// Creates the demo partner when the store has none, every upstream is the sandbox
    /// and the gateway listens on loopback only (`addr`): at first start, and after the
    /// sandbox control API's reset. Returns what to tell the operator.
    pub async fn bootstrap_demo(&self, cfg: &Config, addr: SocketAddr) -> Result<Option<String>> {
        if !cfg.demo.enabled
            || self.backend.name() != "sandbox"
            || cfg
                .upstreams
                .values()
                .any(|u| u.kind != UpstreamKind::Sandbox)
            || self.has_partners()?
        {
            return Ok(None);
        }
        if !addr.ip().is_loopback() {
            tracing::info!(
                %addr,
                "no demo partner: the gateway listens beyond loopback (add partners with `regway partner add`)"
            );
            return Ok(None);
        }
        let d = &cfg.demo;
        let added = self
            .add_partner(NewPartner {
                login: d.login.clone(),
                password: Some(d.password.clone()),
                currency: Some(d.currency.clone()),
                credit_limit: Some(d.credit_limit.clone()),
                allow_ips: vec![],
            })
            .await;
        match added {
            Ok(_) => {}
            // Another node on the same database made it a moment ago.
            Err(e) if e.code == crate::error::Code::Exists => return Ok(None),
            Err(e) => return Err(e),
        }
        self.mark_demo(&d.login).await?;
        let view = self.topup(&d.login, &d.balance, STARTING_NOTE).await?;
        Ok(Some(format!(
            "created the demo partner {:?} (password {:?}) with a balance of {} {}. Try:\n  \
             curl -s -u {}:{} http://{addr}/api -d command=balance.get",
            d.login, d.password, view.balance, view.currency, d.login, d.password
        )))
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
