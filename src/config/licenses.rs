//! Licence products as the configuration defines them: built in (ISPmanager 6 Lite,
//! Pro, Host and Business in RUB and EUR), then `[licenses.ID]`, which adds a product or
//! replaces a built-in one. The engine sells from them (`engine::licenses`).

use crate::error::{Error, Result};
use crate::types::money::{Currency, Money};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseConfig {
    pub name: String,
    #[serde(default = "default_category")]
    pub category: String,
    /// Currency code → price per month and per year.
    pub prices: BTreeMap<String, LicensePriceConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
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

/// One product, checked: its prices parsed in their currencies.
#[derive(Debug, Clone)]
pub struct LicenseProduct {
    pub id: String,
    pub name: String,
    pub category: String,
    /// Currency → (per month, per year).
    pub prices: HashMap<Currency, (Money, Money)>,
}

/// The products: the built-in ones (when `builtin` is true) with the configured ones
/// over them, each checked (id, currencies, prices).
pub fn products(
    builtin: bool,
    configured: &BTreeMap<String, LicenseConfig>,
) -> Result<BTreeMap<String, LicenseProduct>> {
    let mut products = BTreeMap::new();
    let price = |id: &str, what: &str, cur: Currency, s: &str| {
        Money::parse("price", s, cur, false)
            .map_err(|e| Error::syntax(format!("licenses.{id}.prices.{cur}.{what}: {}", e.message)))
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
                LicenseProduct {
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
            LicenseProduct {
                id: id.clone(),
                name: c.name.clone(),
                category: c.category.clone(),
                prices,
            },
        );
    }
    Ok(products)
}
