//! One page per file, in the order of the request path: public pages, choosing an organization,
//! then the workspace layout and the pages inside it. The islands (`#[island]`) live in the
//! page they belong to.

mod audit;
mod dashboard;
mod landing;
mod members;
mod not_found;
mod projects;
mod select_org;
mod settings;
mod workspace_layout;

pub use audit::AuditPage;
pub use dashboard::DashboardPage;
pub use landing::LandingPage;
pub use members::MembersPage;
pub use not_found::NotFound;
pub use projects::ProjectsPage;
pub use select_org::SelectOrgPage;
pub use settings::SettingsPage;
pub use workspace_layout::AppShell;
