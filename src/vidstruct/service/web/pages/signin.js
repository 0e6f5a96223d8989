// Sign-in: an API key typed into a form, posted once to /ui/session (never put in a URL or stored by the page).
import { ApiError, signIn } from "../api.js";
import { el, notice } from "../dom.js";

export async function render(root, ctx) {
  const input = el("input", {
    id: "signin-key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "signin-help",
  });
  const message = el("div", { class: "message", "aria-live": "polite" });
  const button = el("button", { type: "submit", class: "primary", text: "Sign in" });
  // no `name` on the input and method=post: even without this script the key could not end up in a URL
  const form = el(
    "form",
    { class: "card narrow", method: "post", action: "#/signin", onSubmit: submit },
    el("label", { for: "signin-key", text: "API key" }),
    input,
    el("p", {
      id: "signin-help",
      class: "help",
      text: "A key made with 'vidstruct keys create --scope read|write|review|admin'. It is kept in this browser's "
        + "session cookie, never in the address bar.",
    }),
    button,
    message,
  );
  root.append(el("h1", { text: "Sign in" }), form);
  if (ctx.session) {
    message.replaceChildren(notice(`Signed in as ${ctx.session.key_prefix}… (${ctx.session.scope}).`, "info"));
  }
  input.focus();

  async function submit(event) {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    button.disabled = true;
    message.replaceChildren();
    try {
      const session = await signIn(key);
      input.value = "";
      ctx.setSession(session);
      const next = ctx.params.get("next");
      ctx.navigate(next && next.startsWith("#/") && !next.startsWith("#/signin") ? next : "#/");
    } catch (err) {
      const text = err instanceof ApiError ? err.detail : "Sign-in failed.";
      message.replaceChildren(notice(text));
    } finally {
      button.disabled = false;
    }
  }
}
