// The suggestions page: click a card to select it, Shift-click to select a range, "select all"
// for the page; A accepts and R rejects the selection. Without this script the checkboxes and
// buttons do the same.
(function () {
  "use strict";
  const form = document.getElementById("suggestions");
  if (!form) return;
  const cards = Array.from(form.querySelectorAll(".suggestion"));
  const boxes = cards.map((card) => card.querySelector('input[name="track"]'));
  const all = document.getElementById("select-all");
  const count = document.getElementById("selected-count");
  let last = null;

  function show() {
    let selected = 0;
    cards.forEach((card, i) => {
      card.classList.toggle("selected", boxes[i].checked);
      if (boxes[i].checked) selected += 1;
    });
    count.textContent = selected + " selected";
    all.checked = selected === cards.length;
    all.indeterminate = selected > 0 && selected < cards.length;
  }

  function pick(i, shift) {
    if (shift && last !== null) {
      const [from, to] = last < i ? [last, i] : [i, last];
      const value = boxes[last].checked;
      for (let j = from; j <= to; j += 1) boxes[j].checked = value;
    } else {
      boxes[i].checked = !boxes[i].checked;
    }
    last = i;
    show();
  }

  cards.forEach((card, i) => {
    card.addEventListener("click", (event) => {
      if (event.target.closest("a")) return;
      if (event.target === boxes[i]) {
        // The browser toggled it already; a Shift-click extends from the last one.
        boxes[i].checked = !boxes[i].checked;
      } else if (event.target.closest("label")) {
        event.preventDefault();
      }
      pick(i, event.shiftKey);
    });
  });
  all.addEventListener("change", () => {
    boxes.forEach((box) => { box.checked = all.checked; });
    last = null;
    show();
  });
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.matches("input:not([type=checkbox]), textarea, select")) return;
    const action = { a: "accept", r: "reject" }[event.key.toLowerCase()];
    if (!action || !boxes.some((box) => box.checked)) return;
    event.preventDefault();
    form.requestSubmit(form.querySelector('button[value="' + action + '"]'));
  });
  show();
})();
