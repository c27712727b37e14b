//! The catalog of permission flags memberships may carry, kept in the log
//! ([`domain::catalog`]): read by administrators, readers and org_admins (who grant flags),
//! changed by administrators. Every use case that grants flags checks them here.

use crate::authority::Authority;
use crate::policy::{Operation, Target};
use crate::{App, AppError, RequestContext, Resource};
use commands::CommandContext;
use domain::catalog::{
    CatalogAggregate, CatalogCommand, PERMISSION_CATALOG_STREAM, PermissionCatalog,
};
use domain::values::Permission;
use std::collections::BTreeSet;

impl App {
    /// The catalog as the log has it (not begun: the configured flags are the catalog).
    async fn catalog(&self) -> Result<PermissionCatalog, AppError> {
        let loaded = self
            .commands
            .current::<CatalogAggregate>(PERMISSION_CATALOG_STREAM)
            .await
            .map_err(AppError::internal)?;
        Ok(loaded.state)
    }

    /// The flags memberships may be given now.
    pub async fn grantable_permissions(&self) -> Result<BTreeSet<Permission>, AppError> {
        let catalog = self.catalog().await?;
        Ok(catalog.active_or(&self.auth.member_permissions).clone())
    }

    /// Refuses `flags` unless each may be given now, naming the first that may not.
    pub async fn check_grantable<'a>(
        &self,
        flags: impl IntoIterator<Item = &'a Permission>,
    ) -> Result<(), AppError> {
        let grantable = self.grantable_permissions().await?;
        if let Some(flag) = flags.into_iter().find(|flag| !grantable.contains(*flag)) {
            return Err(AppError::NotGrantable {
                flag: flag.to_string(),
                catalog: grantable.iter().map(ToString::to_string).collect(),
            });
        }
        Ok(())
    }

    /// The catalog: the flags that may be given, and those retired, if the policy lets `who`
    /// read it (administrators, readers, org_admins).
    #[tracing::instrument(skip_all)]
    pub async fn permission_catalog(
        &self,
        who: &Authority,
    ) -> Result<(BTreeSet<Permission>, BTreeSet<Permission>), AppError> {
        self.scope(who, Operation::ReadPermissionCatalog)?;
        let catalog = self.catalog().await?;
        Ok((
            catalog.active_or(&self.auth.member_permissions).clone(),
            catalog.retired,
        ))
    }

    /// Defines `flag` (again), or retires it (`define` false), if the policy lets `who`;
    /// answers the log position.
    #[tracing::instrument(skip(self, who, context))]
    pub async fn change_permission_catalog(
        &self,
        who: &Authority,
        context: &RequestContext,
        flag: Permission,
        define: bool,
    ) -> Result<Option<u64>, AppError> {
        who.require(
            Operation::ManagePermissionCatalog,
            Target::Everything,
            Resource::Anything,
        )?;
        let seed = self.auth.member_permissions.clone();
        let at = chrono::Utc::now();
        let command = if define {
            CatalogCommand::Define { flag, seed, at }
        } else {
            CatalogCommand::Retire { flag, seed, at }
        };
        let executed = self
            .commands
            .execute::<CatalogAggregate>(
                PERMISSION_CATALOG_STREAM,
                command,
                CommandContext {
                    metadata: who.acting(context),
                    ..Default::default()
                },
            )
            .await?;
        Ok(executed.position)
    }
}
