// Small DOM helpers shared by the pages. Text always goes in through textContent / attributes, never as HTML.

/**
 * Make an element: el("button", {class: "x", text: "Go", onClick: fn, dataset: {id: 1}, "aria-label": "go"}, child...)
 * attrs: class, text, on<Event> (a function), dataset (object), style (object, set through the CSSOM: allowed by
 * the page's Content-Security-Policy), any other attribute (null / undefined / false: left out; true: present).
 * children: nodes, strings, numbers, arrays of them; null / undefined / false are skipped.
 */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style") Object.assign(node.style, value);
    else if (/^on[A-Z]/.test(key) && typeof value === "function") node.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === "value" && "value" in node) node.value = value;
    else if (key === "checked" && "checked" in node) node.checked = Boolean(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

/** Replace `node`'s children (as el() takes them: null / undefined / false skipped, arrays flattened). */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Seconds as "m:ss.s" (minutes unbounded: 3725.4 → "62:05.4"); "–" for a missing value. */
export function fmtTime(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "–";
  const tenths = Math.round(Math.max(0, seconds) * 10);
  const m = Math.floor(tenths / 600);
  const s = (tenths % 600) / 10;
  return `${m}:${s.toFixed(1).padStart(4, "0")}`;
}

/** A probability as a whole percent: 0.873 → "87%"; "–" for a missing value. */
export function fmtProb(p) {
  return typeof p === "number" && Number.isFinite(p) ? `${Math.round(p * 100)}%` : "–";
}

/** A stable colour per label (hue from its characters). */
export function labelColor(label, alpha = 1) {
  let h = 7;
  for (const ch of String(label)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return `hsla(${(h * 137) % 360}, 62%, 45%, ${alpha})`;
}

/** A one-line message box (role=alert for errors, role=status otherwise). */
export function notice(text, kind = "error") {
  return el("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status", text });
}

/** A page heading. */
export function heading(text) {
  return el("h1", { text });
}

/** Add the page's stylesheet once (a <link>, allowed by the CSP's style-src 'self'). */
export function loadCss(url) {
  const href = new URL(url).href;
  for (const link of document.querySelectorAll("link[rel=stylesheet]")) {
    if (link.href === href) return;
  }
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = href;
  document.head.append(link);
}
