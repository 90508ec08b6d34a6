//! A partner's users: additional logins `PARTNER.NAME`, each holding rights groups
//! ([`Right`]), an allow-list and its own password (argon2id, as the partner's). Only the
//! partner's main login manages them, and changes its own password
//! (`partner.set-password`).
//!
//! [`need`] says which group every command belongs to; the gateway asks [`permit`]
//! before it runs a user's request.

use super::params::Params;
use super::Command;
use crate::engine::auth::{hash_password, Cidr};
use crate::engine::{Ctx, Fresh};
use crate::error::{Error, Object, Result};
use crate::outcome::{Data, Element, Outcome};
use crate::store::records::{Partner, User};
use crate::types::rights::Right;
use serde::{Serialize, Serializer};

/// Users one partner may have.
pub const MAX_USERS: usize = 100;

/// What a command asks of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A user holding the group runs it (and, when it is read-only, one holding `read`).
    Group(Right),
    /// Every user runs it: following up one's own requests (`order.info`,
    /// `order.list`, `request.status`) and the price list.
    AnyUser,
    /// Only the partner's main login: managing users and the partner's password.
    MainLogin,
}

/// The group of every command, by the name it is sent under. An exhaustive list: a
/// name it does not know (`None`) is refused to every user, so a command added without
/// a group here stays the main login's until it gets one (`tests/users.rs` checks that
/// every registered name has one).
pub fn need(name: &str) -> Option<Need> {
    use Need::*;
    use Right::*;
    Some(match name {
        "domain.check"
        | "domain.register"
        | "domain.transfer"
        | "domain.set-ns"
        | "domain.set-autorenew"
        | "domain.info"
        | "domain.list" => Group(Domains),
        "license.order" | "license.set-ip" | "license.info" | "license.list" => Group(Licences),
        "client.create" | "client.update" | "client.delete" | "client.info" | "client.list" => {
            Group(Clients)
        }
        "domain.renew"
        | "license.renew"
        | "balance.get"
        | "ledger.list"
        | "statement.list"
        | "statement.info"
        | "commission.list"
        | "commission.transfer"
        | "programme.status" => Group(Finance),
        "order.info" | "order.list" | "request.status" | "price.list" => AnyUser,
        "user.create"
        | "user.list"
        | "user.set-rights"
        | "user.set-password"
        | "user.delete"
        | "partner.set-password"
        | "webhook.set"
        | "webhook.list"
        | "webhook.delete"
        | "webhook.test"
        | "webhook.deliveries" => MainLogin,
        _ => return None,
    })
}

/// Refuses (2201, naming the missing group) a command outside the user's rights.
pub fn permit(command: &Command, user: &User) -> Result<()> {
    permit_name(command.name(), !command.is_mutating(), user)
}

/// [`permit`] by the name a command is sent under, before its parameters are read (a
/// user learns nothing of a command it may not run). A name that is no command is left
/// to the parser.
pub fn permit_named(name: &str, user: &User) -> Result<()> {
    match Command::name_is_mutating(name) {
        Some(mutating) => permit_name(name, !mutating, user),
        None => Ok(()),
    }
}

fn permit_name(name: &str, read_only: bool, user: &User) -> Result<()> {
    let refuse = |msg: String| Err(Error::forbidden(msg).about(Object::Rights));
    match need(name) {
        Some(Need::AnyUser) => Ok(()),
        Some(Need::Group(g))
            if user.rights.contains(&g) || (read_only && user.rights.contains(&Right::Read)) =>
        {
            Ok(())
        }
        Some(Need::Group(g)) if read_only => refuse(format!(
            "{name} needs the rights group {} or read",
            g.as_str()
        )),
        Some(Need::Group(g)) => refuse(format!("{name} needs the rights group {}", g.as_str())),
        Some(Need::MainLogin) | None => {
            refuse(format!("{name} is for the partner's main login only"))
        }
    }
}

/// A password as a command holds it: never in its fingerprint (so never in a request
/// record) nor in a log line.
#[derive(Clone)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_unit()
    }
}

/// A password: 8 to 256 bytes, as a partner's.
fn password(p: &mut Params, key: &str) -> Result<Secret> {
    let v = p.req(key)?;
    if v.len() < 8 || v.len() > 256 {
        return Err(Error::value(key, "8 to 256 characters"));
    }
    if v.chars().any(char::is_control) {
        return Err(Error::value(key, "control characters are not allowed"));
    }
    Ok(Secret(v))
}

/// A user's login: the partner's login, a dot, and a name of 1 to 32 of `a-z 0-9 _ -`
/// starting with a letter or digit. Only its form is checked here; that it begins with
/// the partner's own login, when the command runs.
fn login(p: &mut Params) -> Result<String> {
    let v = p.req("user")?;
    let bad = || {
        Error::value(
            "user",
            format!(
                "{:?}: the partner's login, a dot, and 1 to 32 of a-z 0-9 _ - starting with a letter or digit",
                v.chars().take(80).collect::<String>()
            ),
        )
    };
    let (owner, name) = v.rsplit_once('.').ok_or_else(bad)?;
    let name_ok = (1..=32).contains(&name.len())
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'));
    if !name_ok || crate::engine::auth::check_login(owner).is_err() || v.len() > 64 {
        return Err(bad());
    }
    Ok(v)
}

/// The name part of `login`, refused (2201) unless the login is the partner's.
fn own_name<'a>(partner: &Partner, login: &'a str) -> Result<&'a str> {
    match login.rsplit_once('.') {
        Some((owner, name)) if owner == partner.login => Ok(name),
        _ => Err(Error::forbidden(format!(
            "{login} is not a login of partner {}: a user's login is {}.NAME",
            partner.login, partner.login
        ))
        .about(Object::User)),
    }
}

fn rights(p: &mut Params) -> Result<Vec<Right>> {
    Right::parse_list(&p.req("rights")?)
}

fn allow_ips(p: &mut Params) -> Result<Vec<String>> {
    p.many("allow-ip")
        .iter()
        .map(|c| Cidr::parse(c).map(|c| c.to_string()))
        .collect()
}

async fn hash(pw: &Secret) -> Result<String> {
    let pw = pw.0.clone();
    tokio::task::spawn_blocking(move || hash_password(&pw))
        .await
        .map_err(Error::internal)?
}

fn at(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `<user login= rights= created= updated=>` with its `<allow-ip>` networks.
pub fn element(u: &User) -> Element {
    Element::new("user")
        .attr("login", &u.login)
        .attr("rights", Right::list(&u.rights))
        .attr("created", at(u.created))
        .attr("updated", at(u.updated))
        .children(u.allow_ips.iter().map(|c| Element::new("allow-ip").text(c)))
}

fn answer(u: &User) -> Outcome {
    Outcome::ok(Data::Elements {
        elements: vec![element(u)],
    })
}

fn no_such_user(login: &str) -> Error {
    Error::not_found(format!("no user {login}")).about(Object::User)
}

#[derive(Debug, Clone, Serialize)]
pub struct UserCreate {
    pub login: String,
    pub password: Secret,
    pub rights: Vec<Right>,
    pub allow_ips: Vec<String>,
}

impl UserCreate {
    pub fn parse(p: &mut Params) -> Result<UserCreate> {
        Ok(UserCreate {
            login: login(p)?,
            password: password(p, "new-password")?,
            rights: rights(p)?,
            allow_ips: allow_ips(p)?,
        })
    }

    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let name = own_name(&ctx.partner, &self.login)?.to_string();
        // Counted before the write (a write job does not scan): requests racing each
        // other may pass the bound by their number, never by more.
        let users = ctx.eng.store.users(&ctx.partner.login);
        if users.take(MAX_USERS).count() >= MAX_USERS {
            return Err(Error::policy(
                "user",
                format!("a partner has at most {MAX_USERS} users"),
            ));
        }
        let hash = hash(&self.password).await?;
        let (login, rights, allow_ips) = (
            self.login.clone(),
            self.rights.clone(),
            self.allow_ips.clone(),
        );
        let now = ctx.eng.clock.now();
        ctx.eng
            .write_once(ctx, "user.create", move |tx, partner: &Partner| {
                if tx.user(&partner.login, &name)?.is_some() {
                    return Err(Error::exists(format!("user {login} exists")));
                }
                if tx.has_partner(&login)? {
                    return Err(Error::exists(format!("{login} is another partner's login"))
                        .about(Object::User));
                }
                let u = User {
                    login,
                    partner: partner.login.clone(),
                    password_hash: hash,
                    rights,
                    allow_ips,
                    created: now,
                    updated: now,
                };
                tx.put_user(&u)?;
                Ok(answer(&u))
            })
            .await
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UserList {}

impl UserList {
    pub fn parse(_p: &mut Params) -> Result<UserList> {
        Ok(UserList {})
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let elements = ctx
            .eng
            .store
            .users(&ctx.partner.login)
            .map(|u| u.map(|u| element(&u)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Outcome::ok(Data::Elements { elements }))
    }
}

/// Changes one user in one write: its rights, or its password.
async fn change(
    ctx: &Ctx<'_>,
    command: &'static str,
    login: &str,
    f: impl FnOnce(&mut User) + Send + 'static,
) -> Result<Fresh<Outcome>> {
    let name = own_name(&ctx.partner, login)?.to_string();
    let login = login.to_string();
    let now = ctx.eng.clock.now();
    ctx.eng
        .write_once(ctx, command, move |tx, partner: &Partner| {
            let mut u = tx
                .user(&partner.login, &name)?
                .ok_or_else(|| no_such_user(&login))?;
            f(&mut u);
            u.updated = now;
            tx.put_user(&u)?;
            Ok(answer(&u))
        })
        .await
}

#[derive(Debug, Clone, Serialize)]
pub struct UserSetRights {
    pub login: String,
    pub rights: Vec<Right>,
}

impl UserSetRights {
    pub fn parse(p: &mut Params) -> Result<UserSetRights> {
        Ok(UserSetRights {
            login: login(p)?,
            rights: rights(p)?,
        })
    }

    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let rights = self.rights.clone();
        change(ctx, "user.set-rights", &self.login, move |u| {
            u.rights = rights
        })
        .await
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UserSetPassword {
    pub login: String,
    pub password: Secret,
}

impl UserSetPassword {
    pub fn parse(p: &mut Params) -> Result<UserSetPassword> {
        Ok(UserSetPassword {
            login: login(p)?,
            password: password(p, "new-password")?,
        })
    }

    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        own_name(&ctx.partner, &self.login)?;
        let hash = hash(&self.password).await?;
        change(ctx, "user.set-password", &self.login, move |u| {
            u.password_hash = hash
        })
        .await
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UserDelete {
    pub login: String,
}

impl UserDelete {
    pub fn parse(p: &mut Params) -> Result<UserDelete> {
        Ok(UserDelete { login: login(p)? })
    }

    /// Removes the user: its next request is refused as an unknown login. Orders and
    /// ledger entries it caused keep its login.
    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let name = own_name(&ctx.partner, &self.login)?.to_string();
        let login = self.login.clone();
        ctx.eng
            .write_once(ctx, "user.delete", move |tx, partner: &Partner| {
                let u = tx
                    .user(&partner.login, &name)?
                    .ok_or_else(|| no_such_user(&login))?;
                tx.remove_user(&u);
                Ok(Outcome::ok(Data::Elements {
                    elements: vec![Element::new("user")
                        .attr("login", &u.login)
                        .attr("deleted", "true")],
                }))
            })
            .await
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PartnerSetPassword {
    pub old: Secret,
    pub password: Secret,
}

impl PartnerSetPassword {
    pub fn parse(p: &mut Params) -> Result<PartnerSetPassword> {
        Ok(PartnerSetPassword {
            old: p.req("old-password").map(Secret)?,
            password: password(p, "new-password")?,
        })
    }

    /// Checks the old password against the partner's hash, then stores the new one's
    /// hash, in a write that refuses when the hash changed meanwhile (another change
    /// raced this one).
    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let current = ctx.partner.password_hash.clone();
        let ok = ctx
            .eng
            .auth
            .verify(&ctx.partner.login, &current, &self.old.0, || Ok(()))
            .await?;
        if !ok {
            return Err(Error::policy(
                "old-password",
                "is not the partner's current password",
            ));
        }
        let hash = hash(&self.password).await?;
        let now = ctx.eng.clock.now();
        ctx.eng
            .write_once(ctx, "partner.set-password", move |tx, partner: &Partner| {
                if partner.password_hash != current {
                    return Err(Error::prohibited(
                        "the password was changed by another request meanwhile",
                    )
                    .about(Object::Account));
                }
                let mut p = partner.clone();
                p.password_hash = hash;
                tx.put_partner(&p)?;
                Ok(Outcome::ok(Data::Elements {
                    elements: vec![Element::new("partner")
                        .attr("login", &p.login)
                        .attr("password-changed", at(now))],
                }))
            })
            .await
    }
}
