// Upload: a video by drag and drop or the file picker, the profile and features to run; progress while it
// uploads, then the jobs page.
import { ApiError, uploadForm } from "../api.js";
import { el, notice } from "../dom.js";

const FEATURES = [
  ["shots", true],
  ["labels", true],
  ["segments", true],
  ["actors", true],
  ["moderation", false],
];

function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** An option of the profile <select>: its name, description, models; a profile that is not usable says why. */
function profileOption(p) {
  const models = (p.models || []).filter((m) => m.key !== "shots").map((m) => m.name || m.key);
  const parts = [p.name, p.is_default ? " (default)" : "", p.description ? ` – ${p.description}` : ""];
  if (models.length) parts.push(` [${models.join(", ")}]`);
  if (!p.usable) parts.push(` – not usable: ${(p.problems || []).join("; ")}`);
  return el("option", { value: p.name, text: parts.join(""), selected: p.is_default, dataset: { usable: String(p.usable) } });
}

/** Fill the profile <select> from GET /v1/profiles (kept as "the server's default" when that fails). */
async function loadProfiles(ctx, select) {
  let body;
  try {
    body = await ctx.api("/v1/profiles");
  } catch {
    return; // the unnamed default still works: the server picks its default profile
  }
  const profiles = body.profiles || [];
  if (!profiles.length) return;
  select.replaceChildren(...profiles.map(profileOption));
  if (!profiles.some((p) => p.is_default)) {
    select.prepend(el("option", { value: "", text: "the server's default" }));
    select.value = "";
  } else {
    select.value = body.default_profile;
  }
}

export async function render(root, ctx) {
  let file = null;
  const fileInput = el("input", { id: "upload-file", type: "file", accept: "video/*", onChange: () => choose(fileInput.files[0]) });
  const chosen = el("p", { class: "chosen", "aria-live": "polite", text: "No file chosen." });
  const zone = el(
    "div",
    { class: "dropzone", id: "upload-drop" },
    el("p", { class: "drop-hint", text: "Drop a video file here, or choose one:" }),
    el("label", { for: "upload-file", class: "visually-hidden", text: "Video file" }),
    fileInput,
    chosen,
  );
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const dropped = event.dataTransfer && event.dataTransfer.files[0];
    if (dropped) choose(dropped);
  });

  // the profiles from GET /v1/profiles, the server's default preselected (until they come: the default, unnamed)
  const profile = el("select", { id: "upload-profile", name: "profile" }, el("option", { value: "", text: "the server's default" }));
  const tag = el("input", { id: "upload-tag", type: "text", autocomplete: "off", maxlength: "256" });
  const boxes = FEATURES.map(([name, on]) =>
    el("label", { class: "check" }, el("input", { type: "checkbox", value: name, checked: on, dataset: { feature: name } }), ` ${name}`),
  );
  const progress = el("progress", { id: "upload-progress", max: "100", value: "0", "aria-label": "upload progress" });
  const progressText = el("span", { class: "progress-text", "aria-live": "polite" });
  const message = el("div", { class: "message" });
  const submit = el("button", { type: "submit", class: "primary", text: "Upload and analyse", disabled: true });
  const form = el(
    "form",
    { class: "card", onSubmit: send },
    zone,
    el(
      "div",
      { class: "fields" },
      el("label", { for: "upload-profile", text: "Profile" }),
      profile,
      el("label", { for: "upload-tag", text: "Job tag (optional)" }),
      tag,
    ),
    el("fieldset", {}, el("legend", { text: "Features to index" }), ...boxes),
    el("div", { class: "actions" }, submit, progress, progressText),
    message,
  );
  root.append(el("h1", { text: "Upload a video" }), form);
  await loadProfiles(ctx, profile);

  function choose(f) {
    file = f || null;
    chosen.textContent = file ? `${file.name} (${fmtBytes(file.size)})` : "No file chosen.";
    submit.disabled = !file;
  }

  async function send(event) {
    event.preventDefault();
    if (!file) return;
    const features = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    if (!features.length) {
      message.replaceChildren(notice("Choose at least one feature."));
      return;
    }
    const body = new FormData();
    body.append("features", features.join(","));
    if (profile.value) body.append("profile", profile.value);
    if (tag.value.trim()) body.append("job_tag", tag.value.trim());
    body.append("file", file, file.name);
    submit.disabled = true;
    message.replaceChildren();
    progress.value = 0;
    try {
      const job = await uploadForm("/v1/jobs", body, (loaded, total) => {
        progress.value = Math.round((100 * loaded) / total);
        progressText.textContent = `${fmtBytes(loaded)} of ${fmtBytes(total)}`;
      });
      progress.value = 100;
      ctx.navigate(`#/jobs?job=${encodeURIComponent(job.job_id)}`);
    } catch (err) {
      message.replaceChildren(notice(err instanceof ApiError ? err.detail : String(err)));
      submit.disabled = false;
    }
  }
}
