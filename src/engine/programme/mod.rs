//! Partner programmes: special price groups and discount tiers driven by a metric
//! (payments over a rolling window, last calendar month's turnover, counts of active
//! services or of clients with active services).
//!
//! Everything here is a pure function of the configuration, the partner's facts and
//! `now`, given as a parameter: the wall clock is never read, so a test can walk a
//! partner through any calendar.
//!
//! A programme file (TOML), one programme per file:
//!
//! ```text
//! name = "b-turnover"
//! currency = "RUB"
//! partners = ["alpha", "beta"]
//! exclusive = true                      # its discount excludes special prices
//! metric = { kind = "payments", window_days = 31 }
//!
//! [[tier]]
//! name = "Starter"
//! from = "500.00"
//! to = "2999.99"                        # optional; checked against the next tier
//! discount = { vps = 3, dedicated = 1, ssl = 1 }
//! ```
//!
//! `parse` reads programme files, `measure` what a partner has done against a metric,
//! `price` what one charge costs under them.

mod measure;
mod parse;
mod price;

pub use measure::{history_start, measure, previous_month_start, window_start, Facts, Measure};
pub use parse::{load, parse, FileError, Known};
pub use price::{discounted, price, Priced};

use crate::types::money::{Currency, Money};
use crate::types::operation::PerOperation;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What a programme's tiers are measured by.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// Sum of top-ups dated from `window_days` days before today up to now.
    Payments { window_days: u32 },
    /// Charges less refunds in the previous calendar month; status is lost after
    /// `demote_after_months` months in a row below `minimum`.
    PreviousMonthTurnover {
        minimum: Decimal,
        demote_after_months: u32,
    },
    /// The partner's active services in one category.
    ActiveServices { category: String },
    /// The partner's clients holding at least one active service (in `category`, if set).
    ActiveClients { category: Option<String> },
}

impl Metric {
    pub fn kind(&self) -> &'static str {
        match self {
            Metric::Payments { .. } => "payments",
            Metric::PreviousMonthTurnover { .. } => "previous_month_turnover",
            Metric::ActiveServices { .. } => "active_services",
            Metric::ActiveClients { .. } => "active_clients",
        }
    }

    /// Money metrics are amounts in the programme's currency; the others are counts.
    pub fn is_money(&self) -> bool {
        matches!(
            self,
            Metric::Payments { .. } | Metric::PreviousMonthTurnover { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    pub name: String,
    pub from: Decimal,
    pub to: Option<Decimal>,
    /// Category → percent off the list price.
    pub discount: BTreeMap<String, Decimal>,
    /// Category → percent of the orders for the partner's clients, earned on completion.
    pub commission: BTreeMap<String, Decimal>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Qualify {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub minimum: Decimal,
}

/// Where a programme was read from, for errors that name its file and line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Origin {
    pub file: String,
    pub name_line: usize,
    /// The line of each of `partners`, in the same order.
    pub partner_lines: Vec<usize>,
}

impl Origin {
    /// The line that lists `login`, or the name's line.
    pub fn line_of_partner(&self, partners: &[String], login: &str) -> usize {
        partners
            .iter()
            .position(|p| p == login)
            .and_then(|i| self.partner_lines.get(i).copied())
            .unwrap_or(self.name_line)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Programme {
    pub origin: Origin,
    pub name: String,
    pub currency: Currency,
    pub partners: Vec<String>,
    pub exclusive: bool,
    pub metric: Option<Metric>,
    /// Ordered by `from`, strictly increasing.
    pub tiers: Vec<Tier>,
    /// Zone → price per year of each operation.
    pub prices: BTreeMap<String, PerOperation<Money>>,
    pub qualify: Option<Qualify>,
    /// Postpay terms: days after a month ends its statement must be paid in.
    pub postpay_due_days: Option<u32>,
}

/// Every configured programme, and which partner is in which.
#[derive(Debug, Clone, Default)]
pub struct Programmes {
    list: Vec<Programme>,
    /// Partner → its programme with tiers.
    discount: HashMap<String, usize>,
    /// Partner → its programme with special prices.
    prices: HashMap<String, usize>,
}

impl Programmes {
    /// Puts programmes together; a partner may be in one programme with tiers and one
    /// with prices, and programme names are unique.
    pub fn new(list: Vec<Programme>) -> Result<Programmes, String> {
        let mut discount = HashMap::new();
        let mut prices = HashMap::new();
        let mut names = BTreeSet::new();
        for (i, p) in list.iter().enumerate() {
            if !names.insert(p.name.clone()) {
                return Err(format!(
                    "{}:{}: two programmes are named {:?}",
                    p.origin.file, p.origin.name_line, p.name
                ));
            }
            for login in &p.partners {
                for (has, map, what) in [
                    (!p.tiers.is_empty(), &mut discount, "tiers"),
                    (!p.prices.is_empty(), &mut prices, "prices"),
                ] {
                    if has {
                        if let Some(j) = map.insert(login.clone(), i) {
                            return Err(format!(
                                "{}:{}: partner {login:?} is in two programmes with {what}: {:?} ({}) and {:?}",
                                p.origin.file,
                                p.origin.line_of_partner(&p.partners, login),
                                list[j].name,
                                list[j].origin.file,
                                p.name
                            ));
                        }
                    }
                }
            }
        }
        Ok(Programmes {
            list,
            discount,
            prices,
        })
    }

    pub fn all(&self) -> &[Programme] {
        &self.list
    }

    pub fn discount_for(&self, login: &str) -> Option<&Programme> {
        self.discount.get(login).map(|i| &self.list[*i])
    }

    pub fn prices_for(&self, login: &str) -> Option<&Programme> {
        self.prices.get(login).map(|i| &self.list[*i])
    }

    /// The partner's postpay terms (days to pay a month's statement), from either of
    /// its programmes.
    pub fn postpay_for(&self, login: &str) -> Option<u32> {
        [self.discount_for(login), self.prices_for(login)]
            .into_iter()
            .flatten()
            .find_map(|p| p.postpay_due_days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, Utc};
    use std::path::Path;

    fn categories() -> Vec<String> {
        crate::config::catalogue::DEFAULT_CATEGORIES
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn zones() -> Vec<String> {
        ["ru", "su", "xn--p1ai", "com"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn example(file: &str) -> Programme {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/programmes")
            .join(file);
        let (c, z) = (categories(), zones());
        load(
            &path,
            &Known {
                categories: &c,
                zones: &z,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn check(text: &str) -> Result<Programme, FileError> {
        let (c, z) = (categories(), zones());
        parse(
            "p.toml",
            text,
            &Known {
                categories: &c,
                zones: &z,
            },
        )
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn percents(p: &Programme, facts: &Facts, now: &str) -> (String, Decimal, Decimal) {
        let m = measure(p.metric.as_ref().unwrap(), facts, at(now));
        let t = p.tier_for(&m).expect("a tier");
        (t.name.clone(), t.discount["vps"], t.discount["ssl"])
    }

    #[test]
    fn programme_b_worked_example() {
        let b = example("b-turnover.toml");
        // 52,000 paid within 20 Dec – 20 Jan: 19% on VPS, 3% on SSL.
        let mut facts = Facts {
            payments: vec![(at("2025-12-28T09:00:00Z"), d("52000.00"))],
            ..Facts::default()
        };
        assert_eq!(
            percents(&b, &facts, "2026-01-20T12:00:00Z"),
            ("Partner #8".into(), d("19"), d("3"))
        );
        // Next day, an advance payment of 50,000: 102,000 → 21% / 5%.
        facts
            .payments
            .push((at("2026-01-21T08:00:00Z"), d("50000.00")));
        assert_eq!(
            percents(&b, &facts, "2026-01-21T12:00:00Z"),
            ("Partner #9".into(), d("21"), d("5"))
        );
        // Or no payment, and 3,000 of it paid on 20 Dec leaves the window: 49,000 → 17% / 3%.
        let facts = Facts {
            payments: vec![
                (at("2025-12-20T10:00:00Z"), d("3000.00")),
                (at("2026-01-05T10:00:00Z"), d("49000.00")),
            ],
            ..Facts::default()
        };
        assert_eq!(
            percents(&b, &facts, "2026-01-20T23:59:59Z"),
            ("Partner #8".into(), d("19"), d("3"))
        );
        assert_eq!(
            percents(&b, &facts, "2026-01-21T00:00:00Z"),
            ("Partner #7".into(), d("17"), d("3"))
        );
        // A payment dated after `now` is not counted yet.
        let m = measure(
            b.metric.as_ref().unwrap(),
            &facts,
            at("2025-12-20T09:59:59Z"),
        );
        assert_eq!(m.value, Decimal::ZERO);
        assert!(b.tier_for(&m).is_none());
    }

    #[test]
    fn programme_b_every_boundary() {
        let b = example("b-turnover.toml");
        let table: [(&str, &str, u32, u32, u32); 17] = [
            ("Starter", "500", 3, 1, 1),
            ("Partner #1", "3000", 5, 1, 1),
            ("Partner #2", "5000", 7, 1, 1),
            ("Partner #3", "10000", 9, 2, 1),
            ("Partner #4", "15000", 11, 3, 3),
            ("Partner #5", "20000", 13, 4, 3),
            ("Partner #6", "30000", 15, 5, 3),
            ("Partner #7", "40000", 17, 6, 3),
            ("Partner #8", "50000", 19, 7, 3),
            ("Partner #9", "100000", 21, 8, 5),
            ("Partner #10", "150000", 23, 9, 5),
            ("Partner #11", "200000", 25, 10, 5),
            ("Partner #12", "300000", 27, 11, 5),
            ("Partner #13", "400000", 29, 12, 5),
            ("Partner #14", "500000", 31, 13, 10),
            ("Partner #15", "700000", 33, 14, 10),
            ("Partner #16", "1000000", 35, 15, 10),
        ];
        assert_eq!(b.tiers.len(), 17);
        let now = "2026-01-20T12:00:00Z";
        let tier_at = |amount: Decimal| {
            let facts = Facts {
                payments: vec![(at("2026-01-10T00:00:00Z"), amount)],
                ..Facts::default()
            };
            let m = measure(b.metric.as_ref().unwrap(), &facts, at(now));
            b.tier_for(&m).cloned()
        };
        assert!(tier_at(d("499.99")).is_none());
        for (i, (name, from, vps, dedic, ssl)) in table.iter().enumerate() {
            let from = d(from);
            let t = tier_at(from).unwrap();
            assert_eq!(&t.name, name, "at {from}");
            assert_eq!(t.discount["vps"], Decimal::from(*vps), "{name}");
            assert_eq!(t.discount["dedicated"], Decimal::from(*dedic), "{name}");
            assert_eq!(t.discount["ssl"], Decimal::from(*ssl), "{name}");
            let below = from - d("0.01");
            let under = tier_at(below);
            if i == 0 {
                assert!(under.is_none());
            } else {
                assert_eq!(under.unwrap().name, table[i - 1].0, "at {below}");
            }
        }
        assert_eq!(tier_at(d("5000000.00")).unwrap().name, "Partner #16");
    }

    #[test]
    fn programme_e_levels_by_active_clients() {
        let e = example("e-clients.toml");
        let level = |clients: usize| {
            let facts = Facts {
                // Two services for each client: clients are counted once.
                services: [("domains".to_string(), 2 * clients as u64)].into(),
                clients: clients as u64,
                ..Facts::default()
            };
            let m = measure(
                e.metric.as_ref().unwrap(),
                &facts,
                at("2026-01-15T00:00:00Z"),
            );
            e.tier_for(&m).map(|t| t.name.clone())
        };
        for (n, want) in [
            (2, None),
            (3, Some("Bronze")),
            (5, Some("Bronze")),
            (6, Some("Silver")),
            (10, Some("Silver")),
            (11, Some("Gold")),
            (20, Some("Gold")),
            (21, Some("Platinum")),
        ] {
            assert_eq!(level(n).as_deref(), want, "{n} active clients");
        }
        let gold = &e.tiers[2];
        assert_eq!(gold.commission["hosting"], d("20"));
        assert_eq!(gold.commission["dedicated"], d("10"));
    }

    #[test]
    fn programme_d_previous_month_and_demotion() {
        let dp = example("d-licences.toml");
        let metric = dp.metric.as_ref().unwrap();
        // Joined in June 2025, 150 EUR of turnover in June, nothing after.
        let facts = Facts {
            created: Some(at("2025-06-01T00:00:00Z")),
            turnover: vec![
                (at("2025-06-10T00:00:00Z"), d("180.00")),
                (at("2025-06-11T00:00:00Z"), d("-30.00")),
            ],
            ..Facts::default()
        };
        // July: June's 150 counts.
        let m = measure(metric, &facts, at("2025-07-03T00:00:00Z"));
        assert_eq!((m.value, m.months_below, m.lost), (d("150.00"), 0, false));
        assert!(dp.tier_for(&m).is_some());
        // Five months below (Jul – Nov): still a reseller, at no tier's turnover.
        let m = measure(metric, &facts, at("2025-12-31T23:59:59Z"));
        assert_eq!((m.months_below, m.lost), (5, false));
        // The sixth month below (December) ends: status lost.
        let m = measure(metric, &facts, at("2026-01-01T00:00:00Z"));
        assert_eq!((m.value, m.months_below, m.lost), (d("0"), 6, true));
        assert!(dp.tier_for(&m).is_none());
        // A month back at the minimum restores it.
        let mut back = facts.clone();
        back.turnover
            .push((at("2026-01-20T00:00:00Z"), d("100.00")));
        let m = measure(metric, &back, at("2026-02-01T00:00:00Z"));
        assert_eq!((m.value, m.months_below, m.lost), (d("100.00"), 0, false));
        // A partner that joined recently is never counted below before it joined.
        let new = Facts {
            created: Some(at("2025-12-05T00:00:00Z")),
            ..Facts::default()
        };
        let m = measure(metric, &new, at("2026-01-15T00:00:00Z"));
        assert_eq!((m.months_below, m.lost), (1, false));
    }

    #[test]
    fn programme_d_rises_within_the_month_and_falls_when_a_month_ends_below() {
        let dp = example("d-licences.toml");
        let metric = dp.metric.as_ref().unwrap();
        let tier = |facts: &Facts, now: &str| {
            let m = measure(metric, facts, at(now));
            dp.tier_for(&m).map(|t| t.name.clone())
        };
        let mut facts = Facts {
            created: Some(at("2025-11-01T00:00:00Z")),
            turnover: vec![(at("2025-11-20T00:00:00Z"), d("300.00"))],
            ..Facts::default()
        };
        // December: November's 300 is "Reseller"; December so far 0.
        assert_eq!(
            tier(&facts, "2025-12-01T00:00:00Z").as_deref(),
            Some("Reseller")
        );
        // December's turnover passes Silver's 500 on the 10th: Silver at once.
        facts
            .turnover
            .push((at("2025-12-05T00:00:00Z"), d("450.00")));
        assert_eq!(
            tier(&facts, "2025-12-09T23:59:59Z").as_deref(),
            Some("Reseller")
        );
        facts
            .turnover
            .push((at("2025-12-10T00:00:00Z"), d("50.00")));
        assert_eq!(
            tier(&facts, "2025-12-10T12:00:00Z").as_deref(),
            Some("Silver")
        );
        let m = measure(metric, &facts, at("2025-12-10T12:00:00Z"));
        assert_eq!((m.value, m.month_to_date), (d("300.00"), Some(d("500.00"))));
        // Gold next: 2000 − 500 of this month.
        let (next, missing) = dp.next_tier(&m).unwrap();
        assert_eq!((next.name.as_str(), missing), ("Gold", d("1500.00")));
        // A refund that takes the month back below 500 takes the tier back too.
        let mut refunded = facts.clone();
        refunded
            .turnover
            .push((at("2025-12-11T00:00:00Z"), d("-100.00")));
        assert_eq!(
            tier(&refunded, "2025-12-11T12:00:00Z").as_deref(),
            Some("Reseller")
        );
        // December ended at 500: Silver stays in January, with nothing yet in January.
        assert_eq!(
            tier(&facts, "2026-01-01T00:00:00Z").as_deref(),
            Some("Silver")
        );
        assert_eq!(
            tier(&facts, "2026-01-31T23:59:59Z").as_deref(),
            Some("Silver")
        );
        // January ends below Silver's 500 (200): February falls to Reseller.
        facts
            .turnover
            .push((at("2026-01-15T00:00:00Z"), d("200.00")));
        assert_eq!(
            tier(&facts, "2026-02-01T00:00:00Z").as_deref(),
            Some("Reseller")
        );
        // Passing Gold's 2000 during February reaches Gold directly.
        facts
            .turnover
            .push((at("2026-02-03T00:00:00Z"), d("2000.00")));
        assert_eq!(
            tier(&facts, "2026-02-03T00:00:00Z").as_deref(),
            Some("Gold")
        );
        // A turnover dated later than now does not count yet.
        assert_eq!(
            tier(&facts, "2026-02-02T23:59:59Z").as_deref(),
            Some("Reseller")
        );
    }

    #[test]
    fn programme_a_special_prices_after_prepaying() {
        let a = example("a-special-prices.toml");
        let q = a.qualify.as_ref().unwrap();
        let pay = |t: &str, amount: &str| Facts {
            payments: vec![(at(t), d(amount))],
            ..Facts::default()
        };
        assert!(a.qualifies(&pay("2026-01-10T00:00:00Z", "2800.00")));
        assert!(!a.qualifies(&pay("2026-01-10T00:00:00Z", "2799.99")));
        assert!(!a.qualifies(&pay(
            &format!("{}T00:00:00Z", q.to + Duration::days(1)),
            "5000.00"
        )));
        let ru = &a.prices["ru"];
        let (reg, ren) = (
            ru.get(crate::types::operation::Operation::Register),
            ru.get(crate::types::operation::Operation::Renew),
        );
        assert_eq!(
            (reg.amount_str(), ren.amount_str()),
            ("480.00".into(), "420.00".into())
        );
    }

    #[test]
    fn rounding_is_half_up_once_per_charge() {
        let m = |s: &str| Money::parse("a", s, Currency::RUB, false).unwrap();
        // 590.00 less 3% = 572.30; 14.50 less 19% = 11.745 → 11.75; 0.05 less 50% = 0.025 → 0.03.
        assert_eq!(
            discounted(m("590.00"), d("3")).unwrap().amount_str(),
            "572.30"
        );
        assert_eq!(
            discounted(m("14.50"), d("19")).unwrap().amount_str(),
            "11.75"
        );
        assert_eq!(discounted(m("0.05"), d("50")).unwrap().amount_str(), "0.03");
        assert_eq!(
            discounted(m("3.00"), d("100")).unwrap().amount_str(),
            "0.00"
        );
        // Ten years at once are discounted as one charge, not year by year.
        assert_eq!(
            discounted(m("14.50").checked_mul(10).unwrap(), d("19"))
                .unwrap()
                .amount_str(),
            "117.45"
        );
        let jpy = Currency::parse("JPY").unwrap();
        let yen = Money::parse("a", "105", jpy, false).unwrap();
        assert_eq!(discounted(yen, d("10")).unwrap().amount_str(), "95");
    }

    /// Special prices are read by operation name: a `transfer` price is optional (a
    /// transfer is priced as a renewal without it), an unknown name is refused at its
    /// table's line.
    #[test]
    fn special_prices_are_read_by_operation() {
        use crate::types::operation::Operation;
        let head =
            "name = \"x\"\ncurrency = \"RUB\"\n[prices.ru]\nregister = \"8\"\nrenew = \"7\"\n";
        let p = check(head).unwrap();
        assert_eq!(p.prices["ru"].get(Operation::Transfer).amount_str(), "7.00");
        let p = check(&format!("{head}transfer = \"5\"\n")).unwrap();
        assert_eq!(p.prices["ru"].get(Operation::Transfer).amount_str(), "5.00");
        let e = check(&format!("{head}restore = \"5\"\n")).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.reason.contains("unknown operation"), "{e}");
        let e =
            check("name = \"x\"\ncurrency = \"RUB\"\n[prices.ru]\nregister = \"8\"\n").unwrap_err();
        assert!(e.reason.contains("missing the renew price"), "{e}");
    }

    #[test]
    fn exclusive_discount_replaces_special_prices() {
        let mut b = example("b-turnover.toml");
        let list = Money::parse("a", "1000.00", Currency::RUB, false).unwrap();
        let special = Money::parse("a", "800.00", Currency::RUB, false).unwrap();
        let t = b.tiers[8].clone();
        let p = price(list, Some((special, "a".into())), Some((&b, &t)), "vps").unwrap();
        assert_eq!(
            (p.net.amount_str(), p.rule.as_str()),
            ("810.00".into(), "b-turnover")
        );
        // No discount for the category: the special price stands.
        let p = price(list, Some((special, "a".into())), Some((&b, &t)), "domains").unwrap();
        assert_eq!(
            (p.net.amount_str(), p.rule.as_str()),
            ("800.00".into(), "a")
        );
        b.exclusive = false;
        let p = price(list, Some((special, "a".into())), Some((&b, &t)), "vps").unwrap();
        assert_eq!(p.net.amount_str(), "648.00");
        let p = price(list, None, None, "vps").unwrap();
        assert_eq!((p.net, p.rule.as_str()), (list, "catalogue"));
    }

    #[test]
    fn bad_files_are_refused_with_line_and_reason() {
        let head = "name = \"x\"\ncurrency = \"RUB\"\nmetric = { kind = \"payments\", window_days = 31 }\n";
        let cases = [
            (
                "[[tier]]\nname = \"a\"\nfrom = \"500\"\n[[tier]]\nname = \"b\"\nfrom = \"400\"\n",
                9,
                "increasing order",
            ),
            (
                "[[tier]]\nname = \"a\"\nfrom = \"500\"\nto = \"3000\"\n[[tier]]\nname = \"b\"\nfrom = \"3000\"\n",
                10,
                "overlaps",
            ),
            (
                "[[tier]]\nname = \"a\"\nfrom = \"500\"\ndiscount = { vps = 101 }\n",
                7,
                "0 to 100",
            ),
            (
                "[[tier]]\nname = \"a\"\nfrom = \"500\"\ndiscount = { vps = -1 }\n",
                7,
                "0 to 100",
            ),
            (
                "[[tier]]\nname = \"a\"\nfrom = \"500\"\ndiscount = { boats = 5 }\n",
                7,
                "unknown category \"boats\"",
            ),
            (
                "[[tier]]\nname = \"a\"\nfrom = \"500.001\"\n",
                6,
                "currency mismatch",
            ),
            ("[[tier]]\nname = \"a\"\nform = \"500\"\n", 6, "unknown field"),
        ];
        for (tail, line, why) in cases {
            let e = check(&format!("{head}{tail}")).unwrap_err();
            assert_eq!(e.line, line, "{e}");
            assert!(e.reason.contains(why), "{e}");
            assert!(e.to_string().starts_with(&format!("p.toml:{line}: ")));
        }
        let e = check(
            "name = \"x\"\ncurrency = \"RUB\"\n[prices.ru]\nregister = \"8.001\"\nrenew = \"7\"\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        let e = check("name = \"x\"\ncurrency = \"XXX\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = check(
            "name = \"x\"\ncurrency = \"RUB\"\n[prices.io]\nregister = \"8\"\nrenew = \"7\"\n",
        )
        .unwrap_err();
        assert!(e.reason.contains("not in the catalogue"), "{e}");
    }

    #[test]
    fn a_partner_is_in_one_discount_programme() {
        let mut b = example("b-turnover.toml");
        b.partners = vec!["p".into()];
        let mut e = example("e-clients.toml");
        e.partners = vec!["p".into()];
        e.tiers.iter_mut().for_each(|t| t.discount.clear());
        assert!(Programmes::new(vec![b.clone(), e]).is_err());
        let mut a = example("a-special-prices.toml");
        a.partners = vec!["p".into()];
        let set = Programmes::new(vec![b, a]).unwrap();
        assert_eq!(set.discount_for("p").unwrap().name, "b-turnover");
        assert_eq!(set.prices_for("p").unwrap().name, "a-special-prices");
    }
}
