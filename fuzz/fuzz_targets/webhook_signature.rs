//! Standard Webhooks verification: headers and body from the input, never accepted.
#![no_main]
use reinstate::sources::signature::{SignedHeaders, WebhookSecret, verify};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let (id, ts, sig) = (parts.next(), parts.next(), parts.next());
    let body = parts.next().unwrap_or_default().as_bytes();
    let secrets = [WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret")];
    let headers = SignedHeaders {
        id,
        timestamp: ts,
        signature: sig,
    };
    assert!(verify(&secrets, &headers, body, 1_700_000_000, 300).is_err());
});
