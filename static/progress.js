// Progressive enhancement: change a skill's state, undo, save a note or an
// evidence link without a page reload, by swapping in the fragments the server
// renders from the same templates as the page. Without JavaScript the same forms
// post and redirect back.
"use strict";

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-enhance")) return;
  const container = form.closest("[data-skill-progress], [data-fragment]");
  if (!container) return;
  event.preventDefault();

  const data = new URLSearchParams(new FormData(form));
  const submitter = event.submitter;
  if (submitter && submitter.name) data.append(submitter.name, submitter.value);
  container.setAttribute("aria-busy", "true");
  try {
    // getAttribute: an input named "action" would shadow form.action.
    const response = await fetch(form.getAttribute("action"), {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "x-pathway-fragment": "1" },
    });
    if (!response.ok && response.status !== 409 && response.status !== 422) {
      throw new Error(`HTTP ${response.status}`);
    }
    const template = document.createElement("template");
    template.innerHTML = (await response.text()).trim();
    // The first element answers the form; every other one with an id is out of band: it
    // replaces the element with that id wherever this page has one (a stage's progress
    // panel after a tick, a heading's sub-step badge after a checklist change).
    const [replacement, ...others] = Array.from(template.content.children);
    if (!replacement) throw new Error("empty fragment");
    container.replaceWith(replacement);
    for (const extra of others) {
      const current = extra.id ? document.getElementById(extra.id) : null;
      if (current) current.replaceWith(extra);
    }
    // Other forms of the same skill (the skill page's "Done, next skill") follow the new version.
    const version = replacement.querySelector("input[name='version']");
    if (version && replacement.id.startsWith("progress_")) {
      const skill = replacement.id.slice("progress_".length);
      for (const other of document.querySelectorAll(`form[data-version-of="${CSS.escape(skill)}"] input[name='version']`)) {
        other.value = version.value;
      }
    }
    // Keep keyboard focus on the control the learner used.
    const value = submitter && submitter.value;
    const target =
      replacement.querySelector("[role='alert'], [role='status']") ||
      (value && replacement.querySelector(`button[value="${CSS.escape(value)}"]`)) ||
      replacement.querySelector("button[aria-pressed='true']") ||
      replacement.querySelector("button");
    if (target && !target.matches("button, a, input, textarea")) target.setAttribute("tabindex", "-1");
    if (target) target.focus();
  } catch (error) {
    // Fall back to a normal form post, which always works.
    container.removeAttribute("aria-busy");
    if (submitter && submitter.name) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = submitter.name;
      input.value = submitter.value;
      form.append(input);
    }
    HTMLFormElement.prototype.submit.call(form);
  }
});

// Sign-up: say which time zone the browser is in, so dates show in it from the start.
// Without JavaScript the server's default applies and the account page can change it.
for (const input of document.querySelectorAll("input[data-browser-time-zone]")) {
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && !input.value) input.value = zone;
  } catch (_) {
    // An old browser without Intl: the default zone is fine.
  }
}
