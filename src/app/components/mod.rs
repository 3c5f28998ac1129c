//! Pieces several pages use.

mod audit_list;
mod error_view;
mod forms;
mod org_button;
mod user_menu;

pub use audit_list::AuditList;
pub use error_view::ErrorView;
pub use forms::{ActionHeader, Forms, PostForm};
pub use org_button::OrgButton;
pub use user_menu::UserMenu;
