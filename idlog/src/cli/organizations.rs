//! `idlog organizations ...`: create, list (by partner code, communication, format or text),
//! show (by id or partner code) and set or remove an organization's partner details, its API
//! keys, and the catalog of permission flags, through the application's use cases as the API
//! runs them.

use super::confirm;
use super::operator::Operator;
use application::organizations::{NewOrganization, OrganizationChanges};
use application::users::Preconditions;
use application::{AppError, RequestContext};
use clap::Subcommand;
use domain::OrganizationId;
use domain::organization::{
    CommunicationMethod, Contact, EdiFormat, Organization, OrganizationState, OrganizationStatus,
    PartnerDetails,
};
use domain::values::{EdiId, Email, OrganizationName, PartnerCode, PersonName, PhoneNumber};
use idlog::Usage;
use idlog::config::Settings;
use projections::queries::OrganizationFilter;

/// `idlog organizations ...`.
#[derive(Debug, Subcommand)]
pub enum OrganizationsCommand {
    /// Creates an organization (with partner details when `--partner-code` is given).
    Create {
        /// Its unique name.
        name: String,
        #[command(flatten)]
        partner: PartnerArgs,
        #[command(flatten)]
        contact: ContactArgs,
    },
    /// Changes an organization's contact (what is not given stays).
    Contact {
        /// The organization's id.
        organization: String,
        #[command(flatten)]
        contact: ContactArgs,
    },
    /// Lists organizations from the read model (brought up to date first).
    List {
        /// Part of the name, display name, partner code, sender or receiver id, or the
        /// contact's name, email or phone.
        #[arg(long)]
        q: Option<String>,
        /// Exactly this partner code.
        #[arg(long)]
        partner_code: Option<String>,
        /// `sftp`, `api`, `both` or `manual`.
        #[arg(long)]
        communication: Option<String>,
        /// `X12`, `EDIFACT`, `XML`, `JSON` or `CSV`.
        #[arg(long)]
        format: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Prints an organization as JSON, by id or (with `--code`) by partner code.
    Show {
        /// The organization's id, or its partner code with `--code`.
        organization: String,
        /// Look it up by partner code.
        #[arg(long)]
        code: bool,
    },
    /// Sets or changes an organization's partner details.
    Partner {
        /// The organization's id.
        organization: String,
        #[command(flatten)]
        partner: PartnerArgs,
    },
    /// Lists the permission flags memberships may carry, and those retired.
    Permissions,
    /// Defines a permission flag (or a retired one again).
    DefinePermission {
        /// The flag, e.g. `can_sign_contracts`.
        name: String,
    },
    /// Retires a permission flag: no membership may be given it from now on.
    RetirePermission {
        /// The flag.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Lists an organization's API keys (never their secrets).
    Keys {
        /// The organization's id.
        organization: String,
    },
    /// Creates an API key for an organization and prints it: the only time it is shown.
    CreateKey {
        /// The organization's id.
        organization: String,
        /// What it is for, unique among the organization's keys in use.
        name: String,
        /// A permission flag it acts with (repeat for several).
        #[arg(long = "permission")]
        permissions: Vec<String>,
        /// When it stops working (RFC 3339, e.g. 2027-01-31T00:00:00Z); without it, never.
        #[arg(long, conflicts_with = "expires_in_days")]
        expires: Option<chrono::DateTime<chrono::Utc>>,
        /// It stops working this many days from now.
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Revokes an organization's API key: it authenticates nothing from now on.
    RevokeKey {
        /// The organization's id.
        organization: String,
        /// The key's id.
        key: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Removes an organization's partner details (its code and ids become free).
    Unpartner {
        /// The organization's id.
        organization: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// An organization's contact as options.
#[derive(Debug, clap::Args)]
pub struct ContactArgs {
    /// The contact's name.
    #[arg(long)]
    contact_name: Option<String>,
    /// The contact's email address.
    #[arg(long)]
    contact_email: Option<String>,
    /// The contact's phone number, in international form.
    #[arg(long)]
    contact_phone: Option<String>,
}

impl ContactArgs {
    /// The values given, read; one that does not read is the caller's error.
    fn read(&self) -> Result<Contact, Usage> {
        fn read<T>(
            raw: Option<&String>,
            parse: impl FnOnce(&str) -> Result<T, domain::values::InvalidValue>,
            option: &str,
        ) -> Result<Option<T>, Usage> {
            raw.map(|raw| parse(raw).map_err(|error| Usage(format!("{option}: {}", error.message))))
                .transpose()
        }
        Ok(Contact {
            name: read(
                self.contact_name.as_ref(),
                PersonName::parse,
                "--contact-name",
            )?,
            email: read(self.contact_email.as_ref(), Email::parse, "--contact-email")?,
            phone: read(
                self.contact_phone.as_ref(),
                PhoneNumber::parse,
                "--contact-phone",
            )?,
        })
    }
}

/// Partner details as options.
#[derive(Debug, clap::Args)]
pub struct PartnerArgs {
    /// Unique partner code (letters, digits, `-`, `_`, `.`; kept upper case).
    #[arg(long)]
    partner_code: Option<String>,
    /// `sftp`, `api`, `both` or `manual`.
    #[arg(long, requires = "partner_code", default_value = "sftp")]
    communication: String,
    /// `X12`, `EDIFACT`, `XML`, `JSON` or `CSV`.
    #[arg(long, requires = "partner_code", default_value = "X12")]
    format: String,
    /// EDI sender id.
    #[arg(long, requires = "partner_code")]
    sender: Option<String>,
    /// EDI receiver id.
    #[arg(long, requires = "partner_code")]
    receiver: Option<String>,
}

impl PartnerArgs {
    /// The details asked for, if a code was given; a value that does not read is the caller's
    /// error.
    fn details(&self) -> Result<Option<PartnerDetails>, Usage> {
        let Some(code) = &self.partner_code else {
            return Ok(None);
        };
        let invalid = |option: &str, error: domain::values::InvalidValue| {
            Usage(format!("{option}: {}", error.message))
        };
        let required = |value: &Option<String>, option: &str| {
            value
                .clone()
                .ok_or_else(|| Usage(format!("{option} is needed with --partner-code")))
        };
        Ok(Some(PartnerDetails {
            code: PartnerCode::parse(code).map_err(|e| invalid("--partner-code", e))?,
            communication: self
                .communication
                .parse::<CommunicationMethod>()
                .map_err(|_| {
                    Usage(format!(
                        "--communication {:?}: one of sftp, api, both, manual",
                        self.communication
                    ))
                })?,
            edi_format: self.format.parse::<EdiFormat>().map_err(|_| {
                Usage(format!(
                    "--format {:?}: one of X12, EDIFACT, XML, JSON, CSV",
                    self.format
                ))
            })?,
            sender_id: EdiId::parse(&required(&self.sender, "--sender")?)
                .map_err(|e| invalid("--sender", e))?,
            receiver_id: EdiId::parse(&required(&self.receiver, "--receiver")?)
                .map_err(|e| invalid("--receiver", e))?,
        }))
    }
}

/// What the application refused, as the command line says it.
pub(super) fn refused(context: &str, error: AppError) -> anyhow::Error {
    match error {
        AppError::Internal(_) | AppError::Unavailable(_) => anyhow::anyhow!("{context}: {error}"),
        AppError::NotFound(resource) => Usage(format!("{context}: no such {resource}")).into(),
        AppError::Organization(commands::CommandError::Duplicate { kind }) => Usage(format!(
            "{context}: this {} is taken",
            kind.replace('_', " ")
        ))
        .into(),
        error => Usage(format!("{context}: {error}")).into(),
    }
}

fn organization_id(text: &str) -> Result<OrganizationId, Usage> {
    text.parse()
        .map_err(|_| Usage(format!("{text:?} is not an organization id")))
}

/// An organization as `show` prints it.
fn json(organization: &Organization) -> serde_json::Value {
    serde_json::json!({
        "id": organization.id.to_string(),
        "name": organization.name.to_string(),
        "status": organization.status.to_string(),
        "partner": organization.partner,
        "contact": {
            "name": organization.contact.name.as_ref().map(ToString::to_string),
            "email": organization.contact.email.as_ref().map(ToString::to_string),
            "phone": organization.contact.phone.as_ref().map(ToString::to_string),
        },
        "members": organization.members.len(),
        "created_at": organization.created_at.to_rfc3339(),
    })
}

/// Prints what a change left, or says it is gone.
fn print(state: &OrganizationState) -> anyhow::Result<()> {
    match state {
        OrganizationState::Present(organization) => {
            println!("{}", serde_json::to_string_pretty(&json(organization))?);
            Ok(())
        }
        OrganizationState::Absent => Err(anyhow::anyhow!("the organization vanished")),
    }
}

/// Runs `command`.
pub async fn run(settings: &Settings, command: OrganizationsCommand) -> anyhow::Result<()> {
    match command {
        OrganizationsCommand::Create {
            name,
            partner,
            contact,
        } => {
            let new = NewOrganization {
                name: OrganizationName::parse(&name)
                    .map_err(|error| Usage(format!("name: {}", error.message)))?,
                display_name: None,
                contact: contact.read()?,
                status: OrganizationStatus::Active,
                partner: partner.details()?,
            };
            let operator = Operator::open(settings).await?;
            let (state, _, _) = operator
                .app
                .create_organization(&operator.authority, &RequestContext::default(), new, None)
                .await
                .map_err(|error| refused(&name, error))?;
            print(&state)
        }
        OrganizationsCommand::List {
            q,
            partner_code,
            communication,
            format,
            json: as_json,
        } => {
            let operator = Operator::open(settings).await?;
            // Brought up to the log's head first: no server may be running to do it.
            operator.queries().await?;
            let organizations = operator
                .app
                .list_organizations(
                    &operator.authority,
                    &OrganizationFilter {
                        q,
                        partner_code,
                        communication,
                        edi_format: format,
                        ..OrganizationFilter::default()
                    },
                    None,
                )
                .await
                .map_err(|error| refused("organizations", error))?;
            if as_json {
                println!("{}", serde_json::to_string_pretty(&organizations)?);
                return Ok(());
            }
            println!(
                "{:<24} {:<12} {:<8} {:<8} {:<10} id",
                "name", "partner", "format", "via", "status"
            );
            for organization in organizations {
                println!(
                    "{:<24} {:<12} {:<8} {:<8} {:<10} {}",
                    organization.name,
                    organization.partner_code.unwrap_or_default(),
                    organization.edi_format.unwrap_or_default(),
                    organization.communication.unwrap_or_default(),
                    organization.status,
                    organization.organization_id
                );
            }
            Ok(())
        }
        OrganizationsCommand::Show { organization, code } => {
            let operator = Operator::open(settings).await?;
            let (found, _) = if code {
                operator
                    .app
                    .partner(&operator.authority, &organization)
                    .await
            } else {
                operator
                    .app
                    .authorized_organization(
                        &operator.authority,
                        organization_id(&organization)?,
                        application::policy::Operation::ReadOrganization,
                    )
                    .await
            }
            .map_err(|error| refused(&organization, error))?;
            print(&OrganizationState::Present(found))
        }
        OrganizationsCommand::Contact {
            organization,
            contact,
        } => {
            let Contact { name, email, phone } = contact.read()?;
            if name.is_none() && email.is_none() && phone.is_none() {
                return Err(Usage(
                    "give --contact-name, --contact-email or --contact-phone".into(),
                )
                .into());
            }
            let changes = OrganizationChanges {
                contact_name: name,
                contact_email: email,
                contact_phone: phone,
                ..OrganizationChanges::default()
            };
            change_organization(settings, &organization, changes).await
        }
        OrganizationsCommand::Partner {
            organization,
            partner,
        } => {
            let Some(details) = partner.details()? else {
                return Err(Usage("--partner-code is needed".into()).into());
            };
            change_partner(settings, &organization, Some(details)).await
        }
        OrganizationsCommand::Permissions => {
            let operator = Operator::open(settings).await?;
            let (active, retired) = operator
                .app
                .permission_catalog(&operator.authority)
                .await
                .map_err(|error| refused("permissions", error))?;
            for flag in active {
                println!("{flag}");
            }
            for flag in retired {
                println!("{flag} (retired)");
            }
            Ok(())
        }
        OrganizationsCommand::DefinePermission { name } => {
            change_catalog(settings, &name, true).await
        }
        OrganizationsCommand::RetirePermission { name, yes } => {
            confirm(
                yes,
                &format!(
                    "Retire the permission flag {name}? No membership may be given it from now on."
                ),
                "yes",
            )?;
            change_catalog(settings, &name, false).await
        }
        OrganizationsCommand::Keys { organization } => {
            let id = organization_id(&organization)?;
            let operator = Operator::open(settings).await?;
            let keys = operator
                .app
                .api_keys(&operator.authority, id)
                .await
                .map_err(|error| refused(&organization, error))?;
            let now = chrono::Utc::now();
            println!(
                "{:<36} {:<24} {:<8} {:<20} permissions",
                "id", "name", "status", "expires"
            );
            for key in keys {
                println!(
                    "{:<36} {:<24} {:<8} {:<20} {}",
                    key.id,
                    key.name,
                    key.status(now).to_string(),
                    key.expires_at
                        .map(|at| at.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_else(|| "never".into()),
                    key.permissions
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                );
            }
            Ok(())
        }
        OrganizationsCommand::CreateKey {
            organization,
            name,
            permissions,
            expires,
            expires_in_days,
        } => {
            let id = organization_id(&organization)?;
            let new = application::api_keys::NewApiKey {
                name: domain::values::KeyName::parse(&name)
                    .map_err(|error| Usage(format!("name: {}", error.message)))?,
                permissions: permissions
                    .iter()
                    .map(|flag| {
                        domain::values::Permission::parse(flag).map_err(|error| {
                            Usage(format!("--permission {flag:?}: {}", error.message))
                        })
                    })
                    .collect::<Result<_, _>>()?,
                expires_at: super::at_or_from_now(
                    expires,
                    expires_in_days.map(|days| chrono::TimeDelta::days(days.into())),
                    "--expires-in-days",
                )?,
            };
            let operator = Operator::open(settings).await?;
            let issued = operator
                .app
                .create_api_key(&operator.authority, &RequestContext::default(), id, new)
                .await
                .map_err(|error| refused(&organization, error))?;
            eprintln!(
                "API key {} ({}) created. It is shown this once; idlog keeps only its hash:",
                issued.key.id, issued.key.name
            );
            println!("{}", secrecy::ExposeSecret::expose_secret(&issued.token));
            Ok(())
        }
        OrganizationsCommand::RevokeKey {
            organization,
            key,
            yes,
        } => {
            let id = organization_id(&organization)?;
            let key_id: domain::ApiKeyId = key
                .parse()
                .map_err(|_| Usage(format!("{key:?} is not an API key id")))?;
            confirm(
                yes,
                &format!("Revoke API key {key_id}? It authenticates nothing from now on."),
                "yes",
            )?;
            let operator = Operator::open(settings).await?;
            operator
                .app
                .revoke_api_key(&operator.authority, &RequestContext::default(), id, key_id)
                .await
                .map_err(|error| refused(&organization, error))?;
            println!("{key_id}: revoked");
            Ok(())
        }
        OrganizationsCommand::Unpartner { organization, yes } => {
            confirm(
                yes,
                &format!(
                    "Remove the partner details of {organization}? Its code and ids become free."
                ),
                "yes",
            )?;
            change_partner(settings, &organization, None).await
        }
    }
}

async fn change_partner(
    settings: &Settings,
    organization: &str,
    details: Option<PartnerDetails>,
) -> anyhow::Result<()> {
    let changes = OrganizationChanges {
        partner: Some(details),
        ..OrganizationChanges::default()
    };
    change_organization(settings, organization, changes).await
}

async fn change_organization(
    settings: &Settings,
    organization: &str,
    changes: OrganizationChanges,
) -> anyhow::Result<()> {
    let id = organization_id(organization)?;
    let operator = Operator::open(settings).await?;
    let (state, _, _) = operator
        .app
        .change_organization(
            &operator.authority,
            &RequestContext::default(),
            id,
            changes,
            Preconditions::default(),
        )
        .await
        .map_err(|error| refused(organization, error))?;
    print(&state)
}

async fn change_catalog(settings: &Settings, name: &str, define: bool) -> anyhow::Result<()> {
    let flag = domain::values::Permission::parse(name)
        .map_err(|error| Usage(format!("{name:?}: {}", error.message)))?;
    let operator = Operator::open(settings).await?;
    operator
        .app
        .change_permission_catalog(
            &operator.authority,
            &RequestContext::default(),
            flag,
            define,
        )
        .await
        .map_err(|error| refused(name, error))?;
    println!("{name}: {}", if define { "defined" } else { "retired" });
    Ok(())
}
