//! The rights groups a partner's additional logins (users) hold: each command belongs to
//! one group, and a user may run it when it holds that group (or, for a read-only
//! command, the `read` group).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Right {
    /// Domain checks, registrations, transfers, nameservers, auto-renewal, reads.
    Domains,
    /// Licence orders, their addresses, reads.
    Licences,
    /// Clients (contacts): create, delete, reads.
    Clients,
    /// Renewals, the balance, the ledger, statements, the commission account.
    Finance,
    /// Every read-only command.
    Read,
}

impl Right {
    pub const ALL: [Right; 5] = [
        Right::Domains,
        Right::Licences,
        Right::Clients,
        Right::Finance,
        Right::Read,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Right::Domains => "domains",
            Right::Licences => "licences",
            Right::Clients => "clients",
            Right::Finance => "finance",
            Right::Read => "read",
        }
    }

    pub fn parse(s: &str) -> Result<Right> {
        Right::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::value(
                    "rights",
                    format!(
                        "{:?} is not a rights group (one of: {})",
                        s.chars().take(32).collect::<String>(),
                        Right::ALL.map(Right::as_str).join(", ")
                    ),
                )
            })
    }

    /// A comma-separated list of groups (at least one), sorted, each once.
    pub fn parse_list(s: &str) -> Result<Vec<Right>> {
        let mut out = Vec::new();
        for part in s.split(',') {
            let r = Right::parse(part.trim())?;
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out.sort();
        Ok(out)
    }

    /// `domains,read`.
    pub fn list(rights: &[Right]) -> String {
        rights
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(
            Right::parse_list("read, domains,read").unwrap(),
            vec![Right::Domains, Right::Read]
        );
        assert!(Right::parse_list("").is_err());
        assert!(Right::parse_list("domains,,read").is_err());
        assert!(Right::parse_list("admin").is_err());
        assert_eq!(
            Right::list(&Right::ALL),
            "domains,licences,clients,finance,read"
        );
    }
}
