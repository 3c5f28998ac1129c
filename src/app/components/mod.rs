//! Pieces several pages use.

mod audit_list;
mod error_view;
mod org_button;

pub use audit_list::AuditList;
pub use error_view::ErrorView;
pub use org_button::OrgButton;
