//! The duplicate window of renewals that cannot name the current expiry.
//!
//! The native `domain.renew` names the domain's current expiry, so a repeat can never
//! add a second year. MasterName `prolong_domain` without `cur-exp-date` and Namecheap
//! `domains.renew` cannot: the gateway reads the expiry and renews from it, and a
//! panel that retries a lost answer with a new request-id would renew twice. So such a
//! renewal is refused while another renewal of the domain is younger than
//! `dialect_renew_window_minutes` (README, "Configuration").

use super::Engine;
use crate::error::{Error, Result};
use crate::store::records::{Order, OrderKind, OrderState};
use chrono::SecondsFormat;

impl Engine {
    /// The partner's newest renewal of `domain` (ASCII) placed within the window and
    /// not failed, if any. Reads the partner's orders newest first and stops at the
    /// first one older than the window, so it reads only the window's orders.
    pub fn recent_renewal(&self, login: &str, domain: &str) -> Result<Option<Order>> {
        if self.dialect_renew_window.is_zero() {
            return Ok(None);
        }
        let window = chrono::Duration::from_std(self.dialect_renew_window)
            .map_err(|_| Error::internal("renewal window out of range"))?;
        let since = self.clock.now() - window;
        for r in self.store.orders(login, None, true) {
            let o = r?;
            if o.created < since {
                break;
            }
            if o.domain == domain
                && matches!(o.kind, OrderKind::Renew { .. })
                && o.state != OrderState::Failed
            {
                return Ok(Some(o));
            }
        }
        Ok(None)
    }

    /// Refuses (2105) a renewal from the current expiry of `domain` while another
    /// renewal of it is younger than the window; the message names the window.
    pub fn check_renew_window(&self, login: &str, domain: &str) -> Result<()> {
        let Some(o) = self.recent_renewal(login, domain)? else {
            return Ok(());
        };
        let minutes = self.dialect_renew_window.as_secs() / 60;
        let until =
            o.created + chrono::Duration::from_std(self.dialect_renew_window).unwrap_or_default();
        Err(Error::new(
            crate::error::Code::NotRenewable,
            format!(
                "{domain} was renewed at {} (order {}): a renewal that does not name the \
                 current expiry is refused within {minutes} minutes of another, as a likely \
                 repeat; try again after {}",
                o.created.to_rfc3339_opts(SecondsFormat::Secs, true),
                o.id,
                until.to_rfc3339_opts(SecondsFormat::Secs, true),
            ),
        ))
    }
}
