//! The checks a configuration passes before anything starts: every value in range,
//! every name it refers to known.

use super::{licenses, Config, UpstreamKind};
use crate::error::{Error, Result};

/// A refused configuration value: the key it is at (dotted, `zones.ru.upstream`), so
/// the error can name the line of the file that set it, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: String,
    pub message: String,
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        key: key.into(),
        message: message.into(),
    }
}

impl Config {
    /// Every check on the configuration's values; the error is a configuration error
    /// without a file position (`Config::load` adds it).
    pub fn validate(&self) -> Result<()> {
        self.check().map_err(|i| Error::config(i.message))
    }

    /// The checks, with the key of the refused value.
    pub fn check(&self) -> std::result::Result<(), Invalid> {
        let s = &self.client_suffix;
        let ok = (1..=12).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if !ok {
            return Err(invalid(
                "client_suffix",
                format!("client_suffix {s:?}: 1 to 12 upper-case letters and inner hyphens"),
            ));
        }
        if !self.admin_listen.ip().is_loopback() {
            return Err(invalid(
                "admin_listen",
                format!(
                    "admin_listen {}: the operator channel listens on loopback only",
                    self.admin_listen
                ),
            ));
        }
        if self.sandbox.control {
            if !self.sandbox.control_listen.ip().is_loopback() {
                return Err(invalid(
                    "sandbox.control_listen",
                    format!(
                    "sandbox.control_listen {}: the sandbox control API listens on loopback only",
                    self.sandbox.control_listen
                ),
                ));
            }
            if let Some((name, u)) = self
                .upstreams
                .iter()
                .find(|(_, u)| u.kind != UpstreamKind::Sandbox)
            {
                return Err(invalid(
                    format!("upstreams.{name}"),
                    format!(
                    "sandbox.control (REGWAY_SANDBOX_CONTROL) is on, but upstream {name:?} is a \
                     {:?} upstream, not the sandbox: the control API moves the clock, sets \
                     outcomes and empties the store, so it is served only when every upstream \
                     is the sandbox. Switch it off, or remove [upstreams.{name}]",
                    u.kind
                ),
                ));
            }
        }
        if self.auto_renew_days > 365 || self.license_auto_renew_days > 27 {
            let key = if self.auto_renew_days > 365 {
                "auto_renew_days"
            } else {
                "license_auto_renew_days"
            };
            return Err(invalid(
                key,
                "auto_renew_days must be 0 to 365, license_auto_renew_days 0 to 27",
            ));
        }
        if self.dialect_renew_window_minutes > 1440 {
            return Err(invalid(
                "dialect_renew_window_minutes",
                "dialect_renew_window_minutes must be 0 (off) to 1440 (a day)",
            ));
        }
        if self.store_max_batch == 0 || self.store_max_batch > 65536 {
            return Err(invalid(
                "store_max_batch",
                "store_max_batch must be 1 to 65536",
            ));
        }
        if self.store_cache_mb == 0 || self.store_cache_mb > 65536 {
            return Err(invalid(
                "store_cache_mb",
                "store_cache_mb must be 1 to 65536",
            ));
        }
        match (self.store, &self.database_url) {
            (Some(super::StoreKind::Postgres), None) => {
                return Err(invalid(
                    "store",
                    "store = \"postgres\" needs database_url (or REGWAY_DATABASE_URL)",
                ))
            }
            (Some(super::StoreKind::Sled), Some(_)) => {
                return Err(invalid(
                    "database_url",
                    "database_url is set but store = \"sled\": choose one",
                ))
            }
            _ => {}
        }
        if self.max_body_bytes < 1024 || self.max_connections == 0 {
            let key = if self.max_body_bytes < 1024 {
                "max_body_bytes"
            } else {
                "max_connections"
            };
            return Err(invalid(
                key,
                "max_body_bytes must be at least 1024 and max_connections at least 1",
            ));
        }
        let l = &self.limits;
        let rates = [
            ("read", "limits.read".to_string(), l.read),
            ("order", "limits.order".to_string(), l.order),
            ("anonymous", "limits.anonymous".to_string(), l.anonymous),
        ]
        .into_iter()
        .chain(l.partners.iter().flat_map(|(login, p)| {
            [
                ("partner read", "read", p.read),
                ("partner order", "order", p.order),
            ]
            .into_iter()
            .filter_map(move |(n, k, r)| r.map(|r| (n, format!("limits.partners.{login}.{k}"), r)))
        }));
        for (name, key, r) in rates {
            if r.per_minute > 0 && r.burst == 0 {
                return Err(invalid(
                    key,
                    format!("limits {name}: burst must be at least 1 when per_minute is set"),
                ));
            }
        }
        if l.lockout_failures > 0
            && (l.lockout_window_s == 0 || l.lockout_s == 0 || l.lockout_address_failures == 0)
        {
            return Err(invalid(
                "limits.lockout_failures",
                "limits: lockout_window_s, lockout_s and lockout_address_failures must be positive with lockout_failures",
            ));
        }
        if l.max_keys == 0 || l.housekeeping_s == 0 {
            return Err(invalid(
                if l.max_keys == 0 {
                    "limits.max_keys"
                } else {
                    "limits.housekeeping_s"
                },
                "limits: max_keys and housekeeping_s must be positive",
            ));
        }
        let known = |n: &String| n == "sandbox" || self.upstreams.contains_key(n);
        for (zone, z) in &self.zones {
            if let Some(n) = z.upstream.as_ref().filter(|n| !known(n)) {
                return Err(invalid(
                    format!("zones.{zone}.upstream"),
                    format!("zones.{zone}.upstream = {n:?}: no [upstreams.{n}]"),
                ));
            }
        }
        if let Some(n) = self.upstream.as_ref().filter(|n| !known(n)) {
            return Err(invalid(
                "upstream",
                format!("upstream = {n:?}: no [upstreams.{n}]"),
            ));
        }
        if let Some(n) = self.license_upstream.as_ref().filter(|n| !known(n)) {
            return Err(invalid(
                "license_upstream",
                format!("license_upstream = {n:?}: no [upstreams.{n}]"),
            ));
        }
        for (name, u) in &self.upstreams {
            if u.kind != UpstreamKind::Sandbox
                && (!(u.url.starts_with("http://") || u.url.starts_with("https://"))
                    || u.login.is_empty())
            {
                return Err(invalid(
                    format!("upstreams.{name}"),
                    format!(
                        "upstreams.{name}: a {:?} upstream needs an http(s) url and a login",
                        u.kind
                    ),
                ));
            }
            let catalogue = licenses::products(self.builtin_licenses, &self.licenses)
                .map_err(|e| invalid("licenses", e.message))?;
            if let Some(p) = u.products.keys().find(|p| !catalogue.contains_key(*p)) {
                return Err(invalid(
                    format!("upstreams.{name}.products.{p}"),
                    format!("upstreams.{name}.products: {p:?} is not a catalogue product"),
                ));
            }
            if u.kind != UpstreamKind::Sandbox
                && u.sends_credentials_in_clear()
                && !u.allow_insecure_http
            {
                return Err(invalid(
                    format!("upstreams.{name}.url"),
                    format!(
                        "upstreams.{name}: {} is plain http:// to a host that is not a loopback \
                     address, so its login and password would cross the network in clear: \
                     use https://, or set allow_insecure_http = true to accept that",
                        u.url
                    ),
                ));
            }
            if u.timeout_ms == 0 || u.concurrency == 0 {
                return Err(invalid(
                    format!("upstreams.{name}"),
                    format!("upstreams.{name}: timeout_ms and concurrency must be positive"),
                ));
            }
        }
        if self.upstream_timeout_ms == 0 || self.reconcile_interval_ms == 0 {
            return Err(invalid(
                if self.upstream_timeout_ms == 0 {
                    "upstream_timeout_ms"
                } else {
                    "reconcile_interval_ms"
                },
                "upstream_timeout_ms and reconcile_interval_ms must be positive",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;

    #[test]
    fn upstream_names_must_exist() {
        let cfg: Config = toml::from_str(
            r#"
            upstream = "parent"
            [upstreams.parent]
            type = "regway"
            url = "http://127.0.0.1:9/api"
            login = "reseller"
            password = "x"
            [zones.ru]
            periods = [1, 10]
            prices.RUB = { register = "590.00", renew = "590.00" }
            upstream = "sandbox"
            "#,
        )
        .unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.upstreams["parent"].concurrency, 16);
        let bad = Config {
            upstream: Some("nowhere".into()),
            ..cfg.clone()
        };
        assert!(bad.validate().is_err());
        let mut bad = cfg.clone();
        bad.upstreams.get_mut("parent").unwrap().url = "ftp://x".into();
        assert!(bad.validate().is_err());
    }

    #[test]
    fn credentials_never_go_in_clear_unless_asked() {
        let with_url = |url: &str, opt_in: bool| {
            let mut cfg: Config = toml::from_str(
                r#"
                upstream = "parent"
                [upstreams.parent]
                type = "regway"
                url = "https://parent.example.net/api"
                login = "reseller"
                password = "x"
                "#,
            )
            .unwrap();
            let u = cfg.upstreams.get_mut("parent").unwrap();
            u.url = url.into();
            u.allow_insecure_http = opt_in;
            cfg.validate()
        };
        for ok in [
            "https://parent.example.net/api",
            "http://127.0.0.1:8080/api",
            "http://127.8.0.1/api",
            "http://[::1]:8080/api",
            "http://localhost:8080/api",
        ] {
            assert!(with_url(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://parent.example.net/api",
            "http://192.0.2.10/api",
            "http://[2001:db8::1]/api",
        ] {
            let e = with_url(bad, false).unwrap_err();
            assert!(e.message.contains("allow_insecure_http"), "{bad}: {e}");
            assert!(with_url(bad, true).is_ok(), "{bad} with the opt-in");
        }
        let toml_opt_in: Config = toml::from_str(
            r#"
            [upstreams.parent]
            type = "ispsystem"
            url = "http://billing.example.net/billmgr"
            login = "reseller"
            password = "x"
            allow_insecure_http = true
            "#,
        )
        .unwrap();
        toml_opt_in.validate().unwrap();
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        assert!(toml::from_str::<Config>("lisen = \"x\"").is_err());
        let cfg = Config {
            client_suffix: "rw".into(),
            ..Config::default()
        };
        assert!(cfg.validate().is_err());
        let cfg = Config {
            admin_listen: "0.0.0.0:9".parse().unwrap(),
            ..Config::default()
        };
        assert!(cfg.validate().is_err());
    }
}
