//! The pages in a real headless Chromium (Debian's `chromium` and `chromium-driver`), driven
//! over WebDriver, on SQLite and PostgreSQL: each flow as a person goes through it, every page
//! it shows checked with axe-core for serious or critical accessibility findings, and the main
//! pages saved as screenshots (1280 and 390 px wide) under `target/screenshots/`.
//!
//! `scripts/test` starts chromedriver on `127.0.0.1:9515` (`WEBDRIVER_URL` says otherwise) and
//! installs axe-core from npm, pinned (`AXE_CORE_JS` names its `axe.min.js`).

mod accounts;
mod browser;
mod console;
mod foundation;
mod security;
