// Progressive enhancement: change a skill's state, undo, save a note or an
// evidence link without a page reload, by swapping in the fragment the server
// renders from the same template. Without JavaScript the same forms post and
// redirect back.
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
    const replacement = template.content.firstElementChild;
    if (!replacement) throw new Error("empty fragment");
    container.replaceWith(replacement);
    // Other forms of the same skill (the skill page's "Done, next skill") follow the new version.
    const version = replacement.querySelector("input[name='version']");
    if (version && replacement.id.startsWith("progress_")) {
      const skill = replacement.id.slice("progress_".length);
      for (const other of document.querySelectorAll(`form[data-version-of="${CSS.escape(skill)}"] input[name='version']`)) {
        other.value = version.value;
      }
    }
    // A sub-step checklist also updates the "2/5" badge in its skill's heading.
    const badge = document.getElementById(replacement.getAttribute("data-steps-badge") || "");
    const count = replacement.getAttribute("data-steps-count");
    if (badge && count && badge.firstChild) badge.firstChild.textContent = count;
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
