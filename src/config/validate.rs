//! The checks a configuration passes before anything starts: every value in range,
//! every name it refers to known.

use super::{licenses, Config, UpstreamKind};
use crate::error::{Error, Result};

impl Config {
    pub fn validate(&self) -> Result<()> {
        let s = &self.client_suffix;
        let ok = (1..=12).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if !ok {
            return Err(Error::syntax(format!(
                "client_suffix {s:?}: 1 to 12 upper-case letters and inner hyphens"
            )));
        }
        if !self.admin_listen.ip().is_loopback() {
            return Err(Error::syntax(format!(
                "admin_listen {}: the operator channel listens on loopback only",
                self.admin_listen
            )));
        }
        if self.sandbox.control {
            if !self.sandbox.control_listen.ip().is_loopback() {
                return Err(Error::syntax(format!(
                    "sandbox.control_listen {}: the sandbox control API listens on loopback only",
                    self.sandbox.control_listen
                )));
            }
            if let Some((name, u)) = self
                .upstreams
                .iter()
                .find(|(_, u)| u.kind != UpstreamKind::Sandbox)
            {
                return Err(Error::syntax(format!(
                    "sandbox.control (REGWAY_SANDBOX_CONTROL) is on, but upstream {name:?} is a \
                     {:?} upstream, not the sandbox: the control API moves the clock, sets \
                     outcomes and empties the store, so it is served only when every upstream \
                     is the sandbox. Switch it off, or remove [upstreams.{name}]",
                    u.kind
                )));
            }
        }
        if self.auto_renew_days > 365 || self.license_auto_renew_days > 27 {
            return Err(Error::syntax(
                "auto_renew_days must be 0 to 365, license_auto_renew_days 0 to 27",
            ));
        }
        if self.dialect_renew_window_minutes > 1440 {
            return Err(Error::syntax(
                "dialect_renew_window_minutes must be 0 (off) to 1440 (a day)",
            ));
        }
        if self.store_max_batch == 0 || self.store_max_batch > 65536 {
            return Err(Error::syntax("store_max_batch must be 1 to 65536"));
        }
        if self.store_cache_mb == 0 || self.store_cache_mb > 65536 {
            return Err(Error::syntax("store_cache_mb must be 1 to 65536"));
        }
        if self.max_body_bytes < 1024 || self.max_connections == 0 {
            return Err(Error::syntax(
                "max_body_bytes must be at least 1024 and max_connections at least 1",
            ));
        }
        let l = &self.limits;
        let rates = [
            ("read", l.read),
            ("order", l.order),
            ("anonymous", l.anonymous),
        ]
        .into_iter()
        .chain(l.partners.values().flat_map(|p| {
            [("partner read", p.read), ("partner order", p.order)]
                .into_iter()
                .filter_map(|(n, r)| r.map(|r| (n, r)))
        }));
        for (name, r) in rates {
            if r.per_minute > 0 && r.burst == 0 {
                return Err(Error::syntax(format!(
                    "limits {name}: burst must be at least 1 when per_minute is set"
                )));
            }
        }
        if l.lockout_failures > 0
            && (l.lockout_window_s == 0 || l.lockout_s == 0 || l.lockout_address_failures == 0)
        {
            return Err(Error::syntax(
                "limits: lockout_window_s, lockout_s and lockout_address_failures must be positive with lockout_failures",
            ));
        }
        if l.max_keys == 0 || l.housekeeping_s == 0 {
            return Err(Error::syntax(
                "limits: max_keys and housekeeping_s must be positive",
            ));
        }
        let known = |n: &String| n == "sandbox" || self.upstreams.contains_key(n);
        for (zone, z) in &self.zones {
            if let Some(n) = z.upstream.as_ref().filter(|n| !known(n)) {
                return Err(Error::syntax(format!(
                    "zones.{zone}.upstream = {n:?}: no [upstreams.{n}]"
                )));
            }
        }
        if let Some(n) = self.upstream.as_ref().filter(|n| !known(n)) {
            return Err(Error::syntax(format!(
                "upstream = {n:?}: no [upstreams.{n}]"
            )));
        }
        if let Some(n) = self.license_upstream.as_ref().filter(|n| !known(n)) {
            return Err(Error::syntax(format!(
                "license_upstream = {n:?}: no [upstreams.{n}]"
            )));
        }
        for (name, u) in &self.upstreams {
            if u.kind != UpstreamKind::Sandbox
                && (!(u.url.starts_with("http://") || u.url.starts_with("https://"))
                    || u.login.is_empty())
            {
                return Err(Error::syntax(format!(
                    "upstreams.{name}: a {:?} upstream needs an http(s) url and a login",
                    u.kind
                )));
            }
            let catalogue = licenses::products(self.builtin_licenses, &self.licenses)?;
            if let Some(p) = u.products.keys().find(|p| !catalogue.contains_key(*p)) {
                return Err(Error::syntax(format!(
                    "upstreams.{name}.products: {p:?} is not a catalogue product"
                )));
            }
            if u.kind != UpstreamKind::Sandbox
                && u.sends_credentials_in_clear()
                && !u.allow_insecure_http
            {
                return Err(Error::syntax(format!(
                    "upstreams.{name}: {} is plain http:// to a host that is not a loopback \
                     address, so its login and password would cross the network in clear: \
                     use https://, or set allow_insecure_http = true to accept that",
                    u.url
                )));
            }
            if u.timeout_ms == 0 || u.concurrency == 0 {
                return Err(Error::syntax(format!(
                    "upstreams.{name}: timeout_ms and concurrency must be positive"
                )));
            }
        }
        if self.upstream_timeout_ms == 0 || self.reconcile_interval_ms == 0 {
            return Err(Error::syntax(
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
