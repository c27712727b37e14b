//! Where a request came from, as a person reads it: its address, and the country when an
//! operator configures a GeoIP2 or GeoLite2 Country database (`server.geoip_database`). The
//! country is looked up when shown, never stored: the log keeps the address alone.

use std::net::IpAddr;
use std::path::Path;

/// The configured country database, if any.
#[derive(Default)]
pub struct Places {
    countries: Option<maxminddb::Reader<Vec<u8>>>,
}

impl std::fmt::Debug for Places {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Places")
            .field("countries", &self.countries.is_some())
            .finish()
    }
}

/// A country database that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("the GeoIP database {path} cannot be read: {reason}")]
pub struct PlacesError {
    path: String,
    reason: String,
}

impl Places {
    /// No country database: places are addresses.
    pub fn addresses_only() -> Self {
        Self::default()
    }

    /// Places with countries from the MaxMind DB file at `path` (read into memory once).
    pub fn with_countries(path: &Path) -> Result<Self, PlacesError> {
        let reader = maxminddb::Reader::open_readfile(path).map_err(|error| PlacesError {
            path: path.display().to_string(),
            reason: error.to_string(),
        })?;
        Ok(Self {
            countries: Some(reader),
        })
    }

    /// The country of `ip` in English, when a database is configured and knows it.
    pub fn country(&self, ip: &str) -> Option<String> {
        let reader = self.countries.as_ref()?;
        let ip: IpAddr = ip.parse().ok()?;
        let found = reader.lookup(ip).ok()?;
        let country = found.decode::<maxminddb::geoip2::Country>().ok()??;
        country.country.names.english.map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Places {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/geoip-test.mmdb");
        Places::with_countries(&path).expect("the test database reads")
    }

    #[test]
    fn a_configured_database_names_the_country_of_an_address() {
        let places = fixture();
        assert_eq!(places.country("203.0.113.9").as_deref(), Some("Brazil"));
        assert_eq!(
            places.country("198.51.100.1").as_deref(),
            Some("New Zealand")
        );
        assert_eq!(places.country("192.0.2.1"), None, "not in the database");
        assert_eq!(places.country("not an address"), None);
    }

    #[test]
    fn without_a_database_a_place_is_its_address_alone() {
        assert_eq!(Places::addresses_only().country("203.0.113.9"), None);
    }

    #[test]
    fn a_missing_database_is_an_error_naming_it() {
        let error = Places::with_countries(Path::new("/no/such/GeoLite2-Country.mmdb"))
            .expect_err("no file");
        assert!(error.to_string().contains("/no/such/GeoLite2-Country.mmdb"));
    }
}
