//! The price of one charge under a partner's programmes: special prices, a tier's
//! discount, and the commission the order earns.

use super::{Programme, Tier};
use crate::store::records::Commission;
use crate::types::money::Money;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// How one charge was priced: kept with the ledger entry, so the partner can audit it
/// and a later change of the programme does not rewrite it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Priced {
    pub list: Money,
    pub net: Money,
    /// `catalogue`, `partner-price`, or the name of the programme applied.
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Percent off `list`, when a tier applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<Decimal>,
    /// The commission the order earns when it completes, when the tier pays one for
    /// the product's category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission: Option<Commission>,
}

/// `list` less `percent`, rounded once, half-up, to the currency's minor unit.
pub fn discounted(list: Money, percent: Decimal) -> Option<Money> {
    let off = list.amount.checked_mul(percent)? / Decimal::ONE_HUNDRED;
    let net = list.amount.checked_sub(off)?.round_dp_with_strategy(
        list.currency.minor_digits(),
        RoundingStrategy::MidpointAwayFromZero,
    );
    Some(Money {
        amount: net,
        currency: list.currency,
    })
}

/// Prices one charge. `list` is the catalogue price; `special` a special price and the
/// rule it comes from (a programme's price group or a per-partner price); `tier` the
/// discount programme's tier, if any. An exclusive programme's discount, when it gives
/// one for `category`, replaces every special price; otherwise the discount applies to
/// the special price.
pub fn price(
    list: Money,
    special: Option<(Money, String)>,
    tier: Option<(&Programme, &Tier)>,
    category: &str,
) -> Option<Priced> {
    let pct = tier.and_then(|(p, t)| t.discount.get(category).map(|d| (p, t, *d)));
    let commission = tier.and_then(|(p, t)| {
        t.commission
            .get(category)
            .filter(|c| **c > Decimal::ZERO)
            .map(|c| Commission {
                percent: *c,
                category: category.to_string(),
                rule: p.name.clone(),
                tier: t.name.clone(),
            })
    });
    match (pct, special) {
        (Some((p, t, d)), special) if d > Decimal::ZERO => {
            let base = match special {
                Some((s, _)) if !p.exclusive => s,
                _ => list,
            };
            Some(Priced {
                list: base,
                net: discounted(base, d)?,
                rule: p.name.clone(),
                tier: Some(t.name.clone()),
                discount: Some(d),
                commission,
            })
        }
        (_, Some((s, rule))) => Some(Priced {
            list,
            net: s,
            rule,
            tier: None,
            discount: None,
            commission,
        }),
        (pct, None) => Some(Priced {
            list,
            net: list,
            rule: pct
                .map(|(p, _, _)| p.name.clone())
                .unwrap_or_else(|| "catalogue".into()),
            tier: pct.map(|(_, t, _)| t.name.clone()),
            discount: pct.map(|(_, _, d)| d),
            commission,
        }),
    }
}
