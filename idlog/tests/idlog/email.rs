//! `idlog email test`: through the folder transport, through a real SMTP sink (mailtutan), and
//! through an SMTP server that is not there.

use super::common::{Sink, run, text};

#[test]
fn a_test_message_goes_to_the_mail_folder_by_default() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run(dir.path(), &["email", "test", "ops@folder.example"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("sent a test message to ops@folder.example"));
    let mail = dir.path().join("idlog-data/mail");
    let messages: Vec<String> = std::fs::read_dir(&mail)
        .expect("the mail folder")
        .filter_map(Result::ok)
        .map(|entry| std::fs::read_to_string(entry.path()).expect("message"))
        .collect();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].contains("To: ops@folder.example"),
        "{}",
        messages[0]
    );
    assert!(
        messages[0].contains("Subject: idlog: a test message"),
        "{}",
        messages[0]
    );

    let invalid = run(dir.path(), &["email", "test", "not-an-address"], &[]);
    assert_eq!(invalid.status.code(), Some(2), "{}", text(&invalid));
}

#[tokio::test]
async fn a_test_message_goes_through_smtp_or_says_why_not() {
    let sink = Sink::from_env();
    // The sink is shared: this run's own domain tells its message apart.
    let domain = format!("{}.example", uuid::Uuid::new_v4().simple());
    let address = format!("ops@{domain}");
    let dir = tempfile::tempdir().expect("temp dir");
    let env = sink.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = run(dir.path(), &["email", "test", &address], &env);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("through SMTP"), "{}", text(&output));
    let arrived = sink.wait_for(&format!("@{domain}"), 1, 10).await;
    assert_eq!(arrived.len(), 1, "{arrived:?}");
    assert_eq!(arrived[0].subject, "idlog: a test message");

    // Nothing listens on port 9: the command fails and says why.
    let mut nowhere = env.clone();
    nowhere.retain(|(key, _)| *key != "IDLOG_EMAIL_SMTP_PORT");
    nowhere.push(("IDLOG_EMAIL_SMTP_PORT", "9"));
    nowhere.push(("IDLOG_EMAIL_SMTP_TIMEOUT_SECS", "3"));
    let failed = run(dir.path(), &["email", "test", &address], &nowhere);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    assert!(
        text(&failed).contains("could not be sent through SMTP 127.0.0.1:9"),
        "{}",
        text(&failed)
    );
}
