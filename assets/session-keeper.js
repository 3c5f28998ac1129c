// Keeps the 60-second Clerk session token fresh in an open tab, as clerk-js does.
//
// Shortly before the `__session` token expires, ask the Frontend API that issued it (the
// token's `iss`) for a new one, with the browser's Clerk client cookie, and write it back into
// the `__session` cookie. Same-origin `/api/` calls wait for a pending renewal, so a page left
// open keeps working. Served as a hashed static asset by the server (see `src/app/mod.rs`).
(() => {
  "use strict";

  /** Renew when the token has at most this many seconds left. */
  const RENEW_BEFORE_EXPIRY_S = 15;
  /** How often to look, in milliseconds. */
  const CHECK_EVERY_MS = 5000;

  const nowSeconds = () => Date.now() / 1000;

  /** The session cookie (`__session` or the suffixed `__session_<suffix>`), if any. */
  function currentSession() {
    const match = document.cookie.match(/(?:^|; )(__session(?:_[A-Za-z0-9_-]{8})?)=([^;]+)/);
    return match ? { name: match[1], jwt: match[2] } : null;
  }

  /** The JWT's payload, unverified: only its `sid`, `iss` and `exp` are read, to ask for a new one. */
  function payloadOf(jwt) {
    try {
      const base64 = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(base64));
    } catch {
      return null;
    }
  }

  let inFlight = null;

  function renewIfExpiring() {
    const session = currentSession();
    if (!session) return Promise.resolve();
    const claims = payloadOf(session.jwt);
    if (!claims || !claims.sid || !claims.iss || claims.exp - nowSeconds() > RENEW_BEFORE_EXPIRY_S) {
      return Promise.resolve();
    }
    inFlight =
      inFlight ||
      fetch(`${claims.iss}/v1/client/sessions/${claims.sid}/tokens`, { method: "POST", credentials: "include" })
        .then((response) => (response.ok ? response.json() : null))
        .then((body) => {
          if (body && body.jwt) {
            // Secure on https, as Clerk sets it: the token never travels in clear text.
            const secure = location.protocol === "https:" ? "; Secure" : "";
            document.cookie = `${session.name}=${body.jwt}; path=/; SameSite=Lax${secure}`;
          }
        })
        .catch(() => {})
        .finally(() => {
          inFlight = null;
        });
    return inFlight;
  }

  setInterval(renewIfExpiring, CHECK_EVERY_MS);
  document.addEventListener("visibilitychange", renewIfExpiring);

  const originalFetch = window.fetch;
  window.fetch = async (input, init) => {
    try {
      const url = new URL(typeof input === "string" ? input : input.url, location.href);
      if (url.origin === location.origin && url.pathname.startsWith("/api/")) {
        await renewIfExpiring();
      }
    } catch {
      // Not a URL we can read: send it as it is.
    }
    return originalFetch(input, init);
  };
})();
