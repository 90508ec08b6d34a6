//! `REGWAY_*` environment variables, applied over the file's values.

use super::Config;
use crate::error::{Error, Result};
use std::path::PathBuf;

impl Config {
    /// Applies `REGWAY_*` variables. `get` is the environment (a parameter for tests).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        fn parse<T: std::str::FromStr>(name: &str, v: &str) -> Result<T> {
            v.parse()
                .map_err(|_| Error::config(format!("{name}={v:?} is not valid")))
        }
        if let Some(v) = get("REGWAY_LISTEN") {
            self.listen = parse("REGWAY_LISTEN", &v)?;
        }
        if let Some(v) = get("REGWAY_ADMIN_LISTEN") {
            self.admin_listen = parse("REGWAY_ADMIN_LISTEN", &v)?;
        }
        if let Some(v) = get("REGWAY_DATA") {
            self.data = PathBuf::from(v);
        }
        if let Some(v) = get("REGWAY_CLIENT_SUFFIX") {
            self.client_suffix = v;
        }
        if let Some(v) = get("REGWAY_UPSTREAM_TIMEOUT_MS") {
            self.upstream_timeout_ms = parse("REGWAY_UPSTREAM_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = get("REGWAY_RECONCILE_INTERVAL_MS") {
            self.reconcile_interval_ms = parse("REGWAY_RECONCILE_INTERVAL_MS", &v)?;
        }
        if let Some(v) = get("REGWAY_UNKNOWN_ALERT_MS") {
            self.unknown_alert_ms = parse("REGWAY_UNKNOWN_ALERT_MS", &v)?;
        }
        if let Some(v) = get("REGWAY_AUTO_RENEW_DAYS") {
            self.auto_renew_days = parse("REGWAY_AUTO_RENEW_DAYS", &v)?;
        }
        if let Some(v) = get("REGWAY_LICENSE_AUTO_RENEW_DAYS") {
            self.license_auto_renew_days = parse("REGWAY_LICENSE_AUTO_RENEW_DAYS", &v)?;
        }
        if let Some(v) = get("REGWAY_DIALECT_RENEW_WINDOW_MINUTES") {
            self.dialect_renew_window_minutes = parse("REGWAY_DIALECT_RENEW_WINDOW_MINUTES", &v)?;
        }
        if let Some(v) = get("REGWAY_LICENSE_ALLOW_PRIVATE_IPS") {
            self.license_allow_private_ips = parse("REGWAY_LICENSE_ALLOW_PRIVATE_IPS", &v)?;
        }
        if let Some(v) = get("REGWAY_MAX_BODY_BYTES") {
            self.max_body_bytes = parse("REGWAY_MAX_BODY_BYTES", &v)?;
        }
        if let Some(v) = get("REGWAY_MAX_CONNECTIONS") {
            self.max_connections = parse("REGWAY_MAX_CONNECTIONS", &v)?;
        }
        if let Some(v) = get("REGWAY_HEADER_TIMEOUT_MS") {
            self.header_timeout_ms = parse("REGWAY_HEADER_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = get("REGWAY_BODY_TIMEOUT_MS") {
            self.body_timeout_ms = parse("REGWAY_BODY_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = get("REGWAY_STORE_MAX_BATCH") {
            self.store_max_batch = parse("REGWAY_STORE_MAX_BATCH", &v)?;
        }
        if let Some(v) = get("REGWAY_STORE_CACHE_MB") {
            self.store_cache_mb = parse("REGWAY_STORE_CACHE_MB", &v)?;
        }
        if let Some(v) = get("REGWAY_STORE") {
            self.store = Some(match v.as_str() {
                "sled" => super::StoreKind::Sled,
                "postgres" => super::StoreKind::Postgres,
                _ => {
                    return Err(Error::syntax(format!(
                        "REGWAY_STORE={v:?}: sled or postgres"
                    )))
                }
            });
        }
        if let Some(v) = get("REGWAY_DATABASE_URL") {
            self.database_url = Some(super::DatabaseUrl(v)).filter(|u| !u.0.is_empty());
        }
        if let Some(v) = get("REGWAY_METRICS_TOKEN") {
            self.metrics_token = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = get("REGWAY_DEMO_PASSWORD") {
            self.demo.password = v;
        }
        if let Some(v) = get("REGWAY_SANDBOX_CLOCK") {
            self.sandbox.clock = Some(parse("REGWAY_SANDBOX_CLOCK", &v)?);
        }
        let l = &mut self.limits;
        for (name, slot) in [
            ("REGWAY_LIMITS_READ_PER_MINUTE", &mut l.read.per_minute),
            ("REGWAY_LIMITS_READ_BURST", &mut l.read.burst),
            ("REGWAY_LIMITS_ORDER_PER_MINUTE", &mut l.order.per_minute),
            ("REGWAY_LIMITS_ORDER_BURST", &mut l.order.burst),
            (
                "REGWAY_LIMITS_ANONYMOUS_PER_MINUTE",
                &mut l.anonymous.per_minute,
            ),
            ("REGWAY_LIMITS_ANONYMOUS_BURST", &mut l.anonymous.burst),
            ("REGWAY_LIMITS_LOCKOUT_FAILURES", &mut l.lockout_failures),
            (
                "REGWAY_LIMITS_LOCKOUT_ADDRESS_FAILURES",
                &mut l.lockout_address_failures,
            ),
        ] {
            if let Some(v) = get(name) {
                *slot = parse(name, &v)?;
            }
        }
        for (name, slot) in [
            ("REGWAY_LIMITS_LOCKOUT_WINDOW_S", &mut l.lockout_window_s),
            ("REGWAY_LIMITS_LOCKOUT_S", &mut l.lockout_s),
            ("REGWAY_LIMITS_LOGIN_DELAY_MAX_S", &mut l.login_delay_max_s),
            ("REGWAY_LIMITS_HOUSEKEEPING_S", &mut l.housekeeping_s),
        ] {
            if let Some(v) = get(name) {
                *slot = parse(name, &v)?;
            }
        }
        if let Some(v) = get("REGWAY_LIMITS_MAX_KEYS") {
            l.max_keys = parse("REGWAY_LIMITS_MAX_KEYS", &v)?;
        }
        // Fault knobs; a percentage above 100 is clamped, not refused.
        let f = &mut self.sandbox.faults;
        if let Some(v) = get("REGWAY_SANDBOX_LATENCY_MS") {
            f.latency_ms = parse("REGWAY_SANDBOX_LATENCY_MS", &v)?;
        }
        let percent =
            |name: &str, v: &str| -> Result<u8> { Ok(parse::<u32>(name, v)?.min(100) as u8) };
        if let Some(v) = get("REGWAY_SANDBOX_FAIL_PERCENT") {
            f.fail_percent = percent("REGWAY_SANDBOX_FAIL_PERCENT", &v)?;
        }
        if let Some(v) = get("REGWAY_SANDBOX_TIMEOUT_PERCENT") {
            f.timeout_percent = percent("REGWAY_SANDBOX_TIMEOUT_PERCENT", &v)?;
        }
        if let Some(v) = get("REGWAY_SANDBOX_PENDING_PERCENT") {
            f.pending_percent = percent("REGWAY_SANDBOX_PENDING_PERCENT", &v)?;
        }
        if let Some(v) = get("REGWAY_SANDBOX_PENDING_MS") {
            f.pending_ms = parse("REGWAY_SANDBOX_PENDING_MS", &v)?;
        }
        if let Some(v) = get("REGWAY_SANDBOX_CONTROL") {
            self.sandbox.control = match v.as_str() {
                "1" | "true" => true,
                "0" | "false" | "" => false,
                _ => {
                    return Err(Error::syntax(format!(
                        "REGWAY_SANDBOX_CONTROL={v:?} is not valid (1 or 0)"
                    )))
                }
            };
        }
        if let Some(v) = get("REGWAY_SANDBOX_CONTROL_LISTEN") {
            self.sandbox.control_listen = parse("REGWAY_SANDBOX_CONTROL_LISTEN", &v)?;
        }
        if let Some(v) = get("REGWAY_SANDBOX_TAKEN") {
            self.sandbox.taken = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;

    #[test]
    fn file_then_env() {
        let mut cfg: Config = toml::from_str(
            r#"
            listen = "127.0.0.1:9000"
            client_suffix = "AB-C"
            [zones."xn--p1ai"]
            periods = [1, 2]
            prices.RUB = { register = "100.00", renew = "90.00" }
            "#,
        )
        .unwrap();
        assert_eq!(cfg.listen.port(), 9000);
        cfg.apply_env(|k| (k == "REGWAY_LISTEN").then(|| "127.0.0.1:9100".into()))
            .unwrap();
        assert_eq!(cfg.listen.port(), 9100);
        cfg.validate().unwrap();
    }

    /// Prices are read by operation name, in zones and in `partner_prices` alike; a
    /// key that names no operation is refused, as unknown fields are elsewhere.
    #[test]
    fn prices_are_read_by_operation_name() {
        let cfg: Config = toml::from_str(
            r#"
            [[partner_prices]]
            login = "vip"
            zone = "ru"
            register = "400.00"
            renew = "350.00"
            "#,
        )
        .unwrap();
        let p = &cfg.partner_prices[0];
        assert_eq!(
            p.prices.get(crate::types::operation::Operation::Renew),
            "350.00"
        );
        for bad in [
            "[[partner_prices]]\nlogin = \"vip\"\nzone = \"ru\"\nregister = \"1\"\nrenew = \"1\"\nrenwe = \"1\"\n",
            "[[partner_prices]]\nlogin = \"vip\"\nzone = \"ru\"\nregister = \"1\"\n",
            "[zones.io]\nperiods = [1, 1]\nprices.RUB = { register = \"1\", renwe = \"1\" }\n",
        ] {
            assert!(toml::from_str::<Config>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sandbox_knobs_are_read_and_clamped() {
        let env = |k: &str| {
            match k {
                "REGWAY_SANDBOX_LATENCY_MS" => Some("999999"),
                "REGWAY_SANDBOX_FAIL_PERCENT" => Some("60"),
                "REGWAY_SANDBOX_TIMEOUT_PERCENT" => Some("500"),
                "REGWAY_SANDBOX_PENDING_PERCENT" => Some("5"),
                "REGWAY_SANDBOX_PENDING_MS" => Some("250"),
                _ => None,
            }
            .map(String::from)
        };
        let mut cfg = Config::default();
        assert!(!cfg.sandbox.faults.any());
        cfg.apply_env(env).unwrap();
        let f = cfg.sandbox.faults.clamped();
        assert_eq!(
            f,
            SandboxFaults {
                latency_ms: SandboxFaults::MAX_LATENCY_MS,
                fail_percent: 60,
                timeout_percent: 40,
                pending_percent: 0,
                pending_ms: 250,
            }
        );
        let mut cfg = Config::default();
        assert!(cfg
            .apply_env(|k| (k == "REGWAY_SANDBOX_FAIL_PERCENT").then(|| "-1".into()))
            .is_err());
    }
}
