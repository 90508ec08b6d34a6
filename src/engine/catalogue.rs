//! The zone catalogue and the prices of domain orders.
//!
//! Each zone has the periods it allows (years) and, per currency, a price per year for
//! each operation ([`Operation`]: registration, renewal, …). A partner may have its own prices for a zone
//! (`partner_prices` in the configuration); they replace the catalogue's. The zones'
//! definitions, built in and configured, are configuration (`config::catalogue`).

use crate::config::catalogue::{self, Confusables, ZoneConfig};
use crate::config::PartnerPrice;
use crate::error::{Error, Result};
use crate::types::money::{Currency, Money};
use crate::types::names::Name;
pub use crate::types::operation::Operation;
use crate::types::operation::PerOperation;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone)]
pub struct Zone {
    pub name: String,
    pub min_period: u32,
    pub max_period: u32,
    pub horizon_years: u32,
    pub category: String,
    pub whole_script_confusables: Confusables,
    prices: HashMap<Currency, PerOperation<Money>>,
}

#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    zones: BTreeMap<String, Zone>,
    partner_prices: HashMap<(String, String), PerOperation<String>>,
}

impl Catalogue {
    pub fn new(
        builtin_zones: bool,
        configured: &BTreeMap<String, ZoneConfig>,
        partner_prices: &[PartnerPrice],
    ) -> Result<Catalogue> {
        let mut zones = BTreeMap::new();
        if builtin_zones {
            for (name, cfg) in catalogue::builtin_zones() {
                zones.insert(name.to_string(), Zone::from_config(name, &cfg)?);
            }
        }
        for (name, cfg) in configured {
            let ascii = crate::types::names::parse_name("zone", &format!("x.{name}"))
                .map(|n| n.ascii()[2..].to_string())
                .map_err(|e| Error::syntax(format!("zone {name:?}: {}", e.message)))?;
            zones.insert(ascii.clone(), Zone::from_config(&ascii, cfg)?);
        }
        let mut pp = HashMap::new();
        for p in partner_prices {
            if !zones.contains_key(&p.zone) {
                return Err(Error::syntax(format!(
                    "partner_prices: zone {:?} is not in the catalogue",
                    p.zone
                )));
            }
            // The partner's currency is not known here; its minor digits are checked
            // when it orders. The shape of the amount is checked now, so a typo stops
            // the start instead of failing that partner's orders.
            for (op, v) in p.prices.own() {
                let widest = Currency::parse("RUB").expect("known");
                Money::parse(op.name(), v, widest, false).map_err(|e| {
                    Error::syntax(format!(
                        "partner_prices for {} in {}: {}",
                        p.login, p.zone, e.message
                    ))
                })?;
            }
            pp.insert((p.login.clone(), p.zone.clone()), p.prices.clone());
        }
        Ok(Catalogue {
            zones,
            partner_prices: pp,
        })
    }

    pub fn zones(&self) -> impl Iterator<Item = &Zone> {
        self.zones.values()
    }

    /// The zone a name is registered in: the longest catalogue zone it ends with, with
    /// exactly one label in front of it.
    pub fn zone_of(&self, name: &Name) -> Result<&Zone> {
        let ascii = name.ascii();
        let mut rest = ascii;
        while let Some((_, tail)) = rest.split_once('.') {
            if let Some(z) = self.zones.get(tail) {
                let label_count = ascii.split('.').count() - tail.split('.').count();
                if label_count != 1 {
                    return Err(Error::policy(
                        "domain",
                        format!("{ascii} is not a name directly under .{tail}"),
                    ));
                }
                return Ok(z);
            }
            rest = tail;
        }
        Err(Error::policy(
            "domain",
            format!("{ascii}: zone not offered"),
        ))
    }

    /// The catalogue's price of `period` years of `op` in `zone`, in `currency`.
    pub fn list_price(
        &self,
        currency: Currency,
        zone: &Zone,
        op: Operation,
        period: u32,
    ) -> Result<Money> {
        let prices = zone.prices.get(&currency).ok_or_else(|| {
            Error::policy(
                "domain",
                format!(".{} is not offered in {currency}", zone.name),
            )
        })?;
        prices.get(op).checked_mul(period)
    }

    /// `login`'s own price (`partner_prices`) of `period` years of `op` in `zone`.
    pub fn partner_price(
        &self,
        login: &str,
        currency: Currency,
        zone: &Zone,
        op: Operation,
        period: u32,
    ) -> Result<Option<Money>> {
        let Some(prices) = self
            .partner_prices
            .get(&(login.to_string(), zone.name.clone()))
        else {
            return Ok(None);
        };
        let per_year = Money::parse("partner_prices", prices.get(op), currency, false)
            .map_err(|e| Error::internal(format!("partner price for {login}: {e}")))?;
        per_year.checked_mul(period).map(Some)
    }

    /// Whether `login`'s own prices for `zone`, or the catalogue's in `currency`, give
    /// `op` a price of its own (not only through its fallback).
    pub fn prices_itself(
        &self,
        login: &str,
        currency: Currency,
        zone: &Zone,
        op: Operation,
    ) -> bool {
        zone.prices
            .get(&currency)
            .is_some_and(|t| t.prices_itself(op))
            || self
                .partner_prices
                .get(&(login.to_string(), zone.name.clone()))
                .is_some_and(|t| t.prices_itself(op))
    }

    /// The price of `period` years of `op` in `zone` for `login`, in `currency`, before
    /// any programme: its own price if it has one, the catalogue's otherwise.
    pub fn price(
        &self,
        login: &str,
        currency: Currency,
        zone: &Zone,
        op: Operation,
        period: u32,
    ) -> Result<Money> {
        match self.partner_price(login, currency, zone, op, period)? {
            Some(p) => Ok(p),
            None => self.list_price(currency, zone, op, period),
        }
    }
}

impl Zone {
    fn from_config(name: &str, cfg: &ZoneConfig) -> Result<Zone> {
        let [min, max] = cfg.periods;
        if min == 0 || min > max || max > 10 {
            return Err(Error::syntax(format!(
                "zone {name}: periods must be 1 ≤ min ≤ max ≤ 10 years"
            )));
        }
        let mut prices = HashMap::new();
        for (c, p) in &cfg.prices {
            let cur = Currency::parse(c)
                .map_err(|e| Error::syntax(format!("zone {name}: {}", e.message)))?;
            let table = p.try_map(|op, v| {
                Money::parse(op.name(), v, cur, false)
                    .map_err(|e| Error::syntax(format!("zone {name}: {}", e.message)))
            })?;
            prices.insert(cur, table);
        }
        Ok(Zone {
            name: name.to_string(),
            min_period: min,
            max_period: max,
            horizon_years: cfg.horizon_years.max(max),
            category: cfg.category.clone(),
            whole_script_confusables: cfg.whole_script_confusables.unwrap_or(
                if name.split('.').any(|l| l.starts_with("xn--")) {
                    Confusables::Allow
                } else {
                    Confusables::Refuse
                },
            ),
            prices,
        })
    }

    /// Whether `name` may be registered in this zone under its script policy: a
    /// whole-script confusable of a Latin name is refused (2306) where the zone says so.
    pub fn check_registrable(&self, name: &Name) -> Result<()> {
        if self.whole_script_confusables == Confusables::Allow {
            return Ok(());
        }
        match name.latin_lookalike() {
            None => Ok(()),
            Some(l) => Err(Error::policy(
                "domain",
                format!(
                    "{:?} is all {} but reads as the Latin {:?} (a whole-script confusable): \
                     .{} does not register such names",
                    l.label, l.script, l.looks_like, self.name
                ),
            )),
        }
    }

    pub fn check_period(&self, period: u32) -> Result<()> {
        if period < self.min_period || period > self.max_period {
            return Err(Error::range(
                "period",
                format!(
                    "{period} years is outside {}..{} for .{}",
                    self.min_period, self.max_period, self.name
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::names::parse_name;

    #[test]
    fn zones_prices_and_overrides() {
        let pp = vec![PartnerPrice {
            login: "vip".into(),
            zone: "ru".into(),
            prices: PerOperation::new([
                (Operation::Register, "400.00".into()),
                (Operation::Renew, "350.00".into()),
            ])
            .unwrap(),
        }];
        let c = Catalogue::new(true, &BTreeMap::new(), &pp).unwrap();
        let ru = c.zone_of(&parse_name("d", "example.ru").unwrap()).unwrap();
        let p = |login| {
            c.price(login, Currency::RUB, ru, Operation::Register, 1)
                .unwrap()
        };
        assert_eq!(p("someone").amount_str(), "590.00");
        assert_eq!(p("vip").amount_str(), "400.00");
        let com = c.zone_of(&parse_name("d", "example.com").unwrap()).unwrap();
        assert_eq!(
            c.price("x", Currency::RUB, com, Operation::Renew, 3)
                .unwrap()
                .amount_str(),
            "4470.00"
        );
        assert!(c.zone_of(&parse_name("d", "example.io").unwrap()).is_err());
        assert!(c
            .zone_of(&parse_name("d", "www.example.ru").unwrap())
            .is_err());
        assert!(c
            .price(
                "x",
                Currency::parse("JPY").unwrap(),
                ru,
                Operation::Register,
                1
            )
            .is_err());
    }

    #[test]
    fn malformed_partner_prices_stop_the_start() {
        let pp = vec![PartnerPrice {
            login: "vip".into(),
            zone: "ru".into(),
            prices: PerOperation::new([
                (Operation::Register, "4,00".into()),
                (Operation::Renew, "350.00".into()),
            ])
            .unwrap(),
        }];
        let e = Catalogue::new(true, &BTreeMap::new(), &pp).unwrap_err();
        assert!(e.message.contains("partner_prices for vip in ru"), "{e}");
    }
}
