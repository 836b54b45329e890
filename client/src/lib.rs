//! A small blocking client of a Strata node's HTTP API (issue 28, point
//! 4): the `strata` CLI, its load generator and the end-to-end tests use
//! it. The typed calls (`status`, `submit`, `submit_json`,
//! `signing_digest`, `tx`, `receipt`, `export`) are the API's routes with
//! its errors as `ClientError::Api`; `get`, `post` and friends reach any
//! other route.

use std::time::Duration;

use serde_json::Value;

/// What went wrong talking to a node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{url}: {message}")]
    Transport { url: String, message: String },
    #[error("{url}: HTTP {status}: {code}: {message}")]
    Api {
        url: String,
        status: u16,
        code: String,
        message: String,
    },
}

/// A node's answer: the status and the JSON body.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The answer's body if it is a success, else the API error it names.
    pub fn ok(self, url: &str) -> Result<Value, ClientError> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        let text = |k: &str| {
            self.body
                .pointer(&format!("/error/{k}"))
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        Err(ClientError::Api {
            url: url.to_string(),
            status: self.status,
            code: text("code"),
            message: text("message"),
        })
    }

    /// The `error.code` of a refusal.
    pub fn error_code(&self) -> Option<&str> {
        self.body.pointer("/error/code").and_then(|v| v.as_str())
    }
}

#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client::with_timeout(base, Duration::from_secs(30))
    }

    pub fn with_timeout(base: &str, timeout: Duration) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .max_idle_connections_per_host(8)
            .build()
            .new_agent();
        Client {
            agent,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn finish(
        url: &str,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Answer, ClientError> {
        let transport = |e: &dyn std::fmt::Display| ClientError::Transport {
            url: url.to_string(),
            message: e.to_string(),
        };
        let mut resp = resp.map_err(|e| transport(&e))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .map_err(|e| transport(&e))?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Answer { status, body })
    }

    pub fn get(&self, path: &str) -> Result<Answer, ClientError> {
        let url = self.url(path);
        Client::finish(&url, self.agent.get(&url).call())
    }

    /// GET, and the body of a 2xx answer.
    pub fn get_ok(&self, path: &str) -> Result<Value, ClientError> {
        let url = self.url(path);
        self.get(path)?.ok(&url)
    }

    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Result<Answer, ClientError> {
        let url = self.url(path);
        Client::finish(
            &url,
            self.agent
                .post(&url)
                .header("content-type", content_type)
                .send(body),
        )
    }

    /// Fetches the raw text of a path (e.g. `/metrics`).
    pub fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let url = self.url(path);
        let transport = |e: &dyn std::fmt::Display| ClientError::Transport {
            url: url.clone(),
            message: e.to_string(),
        };
        let mut resp = self.agent.get(&url).call().map_err(|e| transport(&e))?;
        resp.body_mut().read_to_string().map_err(|e| transport(&e))
    }

    /// Fetches the raw bytes of a path, at most `limit` (a success only).
    pub fn get_bytes(&self, path: &str, limit: u64) -> Result<Vec<u8>, ClientError> {
        let url = self.url(path);
        let transport = |e: &dyn std::fmt::Display| ClientError::Transport {
            url: url.clone(),
            message: e.to_string(),
        };
        let mut resp = self.agent.get(&url).call().map_err(|e| transport(&e))?;
        if !resp.status().is_success() {
            return Err(transport(&format!("HTTP {}", resp.status())));
        }
        resp.body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| transport(&e))
    }
}

/// How final a transaction must be before `Client::tx` answers
/// (the API's `wait`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// In a mempool, durable on the node that answered.
    Accepted,
    /// Final on its chain.
    Local,
    /// Its block anchored and the anchor final on the global chain.
    Global,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Accepted => "accepted",
            Level::Local => "local",
            Level::Global => "global",
        }
    }
}

/// The query of `GET /v1/tx/{hash}`.
fn tx_path(hash: &str, wait: Option<(Level, Duration)>) -> String {
    match wait {
        None => format!("/v1/tx/{hash}"),
        Some((level, timeout)) => format!(
            "/v1/tx/{hash}?wait={}&timeout_ms={}",
            level.as_str(),
            timeout.as_millis()
        ),
    }
}

impl Client {
    /// `GET /v1/status`: version, network, peers, every chain's heights.
    pub fn status(&self) -> Result<Value, ClientError> {
        self.get_ok("/v1/status")
    }

    /// `POST /v1/tx` with a SCALE-encoded transaction; its hash (hex).
    pub fn submit(&self, scale: &[u8]) -> Result<String, ClientError> {
        let url = self.url("/v1/tx");
        let body = self
            .post("/v1/tx", "application/octet-stream", scale)?
            .ok(&url)?;
        hash_of(&url, &body)
    }

    /// `POST /v1/tx/digest`: what the sender of a JSON record signs
    /// (`signing_digest`, hex; `context`; `record_scale`).
    pub fn signing_digest(&self, record: &Value) -> Result<Value, ClientError> {
        let url = self.url("/v1/tx/digest");
        let body = serde_json::json!({ "record": record }).to_string();
        self.post("/v1/tx/digest", "application/json", body.as_bytes())?
            .ok(&url)
    }

    /// `POST /v1/tx` with a JSON record and its sender's signature of the
    /// signing digest (hex); its hash (hex).
    pub fn submit_json(&self, record: &Value, signature_hex: &str) -> Result<String, ClientError> {
        let url = self.url("/v1/tx");
        let body = serde_json::json!({ "record": record, "signature": signature_hex }).to_string();
        let answer = self
            .post("/v1/tx", "application/json", body.as_bytes())?
            .ok(&url)?;
        hash_of(&url, &answer)
    }

    /// `GET /v1/tx/{hash}`, waiting up to `timeout` for `level` if given.
    pub fn tx(&self, hash: &str, wait: Option<(Level, Duration)>) -> Result<Value, ClientError> {
        self.get_ok(&tx_path(hash, wait))
    }

    /// `GET /v1/tx/{hash}/receipt`: the receipt as JSON.
    pub fn receipt(&self, hash: &str) -> Result<Value, ClientError> {
        self.get_ok(&format!("/v1/tx/{hash}/receipt"))
    }

    /// `GET /v1/export/{chain}/{from}?count=N`: committed blocks with their
    /// batches (SCALE), at most `limit` bytes.
    pub fn export(
        &self,
        chain: &str,
        from: u64,
        count: u32,
        limit: u64,
    ) -> Result<Vec<u8>, ClientError> {
        self.get_bytes(&format!("/v1/export/{chain}/{from}?count={count}"), limit)
    }
}

fn hash_of(url: &str, body: &Value) -> Result<String, ClientError> {
    body["hash"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| ClientError::Transport {
            url: url.to_string(),
            message: format!("an answer without a hash: {body}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_become_the_apis_query() {
        assert_eq!(tx_path("ab", None), "/v1/tx/ab");
        assert_eq!(
            tx_path("ab", Some((Level::Global, Duration::from_secs(3)))),
            "/v1/tx/ab?wait=global&timeout_ms=3000"
        );
    }

    #[test]
    fn an_error_answer_is_the_apis_code_and_message() {
        let a = Answer {
            status: 409,
            body: serde_json::json!({"error": {"code": "replayed_nonce", "message": "nonce 4 is spent"}}),
        };
        assert_eq!(a.error_code(), Some("replayed_nonce"));
        match a.ok("http://n/v1/tx") {
            Err(ClientError::Api {
                status,
                code,
                message,
                ..
            }) => {
                assert_eq!(
                    (status, code.as_str(), message.as_str()),
                    (409, "replayed_nonce", "nonce 4 is spent")
                );
            }
            other => panic!("{other:?}"),
        }
        let ok = Answer {
            status: 202,
            body: serde_json::json!({"hash": "ff"}),
        };
        assert_eq!(hash_of("u", &ok.ok("u").unwrap()).unwrap(), "ff");
    }

    #[test]
    fn a_node_that_is_not_there_is_a_transport_error() {
        // Port 9 on loopback: nothing listens (discard is not run).
        let c = Client::with_timeout("http://127.0.0.1:9", Duration::from_secs(2));
        assert!(matches!(c.status(), Err(ClientError::Transport { .. })));
    }
}
