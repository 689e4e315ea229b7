/* Steward's small behaviours, bound from data- attributes. The Content-Security-Policy forbids inline
   scripts, event handlers (onclick=, onchange=) and style attributes, so templates say what they want
   with data- attributes and this file does it, also for content htmx swaps in later. */
(function () {
  "use strict";

  /* <select data-submit-on-change>: choosing an option submits its form (the language switcher). */
  document.addEventListener("change", function (event) {
    const field = event.target.closest("[data-submit-on-change]");
    if (field && field.form) field.form.requestSubmit ? field.form.requestSubmit() : field.form.submit();
  });

  /* <input type="checkbox" data-check-all="input[name=alert_ids]">: ticks or clears every box of
     its table (or form) that matches the selector. */
  document.addEventListener("click", function (event) {
    const master = event.target.closest("input[data-check-all]");
    if (!master) return;
    const scope = master.closest("table, form") || document;
    for (const box of scope.querySelectorAll(master.dataset.checkAll)) box.checked = master.checked;
  });

  /* Sizes and positions that come from data: set through the CSSOM, which the policy allows. */
  function applyDataStyles(root) {
    // A progress bar: <div class="progress-bar" data-width-percent="40">.
    for (const bar of root.querySelectorAll("[data-width-percent]")) {
      bar.style.width = bar.dataset.widthPercent + "%";
    }
    // A placed card on the canvas sits at (--u, --s), both 0–100 (static/css/canvas.css).
    for (const card of root.querySelectorAll(".canvas-card[data-urgency][data-sensitivity]")) {
      if (card.dataset.urgency !== "" && card.dataset.sensitivity !== "") {
        card.style.setProperty("--u", card.dataset.urgency);
        card.style.setProperty("--s", card.dataset.sensitivity);
      }
    }
  }

  if (window.htmx) {
    window.htmx.onLoad(applyDataStyles); // the page itself, and every piece htmx swaps in
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { applyDataStyles(document); });
  } else {
    applyDataStyles(document);
  }
})();
