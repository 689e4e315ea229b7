/* The canvas: place alert types (and segments) by dragging them with a mouse (HTML5 drag and drop),
   a finger or a pen (pointer events), or the keyboard (select, arrow keys, Enter), or by typing the two
   scores. Every drop is saved at once through the API (/api/canvas/placements/); the answer holds the
   whole board, which is then shown as the server has it. No libraries. */
(function () {
  "use strict";

  const board = document.getElementById("canvas-board");
  if (!board) return;
  const plane = document.getElementById("canvas-plane"); // the 0–100 area inside the board
  const trayZone = document.getElementById("canvas-tray");
  const tray = trayZone.querySelector(".canvas-tray-cards");
  const statusBox = document.getElementById("canvas-status");
  const errorBox = document.getElementById("canvas-error");
  const placeForm = document.getElementById("canvas-place-form");
  const undoForm = document.getElementById("canvas-undo-form");
  const texts = JSON.parse(document.getElementById("canvas-texts").textContent);
  const csrfToken = placeForm.querySelector("input[name=csrfmiddlewaretoken]").value;
  const STEP = 5; // points per arrow key press
  const TOUCH_SLOP = 6; // pixels a finger may wander before a tap becomes a drag

  function format(template, values) {
    return template.replace(/%\((\w+)\)s/g, (match, name) => (name in values ? values[name] : match));
  }

  function announce(text) {
    statusBox.textContent = text;
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.classList.toggle("d-none", !text);
  }

  function clamp(score) {
    return Math.max(0, Math.min(100, Math.round(score)));
  }

  function quadrantOf(urgency, sensitivity) {
    if (urgency === null || sensitivity === null) return "unplaced";
    return (urgency >= 50 ? "urgent" : "later") + "_" + (sensitivity >= 50 ? "sensitive" : "routine");
  }

  function savedScores(card) {
    const urgency = card.dataset.urgency, sensitivity = card.dataset.sensitivity;
    return urgency === "" || sensitivity === "" ? null : { urgency: Number(urgency), sensitivity: Number(sensitivity) };
  }

  function scoresAt(clientX, clientY) {
    const rect = plane.getBoundingClientRect();
    return {
      urgency: clamp(((clientX - rect.left) / rect.width) * 100),
      sensitivity: clamp(100 - ((clientY - rect.top) / rect.height) * 100),
    };
  }

  function inside(element, clientX, clientY) {
    const rect = element.getBoundingClientRect();
    return clientX >= rect.left && clientX <= rect.right && clientY >= rect.top && clientY <= rect.bottom;
  }

  function setQuadrant(card, quadrant) {
    for (const name of [...card.classList]) if (name.startsWith("quadrant-")) card.classList.remove(name);
    card.classList.add("quadrant-" + quadrant);
  }

  /* Show a card at a place (or in the tray) without saving; keeps the focus on it. */
  function show(card, scores) {
    const hadFocus = document.activeElement === card;
    if (scores) {
      if (card.parentElement !== plane) plane.appendChild(card);
      card.style.setProperty("--u", scores.urgency);
      card.style.setProperty("--s", scores.sensitivity);
      setQuadrant(card, quadrantOf(scores.urgency, scores.sensitivity));
    } else {
      if (card.parentElement !== tray) tray.appendChild(card);
      card.style.removeProperty("--u");
      card.style.removeProperty("--s");
      setQuadrant(card, "unplaced");
    }
    if (hadFocus) card.focus();
  }

  function cardElement(key) {
    return document.querySelector('.canvas-card[data-card="' + CSS.escape(key) + '"]');
  }

  /* The board as the server has it now. */
  function render(cards) {
    for (const data of cards) {
      const card = cardElement(data.key);
      if (!card) continue;
      const placed = data.urgency !== null && data.advice_sensitivity !== null;
      card.dataset.urgency = placed ? data.urgency : "";
      card.dataset.sensitivity = placed ? data.advice_sensitivity : "";
      card.querySelector("[data-count]").textContent = data.open_alerts;
      card.querySelector("[data-position]").textContent = placed
        ? format(texts.hidden_position, { urgency: data.urgency, sensitivity: data.advice_sensitivity })
        : "";
      if (card !== lifted) show(card, placed ? { urgency: data.urgency, sensitivity: data.advice_sensitivity } : null);
    }
  }

  function changed() {
    // The history panel listens (htmx: hx-trigger="canvas-changed from:body").
    document.body.dispatchEvent(new CustomEvent("canvas-changed"));
  }

  async function send(url, payload) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken },
      body: JSON.stringify(payload || {}),
    });
    let data = {};
    try {
      data = await response.json();
    } catch (error) {
      data = {};
    }
    if (!response.ok) {
      const problem = (data && data.error) || {};
      const details = Object.values(problem.details || {}).flat().join(" ");
      throw new Error([problem.message || response.statusText, details].filter(Boolean).join(" "));
    }
    return data;
  }

  /* Save a card at these scores (null: back to the tray); on failure it goes back where it was. */
  async function place(card, scores) {
    show(card, scores);
    card.classList.add("is-saving");
    showError("");
    try {
      const data = await send(board.dataset.apiPlace, {
        alert_type: card.dataset.alertType,
        segment: card.dataset.segment,
        urgency: scores ? scores.urgency : null,
        advice_sensitivity: scores ? scores.sensitivity : null,
      });
      render(data.cards);
      const label = card.dataset.label;
      announce(
        scores
          ? format(texts.saved, { card: label, count: data.change.alerts_updated }) +
              " " +
              format(texts.position, {
                urgency: scores.urgency,
                sensitivity: scores.sensitivity,
                quadrant: texts.quadrants[quadrantOf(scores.urgency, scores.sensitivity)],
              })
          : format(texts.tray, { card: label }),
      );
      changed();
    } catch (error) {
      show(card, savedScores(card));
      const message = format(texts.failed, { message: error.message });
      showError(message);
      announce(message);
    } finally {
      card.classList.remove("is-saving");
    }
  }

  /* --- Selecting a card: it fills the form, where its two scores can be typed. --- */

  function select(card) {
    placeForm.elements.card.value = card.dataset.card;
    const scores = savedScores(card);
    placeForm.elements.urgency.value = scores ? scores.urgency : "";
    placeForm.elements.advice_sensitivity.value = scores ? scores.sensitivity : "";
  }

  document.addEventListener("click", (event) => {
    const card = event.target.closest(".canvas-card");
    if (card && event.detail > 0) select(card); // a keyboard "click" (detail 0) is handled on keydown
  });

  placeForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const card = cardElement(placeForm.elements.card.value);
    if (!card) return;
    if (event.submitter && event.submitter.name === "to_tray") {
      place(card, null);
      return;
    }
    const urgency = placeForm.elements.urgency.value, sensitivity = placeForm.elements.advice_sensitivity.value;
    if (urgency === "" || sensitivity === "" || !placeForm.checkValidity()) {
      showError(texts.type_both);
      return;
    }
    place(card, { urgency: clamp(Number(urgency)), sensitivity: clamp(Number(sensitivity)) });
  });

  undoForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    try {
      const data = await send(board.dataset.apiUndo);
      render(data.cards);
      const card = cardElement(data.change.alert_type + "|" + data.change.segment);
      announce(format(texts.undone, { card: card ? card.dataset.label : "" }));
      changed();
    } catch (error) {
      showError(error.message);
      announce(error.message);
    }
  });

  /* --- Keyboard: Enter or Space picks a card up, arrows move it, Enter drops it, Escape cancels. --- */

  let lifted = null;
  let pending = null;

  function lift(card) {
    if (lifted && lifted !== card) cancel();
    lifted = card;
    pending = savedScores(card) || { urgency: 50, sensitivity: 50 };
    card.setAttribute("aria-pressed", "true");
    select(card);
    show(card, pending);
    announce(format(texts.picked, { card: card.dataset.label }));
  }

  function release() {
    const card = lifted;
    lifted = null;
    pending = null;
    if (card) card.setAttribute("aria-pressed", "false");
    return card;
  }

  function cancel() {
    const card = release();
    if (!card) return;
    show(card, savedScores(card));
    announce(texts.cancelled);
  }

  function drop() {
    const scores = pending;
    const card = release();
    const saved = savedScores(card);
    if (saved && saved.urgency === scores.urgency && saved.sensitivity === scores.sensitivity) {
      announce(texts.cancelled);
      return;
    }
    place(card, scores);
  }

  const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };

  document.addEventListener("keydown", (event) => {
    const card = event.target.closest && event.target.closest(".canvas-card");
    if (!card) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      if (lifted === card) drop();
      else lift(card);
    } else if (event.key in ARROWS) {
      event.preventDefault();
      if (lifted !== card) lift(card);
      const [right, up] = ARROWS[event.key];
      const step = event.shiftKey ? 1 : STEP;
      pending = { urgency: clamp(pending.urgency + right * step), sensitivity: clamp(pending.sensitivity + up * step) };
      show(card, pending);
      select(card);
      placeForm.elements.urgency.value = pending.urgency;
      placeForm.elements.advice_sensitivity.value = pending.sensitivity;
      announce(
        format(texts.position, {
          urgency: pending.urgency,
          sensitivity: pending.sensitivity,
          quadrant: texts.quadrants[quadrantOf(pending.urgency, pending.sensitivity)],
        }),
      );
    } else if (event.key === "Escape" && lifted === card) {
      event.preventDefault();
      cancel();
    }
  });

  document.addEventListener("focusout", (event) => {
    // Tabbing away from a lifted card puts it back: a move is only saved on Enter.
    if (lifted && event.target === lifted && !lifted.contains(event.relatedTarget)) {
      setTimeout(() => {
        if (lifted && document.activeElement !== lifted) cancel();
      }, 0);
    }
  });

  /* --- Mouse: HTML5 drag and drop. The card's centre lands where it is dropped. --- */

  let dragged = null;
  let grabOffset = { x: 0, y: 0 };

  document.addEventListener("dragstart", (event) => {
    const card = event.target.closest && event.target.closest(".canvas-card");
    if (!card) return;
    if (lifted) cancel();
    dragged = card;
    const rect = card.getBoundingClientRect();
    grabOffset = { x: event.clientX - (rect.left + rect.width / 2), y: event.clientY - (rect.top + rect.height / 2) };
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.card);
    card.classList.add("is-dragging");
  });

  document.addEventListener("dragend", () => {
    if (dragged) dragged.classList.remove("is-dragging");
    dragged = null;
    board.classList.remove("is-over");
    trayZone.classList.remove("is-over");
  });

  for (const zone of [board, trayZone]) {
    zone.addEventListener("dragover", (event) => {
      if (!dragged) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      zone.classList.add("is-over");
    });
    zone.addEventListener("dragleave", (event) => {
      if (!zone.contains(event.relatedTarget)) zone.classList.remove("is-over");
    });
  }

  board.addEventListener("drop", (event) => {
    if (!dragged) return;
    event.preventDefault();
    const card = dragged;
    card.classList.remove("is-dragging");
    board.classList.remove("is-over");
    place(card, scoresAt(event.clientX - grabOffset.x, event.clientY - grabOffset.y));
  });

  trayZone.addEventListener("drop", (event) => {
    if (!dragged) return;
    event.preventDefault();
    const card = dragged;
    card.classList.remove("is-dragging");
    trayZone.classList.remove("is-over");
    if (savedScores(card)) place(card, null);
  });

  /* --- Touch and pen: pointer events. The card follows the finger and lands where it is let go. --- */

  let touch = null;

  document.addEventListener("pointerdown", (event) => {
    if (event.pointerType === "mouse" || !event.isPrimary) return;
    const card = event.target.closest(".canvas-card");
    if (!card) return;
    if (lifted) cancel();
    touch = { card, pointerId: event.pointerId, startX: event.clientX, startY: event.clientY, dragging: false };
    if (card.setPointerCapture) {
      try {
        card.setPointerCapture(event.pointerId);
      } catch (error) {
        /* a synthetic pointer cannot be captured; the document still hears it */
      }
    }
  });

  document.addEventListener("pointermove", (event) => {
    if (!touch || event.pointerId !== touch.pointerId) return;
    const { card } = touch;
    if (!touch.dragging) {
      if (Math.hypot(event.clientX - touch.startX, event.clientY - touch.startY) < TOUCH_SLOP) return;
      touch.dragging = true;
      card.classList.add("is-touch-dragging");
    }
    event.preventDefault();
    card.style.left = event.clientX + "px";
    card.style.top = event.clientY + "px";
    board.classList.toggle("is-over", inside(board, event.clientX, event.clientY));
    trayZone.classList.toggle("is-over", inside(trayZone, event.clientX, event.clientY));
  });

  function endTouch(event, cancelled) {
    if (!touch || event.pointerId !== touch.pointerId) return;
    const { card, dragging } = touch;
    touch = null;
    board.classList.remove("is-over");
    trayZone.classList.remove("is-over");
    if (!dragging) return; // a tap: the click that follows selects the card
    card.classList.remove("is-touch-dragging");
    card.style.removeProperty("left");
    card.style.removeProperty("top");
    if (!cancelled && inside(board, event.clientX, event.clientY)) {
      place(card, scoresAt(event.clientX, event.clientY));
    } else if (!cancelled && inside(trayZone, event.clientX, event.clientY) && savedScores(card)) {
      place(card, null);
    } else {
      show(card, savedScores(card));
    }
  }

  document.addEventListener("pointerup", (event) => endTouch(event, false));
  document.addEventListener("pointercancel", (event) => endTouch(event, true));
})();
