//! Where the catalogue, per-partner prices and programmes meet: the price a partner
//! pays for one order, and where it stands in its programmes. The rules themselves are
//! pure functions in [`super::programme`]; this module reads the partner's facts from
//! the store and passes `now` in.

use super::catalogue::{Operation, Zone};
use super::licenses::Product;
use super::programme::{self, Facts, Measure, Metric, Priced, Programme, Programmes, Tier};
use super::statement::{self, Line, Statement};
use super::Engine;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::records::{DayTotals, EntryKind, LicensePeriod, Partner, ServiceCounts};
use crate::store::Migration;
use crate::types::names::Name;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Loads the configured programme files against the configured categories and zones.
/// Any refused file refuses the whole configuration, so none is half-applied.
pub fn load_programmes(cfg: &Config, zones: &[String]) -> Result<Programmes> {
    let known = programme::Known {
        categories: &cfg.categories,
        zones,
    };
    let list = cfg
        .programmes
        .iter()
        .map(|p| programme::load(p, &known).map_err(|e| Error::config(e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    Programmes::new(list).map_err(Error::config)
}

/// Builds every partner's per-day totals from its ledger, once, for a store written
/// before they were kept with each entry. Runs at start-up, before any other write.
pub fn build_day_totals(store: &crate::store::Store) -> Result<()> {
    if store.migrated(Migration::DayTotals)?.is_some() {
        return Ok(());
    }
    let mut rows = store.rows();
    for p in store.partners() {
        let p = p?;
        let mut days: BTreeMap<chrono::NaiveDate, DayTotals> = BTreeMap::new();
        for e in store.ledger(&p.login, None, false) {
            let e = e?;
            days.entry(e.time.date_naive())
                .or_default()
                .add(DayTotals::of(e.kind, e.amount));
        }
        for (day, t) in days.into_iter().filter(|(_, t)| !t.is_zero()) {
            rows.put_day_totals(&p.login, day, &t)?;
        }
    }
    tracing::info!(
        days = rows.len(),
        "built the per-day payment and turnover totals"
    );
    rows.set_migrated(Migration::DayTotals, Some(""))?;
    store.migrate(rows)
}

/// `regway programme check FILE`: parses one programme file against the configuration
/// and describes it, tier by tier; a refused file gives `FILE:LINE: reason`.
pub fn check_file(cfg: &Config, path: &std::path::Path) -> Result<String> {
    use std::fmt::Write as _;
    let catalogue =
        super::catalogue::Catalogue::new(cfg.builtin_zones, &cfg.zones, &cfg.partner_prices)?;
    let zones: Vec<String> = catalogue.zones().map(|z| z.name.clone()).collect();
    let known = programme::Known {
        categories: &cfg.categories,
        zones: &zones,
    };
    let p = programme::load(path, &known).map_err(|e| Error::config(e.to_string()))?;
    let mut out = String::new();
    let c = p.currency;
    let money = |d: Decimal| {
        crate::types::money::Money {
            amount: d,
            currency: c,
        }
        .amount_str()
    };
    let _ = writeln!(
        out,
        "programme {} ({c}), exclusive: {}",
        p.name, p.exclusive
    );
    let _ = writeln!(
        out,
        "partners: {}",
        if p.partners.is_empty() {
            "none".to_string()
        } else {
            p.partners.join(", ")
        }
    );
    if let Some(m) = &p.metric {
        let how = match m {
            Metric::Payments { window_days } => format!("payments over the last {window_days} days"),
            Metric::PreviousMonthTurnover { minimum, demote_after_months } => format!(
                "previous calendar month's turnover, or the current month's as soon as it passes a tier; minimum {} {c}, status lost after {demote_after_months} months below it",
                money(*minimum)
            ),
            Metric::ActiveServices { category } => format!("active services in {category}"),
            Metric::ActiveClients { category: Some(k) } => format!("clients with active services in {k}"),
            Metric::ActiveClients { category: None } => "clients with active services".into(),
        };
        let _ = writeln!(out, "metric: {how}");
    }
    for (i, t) in p.tiers.iter().enumerate() {
        let show = |d: Decimal| {
            if p.metric.as_ref().is_some_and(Metric::is_money) {
                money(d)
            } else {
                d.to_string()
            }
        };
        let upto = match p.tiers.get(i + 1) {
            Some(n) => format!("below {}", show(n.from)),
            None => "and above".into(),
        };
        let pct = |m: &BTreeMap<String, Decimal>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}%"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(out, "tier {:?}: from {} {upto}", t.name, show(t.from));
        if !t.discount.is_empty() {
            let _ = write!(out, "; discount {}", pct(&t.discount));
        }
        if !t.commission.is_empty() {
            let _ = write!(out, "; commission {}", pct(&t.commission));
        }
        out.push('\n');
    }
    if let Some(q) = &p.qualify {
        let _ = writeln!(
            out,
            "qualifies: payments of at least {} {c} dated {} to {}",
            money(q.minimum),
            q.from,
            q.to
        );
    }
    if let Some(days) = p.postpay_due_days {
        let _ = writeln!(
            out,
            "postpay: each month's statement is due {days} days after the month ends"
        );
    }
    for (zone, table) in &p.prices {
        let each = table
            .own()
            .map(|(op, v)| format!("{} {v} a year", op.name()))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(out, "price .{zone}: {each}");
    }
    Ok(out)
}

/// A partner's standing in its programmes at one moment: what its orders are priced by.
pub struct Terms<'a> {
    eng: &'a Engine,
    partner: &'a Partner,
    discount: Option<(&'a Programme, Measure)>,
    /// The special-price programme, when the partner qualifies for it.
    special: Option<&'a Programme>,
    facts: Facts,
}

/// One programme as `programme.status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standing {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// The metric's value; an amount in the partner's currency or a count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Decimal>,
    pub money: bool,
    /// First day the metric counts (rolling windows and months).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<chrono::NaiveDate>,
    /// Previous month's turnover: the current month's so far, which reaches a tier as
    /// soon as it passes the tier's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month_to_date: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_tier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_from: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<Decimal>,
    #[serde(default)]
    pub months_below: u32,
    #[serde(default)]
    pub lost: bool,
    /// For special prices: whether the partner qualifies for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualified: Option<bool>,
    #[serde(default)]
    pub discount: BTreeMap<String, Decimal>,
    #[serde(default)]
    pub commission: BTreeMap<String, Decimal>,
}

impl Engine {
    /// The zone of `name`, with `period` checked, and what `partner` pays for it now.
    pub fn quote(
        &self,
        partner: &Partner,
        name: &Name,
        op: Operation,
        period: u32,
    ) -> Result<(&Zone, Priced)> {
        let zone = self.catalogue.zone_of(name)?;
        if op == Operation::Register {
            zone.check_registrable(name)?;
        }
        // An operation that fixes its years (a transfer: one) is not held to the
        // periods the zone offers for registrations and renewals.
        match op.years() {
            Some(y) if y == period => {}
            Some(y) => {
                return Err(Error::range(
                    "period",
                    format!("a {} is for {y} year(s)", op.name()),
                ))
            }
            None => zone.check_period(period)?,
        }
        self.check_statements(partner)?;
        let priced = self.terms(partner)?.price(zone, op, period)?;
        Ok((zone, priced))
    }

    /// What one `period` of licence `product` costs `partner` now (ordering and renewing
    /// cost the same). Refused while a postpay statement is overdue, like domain orders.
    pub fn quote_license(
        &self,
        partner: &Partner,
        product: &str,
        period: LicensePeriod,
    ) -> Result<Priced> {
        let product = self.licenses.product(product)?;
        product.price(period, partner.currency)?;
        self.check_statements(partner)?;
        self.terms(partner)?.price_license(product, period)
    }

    /// The partner's postpay statements, oldest first; `None` when it is not on postpay
    /// terms.
    pub fn statements(&self, partner: &Partner) -> Result<Option<Vec<Statement>>> {
        let Some(due_days) = self.programmes.postpay_for(&partner.login) else {
            return Ok(None);
        };
        let lines = self
            .store
            .ledger(&partner.login, None, false)
            .map(|r| {
                r.map(|e| Line {
                    time: e.time,
                    // Commission moved into the balance pays debts like a top-up.
                    payment: matches!(e.kind, EntryKind::Topup | EntryKind::Commission),
                    activity: matches!(e.kind, EntryKind::Charge | EntryKind::Refund),
                    amount: e.amount,
                    balance_after: e.balance_after,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(statement::statements(
            &lines,
            partner.created,
            self.clock.now(),
            due_days,
        )))
    }

    /// Refuses orders while a postpay statement is overdue; paying it lifts the block at
    /// once.
    fn check_statements(&self, partner: &Partner) -> Result<()> {
        let Some(all) = self.statements(partner)? else {
            return Ok(());
        };
        if let Some(s) = all.iter().find(|s| s.state == statement::State::Overdue) {
            return Err(Error::billing(format!(
                "statement {} ({} {} owed) was due on {} and is not paid: new orders and renewals are blocked until it is",
                s.month,
                crate::types::money::Money {
                    amount: s.owed,
                    currency: partner.currency
                }
                .amount_str(),
                partner.currency,
                s.due
            )));
        }
        Ok(())
    }

    /// Measures `partner` for its programmes at the engine's now.
    pub fn terms<'a>(&'a self, partner: &'a Partner) -> Result<Terms<'a>> {
        let now = self.clock.now();
        let usable = |p: &'a Programme| {
            if p.currency == partner.currency {
                Some(p)
            } else {
                tracing::warn!(partner = %partner.login, programme = %p.name,
                    "the programme's currency is not the partner's: not applied");
                None
            }
        };
        let discount = self
            .programmes
            .discount_for(&partner.login)
            .and_then(usable);
        let special = self.programmes.prices_for(&partner.login).and_then(usable);
        let facts = self.facts(
            partner,
            discount.and_then(|p| p.metric.as_ref()),
            special,
            now,
        )?;
        let discount = discount.and_then(|p| {
            p.metric
                .as_ref()
                .map(|m| (p, programme::measure(m, &facts, now)))
        });
        let special = special.filter(|p| p.qualifies(&facts));
        Ok(Terms {
            eng: self,
            partner,
            discount,
            special,
            facts,
        })
    }

    /// What the programmes measure, read from the store: only as much of the ledger as
    /// the metric (and a promotion window) reaches back, newest first.
    fn facts(
        &self,
        partner: &Partner,
        metric: Option<&Metric>,
        special: Option<&Programme>,
        now: DateTime<Utc>,
    ) -> Result<Facts> {
        let mut facts = Facts {
            created: Some(partner.created),
            ..Facts::default()
        };
        let ledger_from = [
            metric
                .filter(|m| m.is_money())
                .map(|m| programme::history_start(m, now)),
            special
                .and_then(|p| p.qualify.as_ref())
                .map(|q| q.from.and_hms_opt(0, 0, 0).expect("midnight").and_utc()),
        ]
        .into_iter()
        .flatten()
        .min();
        // Per-day totals, newest first, as far back as the metric reaches: payments less
        // withdrawals, and charges less refunds (the rules measure whole days).
        if let Some(from) = ledger_from {
            let first = from.date_naive();
            for row in self.store.day_totals_of(&partner.login, true) {
                let (day, t) = row?;
                if day < first {
                    break;
                }
                let at = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
                if !t.payments.is_zero() {
                    facts.payments.push((at, t.payments));
                }
                if !t.turnover.is_zero() {
                    facts.turnover.push((at, t.turnover));
                }
            }
        }
        // Count metrics read the counts kept with every change of a service's state.
        if let Some(Metric::ActiveServices { .. } | Metric::ActiveClients { .. }) = metric {
            let counts: ServiceCounts = self
                .store
                .service_counts(&partner.login)?
                .unwrap_or_default();
            facts.services = counts.services;
            facts.clients = counts.clients;
        }
        if let Some(Metric::ActiveClients { category: Some(k) }) = metric {
            let mut n = 0u64;
            for row in self.store.all_client_services(&partner.login) {
                let (_, mine) = row?;
                n += u64::from(mine.contains_key(k));
            }
            facts.clients_in.insert(k.clone(), n);
        }
        Ok(facts)
    }
}

impl Terms<'_> {
    fn tier(&self) -> Option<(&Programme, &Tier)> {
        self.discount
            .as_ref()
            .and_then(|(p, m)| p.tier_for(m).map(|t| (*p, t)))
    }

    /// What `period` years of `op` in `zone` cost this partner now, and why.
    pub fn price(&self, zone: &Zone, op: Operation, period: u32) -> Result<Priced> {
        let cat = &self.eng.catalogue;
        let currency = self.partner.currency;
        let own = cat.partner_price(&self.partner.login, currency, zone, op, period)?;
        // A zone the catalogue does not price in the partner's currency can still be
        // sold at the partner's own price, which is then its list price too.
        let list = match (cat.list_price(currency, zone, op, period), own) {
            (Ok(l), _) => l,
            (Err(_), Some(o)) => o,
            (Err(e), None) => return Err(e),
        };
        // A per-partner price is the partner's own; a price group's applies to the zones
        // it lists.
        let special = match own {
            Some(p) => Some((p, "partner-price".to_string())),
            None => match self
                .special
                .and_then(|p| p.prices.get(&zone.name).map(|x| (p, x)))
            {
                Some((p, table)) => Some((table.get(op).checked_mul(period)?, p.name.clone())),
                None => None,
            },
        };
        programme::price(list, special, self.tier(), &zone.category)
            .ok_or_else(|| Error::internal("price overflow"))
    }

    /// Whether the price of `op` in `zone` this partner sees is given for `op` itself
    /// (by the catalogue in its currency, its own prices or its special prices), not
    /// only through the operation it falls back to ([`Operation::fallback`]).
    pub fn prices_itself(&self, zone: &Zone, op: Operation) -> bool {
        let cat = &self.eng.catalogue;
        cat.prices_itself(&self.partner.login, self.partner.currency, zone, op)
            || self
                .special
                .and_then(|p| p.prices.get(&zone.name))
                .is_some_and(|t| t.prices_itself(op))
    }

    /// What one `period` of a licence `product` costs this partner now, and why. Special
    /// prices are per zone, so only a programme's discount applies to licences.
    pub fn price_license(&self, product: &Product, period: LicensePeriod) -> Result<Priced> {
        let list = product.price(period, self.partner.currency)?;
        programme::price(list, None, self.tier(), &product.category)
            .ok_or_else(|| Error::internal("price overflow"))
    }

    /// Where the partner stands in each of its programmes.
    pub fn standings(&self) -> Vec<Standing> {
        let mut out = Vec::new();
        if let Some((p, m)) = &self.discount {
            let metric = p
                .metric
                .as_ref()
                .expect("measured programmes have a metric");
            let now = self.eng.clock.now();
            let tier = p.tier_for(m);
            let next = p.next_tier(m);
            out.push(Standing {
                name: p.name.clone(),
                metric: Some(metric.kind().to_string()),
                value: Some(m.value),
                money: metric.is_money(),
                since: match metric {
                    Metric::Payments { window_days } => {
                        Some(programme::window_start(now, *window_days).date_naive())
                    }
                    Metric::PreviousMonthTurnover { .. } => {
                        Some(programme::previous_month_start(now).date_naive())
                    }
                    _ => None,
                },
                month_to_date: m.month_to_date,
                tier: tier.map(|t| t.name.clone()),
                next_tier: next.map(|(t, _)| t.name.clone()),
                next_from: next.map(|(t, _)| t.from),
                missing: next.map(|(_, d)| d),
                months_below: m.months_below,
                lost: m.lost,
                qualified: None,
                discount: tier.map(|t| t.discount.clone()).unwrap_or_default(),
                commission: tier.map(|t| t.commission.clone()).unwrap_or_default(),
            });
        }
        if let Some(p) = self.eng.programmes.prices_for(&self.partner.login) {
            // With a promotion window: what was paid in it against the minimum.
            let paid = p.promotion_paid(&self.facts);
            let minimum = p.qualify.as_ref().map(|q| q.minimum);
            let missing = paid.zip(minimum).filter(|(v, m)| v < m).map(|(v, m)| m - v);
            out.push(Standing {
                name: p.name.clone(),
                metric: paid.map(|_| "promotion_payments".to_string()),
                value: paid,
                money: paid.is_some(),
                since: p.qualify.as_ref().map(|q| q.from),
                month_to_date: None,
                tier: None,
                next_tier: None,
                next_from: missing.and(minimum),
                missing,
                months_below: 0,
                lost: false,
                qualified: Some(self.special.is_some()),
                discount: BTreeMap::new(),
                commission: BTreeMap::new(),
            });
        }
        out
    }
}
