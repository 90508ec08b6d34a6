//! The licence catalogue: each product has a name, a category (programmes discount by
//! it) and, per currency, a price per month and per year. Built in: ISPmanager 6 Lite,
//! Pro, Host and Business in RUB and EUR; `[licenses.ID]` in the configuration adds a
//! product or replaces a built-in one.

use super::money::{Currency, Money};
use crate::error::{Error, Result};
use crate::store::records::LicensePeriod;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseConfig {
    pub name: String,
    #[serde(default = "default_category")]
    pub category: String,
    /// Currency code → price per month and per year.
    pub prices: BTreeMap<String, LicensePriceConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicensePriceConfig {
    pub month: String,
    pub year: String,
}

fn default_category() -> String {
    "licences".into()
}

/// (product id, name, [(currency, per month, per year)]).
type Builtin = (
    &'static str,
    &'static str,
    [(&'static str, &'static str, &'static str); 2],
);

const BUILTIN: [Builtin; 4] = [
    (
        "ispmanager6-lite",
        "ISPmanager 6 Lite",
        [("RUB", "290.00", "2900.00"), ("EUR", "4.00", "40.00")],
    ),
    (
        "ispmanager6-pro",
        "ISPmanager 6 Pro",
        [("RUB", "590.00", "5900.00"), ("EUR", "8.00", "80.00")],
    ),
    (
        "ispmanager6-host",
        "ISPmanager 6 Host",
        [("RUB", "1390.00", "13900.00"), ("EUR", "19.00", "190.00")],
    ),
    (
        "ispmanager6-business",
        "ISPmanager 6 Business",
        [("RUB", "4990.00", "49900.00"), ("EUR", "69.00", "690.00")],
    ),
];

#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub category: String,
    prices: HashMap<Currency, (Money, Money)>,
}

impl Product {
    /// The price of one period in `currency`: 2306 when the product is not sold in it.
    pub fn price(&self, period: LicensePeriod, currency: Currency) -> Result<Money> {
        let (month, year) = self.prices.get(&currency).ok_or_else(|| {
            Error::policy(
                "product",
                format!("{} is not offered in {currency}", self.id),
            )
        })?;
        Ok(match period {
            LicensePeriod::Month => *month,
            LicensePeriod::Year => *year,
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Licenses {
    products: BTreeMap<String, Product>,
}

impl Licenses {
    /// The built-in products (when `builtin` is true) with the configured ones over them.
    pub fn new(builtin: bool, configured: &BTreeMap<String, LicenseConfig>) -> Result<Licenses> {
        let mut products = BTreeMap::new();
        let price = |id: &str, what: &str, cur: Currency, s: &str| {
            Money::parse("price", s, cur, false).map_err(|e| {
                Error::syntax(format!("licenses.{id}.prices.{cur}.{what}: {}", e.message))
            })
        };
        if builtin {
            for (id, name, rows) in BUILTIN {
                let mut prices = HashMap::new();
                for (cur, month, year) in rows {
                    let cur = Currency::parse(cur).expect("built-in currency");
                    prices.insert(
                        cur,
                        (
                            price(id, "month", cur, month)?,
                            price(id, "year", cur, year)?,
                        ),
                    );
                }
                products.insert(
                    id.to_string(),
                    Product {
                        id: id.into(),
                        name: name.into(),
                        category: default_category(),
                        prices,
                    },
                );
            }
        }
        for (id, c) in configured {
            if id.is_empty()
                || id.len() > 64
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(Error::syntax(format!(
                    "licenses.{id}: a product id is 1 to 64 of a-z, 0-9 and -"
                )));
            }
            if c.prices.is_empty() {
                return Err(Error::syntax(format!("licenses.{id}: no prices")));
            }
            let mut prices = HashMap::new();
            for (cur, p) in &c.prices {
                let cur = Currency::parse(cur).map_err(|_| {
                    Error::syntax(format!("licenses.{id}.prices: unknown currency {cur:?}"))
                })?;
                prices.insert(
                    cur,
                    (
                        price(id, "month", cur, &p.month)?,
                        price(id, "year", cur, &p.year)?,
                    ),
                );
            }
            products.insert(
                id.clone(),
                Product {
                    id: id.clone(),
                    name: c.name.clone(),
                    category: c.category.clone(),
                    prices,
                },
            );
        }
        Ok(Licenses { products })
    }

    pub fn products(&self) -> impl Iterator<Item = &Product> {
        self.products.values()
    }

    /// The product `id`: 2306 when the catalogue has no such product.
    pub fn product(&self, id: &str) -> Result<&Product> {
        self.products.get(id).ok_or_else(|| {
            let known: Vec<&str> = self.products.keys().map(String::as_str).collect();
            Error::policy(
                "product",
                format!("{id:?} is not offered: {}", known.join(", ")),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_and_configured_products() {
        let mut cfg = BTreeMap::new();
        cfg.insert(
            "panel-pro".to_string(),
            LicenseConfig {
                name: "Panel Pro".into(),
                category: "hosting".into(),
                prices: [(
                    "USD".to_string(),
                    LicensePriceConfig {
                        month: "5.00".into(),
                        year: "50.00".into(),
                    },
                )]
                .into(),
            },
        );
        let l = Licenses::new(true, &cfg).unwrap();
        let lite = l.product("ispmanager6-lite").unwrap();
        assert_eq!(lite.category, "licences");
        assert_eq!(
            lite.price(LicensePeriod::Year, Currency::parse("EUR").unwrap())
                .unwrap()
                .amount_str(),
            "40.00"
        );
        let p = l.product("panel-pro").unwrap();
        assert_eq!(
            p.price(LicensePeriod::Month, Currency::parse("USD").unwrap())
                .unwrap()
                .amount_str(),
            "5.00"
        );
        assert_eq!(
            p.price(LicensePeriod::Month, Currency::RUB)
                .unwrap_err()
                .code,
            crate::error::Code::Policy
        );
        assert_eq!(
            l.product("nope").unwrap_err().code,
            crate::error::Code::Policy
        );
        let only = Licenses::new(false, &cfg).unwrap();
        assert_eq!(only.products().count(), 1);
        let mut bad = cfg.clone();
        bad.get_mut("panel-pro").unwrap().prices.insert(
            "USD".into(),
            LicensePriceConfig {
                month: "5.001".into(),
                year: "50".into(),
            },
        );
        let e = Licenses::new(true, &bad).unwrap_err();
        assert!(
            e.message.contains("licenses.panel-pro.prices.USD.month"),
            "{e}"
        );
    }
}
