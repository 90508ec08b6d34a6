//! `request.status`: what became of an earlier request, by its request-id — the way
//! a panel finds the outcome of a request whose answer it never received.

use super::params::Params;
use crate::engine::Ctx;
use crate::error::{Error, Object, Result};
use crate::outcome::{Data, Outcome};
use crate::store::records::{Order, RequestRecord};
use crate::store::Requests;
use crate::types::request_id::RequestId;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct RequestStatus {
    pub request_id: String,
}

impl RequestStatus {
    pub fn parse(_p: &mut Params, request_id: Option<Result<RequestId>>) -> Result<RequestStatus> {
        let request_id = request_id.ok_or_else(|| Error::missing("request-id"))??;
        Ok(RequestStatus {
            request_id: request_id.into_string(),
        })
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let login = &ctx.partner.login;
        let rec: RequestRecord<Outcome> = ctx
            .eng
            .store
            .request(login, &self.request_id)?
            .ok_or_else(|| {
                Error::not_found(format!("no request with request-id {}", self.request_id))
                    .about(Object::Request)
            })?;
        let (state, response) = match rec.outcome {
            Some(o) => ("done", o),
            None => {
                let id = rec
                    .order
                    .ok_or_else(|| Error::internal("open request without order"))?;
                let order: Order = ctx
                    .eng
                    .store
                    .order(login, id)?
                    .ok_or_else(|| Error::internal(format!("order {id} is missing")))?;
                let mut o = Outcome::pending(Data::Order(Box::new(order)));
                o.request_id = Some(rec.request_id.clone());
                ("pending", o)
            }
        };
        Ok(Outcome::ok(Data::Request {
            request_id: rec.request_id,
            command: rec.command,
            state: state.to_string(),
            order: rec.order,
            response: Some(Box::new(response)),
        }))
    }
}
