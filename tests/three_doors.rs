//! Same engine, same answers: one scenario (register, renew, set nameservers) through
//! the native protocol, the MasterName gateway and the Namecheap API, for one partner.
//! The domains, the orders and the ledger entries each door leaves must be the same.

mod common;

use common::TestServer;
use std::collections::BTreeMap;

fn base(s: &TestServer) -> String {
    s.url.trim_end_matches("/api").to_string()
}

/// Every `<tag …>` element's attributes, in order.
fn elements(body: &str, tag: &str) -> Vec<BTreeMap<String, String>> {
    let open = format!("<{tag} ");
    body.match_indices(&open)
        .map(|(i, _)| {
            let rest = &body[i + open.len()..];
            let end = rest.find('>').unwrap();
            let mut m = BTreeMap::new();
            let mut s = &rest[..end];
            while let Some(eq) = s.find("=\"") {
                let k = s[..eq].trim().to_string();
                let v_end = s[eq + 2..].find('"').unwrap();
                m.insert(k, s[eq + 2..eq + 2 + v_end].to_string());
                s = &s[eq + 3 + v_end..];
            }
            m
        })
        .collect()
}

async fn mastername(s: &TestServer, action: &str, rid: &str, section: &str) {
    let text = format!(
        "[request]\nlogin: demo\npassword: demo-password\naction: {action}\nrequest-id: {rid}\n\n{section}"
    );
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(&text);
    let body = format!(
        "request={}",
        percent_encoding::percent_encode(&bytes, percent_encoding::NON_ALPHANUMERIC)
    );
    let answer = s
        .client
        .post(format!("{}/partner_gateway", base(s)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(answer.starts_with("status: 200 "), "{answer}");
}

async fn namecheap(s: &TestServer, query: &str) {
    let answer = s
        .client
        .post(format!(
            "{}/xml.response?ApiUser=demo&ApiKey=demo-password&UserName=demo&ClientIp=127.0.0.1&{query}",
            base(s)
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(answer.contains("Status=\"OK\""), "{answer}");
}

#[tokio::test]
async fn native_mastername_and_namecheap_leave_the_same_traces() {
    let s = common::start().await;
    let client = s.client("C1").await;

    // Native.
    for body in [
        format!("command=domain.register&request-id=N1&domain=door-native.ru&client={client}"),
        "command=domain.renew&request-id=N2&domain=door-native.ru&expires=2027-01-15".into(),
        "command=domain.set-ns&request-id=N3&domain=door-native.ru&ns=ns1.example.net&ns=ns2.example.net".into(),
    ] {
        assert_eq!(s.form(&body).await.code(), 1000);
    }
    // MasterName.
    mastername(
        &s,
        "register_domain",
        "M1",
        &format!("[domain]\nclient: {client}\ndomain: door-mastername.ru\n"),
    )
    .await;
    mastername(
        &s,
        "prolong_domain",
        "M2",
        "[domain]\ndomain: door-mastername.ru\n",
    )
    .await;
    mastername(
        &s,
        "update_domain",
        "M3",
        "[domain]\ndomain: door-mastername.ru\nnserver: ns1.example.net\nnserver: ns2.example.net\n",
    )
    .await;
    // Namecheap.
    namecheap(
        &s,
        "Command=namecheap.domains.create&DomainName=door-namecheap.ru&Years=1&RegistrantFirstName=Ivan\
         &RegistrantLastName=Petrov&RegistrantAddress1=Tverskaya+1&RegistrantCity=Moscow\
         &RegistrantStateProvince=Moscow&RegistrantPostalCode=101000&RegistrantCountry=RU\
         &RegistrantPhone=%2B7.4951234567&RegistrantEmailAddress=ivan%40example.net",
    )
    .await;
    namecheap(
        &s,
        "Command=namecheap.domains.renew&DomainName=door-namecheap.ru&Years=1",
    )
    .await;
    namecheap(
        &s,
        "Command=namecheap.domains.dns.setCustom&SLD=door-namecheap&TLD=ru&Nameservers=ns1.example.net,ns2.example.net",
    )
    .await;

    let doors = ["door-native.ru", "door-mastername.ru", "door-namecheap.ru"];

    // Domains: the same but for the name (and the client: Namecheap makes its own).
    let domains = s.form("command=domain.list").await;
    let domains = elements(&domains.body, "domain");
    assert_eq!(domains.len(), 3);
    let shape = |d: &BTreeMap<String, String>| {
        let mut d = d.clone();
        d.remove("name");
        d.remove("client");
        d
    };
    assert_eq!(shape(&domains[0]), shape(&domains[1]));
    assert_eq!(shape(&domains[1]), shape(&domains[2]));
    assert_eq!(domains[0]["expires"], "2028-01-15");
    for d in ["door-native.ru", "door-mastername.ru", "door-namecheap.ru"] {
        let info = s.form(&format!("command=domain.info&domain={d}")).await;
        assert!(info
            .body
            .contains("<ns>ns1.example.net</ns>\n      <ns>ns2.example.net</ns>"));
    }

    // Orders: per door, the same commands, states and amounts.
    let orders = s.form("command=order.list&limit=100").await;
    let orders = elements(&orders.body, "order");
    let per_door = |domain: &str| -> Vec<(String, String, String)> {
        let mut v: Vec<_> = orders
            .iter()
            .filter(|o| o["domain"] == domain)
            .map(|o| {
                (
                    o["command"].clone(),
                    o["state"].clone(),
                    o["amount"].clone(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let want = per_door(doors[0]);
    assert_eq!(want.len(), 3, "{want:?}");
    for d in &doors[1..] {
        assert_eq!(per_door(d), want, "{d}");
    }

    // Ledger: per door, the same movements.
    let ledger = s.form("command=ledger.list&limit=100").await;
    let entries = elements(&ledger.body, "entry");
    let order_domain: BTreeMap<String, String> = orders
        .iter()
        .map(|o| (o["id"].clone(), o["domain"].clone()))
        .collect();
    let moves = |domain: &str| -> Vec<(String, String)> {
        let mut v: Vec<_> = entries
            .iter()
            .filter(|e| {
                e.get("order")
                    .and_then(|o| order_domain.get(o))
                    .map(String::as_str)
                    == Some(domain)
            })
            .map(|e| (e["kind"].clone(), e["amount"].clone()))
            .collect();
        v.sort();
        v
    };
    let want = moves(doors[0]);
    assert_eq!(want, vec![("charge".to_string(), "-590.00".to_string()); 2]);
    for d in &doors[1..] {
        assert_eq!(moves(d), want, "{d}");
    }
    let bal = s.form("command=balance.get").await;
    assert!(bal.body.contains(">6460.00</balance>"), "{}", bal.body);
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}
