//! The one error type of the server functions (Leptos 0.8's `FromServerFnError`), shared by the
//! server and the hydrated client.
//!
//! On the wire an error is `{"code": "managers_only", "message": "only organization admins and
//! project managers can do that"}`: the message is for JSON clients and people reading logs; on
//! the way in only the code is read and the text is derived from it. A form posted without
//! JavaScript comes back with the error in the URL (`?__err=…`), so a crafted link can only
//! choose one of these messages, not write its own.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::TextProblem;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WorkspaceError {
    #[error("sign in first")]
    SignInRequired,
    #[error("choose an organization first")]
    ChooseOrganization,
    #[error("only organization admins and project managers can do that")]
    ManagersOnly,
    #[error("only organization admins can see the audit log")]
    AdminsOnly,
    #[error("only organization admins can do that")]
    AdminRequired,
    #[error("no such project")]
    ProjectNotFound,
    #[error("that person is not a member of this organization")]
    MemberNotFound,
    #[error("An organization needs at least one admin: make someone else an admin first.")]
    LastAdmin,
    #[error("Choose a role: Admin or Member.")]
    RoleInvalid,
    #[error("Enter a valid email address.")]
    EmailInvalid,
    #[error("That person is already a member of this organization.")]
    AlreadyMember,
    #[error("no such invitation")]
    InvitationNotFound,
    #[error("That invitation is no longer pending (accepted, revoked or expired).")]
    InvitationNotPending,
    #[error("An organization needs a name of at most 80 characters.")]
    OrganizationNameInvalid,
    #[error("Slugs use lowercase letters, digits and hyphens (not at either end), at most 64 characters.")]
    SlugInvalid,
    #[error("That slug is already taken.")]
    SlugTaken,
    #[error("Type the organization's name exactly to delete it.")]
    ConfirmationMismatch,
    /// Clerk refused the change for a reason of its own (logged).
    #[error("the identity provider refused that change")]
    ClerkRefused,
    #[error("A project needs a name.")]
    ProjectNameMissing,
    #[error("Project names are at most 80 characters.")]
    ProjectNameTooLong,
    #[error("Descriptions are at most 2000 characters.")]
    DescriptionTooLong,
    #[error("Names, descriptions and searches cannot contain control characters.")]
    ControlCharacters,
    #[error("a project with that name already exists in this organization")]
    ProjectNameTaken,
    #[error("Search terms are at most 100 characters.")]
    SearchTooLong,
    #[error("That page of results no longer exists; start again from the first page.")]
    BadCursor,
    /// The organization was deleted in Clerk (its data is kept for the retention period).
    #[error("this organization has been deleted")]
    OrganizationDeleted,
    /// Removed from (or left) the organization since the session token was minted.
    #[error("you are no longer a member of this organization")]
    MembershipEnded,
    #[error("too many requests; please wait a minute and try again")]
    TooManyRequests,
    #[error("the service is temporarily unavailable; please try again")]
    Unavailable,
    #[error("something went wrong; please try again")]
    Internal,
    /// The call itself failed (network, encoding): its details go to the log, not the page.
    #[error("the request could not be completed; please try again")]
    Transport,
}

impl WorkspaceError {
    pub const ALL: [Self; 31] = [
        Self::SignInRequired,
        Self::ChooseOrganization,
        Self::ManagersOnly,
        Self::AdminsOnly,
        Self::AdminRequired,
        Self::ProjectNotFound,
        Self::MemberNotFound,
        Self::LastAdmin,
        Self::RoleInvalid,
        Self::EmailInvalid,
        Self::AlreadyMember,
        Self::InvitationNotFound,
        Self::InvitationNotPending,
        Self::OrganizationNameInvalid,
        Self::SlugInvalid,
        Self::SlugTaken,
        Self::ConfirmationMismatch,
        Self::ClerkRefused,
        Self::ProjectNameMissing,
        Self::ProjectNameTooLong,
        Self::DescriptionTooLong,
        Self::ControlCharacters,
        Self::ProjectNameTaken,
        Self::SearchTooLong,
        Self::BadCursor,
        Self::OrganizationDeleted,
        Self::MembershipEnded,
        Self::TooManyRequests,
        Self::Unavailable,
        Self::Internal,
        Self::Transport,
    ];

    /// The stable code clients match on.
    pub fn code(self) -> &'static str {
        match self {
            Self::SignInRequired => "sign_in_required",
            Self::ChooseOrganization => "choose_organization",
            Self::ManagersOnly => "managers_only",
            Self::AdminsOnly => "admins_only",
            Self::AdminRequired => "admin_required",
            Self::ProjectNotFound => "project_not_found",
            Self::MemberNotFound => "member_not_found",
            Self::LastAdmin => "last_admin",
            Self::RoleInvalid => "role_invalid",
            Self::EmailInvalid => "email_invalid",
            Self::AlreadyMember => "already_member",
            Self::InvitationNotFound => "invitation_not_found",
            Self::InvitationNotPending => "invitation_not_pending",
            Self::OrganizationNameInvalid => "organization_name_invalid",
            Self::SlugInvalid => "slug_invalid",
            Self::SlugTaken => "slug_taken",
            Self::ConfirmationMismatch => "confirmation_mismatch",
            Self::ClerkRefused => "clerk_refused",
            Self::ProjectNameMissing => "project_name_missing",
            Self::ProjectNameTooLong => "project_name_too_long",
            Self::DescriptionTooLong => "description_too_long",
            Self::ControlCharacters => "control_characters",
            Self::ProjectNameTaken => "project_name_taken",
            Self::SearchTooLong => "search_too_long",
            Self::BadCursor => "bad_cursor",
            Self::OrganizationDeleted => "organization_deleted",
            Self::MembershipEnded => "membership_ended",
            Self::TooManyRequests => "too_many_requests",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::Transport => "transport",
        }
    }

    /// The HTTP status a server function answers with.
    pub fn status(self) -> u16 {
        match self {
            Self::SignInRequired => 401,
            Self::ChooseOrganization | Self::ManagersOnly | Self::AdminsOnly | Self::AdminRequired => 403,
            Self::ProjectNotFound | Self::MemberNotFound | Self::InvitationNotFound => 404,
            Self::ProjectNameTaken
            | Self::LastAdmin
            | Self::AlreadyMember
            | Self::InvitationNotPending
            | Self::SlugTaken => 409,
            Self::OrganizationDeleted => 410,
            Self::MembershipEnded => 403,
            Self::TooManyRequests => 429,
            Self::ProjectNameMissing
            | Self::ProjectNameTooLong
            | Self::DescriptionTooLong
            | Self::ControlCharacters
            | Self::SearchTooLong
            | Self::BadCursor
            | Self::RoleInvalid
            | Self::EmailInvalid
            | Self::OrganizationNameInvalid
            | Self::SlugInvalid
            | Self::ConfirmationMismatch
            | Self::ClerkRefused => 422,
            Self::Unavailable => 503,
            Self::Internal | Self::Transport => 500,
        }
    }

    pub fn project_name(problem: TextProblem) -> Self {
        match problem {
            TextProblem::Missing => Self::ProjectNameMissing,
            TextProblem::TooLong => Self::ProjectNameTooLong,
            TextProblem::ControlCharacter => Self::ControlCharacters,
        }
    }
}

/// Only the code of an error that comes back (in a response or a URL) is trusted.
#[derive(Serialize, Deserialize)]
struct Wire {
    code: String,
    #[serde(default, skip_deserializing)]
    message: String,
}

impl Serialize for WorkspaceError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire { code: self.code().to_string(), message: self.to_string() }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for WorkspaceError {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(d)?;
        Self::ALL
            .into_iter()
            .find(|e| e.code() == wire.code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown error code {:?}", wire.code)))
    }
}

impl FromServerFnError for WorkspaceError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        #[cfg(feature = "ssr")]
        tracing::warn!(error = %value, "server function call failed");
        #[cfg(not(feature = "ssr"))]
        leptos::logging::warn!("server function call failed: {value}");
        Self::Transport
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_travel_as_codes_with_their_message() {
        for e in WorkspaceError::ALL {
            let bytes = e.ser();
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(json, serde_json::json!({"code": e.code(), "message": e.to_string()}));
            assert_eq!(WorkspaceError::de(bytes), e);
        }
    }

    #[test]
    fn a_crafted_error_cannot_bring_its_own_words() {
        let crafted = WorkspaceError::de(br#"{"code":"managers_only","message":"Call +1 555"}"#.to_vec().into());
        assert_eq!(crafted, WorkspaceError::ManagersOnly);
        assert!(!crafted.to_string().contains("555"));
        let unknown = WorkspaceError::de(br#"{"ServerError":"Your account is locked, call +1 555"}"#.to_vec().into());
        assert_eq!(unknown, WorkspaceError::Transport);
        assert!(!unknown.to_string().contains("555"));
    }
}
