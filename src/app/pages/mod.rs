//! One page per file, in the order of the request path: public pages, choosing an organization,
//! then the workspace layout and the pages inside it. The pages behind sign-in are reached
//! through `signed_in`'s lazy routes (their code loads after the landing page's).

mod audit;
mod dashboard;
mod landing;
mod members;
mod not_found;
mod projects;
mod select_org;
mod settings;
mod signed_in;
mod workspace_layout;

use audit::AuditPage;
use dashboard::DashboardPage;
pub use landing::LandingPage;
use members::MembersPage;
pub use not_found::NotFound;
use projects::ProjectsPage;
use select_org::SelectOrgPage;
use settings::SettingsPage;
pub use signed_in::{
    AppShellRoute, AuditRoute, DashboardRoute, MembersRoute, ProjectsRoute, SelectOrgRoute, SettingsRoute,
};
use workspace_layout::AppShell;
