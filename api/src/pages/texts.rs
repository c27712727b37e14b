//! Every English text of the pages, in one place: another language is another [`Texts`].

/// The texts of the pages in one language.
#[derive(Debug)]
pub struct Texts {
    /// "The role no longer declares these fields: saving the profile drops them."
    pub no_longer_fields: &'static str,
    /// "required"
    pub required: &'static str,
    /// "Roles"
    pub console_roles: &'static str,
    /// "Global roles: what each grants is the policy's; a privileged role shields its holders from organization administrators, and a role may declare the fields of its holders' profile. A retired role stays with its holders, but nobody may be granted it."
    pub roles_lead: &'static str,
    /// "The catalog is the configured one (auth.roles) until its first change."
    pub roles_from_configuration: &'static str,
    /// "Catalog"
    pub role_catalog: &'static str,
    /// "Privileged"
    pub privileged: &'static str,
    /// "Privileged: only its holders and administrators act on a holder"
    pub privileged_hint: &'static str,
    /// "Profile fields"
    pub profile_fields: &'static str,
    /// "One field per line: name:type, then :required if it must be given, then :value,value,... to list the values allowed. Types: text, integer, boolean, date. Example: department:text:required:physics,chemistry"
    pub fields_hint: &'static str,
    /// "Holders"
    pub holders: &'static str,
    /// "active"
    pub role_active: &'static str,
    /// "retired"
    pub role_retired: &'static str,
    /// "Define a role"
    pub define_role: &'static str,
    /// "Save the role"
    pub save_role: &'static str,
    /// "Retire the role"
    pub retire_role: &'static str,
    /// "Nobody can be granted this role afterwards (its holders keep it)"
    pub retire_role_confirm: &'static str,
    /// "Role profile"
    pub role_profile: &'static str,
    /// "Save the profile"
    pub save_role_profile: &'static str,
    /// "Wallet"
    pub wallet: &'static str,
    /// "credits"
    pub credits: &'static str,
    /// "frozen"
    pub wallet_frozen: &'static str,
    /// "Amount"
    pub amount: &'static str,
    /// "Balance"
    pub balance: &'static str,
    /// "Credit"
    pub credit: &'static str,
    /// "Debit"
    pub debit: &'static str,
    /// "Freeze the wallet"
    pub freeze_wallet: &'static str,
    /// "Unfreeze the wallet"
    pub unfreeze_wallet: &'static str,
    /// "Blocked addresses"
    pub console_ip_blocks: &'static str,
    /// "Requests from a blocked address or range may not sign up, sign in, refresh a session or reset a password. A block ends when it expires or is lifted."
    pub ip_blocks_lead: &'static str,
    /// "Address or range"
    pub network: &'static str,
    /// "An IPv4 or IPv6 address, or a range in CIDR notation such as 198.51.100.0/24."
    pub network_hint: &'static str,
    /// "Reason"
    pub reason: &'static str,
    /// "Ends after (hours)"
    pub block_expires_hours: &'static str,
    /// "Leave empty for a block that does not expire."
    pub block_expires_hint: &'static str,
    /// "Block"
    pub block_address: &'static str,
    /// "Lift the block"
    pub unblock: &'static str,
    /// "Lift the block of"
    pub unblock_confirm: &'static str,
    /// "In force"
    pub in_force: &'static str,
    /// "Expired"
    pub expired: &'static str,
    /// "Blocked"
    pub blocked_at: &'static str,
    /// "No address is blocked."
    pub no_ip_blocks: &'static str,
    /// "Kind"
    pub kind: &'static str,
    /// "Direction"
    pub direction: &'static str,
    /// "Built in"
    pub built_in: &'static str,
    /// "Actions"
    pub partner_actions: &'static str,
    /// "What a partner's record may say happened. The four built-in actions stay; administrators add more and retire them."
    pub partner_actions_lead: &'static str,
    /// "Define an action"
    pub define_action: &'static str,
    /// "Partners"
    pub console_partners: &'static str,
    /// "Transactions sent"
    pub figure_sent: &'static str,
    /// "Transactions received"
    pub figure_received: &'static str,
    /// "Transactions failed"
    pub figure_failed: &'static str,
    /// "Success rate"
    pub figure_success_rate: &'static str,
    /// "Files sent"
    pub figure_files_sent: &'static str,
    /// "Files received"
    pub figure_files_received: &'static str,
    /// "Transactions"
    pub transaction_volume: &'static str,
    /// "Latest transactions"
    pub latest_transactions: &'static str,
    /// "Failed transactions"
    pub failed_transactions: &'static str,
    /// "File transfers"
    pub file_transfers: &'static str,
    /// "Each partner"
    pub each_partner: &'static str,
    /// "What partners sent and received, as their systems and members recorded it. Sent and received are as the partner sees them."
    pub partners_lead: &'static str,
    /// "Folder"
    pub folder: &'static str,
    /// "Sent"
    pub sent: &'static str,
    /// "Received"
    pub received: &'static str,
    /// "Failed"
    pub failed: &'static str,
    /// "Document type"
    pub document_type: &'static str,
    /// "Transactions"
    pub partner_transactions: &'static str,
    /// "API keys"
    pub api_keys: &'static str,
    /// "Credentials for this organization's systems, not for a person. A key acts with the flags it was given; every use is recorded."
    pub api_keys_lead: &'static str,
    /// "Name"
    pub key_name: &'static str,
    /// "Expires on (UTC, optional)"
    pub key_expires: &'static str,
    /// "Create key"
    pub create_key: &'static str,
    /// "Revoke"
    pub revoke_key: &'static str,
    /// "The new key"
    pub new_key_heading: &'static str,
    /// "Copy it now: it is shown this once. idlog keeps only its hash."
    pub new_key_once: &'static str,
    /// "The flags memberships may carry. can_view_reports opens the organization's analytics to a member, can_manage_settings its display name and contact."
    pub flags_catalog_hint: &'static str,
    /// "Yes, retire"
    pub retire_flag: &'static str,
    /// "Retire"
    pub retire: &'static str,
    /// "Retired"
    pub retired_flags: &'static str,
    /// "New flag (lower case, e.g. can_sign_contracts)"
    pub new_flag: &'static str,
    /// "Define"
    pub define_flag: &'static str,
    /// "EDI"
    pub edi: &'static str,
    /// "Partner details"
    pub partner_details: &'static str,
    /// "Partner code"
    pub partner_code: &'static str,
    /// "Communication"
    pub communication: &'static str,
    /// "EDI format"
    pub edi_format: &'static str,
    /// "Sender id"
    pub sender_id: &'static str,
    /// "Receiver id"
    pub receiver_id: &'static str,
    /// "Remove the partner details"
    pub remove_partner: &'static str,
    /// "Revoke"
    pub revoke_session: &'static str,
    /// "Sort by"
    pub sort_by: &'static str,
    /// "Order"
    pub order: &'static str,
    /// "newest or last first"
    pub descending: &'static str,
    /// "oldest or first first"
    pub ascending: &'static str,
    /// "Create a user"
    pub create_user: &'static str,
    /// "Invite a user"
    pub invite_user: &'static str,
    /// "Username (optional)"
    pub username_optional: &'static str,
    /// "Password (empty: an email invites them to set their own)"
    pub password_or_invitation: &'static str,
    /// "The person gets an email to set their password, and joins the organization when they accept."
    pub invitation_sets_password: &'static str,
    /// "Organizations"
    pub console_organizations: &'static str,
    /// "Name, display name, partner code or EDI id"
    pub search_organizations: &'static str,
    /// "organizations"
    pub organizations_found: &'static str,
    /// "Display name"
    pub display_name: &'static str,
    /// "Members"
    pub members: &'static str,
    /// "Create an organization"
    pub create_organization: &'static str,
    /// "Name"
    pub organization_name: &'static str,
    /// "Display name (optional)"
    pub display_name_optional: &'static str,
    /// "Contact name"
    pub contact_name: &'static str,
    /// "Contact email"
    pub contact_email: &'static str,
    /// "Contact phone"
    pub contact_phone: &'static str,
    /// "Permission flags"
    pub permission_flags: &'static str,
    /// "Remove"
    pub remove: &'static str,
    /// "Add or invite a member"
    pub add_or_invite: &'static str,
    /// "User id or email address"
    pub user_or_email: &'static str,
    /// "Comma-separated flags of the catalog, e.g. can_view_reports, can_upload_files."
    pub flags_hint: &'static str,
    /// "Invite (they accept); untick to add an existing user directly"
    pub invite_instead: &'static str,
    /// "Pending invitations"
    pub pending_invitations: &'static str,
    /// "Expires"
    pub expires: &'static str,
    /// "Revoke"
    pub revoke_invitation: &'static str,
    /// "Someone changed this organization after you opened the page, so nothing was done. The page shows it as it is now: check, then try again."
    pub stale_organization: &'static str,
    /// "Operations"
    pub console_operations: &'static str,
    /// "Read models"
    pub read_models: &'static str,
    /// "The log's last position"
    pub log_head: &'static str,
    /// "Lag (events)"
    pub lag_events: &'static str,
    /// "Lag (seconds)"
    pub lag_seconds: &'static str,
    /// "Dead letters"
    pub dead_letters: &'static str,
    /// "stopped at"
    pub stopped_at: &'static str,
    /// "running"
    pub running: &'static str,
    /// "attempts"
    pub attempts: &'static str,
    /// "Retry"
    pub retry: &'static str,
    /// "Skip"
    pub skip: &'static str,
    /// "Skip it: this read model will never reflect the event (until rebuilt)"
    pub confirm_skip: &'static str,
    /// "Workers"
    pub workers: &'static str,
    /// "Bus"
    pub bus: &'static str,
    /// "connected"
    pub connected: &'static str,
    /// "cut off"
    pub disconnected: &'static str,
    /// "Retry all"
    pub retry_all: &'static str,
    /// "This process runs no workers; their status is on the process that runs them."
    pub no_workers_here: &'static str,
    /// "Storage folders"
    pub storage_folders: &'static str,
    /// "Verify the folders"
    pub verify_storage: &'static str,
    /// "Users checked"
    pub users_checked: &'static str,
    /// "Missing objects"
    pub missing_objects: &'static str,
    /// "Folders of no user"
    pub orphan_folders: &'static str,
    /// "Rebuild the folders"
    pub rebuild_storage: &'static str,
    /// "Also remove folders of no user"
    pub prune_orphans: &'static str,
    /// "Yes, rebuild"
    pub confirm_rebuild: &'static str,
    /// "Delivery log"
    pub delivery_log: &'static str,
    /// "Any"
    pub any: &'static str,
    /// "Recipient"
    pub recipient: &'static str,
    /// "Channel"
    pub channel: &'static str,
    /// "Template"
    pub template: &'static str,
    /// "Last error"
    pub last_error: &'static str,
    /// "Audit"
    pub console_audit: &'static str,
    /// "Verify the chain"
    pub verify_chain: &'static str,
    /// "Checks every event's hash against its content and its link to the event before. A range not starting at 1 trusts its first event's link."
    pub verify_chain_hint: &'static str,
    /// "From position (default 1)"
    pub from_position: &'static str,
    /// "To position (default: the head)"
    pub to_position: &'static str,
    /// "The chain is intact."
    pub chain_intact: &'static str,
    /// "The chain is broken"
    pub chain_broken: &'static str,
    /// "at position"
    pub at_position: &'static str,
    /// "Events verified"
    pub events_verified: &'static str,
    /// "Hash of the last event verified"
    pub head_hash: &'static str,
    /// "Signed checkpoints"
    pub checkpoints: &'static str,
    /// "No checkpoint is recorded yet (idlog events checkpoint records one)."
    pub no_checkpoints: &'static str,
    /// "Signed"
    pub signed_at: &'static str,
    /// "Public key"
    pub public_key: &'static str,
    /// "Download the log"
    pub export_log: &'static str,
    /// "The events as stored, one JSON object per line: what idlog events verify --export checks."
    pub export_log_hint: &'static str,
    /// "From (position or RFC 3339 time, optional)"
    pub from_bound: &'static str,
    /// "To (position or RFC 3339 time, optional)"
    pub to_bound: &'static str,
    /// "Stream id (optional)"
    pub stream_id: &'static str,
    /// "Event type (optional)"
    pub event_type: &'static str,
    /// "Analytics"
    pub console_analytics: &'static str,
    /// "Organization"
    pub organization: &'static str,
    /// "Everyone"
    pub everyone: &'static str,
    /// "Window (days)"
    pub window_days: &'static str,
    /// "Per day"
    pub daily_series: &'static str,
    /// "Show"
    pub show: &'static str,
    /// "Figures"
    pub figures: &'static str,
    /// "The numbers"
    pub the_numbers: &'static str,
    /// "Day"
    pub day: &'static str,
    /// "Count"
    pub count: &'static str,
    /// "Users"
    pub figure_users: &'static str,
    /// "Active today"
    pub figure_active_today: &'static str,
    /// "Active in 30 days"
    pub figure_active_month: &'static str,
    /// "Sign-ins that succeeded"
    pub figure_login_success: &'static str,
    /// "Registrations in the window"
    pub figure_registrations: &'static str,
    /// "Lockouts in the window"
    pub figure_lockouts: &'static str,
    /// "per day over"
    pub per_day_over: &'static str,
    /// "days"
    pub days: &'static str,
    /// "Verification funnel"
    pub verification_funnel: &'static str,
    /// "Registered"
    pub funnel_registered: &'static str,
    /// "Email verified"
    pub funnel_email: &'static str,
    /// "Phone verified"
    pub funnel_phone: &'static str,
    /// "Both verified"
    pub funnel_both: &'static str,
    /// "Users by status"
    pub users_by_status: &'static str,
    /// "Users by role"
    pub users_by_role: &'static str,
    /// "Events over"
    pub events_over: &'static str,
    /// "Events in the window"
    pub events_in_window: &'static str,
    /// "not locked"
    pub not_locked: &'static str,
    /// "locked until"
    pub locked_until: &'static str,
    /// "locked until unlocked"
    pub locked_until_unlocked: &'static str,
    /// "Email address verified"
    pub email_verification: &'static str,
    /// "Phone number verified"
    pub phone_verification: &'static str,
    /// "Lock"
    pub lock: &'static str,
    /// "Must choose a new password"
    pub must_change_password: &'static str,
    /// "yes"
    pub yes: &'static str,
    /// "no"
    pub no: &'static str,
    /// "Unlock"
    pub unlock: &'static str,
    /// "Reactivate"
    pub reactivate: &'static str,
    /// "Restore"
    pub restore: &'static str,
    /// "Send a password reset link"
    pub send_reset: &'static str,
    /// "Someone changed this user after you opened the page, so nothing was done. Check what changed below, then decide again."
    pub stale_edit: &'static str,
    /// "What changed since you opened the page"
    pub what_changed: &'static str,
    /// "You saw version"
    pub you_saw_version: &'static str,
    /// "it is now at version"
    pub it_is_at_version: &'static str,
    /// "What happened since"
    pub events_since: &'static str,
    /// "Details"
    pub user_details: &'static str,
    /// "Version"
    pub version: &'static str,
    /// "Account actions"
    pub account_actions: &'static str,
    /// "Reason (optional)"
    pub reason_optional: &'static str,
    /// "Until (UTC; empty: until unlocked)"
    pub lock_until: &'static str,
    /// "Deactivate"
    pub deactivate: &'static str,
    /// "Set a password"
    pub set_a_password: &'static str,
    /// "Temporary: must be changed at the next sign-in"
    pub temporary_password: &'static str,
    /// "Mark the email address verified"
    pub verify_email_by_hand: &'static str,
    /// "How you know it is theirs"
    pub how_you_know: &'static str,
    /// "Mark the phone number verified"
    pub verify_phone_by_hand: &'static str,
    /// "Delete this user"
    pub delete_user: &'static str,
    /// "Their sessions end, their email address, username and phone number become free, and their memberships end. The log keeps their history; an administrator can restore them for a while."
    pub delete_user_hint: &'static str,
    /// "Yes, delete this user"
    pub confirm_delete: &'static str,
    /// "Global roles"
    pub global_roles: &'static str,
    /// "Save roles"
    pub save_roles: &'static str,
    /// "Sessions"
    pub user_sessions: &'static str,
    /// "All of this user's activity"
    pub all_activity: &'static str,
    /// "History"
    pub history: &'static str,
    /// "As of (UTC time)"
    pub as_of_time: &'static str,
    /// "or log position"
    pub or_log_position: &'static str,
    /// "Show the user then"
    pub show_as_of: &'static str,
    /// "As of log position"
    pub as_of_position: &'static str,
    /// "Log position"
    pub log_position: &'static str,
    /// "Field"
    pub field: &'static str,
    /// "Then"
    pub then: &'static str,
    /// "Now"
    pub now: &'static str,
    /// "changed"
    pub changed: &'static str,
    /// "Activity log"
    pub console_activity: &'static str,
    /// "Actor"
    pub actor: &'static str,
    /// "User id"
    pub user_id: &'static str,
    /// "Action"
    pub action: &'static str,
    /// "Organization id"
    pub organization_id: &'static str,
    /// "From (UTC date)"
    pub from_date: &'static str,
    /// "To (UTC date)"
    pub to_date: &'static str,
    /// "Download CSV"
    pub download_csv: &'static str,
    /// "Download NDJSON"
    pub download_ndjson: &'static str,
    /// "No activity matches."
    pub no_rows: &'static str,
    /// "Resource"
    pub resource: &'static str,
    /// "User"
    pub subject: &'static str,
    /// "Users"
    pub console_users: &'static str,
    /// "Console"
    pub nav_console: &'static str,
    /// "Search"
    pub search: &'static str,
    /// "Email, username or name"
    pub search_users: &'static str,
    /// "Status"
    pub status: &'static str,
    /// "Any but deleted and forgotten"
    pub any_but_deleted: &'static str,
    /// "Role"
    pub role: &'static str,
    /// "Roles"
    pub roles: &'static str,
    /// "users"
    pub users_found: &'static str,
    /// "No user matches."
    pub no_users: &'static str,
    /// "Name"
    pub name: &'static str,
    /// "Organizations"
    pub organizations: &'static str,
    /// "Verification"
    pub verification: &'static str,
    /// "Created"
    pub created: &'static str,
    /// "Next page"
    pub next_page: &'static str,
    /// "Notifications"
    pub notifications_heading: &'static str,
    /// "Nothing to tell you about."
    pub no_notifications: &'static str,
    /// "from"
    pub from_address: &'static str,
    /// "Each of these was also sent to your email address. If one was not you, change"
    pub notifications_hint: &'static str,
    /// "Devices you signed in from"
    pub devices_heading: &'static str,
    /// "First seen"
    pub first_seen: &'static str,
    /// "Last seen"
    pub last_seen: &'static str,
    /// "Sign-ins"
    pub sign_ins: &'static str,
    /// "No sign-ins yet."
    pub no_devices: &'static str,
    /// "en"
    pub lang: &'static str,
    /// "idlog"
    pub product: &'static str,
    /// "Skip to content"
    pub skip_to_content: &'static str,
    /// "Your account"
    pub nav_label: &'static str,
    /// "Dashboard"
    pub nav_dashboard: &'static str,
    /// "Profile"
    pub nav_profile: &'static str,
    /// "Security"
    pub nav_security: &'static str,
    /// "Invitations"
    pub nav_invitations: &'static str,
    /// "Privacy"
    pub nav_privacy: &'static str,
    /// "Sign out"
    pub sign_out: &'static str,
    /// "idlog keeps every change to your account in an append-only, verifiable log."
    pub footer: &'static str,
    /// "Error"
    pub error_status: &'static str,
    /// "Go to the start page"
    pub go_home: &'static str,
    /// "&lt;!doctype html><title>Error</title><p>Something went wrong on our side.</p>"
    pub error_render: &'static str,
    /// "Something went wrong on our side. Please try again in a moment."
    pub server_error_detail: &'static str,
    /// "Request refused"
    pub cross_site_title: &'static str,
    /// "This form did not come from this site, or the page was open too long. Go back..."
    pub cross_site_detail: &'static str,
    /// "The form could not be read"
    pub bad_form_title: &'static str,
    /// "Go back, reload the page and try again."
    pub bad_form_detail: &'static str,
    /// "Sign in"
    pub sign_in: &'static str,
    /// "Email address or username"
    pub email_or_username: &'static str,
    /// "Password"
    pub password: &'static str,
    /// "After several wrong passwords in a row the account is locked for a while, and..."
    pub lockout_hint: &'static str,
    /// "Forgot your password?"
    pub forgot_password: &'static str,
    /// "Create an account"
    pub sign_up_instead: &'static str,
    /// "Already have an account? Sign in"
    pub sign_in_instead: &'static str,
    /// "Two-step verification"
    pub second_step: &'static str,
    /// "Code from your authenticator app"
    pub authenticator_code: &'static str,
    /// "Lost your authenticator? Use one of your recovery codes instead."
    pub or_recovery_code: &'static str,
    /// "Recovery code"
    pub recovery_code: &'static str,
    /// "Continue"
    pub continue_: &'static str,
    /// "Choose a new password"
    pub change_required_heading: &'static str,
    /// "Your password was set by an administrator. Choose your own before you go on."
    pub change_required_lead: &'static str,
    /// "New password"
    pub new_password: &'static str,
    /// "Set password"
    pub set_password: &'static str,
    /// "Create an account"
    pub sign_up: &'static str,
    /// "Email address"
    pub email: &'static str,
    /// "Phone number (optional)"
    pub phone_optional: &'static str,
    /// "In international format, e.g. +44 20 7946 0958."
    pub phone_hint: &'static str,
    /// "First name (optional)"
    pub first_name_optional: &'static str,
    /// "Last name (optional)"
    pub last_name_optional: &'static str,
    /// "Create account"
    pub create_account: &'static str,
    /// "Check your email"
    pub check_your_email: &'static str,
    /// "If the address can be used, a link to verify it is on its way. Open it to fin..."
    pub verification_sent: &'static str,
    /// "If the address belongs to an account, a link to reset its password is on its ..."
    pub reset_link_sent: &'static str,
    /// "Back to sign in"
    pub back_to_sign_in: &'static str,
    /// "Enter your email address and we will send you a link to choose a new password."
    pub forgot_lead: &'static str,
    /// "Send reset link"
    pub send_reset_link: &'static str,
    /// "Choose a new password"
    pub reset_heading: &'static str,
    /// "Choose the password you will sign in with from now on. Every session of the a..."
    pub reset_lead: &'static str,
    /// "Email address verified"
    pub email_verified_heading: &'static str,
    /// "Thank you: your email address is verified."
    pub email_verified_body: &'static str,
    /// "Go to your dashboard"
    pub go_to_dashboard: &'static str,
    /// "Already verified"
    pub email_already_verified_heading: &'static str,
    /// "This link was already used: your email address is verified."
    pub email_already_verified_body: &'static str,
    /// "This link has expired"
    pub link_expired_heading: &'static str,
    /// "Verification links work for a limited time. Sign in and send yourself a new one."
    pub email_link_expired_body: &'static str,
    /// "This link does not work"
    pub link_invalid_heading: &'static str,
    /// "The link is incomplete, was replaced by a newer one, or was already used. Sig..."
    pub email_link_invalid_body: &'static str,
    /// "Sign in to send a new link"
    pub send_new_link_from_dashboard: &'static str,
    /// "Verify your phone"
    pub phone_heading: &'static str,
    /// "Phone number"
    pub phone_number: &'static str,
    /// "Your phone number is verified."
    pub phone_verified: &'static str,
    /// "The code we sent expires at"
    pub code_expires: &'static str,
    /// "Attempts left"
    pub attempts_left: &'static str,
    /// "Code from the text message"
    pub code_from_sms: &'static str,
    /// "Verify"
    pub verify: &'static str,
    /// "You can ask for another code in"
    pub resend_wait: &'static str,
    /// "Send a new code"
    pub send_code_again: &'static str,
    /// "Send me a code"
    pub send_code: &'static str,
    /// "Your account has no phone number."
    pub no_phone: &'static str,
    /// "Add one in your profile."
    pub add_phone_in_profile: &'static str,
    /// "Welcome"
    pub dashboard_heading: &'static str,
    /// "Your account"
    pub account_status: &'static str,
    /// "verified"
    pub verified: &'static str,
    /// "not verified"
    pub not_verified: &'static str,
    /// "none"
    pub none: &'static str,
    /// "Two-factor authentication"
    pub two_factor: &'static str,
    /// "on"
    pub on: &'static str,
    /// "off"
    pub off: &'static str,
    /// "Member since"
    pub member_since: &'static str,
    /// "Last sign-in"
    pub last_sign_in: &'static str,
    /// "never"
    pub never: &'static str,
    /// "What to do next"
    pub next_steps: &'static str,
    /// "Your account is fully set up."
    pub all_done: &'static str,
    /// "Verify your email address: we sent you a link."
    pub step_verify_email: &'static str,
    /// "Send a new link"
    pub send_new_link: &'static str,
    /// "Add a phone number, to receive codes by text message."
    pub step_add_phone: &'static str,
    /// "Verify your phone number."
    pub step_verify_phone: &'static str,
    /// "Verify phone"
    pub verify_phone: &'static str,
    /// "Turn on two-factor authentication, so that a password alone cannot open your ..."
    pub step_two_factor: &'static str,
    /// "Turn on two-factor authentication"
    pub turn_on_two_factor: &'static str,
    /// "Recent activity on your account"
    pub recent_activity: &'static str,
    /// "Nothing yet."
    pub no_activity: &'static str,
    /// "When"
    pub when: &'static str,
    /// "What"
    pub what: &'static str,
    /// "Address"
    pub address: &'static str,
    /// "Device"
    pub device: &'static str,
    /// "Older activity"
    pub older: &'static str,
    /// "Picture"
    pub picture: &'static str,
    /// "Your profile picture"
    pub your_picture: &'static str,
    /// "No picture yet"
    pub no_picture: &'static str,
    /// "Choose a picture"
    pub choose_picture_label: &'static str,
    /// "PNG, JPEG or WebP, at most 5 MiB. A preview shows before you upload."
    pub picture_hint: &'static str,
    /// "Upload picture"
    pub upload_picture: &'static str,
    /// "Remove picture"
    pub remove_picture: &'static str,
    /// "Choose a picture to upload."
    pub choose_picture: &'static str,
    /// "Name and contact"
    pub details: &'static str,
    /// "First name"
    pub first_name: &'static str,
    /// "Last name"
    pub last_name: &'static str,
    /// "Username"
    pub username: &'static str,
    /// "Current password (needed to change your phone number unless you signed in a f..."
    pub current_password_for_phone: &'static str,
    /// "Leave it empty when you change only your names or username."
    pub reauth_hint: &'static str,
    /// "Save"
    pub save: &'static str,
    /// "Address and preferences"
    pub address_and_preferences: &'static str,
    /// "Street and number"
    pub address_line1: &'static str,
    /// "Apartment, suite, building (optional)"
    pub address_line2: &'static str,
    /// "City"
    pub city: &'static str,
    /// "State or region (optional)"
    pub region: &'static str,
    /// "Postal code (optional)"
    pub postal_code: &'static str,
    /// "Country"
    pub country: &'static str,
    /// "Two letters, e.g. GB, DE, US."
    pub country_hint: &'static str,
    /// "Language"
    pub language: &'static str,
    /// "A language tag, e.g. en, de, pt-BR."
    pub language_hint: &'static str,
    /// "Notifications"
    pub notifications: &'static str,
    /// "Email me when my account is signed in from a device it was not used on before"
    pub new_device_email: &'static str,
    /// "Email me news about the service"
    pub news_email: &'static str,
    /// "Messages about your password, email address and two-factor authentication are..."
    pub security_emails_always: &'static str,
    /// "Change password"
    pub change_password: &'static str,
    /// "Current password"
    pub current_password: &'static str,
    /// "Sign out my other sessions"
    pub end_other_sessions: &'static str,
    /// "Two-factor authentication is on: signing in asks for a code from your authent..."
    pub two_factor_is_on: &'static str,
    /// "Your password, to turn it off"
    pub password_to_turn_off: &'static str,
    /// "Turn off two-factor authentication"
    pub turn_off_two_factor: &'static str,
    /// "Use an authenticator app (such as one on your phone) for a code at every sign..."
    pub two_factor_lead: &'static str,
    /// "Where you are signed in"
    pub sessions: &'static str,
    /// "Unknown device"
    pub unknown_device: &'static str,
    /// "Signed in"
    pub signed_in_at: &'static str,
    /// "Last used"
    pub last_used: &'static str,
    /// "Actions"
    pub actions: &'static str,
    /// "this browser"
    pub this_session: &'static str,
    /// "Sign out this session"
    pub revoke: &'static str,
    /// "Sign out everywhere"
    pub sign_out_everywhere: &'static str,
    /// "Scan the QR code with your authenticator app."
    pub scan_qr: &'static str,
    /// "Enter the six-digit code it shows."
    pub enter_first_code: &'static str,
    /// "QR code for your authenticator app; the same secret is written out below."
    pub qr_alt: &'static str,
    /// "Cannot scan it? Type this secret instead:"
    pub or_type_secret: &'static str,
    /// "That is not the code your authenticator shows now. Check the time on your pho..."
    pub wrong_totp_code: &'static str,
    /// "Your recovery codes"
    pub recovery_codes: &'static str,
    /// "Keep these codes somewhere safe: each one signs you in once if you lose your ..."
    pub recovery_codes_once: &'static str,
    /// "I have saved them"
    pub saved_them: &'static str,
    /// "No invitations are waiting for you."
    pub no_invitations: &'static str,
    /// "You are invited as"
    pub invited_as: &'static str,
    /// "Invited"
    pub invited_on: &'static str,
    /// "answer by"
    pub answer_by: &'static str,
    /// "Accept"
    pub accept: &'static str,
    /// "Decline"
    pub decline: &'static str,
    /// "Download my data"
    pub download_my_data: &'static str,
    /// "Everything idlog holds about you, as one JSON file: your account, profile, or..."
    pub download_lead: &'static str,
    /// "Forget my account"
    pub forget_my_account: &'static str,
    /// "Your personal data becomes unreadable everywhere, in the log and its backups,..."
    pub forget_lead: &'static str,
    /// "To confirm, type"
    pub type_word: &'static str,
}

/// English.
pub static ENGLISH: Texts = Texts {
    no_longer_fields: "The role no longer declares these fields: saving the profile drops them.",
    required: "required",
    console_roles: "Roles",
    roles_lead: "Global roles: what each grants is the policy's; a privileged role shields its holders from organization administrators, and a role may declare the fields of its holders' profile. A retired role stays with its holders, but nobody may be granted it.",
    roles_from_configuration: "The catalog is the configured one (auth.roles) until its first change.",
    role_catalog: "Catalog",
    privileged: "Privileged",
    privileged_hint: "Privileged: only its holders and administrators act on a holder",
    profile_fields: "Profile fields",
    fields_hint: "One field per line: name:type, then :required if it must be given, then :value,value,... to list the values allowed. Types: text, integer, boolean, date. Example: department:text:required:physics,chemistry",
    holders: "Holders",
    role_active: "active",
    role_retired: "retired",
    define_role: "Define a role",
    save_role: "Save the role",
    retire_role: "Retire the role",
    retire_role_confirm: "Nobody can be granted this role afterwards (its holders keep it)",
    role_profile: "Role profile",
    save_role_profile: "Save the profile",
    wallet: "Wallet",
    credits: "credits",
    wallet_frozen: "frozen",
    amount: "Amount",
    balance: "Balance",
    credit: "Credit",
    debit: "Debit",
    freeze_wallet: "Freeze the wallet",
    unfreeze_wallet: "Unfreeze the wallet",
    console_ip_blocks: "Blocked addresses",
    ip_blocks_lead: "Requests from a blocked address or range may not sign up, sign in, refresh a session or reset a password. A block ends when it expires or is lifted.",
    network: "Address or range",
    network_hint: "An IPv4 or IPv6 address, or a range in CIDR notation such as 198.51.100.0/24.",
    reason: "Reason",
    block_expires_hours: "Ends after (hours)",
    block_expires_hint: "Leave empty for a block that does not expire.",
    block_address: "Block",
    unblock: "Lift the block",
    unblock_confirm: "Lift the block of",
    in_force: "In force",
    expired: "Expired",
    blocked_at: "Blocked",
    no_ip_blocks: "No address is blocked.",
    kind: "Kind",
    direction: "Direction",
    built_in: "Built in",
    partner_actions: "Actions",
    partner_actions_lead: "What a partner's record may say happened. The four built-in actions stay; administrators add more and retire them.",
    define_action: "Define an action",
    console_partners: "Partners",
    figure_sent: "Transactions sent",
    figure_received: "Transactions received",
    figure_failed: "Transactions failed",
    figure_success_rate: "Success rate",
    figure_files_sent: "Files sent",
    figure_files_received: "Files received",
    transaction_volume: "Transactions",
    latest_transactions: "Latest transactions",
    failed_transactions: "Failed transactions",
    file_transfers: "File transfers",
    each_partner: "Each partner",
    partners_lead: "What partners sent and received, as their systems and members recorded it. Sent and received are as the partner sees them.",
    folder: "Folder",
    sent: "Sent",
    received: "Received",
    failed: "Failed",
    document_type: "Document type",
    partner_transactions: "Transactions",
    api_keys: "API keys",
    api_keys_lead: "Credentials for this organization's systems, not for a person. A key acts with the flags it was given; every use is recorded.",
    key_name: "Name",
    key_expires: "Expires on (UTC, optional)",
    create_key: "Create key",
    revoke_key: "Revoke",
    new_key_heading: "The new key",
    new_key_once: "Copy it now: it is shown this once. idlog keeps only its hash.",
    flags_catalog_hint: "The flags memberships may carry. can_view_reports opens the organization's analytics to a member, can_manage_settings its display name and contact.",
    retire_flag: "Yes, retire",
    retire: "Retire",
    retired_flags: "Retired",
    new_flag: "New flag (lower case, e.g. can_sign_contracts)",
    define_flag: "Define",
    edi: "EDI",
    partner_details: "Partner details",
    partner_code: "Partner code",
    communication: "Communication",
    edi_format: "EDI format",
    sender_id: "Sender id",
    receiver_id: "Receiver id",
    remove_partner: "Remove the partner details",
    revoke_session: "Revoke",
    sort_by: "Sort by",
    order: "Order",
    descending: "newest or last first",
    ascending: "oldest or first first",
    create_user: "Create a user",
    invite_user: "Invite a user",
    username_optional: "Username (optional)",
    password_or_invitation: "Password (empty: an email invites them to set their own)",
    invitation_sets_password: "The person gets an email to set their password, and joins the organization when they accept.",
    console_organizations: "Organizations",
    search_organizations: "Name, display name, partner code or EDI id",
    organizations_found: "organizations",
    display_name: "Display name",
    members: "Members",
    create_organization: "Create an organization",
    organization_name: "Name",
    display_name_optional: "Display name (optional)",
    contact_name: "Contact name",
    contact_email: "Contact email",
    contact_phone: "Contact phone",
    permission_flags: "Permission flags",
    remove: "Remove",
    add_or_invite: "Add or invite a member",
    user_or_email: "User id or email address",
    flags_hint: "Comma-separated flags of the catalog, e.g. can_view_reports, can_upload_files.",
    invite_instead: "Invite (they accept); untick to add an existing user directly",
    pending_invitations: "Pending invitations",
    expires: "Expires",
    revoke_invitation: "Revoke",
    stale_organization: "Someone changed this organization after you opened the page, so nothing was done. The page shows it as it is now: check, then try again.",
    console_operations: "Operations",
    read_models: "Read models",
    log_head: "The log's last position",
    lag_events: "Lag (events)",
    lag_seconds: "Lag (seconds)",
    dead_letters: "Dead letters",
    stopped_at: "stopped at",
    running: "running",
    attempts: "attempts",
    retry: "Retry",
    skip: "Skip",
    confirm_skip: "Skip it: this read model will never reflect the event (until rebuilt)",
    workers: "Workers",
    bus: "Bus",
    connected: "connected",
    disconnected: "cut off",
    retry_all: "Retry all",
    no_workers_here: "This process runs no workers; their status is on the process that runs them.",
    storage_folders: "Storage folders",
    verify_storage: "Verify the folders",
    users_checked: "Users checked",
    missing_objects: "Missing objects",
    orphan_folders: "Folders of no user",
    rebuild_storage: "Rebuild the folders",
    prune_orphans: "Also remove folders of no user",
    confirm_rebuild: "Yes, rebuild",
    delivery_log: "Delivery log",
    any: "Any",
    recipient: "Recipient",
    channel: "Channel",
    template: "Template",
    last_error: "Last error",
    console_audit: "Audit",
    verify_chain: "Verify the chain",
    verify_chain_hint: "Checks every event's hash against its content and its link to the event before. A range not starting at 1 trusts its first event's link.",
    from_position: "From position (default 1)",
    to_position: "To position (default: the head)",
    chain_intact: "The chain is intact.",
    chain_broken: "The chain is broken",
    at_position: "at position",
    events_verified: "Events verified",
    head_hash: "Hash of the last event verified",
    checkpoints: "Signed checkpoints",
    no_checkpoints: "No checkpoint is recorded yet (idlog events checkpoint records one).",
    signed_at: "Signed",
    public_key: "Public key",
    export_log: "Download the log",
    export_log_hint: "The events as stored, one JSON object per line: what idlog events verify --export checks.",
    from_bound: "From (position or RFC 3339 time, optional)",
    to_bound: "To (position or RFC 3339 time, optional)",
    stream_id: "Stream id (optional)",
    event_type: "Event type (optional)",
    console_analytics: "Analytics",
    organization: "Organization",
    everyone: "Everyone",
    window_days: "Window (days)",
    daily_series: "Per day",
    show: "Show",
    figures: "Figures",
    the_numbers: "The numbers",
    day: "Day",
    count: "Count",
    figure_users: "Users",
    figure_active_today: "Active today",
    figure_active_month: "Active in 30 days",
    figure_login_success: "Sign-ins that succeeded",
    figure_registrations: "Registrations in the window",
    figure_lockouts: "Lockouts in the window",
    per_day_over: "per day over",
    days: "days",
    verification_funnel: "Verification funnel",
    funnel_registered: "Registered",
    funnel_email: "Email verified",
    funnel_phone: "Phone verified",
    funnel_both: "Both verified",
    users_by_status: "Users by status",
    users_by_role: "Users by role",
    events_over: "Events over",
    events_in_window: "Events in the window",
    not_locked: "not locked",
    locked_until: "locked until",
    locked_until_unlocked: "locked until unlocked",
    email_verification: "Email address verified",
    phone_verification: "Phone number verified",
    lock: "Lock",
    must_change_password: "Must choose a new password",
    yes: "yes",
    no: "no",
    unlock: "Unlock",
    reactivate: "Reactivate",
    restore: "Restore",
    send_reset: "Send a password reset link",
    stale_edit: "Someone changed this user after you opened the page, so nothing was done. Check what changed below, then decide again.",
    what_changed: "What changed since you opened the page",
    you_saw_version: "You saw version",
    it_is_at_version: "it is now at version",
    events_since: "What happened since",
    user_details: "Details",
    version: "Version",
    account_actions: "Account actions",
    reason_optional: "Reason (optional)",
    lock_until: "Until (UTC; empty: until unlocked)",
    deactivate: "Deactivate",
    set_a_password: "Set a password",
    temporary_password: "Temporary: must be changed at the next sign-in",
    verify_email_by_hand: "Mark the email address verified",
    how_you_know: "How you know it is theirs",
    verify_phone_by_hand: "Mark the phone number verified",
    delete_user: "Delete this user",
    delete_user_hint: "Their sessions end, their email address, username and phone number become free, and their memberships end. The log keeps their history; an administrator can restore them for a while.",
    confirm_delete: "Yes, delete this user",
    global_roles: "Global roles",
    save_roles: "Save roles",
    user_sessions: "Sessions",
    all_activity: "All of this user's activity",
    history: "History",
    as_of_time: "As of (UTC time)",
    or_log_position: "or log position",
    show_as_of: "Show the user then",
    as_of_position: "As of log position",
    log_position: "Log position",
    field: "Field",
    then: "Then",
    now: "Now",
    changed: "changed",
    console_activity: "Activity log",
    actor: "Actor",
    user_id: "User id",
    action: "Action",
    organization_id: "Organization id",
    from_date: "From (UTC date)",
    to_date: "To (UTC date)",
    download_csv: "Download CSV",
    download_ndjson: "Download NDJSON",
    no_rows: "No activity matches.",
    resource: "Resource",
    subject: "User",
    console_users: "Users",
    nav_console: "Console",
    search: "Search",
    search_users: "Email, username or name",
    status: "Status",
    any_but_deleted: "Any but deleted and forgotten",
    role: "Role",
    roles: "Roles",
    users_found: "users",
    no_users: "No user matches.",
    name: "Name",
    organizations: "Organizations",
    verification: "Verification",
    created: "Created",
    next_page: "Next page",
    notifications_heading: "Notifications",
    no_notifications: "Nothing to tell you about.",
    from_address: "from",
    notifications_hint: "Each of these was also sent to your email address. If one was not you, change your password and sign out everywhere.",
    devices_heading: "Devices you signed in from",
    first_seen: "First seen",
    last_seen: "Last seen",
    sign_ins: "Sign-ins",
    no_devices: "No sign-ins yet.",
    lang: "en",
    product: "idlog",
    skip_to_content: "Skip to content",
    nav_label: "Your account",
    nav_dashboard: "Dashboard",
    nav_profile: "Profile",
    nav_security: "Security",
    nav_invitations: "Invitations",
    nav_privacy: "Privacy",
    sign_out: "Sign out",
    footer: "idlog keeps every change to your account in an append-only, verifiable log.",
    error_status: "Error",
    go_home: "Go to the start page",
    error_render: "<!doctype html><title>Error</title><p>Something went wrong on our side.</p>",
    server_error_detail: "Something went wrong on our side. Please try again in a moment.",
    cross_site_title: "Request refused",
    cross_site_detail: "This form did not come from this site, or the page was open too long. Go back, reload the page and try again.",
    bad_form_title: "The form could not be read",
    bad_form_detail: "Go back, reload the page and try again.",
    sign_in: "Sign in",
    email_or_username: "Email address or username",
    password: "Password",
    lockout_hint: "After several wrong passwords in a row the account is locked for a while, and a message goes to its address.",
    forgot_password: "Forgot your password?",
    sign_up_instead: "Create an account",
    sign_in_instead: "Already have an account? Sign in",
    second_step: "Two-step verification",
    authenticator_code: "Code from your authenticator app",
    or_recovery_code: "Lost your authenticator? Use one of your recovery codes instead.",
    recovery_code: "Recovery code",
    continue_: "Continue",
    change_required_heading: "Choose a new password",
    change_required_lead: "Your password was set by an administrator. Choose your own before you go on.",
    new_password: "New password",
    set_password: "Set password",
    sign_up: "Create an account",
    email: "Email address",
    phone_optional: "Phone number (optional)",
    phone_hint: "In international format, e.g. +44 20 7946 0958.",
    first_name_optional: "First name (optional)",
    last_name_optional: "Last name (optional)",
    create_account: "Create account",
    check_your_email: "Check your email",
    verification_sent: "If the address can be used, a link to verify it is on its way. Open it to finish.",
    reset_link_sent: "If the address belongs to an account, a link to reset its password is on its way.",
    back_to_sign_in: "Back to sign in",
    forgot_lead: "Enter your email address and we will send you a link to choose a new password.",
    send_reset_link: "Send reset link",
    reset_heading: "Choose a new password",
    reset_lead: "Choose the password you will sign in with from now on. Every session of the account ends.",
    email_verified_heading: "Email address verified",
    email_verified_body: "Thank you: your email address is verified.",
    go_to_dashboard: "Go to your dashboard",
    email_already_verified_heading: "Already verified",
    email_already_verified_body: "This link was already used: your email address is verified.",
    link_expired_heading: "This link has expired",
    email_link_expired_body: "Verification links work for a limited time. Sign in and send yourself a new one.",
    link_invalid_heading: "This link does not work",
    email_link_invalid_body: "The link is incomplete, was replaced by a newer one, or was already used. Sign in and send yourself a new one.",
    send_new_link_from_dashboard: "Sign in to send a new link",
    phone_heading: "Verify your phone",
    phone_number: "Phone number",
    phone_verified: "Your phone number is verified.",
    code_expires: "The code we sent expires at",
    attempts_left: "Attempts left",
    code_from_sms: "Code from the text message",
    verify: "Verify",
    resend_wait: "You can ask for another code in",
    send_code_again: "Send a new code",
    send_code: "Send me a code",
    no_phone: "Your account has no phone number.",
    add_phone_in_profile: "Add one in your profile.",
    dashboard_heading: "Welcome",
    account_status: "Your account",
    verified: "verified",
    not_verified: "not verified",
    none: "none",
    two_factor: "Two-factor authentication",
    on: "on",
    off: "off",
    member_since: "Member since",
    last_sign_in: "Last sign-in",
    never: "never",
    next_steps: "What to do next",
    all_done: "Your account is fully set up.",
    step_verify_email: "Verify your email address: we sent you a link.",
    send_new_link: "Send a new link",
    step_add_phone: "Add a phone number, to receive codes by text message.",
    step_verify_phone: "Verify your phone number.",
    verify_phone: "Verify phone",
    step_two_factor: "Turn on two-factor authentication, so that a password alone cannot open your account.",
    turn_on_two_factor: "Turn on two-factor authentication",
    recent_activity: "Recent activity on your account",
    no_activity: "Nothing yet.",
    when: "When",
    what: "What",
    address: "Address",
    device: "Device",
    older: "Older activity",
    picture: "Picture",
    your_picture: "Your profile picture",
    no_picture: "No picture yet",
    choose_picture_label: "Choose a picture",
    picture_hint: "PNG, JPEG or WebP, at most 5 MiB. A preview shows before you upload.",
    upload_picture: "Upload picture",
    remove_picture: "Remove picture",
    choose_picture: "Choose a picture to upload.",
    details: "Name and contact",
    first_name: "First name",
    last_name: "Last name",
    username: "Username",
    current_password_for_phone: "Current password (needed to change your phone number unless you signed in a few minutes ago)",
    reauth_hint: "Leave it empty when you change only your names or username.",
    save: "Save",
    address_and_preferences: "Address and preferences",
    address_line1: "Street and number",
    address_line2: "Apartment, suite, building (optional)",
    city: "City",
    region: "State or region (optional)",
    postal_code: "Postal code (optional)",
    country: "Country",
    country_hint: "Two letters, e.g. GB, DE, US.",
    language: "Language",
    language_hint: "A language tag, e.g. en, de, pt-BR.",
    notifications: "Notifications",
    new_device_email: "Email me when my account is signed in from a device it was not used on before",
    news_email: "Email me news about the service",
    security_emails_always: "Messages about your password, email address and two-factor authentication are always sent.",
    change_password: "Change password",
    current_password: "Current password",
    end_other_sessions: "Sign out my other sessions",
    two_factor_is_on: "Two-factor authentication is on: signing in asks for a code from your authenticator app.",
    password_to_turn_off: "Your password, to turn it off",
    turn_off_two_factor: "Turn off two-factor authentication",
    two_factor_lead: "Use an authenticator app (such as one on your phone) for a code at every sign-in.",
    sessions: "Where you are signed in",
    unknown_device: "Unknown device",
    signed_in_at: "Signed in",
    last_used: "Last used",
    actions: "Actions",
    this_session: "this browser",
    revoke: "Sign out this session",
    sign_out_everywhere: "Sign out everywhere",
    scan_qr: "Scan the QR code with your authenticator app.",
    enter_first_code: "Enter the six-digit code it shows.",
    qr_alt: "QR code for your authenticator app; the same secret is written out below.",
    or_type_secret: "Cannot scan it? Type this secret instead:",
    wrong_totp_code: "That is not the code your authenticator shows now. Check the time on your phone and try the newest code.",
    recovery_codes: "Your recovery codes",
    recovery_codes_once: "Keep these codes somewhere safe: each one signs you in once if you lose your authenticator. They are shown only now.",
    saved_them: "I have saved them",
    no_invitations: "No invitations are waiting for you.",
    invited_as: "You are invited as",
    invited_on: "Invited",
    answer_by: "answer by",
    accept: "Accept",
    decline: "Decline",
    download_my_data: "Download my data",
    download_lead: "Everything idlog holds about you, as one JSON file: your account, profile, organizations, sessions, activity and events.",
    forget_my_account: "Forget my account",
    forget_lead: "Your personal data becomes unreadable everywhere, in the log and its backups, and you are signed out. This cannot be undone.",
    type_word: "To confirm, type",
};

impl Texts {
    /// The notice a page shows after a form sent the browser back with `?done=key`; unknown
    /// keys show nothing (the key is never shown as it came).
    pub fn notice(&self, key: Option<&str>) -> Option<&'static str> {
        Some(match key? {
            "signed-out" => "You are signed out.",
            "signed-out-everywhere" => "You are signed out everywhere.",
            "password-set" => "Your new password is set. Sign in with it.",
            "forgotten" => "Your account is forgotten. Its personal data can no longer be read.",
            "link-sent" => "A new verification link is on its way.",
            "too-soon" => {
                "A link was sent less than a minute ago: wait a moment before asking again."
            }
            "phone-verified" => "Your phone number is verified.",
            "code-sent" => "A code is on its way to your phone.",
            "details-saved" => "Your details are saved.",
            "preferences-saved" => "Your address and preferences are saved.",
            "picture-saved" => "Your picture is saved.",
            "picture-removed" => "Your picture is removed.",
            "password-changed" => "Your password is changed.",
            "two-factor-on" => "Two-factor authentication is on.",
            "two-factor-off" => "Two-factor authentication is off.",
            "session-ended" => "That session is signed out.",
            "invitation-accepted" => "Welcome: you are a member now.",
            "invitation-declined" => "The invitation is declined.",
            "invitation-lapsed" => "That invitation lapsed before it was answered.",
            "user-locked" => "The user is locked and signed out everywhere.",
            "user-unlocked" => "The user is unlocked.",
            "user-deactivated" => "The user is deactivated and signed out everywhere.",
            "user-reactivated" => "The user is active again.",
            "user-restored" => "The user is restored.",
            "user-deleted" => "The user is deleted.",
            "reset-sent" => "A password reset link is on its way to the user.",
            "user-password-set" => "The password is set, and the user is signed out everywhere.",
            "email-verified-by-hand" => "The email address is marked verified.",
            "phone-verified-by-hand" => "The phone number is marked verified.",
            "roles-saved" => "The roles are saved.",
            "role-profile-saved" => "The role profile is saved.",
            "role-defined" => "The role is defined.",
            "role-changed" => "The role is saved.",
            "role-retired" => "The role is retired.",
            "read-model-retry" => "The read model tries the event again.",
            "read-model-skip" => "The read model went on past the event.",
            "letters-retried" => "The dead letters went through.",
            "letters-still-failing" => "Some dead letters still fail: see their errors.",
            "storage-rebuilt" => "The storage folders are rebuilt.",
            "organization-created" => "The organization is created.",
            "user-created" => "The user is created.",
            "user-invited" => "The invitation is on its way.",
            "organization-saved" => "The organization is saved.",
            "partner-saved" => "The partner details are saved.",
            "permission-defined" => "The flag is defined.",
            "permission-retired" => {
                "The flag is retired: it is given to no one and grants nothing from now on."
            }
            "member-invited" => "The invitation is on its way.",
            "member-added" => "The member is added.",
            "member-saved" => "The member's role and flags are saved.",
            "member-removed" => "The member is removed.",
            "invitation-revoked" => "The invitation is revoked.",
            "action-defined" => "The action is defined.",
            "action-retired" => "The action is retired: no new record may name it.",
            "key-revoked" => "The API key is revoked: it authenticates nothing from now on.",
            "ip-blocked" => "The block is in place.",
            "wallet-credited" => "The wallet is credited.",
            "wallet-debited" => "The wallet is debited.",
            "wallet-frozen" => "The wallet is frozen: no credits or debits until it is unfrozen.",
            "wallet-unfrozen" => "The wallet is active again.",
            "ip-unblocked" => "The block is lifted.",
            _ => return None,
        })
    }

    /// A notification in words.
    pub fn notification(&self, kind: application::notifications::NotificationKind) -> &'static str {
        use application::notifications::NotificationKind as K;
        match kind {
            K::NewDevice => "Signed in from a device not used on this account before",
            K::PasswordChanged => "Your password was changed",
            K::PasswordReset => "Your password was reset with an emailed link",
            K::PasswordSet => "An administrator set your password",
            K::EmailChanged => "Your email address was changed",
            K::TwoFactorOn => "Two-factor authentication was turned on",
            K::TwoFactorOff => "Two-factor authentication was turned off",
            K::RecoveryCodeUsed => "A recovery code was used to sign in",
            K::AccountLocked => "Your account was locked",
        }
    }

    /// How long to wait, for a 429.
    pub fn wait(&self, seconds: u64) -> String {
        match seconds {
            0..=1 => "Please wait a second before trying again.".to_owned(),
            2..=119 => format!("Please wait {seconds} seconds before trying again."),
            _ => format!(
                "Please wait {} minutes before trying again.",
                seconds.div_ceil(60)
            ),
        }
    }

    /// The password policy in words.
    pub fn password_rules(&self, min_length: usize) -> String {
        format!(
            "At least {min_length} characters. Not one of the most common passwords, and not \
             your email address or username."
        )
    }

    /// A wrong phone code, with the tries left.
    pub fn wrong_code(&self, attempts_left: u32) -> String {
        match attempts_left {
            0 => "That is not the code we sent, and no tries are left: ask for a new code."
                .to_owned(),
            1 => "That is not the code we sent. 1 try is left.".to_owned(),
            n => format!("That is not the code we sent. {n} tries are left."),
        }
    }

    /// Asking to type the confirmation word.
    pub fn type_to_confirm(&self, word: &str) -> String {
        format!("Type \"{word}\" to confirm.")
    }

    /// An event of the activity log in words (the event type when there are none).
    pub fn action<'a>(&self, event_type: &'a str) -> &'a str {
        match event_type {
            "UserRegistered" => "Signed up",
            "UserCreated" => "Account created",
            "LoginSucceeded" => "Signed in",
            "LoginFailed" => "Failed sign-in",
            "SignedInFromNewDevice" => "Signed in from a new device",
            "SessionStarted" => "Session started",
            "SessionEnded" => "Signed out",
            "SessionRevoked" => "Session ended",
            "AccountLocked" => "Account locked",
            "AccountUnlocked" => "Account unlocked",
            "EmailVerificationRequested" => "Verification link sent",
            "EmailVerified" => "Email address verified",
            "EmailChanged" => "Email address changed",
            "PhoneVerificationRequested" => "Phone code sent",
            "PhoneVerificationFailed" => "Wrong phone code",
            "PhoneVerified" => "Phone number verified",
            "PhoneChanged" => "Phone number changed",
            "PasswordChanged" => "Password changed",
            "PasswordSet" => "Password set by an administrator",
            "PasswordResetRequested" => "Password reset requested",
            "PasswordResetCompleted" => "Password reset",
            "PasswordChangeRequired" => "New password required",
            "ProfileUpdated" => "Profile changed",
            "UsernameChanged" => "Username changed",
            "ProfilePictureSet" => "Picture changed",
            "ProfilePictureRemoved" => "Picture removed",
            "TotpEnrollmentStarted" => "Two-factor set-up started",
            "TotpEnabled" => "Two-factor authentication turned on",
            "TotpDisabled" => "Two-factor authentication turned off",
            "TotpCodeUsed" => "Two-factor code used",
            "RecoveryCodeUsed" => "Recovery code used",
            "UserDeactivated" => "Account deactivated",
            "UserReactivated" => "Account reactivated",
            "UserDeleted" => "Account deleted",
            "UserRestored" => "Account restored",
            "RoleGranted" => "Role granted",
            "RoleRevoked" => "Role withdrawn",
            "RoleProfileSet" => "Role profile set",
            "UserForgotten" => "Account forgotten",
            "OrganizationLinked" => "Linked to an organization",
            "InvitedToOrganization" => "Invited to an organization",
            "OrganizationUnlinked" => "Unlinked from an organization",
            "ExpiredTokensDiscarded" => "Expired links discarded",
            "SessionRefreshed" => "Session refreshed",
            "SessionUsed" => "Session used",
            "MemberAdded" | "InvitationAccepted" => "Joined an organization",
            "MemberRemoved" => "Left an organization",
            "MemberChanged" => "Organization role changed",
            "MemberInvited" => "Invited to an organization",
            "InvitationDeclined" => "Invitation declined",
            "InvitationRevoked" => "Invitation withdrawn",
            "InvitationExpired" => "Invitation lapsed",
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_of_a_person_s_own_activity_reads_in_words() {
        use strum::IntoEnumIterator;
        let user_events = domain::user::UserEventType::iter().map(|kind| kind.as_str());
        let session_events = domain::session::SessionEventType::iter()
            .filter(|kind| !projections::queries::ROUTINE_ACTIONS.contains(kind))
            .map(|kind| kind.as_str());
        let untold: Vec<&str> = user_events
            .chain(session_events)
            .filter(|name| ENGLISH.action(name) == *name)
            .collect();
        assert!(untold.is_empty(), "no words for {untold:?}");
    }
}
