// Progressive enhancement: change a skill's state (or undo) without a page
// reload. Without JavaScript the same forms post and redirect back.
"use strict";

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-enhance")) return;
  const container = form.closest("[data-skill-progress]");
  if (!container) return;
  event.preventDefault();

  const data = new URLSearchParams(new FormData(form));
  const submitter = event.submitter;
  if (submitter && submitter.name) data.append(submitter.name, submitter.value);
  container.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "x-pathway-fragment": "1" },
    });
    if (!response.ok && response.status !== 409) throw new Error(`HTTP ${response.status}`);
    const template = document.createElement("template");
    template.innerHTML = (await response.text()).trim();
    const replacement = template.content.firstElementChild;
    if (!replacement) throw new Error("empty fragment");
    container.replaceWith(replacement);
    // Keep keyboard focus on the control the learner used.
    const value = submitter && submitter.value;
    const target =
      (value && replacement.querySelector(`button[value="${CSS.escape(value)}"]`)) ||
      replacement.querySelector("button[aria-pressed='true']") ||
      replacement.querySelector("button");
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
