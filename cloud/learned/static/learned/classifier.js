// Polls the classifier's state (progress.json) and moves the backfill's progress bar, until
// no training is queued and the backfill has finished.
(function () {
  "use strict";
  const card = document.getElementById("classifier");
  if (!card) return;
  const url = card.dataset.progressUrl;
  const bar = document.getElementById("backfill");
  const text = document.getElementById("backfill-text");
  const status = document.getElementById("status");

  function show(state) {
    status.textContent = state.status + (state.queued ? " (training queued)" : "");
    const job = state.backfill;
    if (job) {
      bar.max = Math.max(job.total, 1);
      bar.value = job.done;
      let words = job.done + " of " + job.total;
      if (job.finished_at) words += ", finished";
      if (job.error) words += ": " + job.error;
      text.textContent = words;
    }
    return state.queued || (job !== null && job.finished_at === null);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((state) => {
        const busy = show(state);
        const version = state.classifier ? String(state.classifier.version) : "none";
        // A new version has new figures: reload the page once to show them.
        if (version !== card.dataset.version) window.location.reload();
        else if (busy) setTimeout(poll, 1000);
      })
      .catch(() => setTimeout(poll, 5000));
  }
  poll();
})();
