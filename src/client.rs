//! A small blocking client of a node's HTTP API (the CLI, the load
//! generator and the end-to-end tests use it).

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
