//! The library's Connect client against the code table the fake Velox servers answer
//! with, so that the client, the Rust fake and the Go fake read one table.

use velox_core::upstream::Code;
use velox_testkit::fake_velox;

fn table() -> serde_json::Value {
    serde_json::from_str(fake_velox::CONNECT_CODES_JSON).expect("connect_codes.json is JSON")
}

#[test]
fn every_code_in_the_table_is_a_wire_name_the_client_knows() {
    let table = table();
    let codes = table["code_to_http"].as_object().expect("code_to_http");
    assert_eq!(codes.len(), 16, "Connect has sixteen error codes");
    for name in codes.keys() {
        let code = Code::parse(name).unwrap_or_else(|| panic!("the client does not know {name}"));
        assert_eq!(code.as_str(), name);
    }
}

#[test]
fn a_bare_status_infers_the_code_the_table_names() {
    let table = table();
    let inferred = table["http_to_code"].as_object().expect("http_to_code");
    let default = table["http_to_code_default"].as_str().expect("default");
    for status in 100u16..=599 {
        let want = inferred
            .get(&status.to_string())
            .map_or(default, |c| c.as_str().expect("a code name"));
        assert_eq!(
            Code::from_http_status(status).as_str(),
            want,
            "HTTP {status}"
        );
    }
}

#[test]
fn the_fake_answers_each_code_with_the_table_status() {
    let table = table();
    for (name, status) in table["code_to_http"].as_object().expect("code_to_http") {
        let fake_velox::Reply::Connect { http, .. } = fake_velox::Reply::connect(name, "m") else {
            panic!("Reply::connect is a Connect reply")
        };
        assert_eq!(Some(u64::from(http)), status.as_u64(), "{name}");
    }
    let fake_velox::Reply::Connect { http, .. } = fake_velox::Reply::connect("nonsense", "m")
    else {
        panic!("Reply::connect is a Connect reply")
    };
    assert_eq!(Some(u64::from(http)), table["unknown_code_http"].as_u64());
}
