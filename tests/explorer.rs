//! The explorer page in a real browser: a running hierarchy, Debian's
//! chromium driven through chromedriver (W3C WebDriver over HTTP). The home
//! page shows every chain with its height and committee and recent blocks;
//! searching an object id opens its history; searching a record's hash
//! opens its page with its block and its receipt, checked in the page
//! (WebAssembly) against the genesis the node serves; a receipt pasted
//! into the verify page shows as verified, and with one digit changed as
//! not; a hash no node knows shows the API's refusal. (`scripts/ensure-deps` installs chromium and
//! chromium-driver.)

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use strata::client::Client;
use strata_crypto::sr25519::TxKeypair;

/// A chromedriver on a loopback port, killed when dropped.
struct Driver {
    process: Child,
    client: Client,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Driver {
    fn start(port: u16) -> Driver {
        let process = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (scripts/ensure-deps installs chromium-driver)");
        let client = Client::new(&format!("http://127.0.0.1:{port}"));
        common::wait_until("chromedriver answers", Duration::from_secs(20), || {
            client.get("/status").is_ok_and(|a| a.status == 200)
        });
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
            }
        }}});
        let a = client
            .post("/session", "application/json", caps.to_string().as_bytes())
            .unwrap();
        assert_eq!(a.status, 200, "a browser session: {}", a.body);
        let session = a.body["value"]["sessionId"].as_str().unwrap().to_string();
        Driver {
            process,
            client,
            session,
        }
    }

    fn call(&self, path: &str, body: Value) -> Value {
        let a = self
            .client
            .post(
                &format!("/session/{}{path}", self.session),
                "application/json",
                body.to_string().as_bytes(),
            )
            .unwrap();
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        a.body["value"].clone()
    }

    fn go(&self, url: &str) {
        self.call("/url", json!({ "url": url }));
    }

    /// The text of the first element `css` selects.
    fn text(&self, css: &str) -> String {
        let id = self.element(css);
        let a = self
            .client
            .get(&format!("/session/{}/element/{id}/text", self.session))
            .unwrap();
        a.body["value"].as_str().unwrap_or_default().to_string()
    }

    fn element(&self, css: &str) -> String {
        let e = self.call("/element", json!({"using": "css selector", "value": css}));
        e.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_string()
    }

    /// Pastes `text` into the receipt box of the verify page and submits it.
    fn verify(&self, text: &str) {
        self.call(
            "/execute/sync",
            json!({
                "script": "document.getElementById('receipt-text').value = arguments[0];",
                "args": [text],
            }),
        );
        let button = self.element("#verify-form button");
        self.call(&format!("/element/{button}/click"), json!({}));
    }

    /// Types `text` into the search box and submits it.
    fn search(&self, text: &str) {
        let q = self.element("#q");
        self.call(&format!("/element/{q}/clear"), json!({}));
        self.call(&format!("/element/{q}/value"), json!({ "text": text }));
        let button = self.element("#search button");
        self.call(&format!("/element/{button}/click"), json!({}));
    }

    /// Waits until the page's main part contains `what`; its text.
    fn wait_for(&self, what: &str) -> String {
        let started = Instant::now();
        loop {
            let t = self.text("#main");
            if t.contains(what) {
                return t;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the page never showed {what:?}; it shows:\n{t}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn the_explorer_renders_chains_searches_and_verifies_a_receipt_in_the_page() {
    let _serial = common::SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let net = common::start(46, 4, 4);
    let edge = common::client(&net, "edge-0-0");
    let key = TxKeypair::from_seed(&[46; 32]);
    let object = "explorer-sensor-7";
    let tx = common::signed(&key, 0, object, 0);
    let hash = tx.hash();
    let answer = common::post(&edge, &tx);
    assert_eq!(answer.status, 202, "{}", answer.body);
    common::committed_within(&edge, &hash, Duration::from_secs(60));

    let browser = Driver::start(19_515);
    let home = edge.base().to_string();
    browser.go(&format!("{home}/"));
    // An edge node follows its domain's chain; a cloud node the global one.
    let page = browser.wait_for("local-0: recent blocks");
    assert!(page.contains("local-0: committee"), "{page}");
    let cloud = common::client(&net, "cloud-0");
    browser.go(&format!("{}/", cloud.base()));
    browser.wait_for("global: recent blocks");
    browser.go(&format!("{home}/"));
    browser.wait_for("local-0: recent blocks");

    browser.search(object);
    let page = browser.wait_for("History (1)");
    assert!(page.contains("local-0"), "{page}");

    browser.search(&hash.to_hex());
    let page = browser.wait_for("Receipt");
    assert!(page.contains("committed"), "{page}");
    assert!(page.contains("In block"), "{page}");
    // The receipt is checked in the page (WebAssembly) against the genesis
    // the node serves, whose digest it names.
    let page = browser.wait_for("Receipt verified");
    let genesis = edge.get("/v1/genesis").unwrap();
    let digest = genesis.body["digest"].as_str().unwrap().to_string();
    assert!(page.contains(&digest), "{page}");
    assert!(page.contains("on local-0"), "{page}");

    // A receipt pasted into the verify page: as served, then with one
    // digit of the record changed.
    let receipt = edge
        .get(&format!("/v1/tx/{}/receipt", hash.to_hex()))
        .unwrap()
        .body;
    browser.go(&format!("{home}/#/verify"));
    browser.wait_for("Verify a receipt");
    browser.verify(&receipt.to_string());
    browser.wait_for("Receipt verified");
    let mut tampered = receipt.clone();
    let record = tampered["record"].as_str().unwrap().to_string();
    let flipped = if record.ends_with('0') { '1' } else { '0' };
    tampered["record"] = Value::String(format!("{}{flipped}", &record[..record.len() - 1]));
    browser.verify(&tampered.to_string());
    let page = browser.wait_for("Receipt not verified");
    assert!(page.contains("record"), "{page}");
    assert!(!page.contains("Receipt verified"), "{page}");

    let unknown = "ab".repeat(32);
    browser.search(&unknown);
    browser.wait_for("not_found");

    // An anchor is a committed system transaction: it has no receipt (a
    // refusal, not a receipt that fails its own check with a 500).
    let mut anchor = None;
    common::wait_until(
        "an anchor on the global chain",
        Duration::from_secs(60),
        || {
            let top = common::height(&cloud, "global");
            anchor = (1..=top).find_map(|h| {
                let b = cloud.get_ok(&format!("/v1/block/global/{h}")).ok()?;
                b["transactions"].get(0)?.as_str().map(str::to_string)
            });
            anchor.is_some()
        },
    );
    let anchor = anchor.unwrap();
    let refused = cloud.get(&format!("/v1/tx/{anchor}/receipt")).unwrap();
    assert_eq!(refused.status, 404, "{}", refused.body);
    assert_eq!(
        refused.body["error"]["code"], "not_a_record",
        "{}",
        refused.body
    );
    browser.go(&format!("{}/#/tx/{anchor}", cloud.base()));
    browser.wait_for("not_a_record");
}
