//! Helpers of the API tests: problem+json answers, a registration body, raw requests.

use serde_json::{Value, json};

/// Asserts a problem+json answer with `status`; returns its body.
pub async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], status);
    // RFC 9457's members, every one present in every problem idlog answers.
    for member in ["type", "title", "detail"] {
        assert!(
            body[member].as_str().is_some_and(|text| !text.is_empty()),
            "`{member}` missing from {body}"
        );
    }
    body
}

/// A valid registration body.
pub fn ann() -> Value {
    json!({
        "email": "Ann.Lee@Example.com",
        "password": "correct horse battery staple",
        "username": "ann_lee",
        "phone": "+1 415 555 0100",
        "first_name": "Ann",
        "last_name": "Lee"
    })
}

/// Posts over a bare connection, declaring `content_length` whatever `body` holds: an HTTP client
/// reports a server answering before reading the whole body as a broken pipe.
pub async fn raw_post(address: &str, path: &str, content_length: usize, body: &[u8]) -> String {
    raw_post_with(
        address,
        path,
        &[("Content-Type", "application/json")],
        content_length,
        body,
    )
    .await
}

/// [`raw_post`] with more headers.
pub async fn raw_post_with(
    address: &str,
    path: &str,
    headers: &[(&str, &str)],
    content_length: usize,
    body: &[u8],
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: {content_length}\r\nConnection: close\r\n\r\n"
    );
    let body = body.to_vec();
    let writing = tokio::spawn(async move {
        // The server may close early; what matters is its answer.
        let _ = writer.write_all(head.as_bytes()).await;
        let _ = writer.write_all(&body).await;
    });
    let mut response = Vec::new();
    let _ = reader.read_to_end(&mut response).await;
    writing.abort();
    String::from_utf8_lossy(&response).into_owned()
}
