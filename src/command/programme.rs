//! `price.list` and `programme.status`: what the partner pays now, and where it stands
//! in its programmes. Both are read-only and priced at the gateway's now.

use super::params::Params;
use crate::engine::catalogue::Operation;
use crate::engine::licenses::Product;
use crate::engine::pricing::Standing;
use crate::engine::Ctx;
use crate::error::{Error, Result};
use crate::outcome::{Data, Element, Outcome, PriceRow};
use crate::store::records::{LicensePeriod, Partner};
use crate::types::money::{Currency, Money};
use rust_decimal::Decimal;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct PriceList {
    /// One zone (ASCII, without the dot), or
    pub zone: Option<String>,
    /// one licence product; neither: every zone and product.
    pub product: Option<String>,
}

impl PriceList {
    pub fn parse(p: &mut Params) -> Result<PriceList> {
        let zone = p
            .opt("zone")?
            .map(|z| {
                crate::types::names::parse_name("zone", &format!("x.{}", z.trim_start_matches('.')))
                    .map(|n| n.ascii()[2..].to_string())
            })
            .transpose()?;
        let product = p.opt("product")?;
        if zone.is_some() && product.is_some() {
            return Err(Error::value("product", "give zone or product, not both"));
        }
        Ok(PriceList { zone, product })
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let eng = ctx.eng;
        let partner = fresh(ctx)?;
        let terms = eng.terms(&partner)?;
        let mut rows = Vec::new();
        let mut found = false;
        for zone in eng.catalogue.zones() {
            if self.product.is_some() || self.zone.as_ref().is_some_and(|z| *z != zone.name) {
                continue;
            }
            found = true;
            // An operation priced through another (its fallback) is listed where its
            // own price is given.
            let listed = Operation::ALL
                .into_iter()
                .filter(|op| op.fallback().is_none() || terms.prices_itself(zone, *op));
            for op in listed {
                let periods = match op.years() {
                    Some(y) => y..=y,
                    None => zone.min_period..=zone.max_period,
                };
                for period in periods {
                    // A zone not offered in the partner's currency is left out.
                    let Ok(p) = terms.price(zone, op, period) else {
                        continue;
                    };
                    rows.push(PriceRow {
                        zone: Some(zone.name.clone()),
                        product: None,
                        category: zone.category.clone(),
                        operation: op.name().into(),
                        period: period.to_string(),
                        list: p.list.amount,
                        price: p.net.amount,
                        rule: p.rule,
                        tier: p.tier,
                        discount: p.discount,
                    });
                }
            }
        }
        if let (Some(z), false) = (&self.zone, found) {
            return Err(Error::policy("zone", format!(".{z} is not offered")));
        }
        let products: Vec<&Product> = match (&self.product, &self.zone) {
            (Some(id), _) => vec![eng.licenses.product(id)?],
            (None, Some(_)) => Vec::new(),
            (None, None) => eng.licenses.products().collect(),
        };
        for product in products {
            for period in [LicensePeriod::Month, LicensePeriod::Year] {
                // A product not offered in the partner's currency is left out.
                let Ok(p) = terms.price_license(product, period) else {
                    continue;
                };
                for op in ["order", "renew"] {
                    rows.push(PriceRow {
                        zone: None,
                        product: Some(product.id.clone()),
                        category: product.category.clone(),
                        operation: op.into(),
                        period: period.as_str().into(),
                        list: p.list.amount,
                        price: p.net.amount,
                        rule: p.rule.clone(),
                        tier: p.tier.clone(),
                        discount: p.discount,
                    });
                }
            }
        }
        Ok(Outcome::ok(Data::PriceList {
            currency: partner.currency,
            rows,
        }))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ProgrammeStatus {}

impl ProgrammeStatus {
    pub fn parse(_p: &mut Params) -> Result<ProgrammeStatus> {
        Ok(ProgrammeStatus {})
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let partner = fresh(ctx)?;
        let rows: Vec<Standing> = ctx.eng.terms(&partner)?.standings();
        // The commission account shows once a programme pays commission or some was
        // earned.
        let pays = rows.iter().any(|s| !s.commission.is_empty())
            || ctx
                .eng
                .programmes
                .discount_for(&partner.login)
                .is_some_and(|p| p.tiers.iter().any(|t| !t.commission.is_empty()));
        let commission = (pays || !partner.commission_earned.is_zero())
            .then_some((partner.commission_earned, partner.commission));
        let c = partner.currency;
        let elements = rows
            .iter()
            .map(|s| standing(s, c))
            .chain(
                commission
                    .map(|(earned, withdrawable)| commission_account(earned, withdrawable, c)),
            )
            .collect();
        Ok(Outcome::ok(Data::Elements { elements }))
    }
}

fn amount(a: Decimal, c: Currency) -> String {
    Money {
        amount: a,
        currency: c,
    }
    .amount_str()
}

/// `<programme>`: where the partner stands in one programme.
fn standing(s: &Standing, c: Currency) -> Element {
    // Money metrics are amounts in the partner's currency; counts are whole numbers.
    let value = |v: Decimal| {
        if s.money {
            amount(v, c)
        } else {
            v.normalize().to_string()
        }
    };
    Element::new("programme")
        .attr("name", &s.name)
        .attr_opt("metric", s.metric.as_ref())
        .attr_opt("value", s.value.map(value))
        .attr_opt("currency", (s.money).then_some(c))
        .attr_opt("since", s.since)
        .attr_opt("month-to-date", s.month_to_date.map(value))
        .attr_opt("tier", s.tier.as_ref())
        .attr_opt("next-tier", s.next_tier.as_ref())
        .attr_opt("next-from", s.next_from.map(value))
        .attr_opt("missing", s.missing.map(value))
        .attr_opt(
            "months-below",
            (s.months_below > 0).then_some(s.months_below),
        )
        .attr_opt("status", s.lost.then_some("lost"))
        .attr_opt("qualified", s.qualified)
        .children(s.discount.iter().map(|(k, v)| {
            Element::new("discount")
                .attr("category", k)
                .attr("percent", v)
        }))
        .children(s.commission.iter().map(|(k, v)| {
            Element::new("commission")
                .attr("category", k)
                .attr("percent", v)
        }))
}

/// `<commission-account>`: earned in all and withdrawable now (also `commission.list`).
pub fn commission_account(earned: Decimal, withdrawable: Decimal, c: Currency) -> Element {
    Element::new("commission-account")
        .attr("earned", amount(earned, c))
        .attr("withdrawable", amount(withdrawable, c))
        .attr("currency", c)
}

/// The partner as stored now: the authenticated copy may predate a payment.
fn fresh(ctx: &Ctx<'_>) -> Result<Partner> {
    ctx.eng
        .partner(&ctx.partner.login)?
        .map(|p| (*p).clone())
        .ok_or_else(|| Error::internal("partner vanished"))
}
