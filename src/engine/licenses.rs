//! The built-in licence catalogue: ISPmanager 6 Lite, Pro, Host and Business, each
//! monthly or yearly, priced in RUB.

use super::money::{Currency, Money};
use crate::error::{Error, Result};
use crate::store::records::LicensePeriod;

/// (product id, name, price per month, price per year), RUB.
pub const PRODUCTS: [(&str, &str, &str, &str); 4] = [
    ("ispmanager6-lite", "ISPmanager 6 Lite", "290.00", "2900.00"),
    ("ispmanager6-pro", "ISPmanager 6 Pro", "590.00", "5900.00"),
    (
        "ispmanager6-host",
        "ISPmanager 6 Host",
        "1390.00",
        "13900.00",
    ),
    (
        "ispmanager6-business",
        "ISPmanager 6 Business",
        "4990.00",
        "49900.00",
    ),
];

/// Checks a product id: 2306 when the catalogue has no such product.
pub fn check_product(product: &str) -> Result<()> {
    if PRODUCTS.iter().any(|p| p.0 == product) {
        return Ok(());
    }
    let known: Vec<&str> = PRODUCTS.iter().map(|p| p.0).collect();
    Err(Error::policy(
        "product",
        format!("{product:?} is not offered: {}", known.join(", ")),
    ))
}

/// The price of one period of `product`.
pub fn price(product: &str, period: LicensePeriod, currency: Currency) -> Result<Money> {
    let p = PRODUCTS
        .iter()
        .find(|p| p.0 == product)
        .ok_or_else(|| Error::policy("product", format!("{product:?} is not offered")))?;
    if currency != Currency::RUB {
        return Err(Error::policy(
            "product",
            format!("{product} is not offered in {currency}"),
        ));
    }
    let s = match period {
        LicensePeriod::Month => p.2,
        LicensePeriod::Year => p.3,
    };
    Money::parse("price", s, currency, false).map_err(|e| Error::internal(e.message))
}
