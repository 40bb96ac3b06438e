//! A running `fulfil serve` over HTTP: what the CLI asks of it when the
//! store is held by the service (`--server URL`).

use anyhow::Context;
use serde_json::Value;

/// The service at a base URL, with a runtime to wait on its answers.
pub struct Server {
    base: String,
    /// `Bearer TOKEN`, when the service needs one; never printed.
    authorization: Option<String>,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Server {
    /// The service at `base` (`http://127.0.0.1:8080`), asked with `token`.
    pub fn new(base: &str, token: Option<&str>) -> anyhow::Result<Self> {
        anyhow::ensure!(
            base.starts_with("http://") || base.starts_with("https://"),
            "--server {base}: expected a URL such as http://127.0.0.1:8080"
        );
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            authorization: token.map(|t| format!("Bearer {}", t.trim())),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            client: reqwest::Client::new(),
        })
    }

    /// GETs `path` with `query`: the status and the JSON body.
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        self.send(self.client.get(&url).query(query), &url)
    }

    /// POSTs `body` to `path` with `query`: the status and the JSON body.
    pub fn post(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: String,
    ) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        self.send(self.client.post(&url).query(query).body(body), &url)
    }

    fn send(&self, request: reqwest::RequestBuilder, url: &str) -> anyhow::Result<(u16, Value)> {
        let request = match &self.authorization {
            Some(a) => request.header(reqwest::header::AUTHORIZATION, a),
            None => request,
        };
        self.runtime.block_on(async {
            let response = request
                .send()
                .await
                .with_context(|| format!("asking {url} (is `fulfil serve` running there?)"))?;
            let status = response.status().as_u16();
            let text = response.text().await?;
            if status == 401 || status == 403 {
                let why = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_owned))
                    .unwrap_or(text);
                anyhow::bail!("{url} refused the request ({status}): {why}; give a token with --token (or FULFIL_TOKEN)");
            }
            let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
            Ok((status, body))
        })
    }
}
