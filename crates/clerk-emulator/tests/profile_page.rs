//! The emulator's stand-in for the Account Portal's user profile page (`/user`), which the
//! app's user menu links to as "Account".

mod common;

#[tokio::test]
async fn the_profile_page_shows_the_browsers_signed_in_user() {
    let (_emu, url) = common::start(|_| {}).await;
    let http =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(format!("{url}/user")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("You are signed out."), "{page}");

    let r = http
        .post(format!("{url}/sign-in"))
        .form(&[("email", "alice@acme.test"), ("quick", "1"), ("redirect_url", "http://127.0.0.1:3000/app")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "signed in: {}", r.status());
    let page = http
        .get(format!("{url}/user?redirect_url=http%3A%2F%2F127.0.0.1%3A3000%2Fapp%2Fdashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("alice@acme.test") && page.contains(r#"data-testid="profile-name">Alice"#), "{page}");
    assert!(page.contains(r#"href="http://127.0.0.1:3000/app/dashboard""#), "a way back to the app: {page}");
    let elsewhere = http
        .get(format!("{url}/user?redirect_url=https%3A%2F%2Fevil.example%2F"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!elsewhere.contains("evil.example"), "only allowed origins are linked back to");
}
