/* Selection and keys for a marking form (the labelling page, a label's page). No library.
 *
 * The form works without this file: tick crops, press Positive, Negative, Clear or Undo. This
 * adds: a click anywhere on a card (but its links) selects it or not; shift-click selects or
 * clears every card from the last one clicked; A selects all, Esc none; P, N and C press the
 * Positive, Negative and Clear buttons for the selection; Z or Ctrl+Z presses Undo. The keys
 * are off while typing in a field. The page reloads after each action, showing the new marks.
 */
(function () {
  "use strict";

  var form = document.querySelector("form[data-marking]");
  if (!form || !form.querySelector("input[name=detection]")) { return; }
  var cards = Array.prototype.slice.call(form.querySelectorAll("li.markable"));
  var anchor = null;
  var count = form.querySelector("[data-selected-count]");

  function box(card) { return card.querySelector("input[name=detection]"); }

  function show() {
    var selected = 0;
    cards.forEach(function (card) {
      var on = box(card).checked;
      card.classList.toggle("selected", on);
      if (on) { selected += 1; }
    });
    if (count) { count.textContent = selected ? selected + " selected" : ""; }
  }

  function select(card, on, range) {
    if (range && anchor !== null) {
      var from = Math.min(anchor, cards.indexOf(card)), to = Math.max(anchor, cards.indexOf(card));
      cards.slice(from, to + 1).forEach(function (each) { box(each).checked = on; });
    } else {
      box(card).checked = on;
    }
    anchor = cards.indexOf(card);
    show();
  }

  function selectAll(on) {
    cards.forEach(function (card) { box(card).checked = on; });
    anchor = null;
    show();
  }

  form.addEventListener("click", function (event) {
    var card = event.target.closest("li.markable");
    if (!card || event.target.closest("a, button")) { return; }
    if (event.target === box(card)) {
      select(card, box(card).checked, event.shiftKey);  // the browser has toggled it already
      return;
    }
    if (event.target.closest("label")) { return; }  // the label's own click toggles its box
    event.preventDefault();
    select(card, !box(card).checked, event.shiftKey);
  });

  form.querySelectorAll("[data-select]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { selectAll(button.dataset.select === "all"); });
  });

  function press(key) {
    var button = document.querySelector("button[data-key='" + key + "']");
    if (!button || button.disabled) { return false; }
    var target = button.form;
    if (key !== "z" && !form.querySelector("input[name=detection]:checked")) {
      if (count) { count.textContent = "Select crops first"; }
      return true;
    }
    target.requestSubmit(button);
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.target.closest("input, select, textarea") || event.altKey || event.metaKey) { return; }
    var key = event.key.toLowerCase();
    if (event.ctrlKey && key !== "z") { return; }
    var handled = false;
    if (key === "a") { selectAll(true); handled = true; }
    else if (key === "escape") { selectAll(false); handled = true; }
    else if (key === "p" || key === "n" || key === "c" || key === "z") { handled = press(key); }
    if (handled) { event.preventDefault(); }
  });

  show();
}());
