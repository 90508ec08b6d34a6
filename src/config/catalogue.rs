//! The products the configuration defines: zones (built in, then `[zones.NAME]`) and
//! the categories products belong to. The engine builds its catalogue from them.

use crate::types::operation::{Operation, PerOperation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The categories a product can belong to when the configuration names none.
pub const DEFAULT_CATEGORIES: [&str; 6] =
    ["domains", "licences", "ssl", "hosting", "vps", "dedicated"];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// Smallest and largest period in years, for registration and renewal.
    pub periods: [u32; 2],
    /// How far ahead an expiry date may be after a renewal, in years.
    #[serde(default = "default_horizon")]
    pub horizon_years: u32,
    /// Currency code → price per year of each operation (`register`, `renew`, and
    /// those priced as another when not given, [`Operation::fallback`]).
    pub prices: BTreeMap<String, PriceConfig>,
    /// The `[upstreams.NAME]` that carries out this zone's orders; the top-level
    /// `upstream`, else the sandbox, when not given.
    #[serde(default)]
    pub upstream: Option<String>,
    /// The product category the zone's domains belong to (programmes discount by it).
    #[serde(default = "default_zone_category")]
    pub category: String,
    /// Whether a name with a label written wholly in another script that looks like
    /// Latin (`аррӏе`, all Cyrillic) is registered: `"refuse"` or `"allow"`. When not
    /// given: refused in zones whose own name is ASCII (`com`, `ru`), allowed in
    /// internationalised ones (`xn--p1ai`, `рф`), whose names are in their own script.
    #[serde(default)]
    pub whole_script_confusables: Option<Confusables>,
}

/// A zone's policy on whole-script confusables of Latin names (UTS 39).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confusables {
    Refuse,
    Allow,
}

pub fn default_zone_category() -> String {
    "domains".into()
}

pub fn default_horizon() -> u32 {
    10
}

/// Prices per year by operation name, as written: `{ register = "590.00", renew = "590.00" }`.
pub type PriceConfig = PerOperation<String>;

/// (zone, [min, max] years, [(currency, register, renew)])
type Builtin = (
    &'static str,
    [u32; 2],
    &'static [(&'static str, &'static str, &'static str)],
);

fn builtin() -> Vec<Builtin> {
    vec![
        (
            "ru",
            [1, 1],
            &[("RUB", "590.00", "590.00"), ("USD", "8.00", "8.00")],
        ),
        (
            "su",
            [1, 1],
            &[("RUB", "790.00", "790.00"), ("USD", "11.00", "11.00")],
        ),
        (
            "xn--p1ai",
            [1, 1],
            &[("RUB", "590.00", "590.00"), ("USD", "8.00", "8.00")],
        ),
        (
            "com",
            [1, 10],
            &[("RUB", "1290.00", "1490.00"), ("USD", "14.00", "16.00")],
        ),
        (
            "net",
            [1, 10],
            &[("RUB", "1390.00", "1590.00"), ("USD", "15.00", "17.00")],
        ),
        (
            "org",
            [1, 10],
            &[("RUB", "1190.00", "1390.00"), ("USD", "13.00", "15.00")],
        ),
    ]
}

/// The built-in zones, as if configured: name and definition.
pub fn builtin_zones() -> Vec<(&'static str, ZoneConfig)> {
    builtin()
        .into_iter()
        .map(|(name, periods, prices)| {
            let cfg = ZoneConfig {
                periods,
                horizon_years: default_horizon(),
                category: default_zone_category(),
                upstream: None,
                whole_script_confusables: None,
                prices: prices
                    .iter()
                    .map(|(c, reg, ren)| {
                        (
                            c.to_string(),
                            PriceConfig::new([
                                (Operation::Register, reg.to_string()),
                                (Operation::Renew, ren.to_string()),
                            ])
                            .expect("the built-in prices name every operation"),
                        )
                    })
                    .collect(),
            };
            (name, cfg)
        })
        .collect()
}
