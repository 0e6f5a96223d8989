// The app shell: sign-in state, navigation bar and the hash router. Pages are ES modules loaded on navigation
// only (import()), each exporting `async function render(root, ctx)` that may return a cleanup function.
import { ApiError, api as callApi, currentSession, signOut, signOutEverywhere } from "./api.js";
import { el } from "./dom.js";

// what each scope may do besides itself (as vidstruct.service.auth)
const GRANTS = {
  read: ["read"],
  write: ["read", "write"],
  review: ["read", "review"],
  admin: ["read", "write", "review", "admin"],
};

/** True when a key of scope `scope` may use what needs `needed`. */
export function grants(scope, needed) {
  return needed === null || (GRANTS[scope] || []).includes(needed);
}

// hash path → page module, scope needed, nav entry
const ROUTES = [
  { pattern: /^signin$/, module: "./pages/signin.js", needs: null, public: true },
  { pattern: /^upload$/, module: "./pages/upload.js", needs: "write", nav: "Upload" },
  { pattern: /^jobs$/, module: "./pages/jobs.js", needs: "write", nav: "Jobs" },
  { pattern: /^videos$/, module: "./pages/videos.js", needs: "read", nav: "Videos" },
  { pattern: /^videos\/([^/]+)$/, module: "./pages/video.js", needs: "read", section: "videos" },
  { pattern: /^search$/, module: "./pages/search.js", needs: "read", nav: "Search" },
  { pattern: /^moderation$/, module: "./pages/moderation.js", needs: "review", nav: "Moderation" },
];

const state = { session: null, cleanup: null, serial: 0 };

function parseHash(hash) {
  const raw = (hash || "").replace(/^#\/?/, "");
  const at = raw.indexOf("?");
  const path = decodeURIComponent(at < 0 ? raw : raw.slice(0, at)).replace(/\/+$/, "");
  const params = new URLSearchParams(at < 0 ? "" : raw.slice(at + 1));
  return { path, params };
}

function homeHash(session) {
  if (!session) return "#/signin";
  return grants(session.scope, "write") ? "#/jobs" : "#/videos";
}

/** Go to `hash` ("#/jobs"); the same hash renders the page again. */
export function navigate(hash) {
  const target = hash.startsWith("#") ? hash : `#${hash}`;
  if (window.location.hash === target) render();
  else window.location.hash = target;
}

/** The API for pages: a 401 (session expired or key revoked) sends the user to the sign-in page. */
async function api(path, options) {
  try {
    return await callApi(path, options);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && state.session) {
      state.session = null;
      drawChrome();
      navigate(`#/signin?next=${encodeURIComponent(window.location.hash)}`);
    }
    throw err;
  }
}

function setSession(session) {
  state.session = session ? { scope: session.scope, key_prefix: session.key_prefix } : null;
  drawChrome();
}

function drawChrome() {
  const { path } = parseHash(window.location.hash);
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  const session = state.session;
  const links = session
    ? ROUTES.filter((r) => r.nav && grants(session.scope, r.needs)).map((r) => {
        const name = r.pattern.source.replace(/^\^|\$$/g, "");
        const current = path === name || path.startsWith(`${name}/`);
        return el("a", {
          href: `#/${name}`,
          text: r.nav,
          class: "nav-link",
          dataset: { page: name },
          "aria-current": current ? "page" : null,
        });
      })
    : [];
  nav.replaceChildren(...links);
  who.replaceChildren(
    ...(session
      ? [
          el("span", { class: "key", text: `${session.key_prefix}… (${session.scope})`, title: "signed-in API key" }),
          el("button", { type: "button", id: "sign-out", class: "link", text: "Sign out", onClick: onSignOut }),
          el("button", {
            type: "button",
            id: "sign-out-everywhere",
            class: "link",
            text: "Sign out everywhere",
            title: "end every session of this key, on every device",
            onClick: onSignOutEverywhere,
          }),
        ]
      : []),
  );
}

async function onSignOut() {
  try {
    await signOut();
  } finally {
    setSession(null);
    navigate("#/signin");
  }
}

async function onSignOutEverywhere() {
  try {
    await signOutEverywhere();
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) throw err; // 401: this session had ended already
  }
  setSession(null);
  navigate("#/signin");
}

function freshMain() {
  const old = document.getElementById("page");
  const main = el("main", { id: "page", tabindex: "-1" });
  old.replaceWith(main);
  return main;
}

// body[data-state]: "loading" while a page renders, "ready" once its render() has finished (tests wait on it)
function settled(serial) {
  if (serial === state.serial) document.body.dataset.state = "ready";
}

async function render() {
  const serial = ++state.serial;
  document.body.dataset.state = "loading";
  if (state.cleanup) {
    try {
      state.cleanup();
    } catch (err) {
      console.warn("page cleanup failed", err);
    }
    state.cleanup = null;
  }
  const { path, params } = parseHash(window.location.hash);
  if (!path) {
    navigate(homeHash(state.session));
    return;
  }
  const route = ROUTES.find((r) => r.pattern.test(path));
  drawChrome();
  const main = freshMain();
  if (!route) {
    main.append(el("h1", { text: "Not found" }), el("p", { text: `There is no page “${path}”.` }));
    settled(serial);
    return;
  }
  if (!route.public && !state.session) {
    navigate(`#/signin?next=${encodeURIComponent(window.location.hash)}`);
    return;
  }
  if (!route.public && !grants(state.session.scope, route.needs)) {
    main.append(el("p", { class: "notice", role: "status", text: `This page needs scope ${route.needs}.` }));
    settled(serial);
    return;
  }
  const match = path.match(route.pattern);
  if (match[1]) params.set("id", decodeURIComponent(match[1]));
  let page;
  try {
    page = await import(route.module);
  } catch (err) {
    if (serial === state.serial) main.append(el("p", { class: "notice", role: "alert", text: "This page is not available." }));
    settled(serial);
    return;
  }
  if (serial !== state.serial) return; // the user moved on while the module loaded
  const ctx = { api, session: state.session, navigate, params, setSession, grants };
  try {
    const cleanup = await page.render(main, ctx);
    // keyboard users continue in the new page (unless the page focused something of its own)
    if (serial === state.serial && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
    if (typeof cleanup === "function") {
      if (serial === state.serial) state.cleanup = cleanup;
      else cleanup();
    }
  } catch (err) {
    if (serial !== state.serial) return;
    const text = err instanceof ApiError ? err.detail : String(err && err.message ? err.message : err);
    main.append(el("p", { class: "notice error", role: "alert", text }));
  }
  settled(serial);
}

async function start() {
  try {
    setSession(await currentSession());
  } catch (err) {
    setSession(null);
  }
  window.addEventListener("hashchange", render);
  // "Skip to content" focuses the page without touching the hash (the router's)
  document.querySelector(".skip").addEventListener("click", (event) => {
    event.preventDefault();
    document.getElementById("page").focus();
  });
  render();
}

start();
